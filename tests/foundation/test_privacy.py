import logging

from mingbai.privacy import MaskingFilter, mask, mask_phone


def test_phone_masked():
    assert mask("我电话13812345678") == "我电话138****5678"
    assert mask("电话 138 1234 5678 找我") == "电话 138****5678 找我"
    assert mask_phone("13812345678") == "138****5678"


def test_id_card_masked():
    out = mask("身份证110101199003071234号")
    assert "19900307" not in out and out.startswith("身份证110101")


def test_id_with_x():
    assert "19900307" not in mask("id 11010119900307123X")


def test_address_numbers_masked():
    out = mask("住在幸福路12号3栋2单元501室")
    assert "12号" not in out and "501" not in out and "幸福路" in out


def test_plain_text_untouched():
    s = "邻居天天半夜吵，怎么办？劳动法第五十条"
    assert mask(s) == s


def test_logging_filter_masks(caplog):
    logger = logging.getLogger("mingbai.test")
    logger.addFilter(MaskingFilter())
    with caplog.at_level(logging.INFO, logger="mingbai.test"):
        logger.info("resident phone %s", "13912345678")
    assert "13912345678" not in caplog.text and "139****5678" in caplog.text
