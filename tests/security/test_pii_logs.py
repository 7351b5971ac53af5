"""Hole 1: PII masking misses full-width digits, +86/0086, separators, 15-digit IDs and e-mails;
masking must run in the log formatter (tracebacks too) and SQL errors must not carry parameters."""
from __future__ import annotations

import io
import logging
import unicodedata

import pytest

from mingbai.privacy import mask


@pytest.mark.parametrize("text, secret", [
    ("电话+8613812345678", "13812345678"),
    ("电话008613812345678", "13812345678"),
    ("电话 ０１０－１２３４５６７８", "12345678"),
    ("电话138—1234—5678", "1234"),
    ("老身份证110105900307123", "900307"),
    ("邮箱 zhangsan.li@example.com", "zhangsan.li"),
    ("邮箱 ｚｈａｎｇｓａｎ＠ｅｘａｍｐｌｅ．ｃｏｍ", "zhangsan"),
])
def test_mask_catches_disguised_pii(text, secret):
    out = unicodedata.normalize("NFKC", mask(text))
    assert secret not in out, out
    assert secret not in out.replace(" ", "").replace("-", "")


def test_mask_normalises_full_width_and_keeps_chinese_punctuation():
    assert mask("我电话１３８１２３４５６７８") == "我电话138****5678"
    assert mask("身份证１１０１０１１９９００３０７１２３Ｘ") == "身份证110101********123X"
    for text, secret in [("电话 +86 138 1234 5678", "1234 5678"), ("电话 0086-138-1234-5678", "1234-5678"),
                         ("电话 138-1234-5678", "1234-5678")]:
        assert secret not in mask(text)
    s = "邻居天天半夜吵，怎么办？（劳动法第五十条）2024年3月借了5000元"
    assert mask(s) == s


def _logger_with_setup_logging(tmp_path):
    """A root-like logger configured exactly as setup_logging configures the root."""
    from mingbai import privacy

    root = logging.getLogger()
    before = list(root.handlers)
    level = root.level
    privacy.setup_logging("INFO", tmp_path / "web.log")
    added = [h for h in root.handlers if h not in before]
    return root, added, level


def test_log_formatter_masks_tracebacks_and_secrets(tmp_path):
    root, added, level = _logger_with_setup_logging(tmp_path)
    try:
        log = logging.getLogger("mingbai.security.test")
        try:
            raise ValueError("resident 13912345678 wrote from 110101199003071234 "
                             "url https://api.weixin.qq.com/cgi-bin/token?appid=wx1&secret=S3CRET-APP")
        except ValueError:
            log.exception("turn failed")
        for h in added:
            h.flush()
        text = (tmp_path / "web.log").read_text(encoding="utf-8")
    finally:
        for h in added:
            root.removeHandler(h)
            h.close()
        root.setLevel(level)
    assert "turn failed" in text and "Traceback" in text
    assert "13912345678" not in text and "19900307" not in text
    assert "S3CRET-APP" not in text


def test_sql_error_parameters_hidden(wx_env):
    """An IntegrityError's text (what log.exception writes) must not contain the row's values."""
    from sqlalchemy.exc import IntegrityError

    from connectors.store import Outbox
    from mingbai.db import init_db, session_scope

    init_db()
    secret_text = "我的电话是13712345678，住幸福路12号"
    with session_scope() as s:
        s.add(Outbox(resident_key="rest:pii", channel="rest", text=secret_text, dedup_key="dup-pii-1"))
    with pytest.raises(IntegrityError) as ei:
        with session_scope() as s:
            s.add(Outbox(resident_key="rest:pii", channel="rest", text=secret_text, dedup_key="dup-pii-1"))
    assert "13712345678" not in str(ei.value)
    assert "幸福路" not in str(ei.value)


def test_a_log_file_that_is_also_stderr_gets_each_line_once(tmp_path):
    """Under `mingbai run` a child's stderr is its log file: the record must not be written twice."""
    import subprocess
    import sys

    log = tmp_path / "web.log"
    code = ("import logging; from mingbai.privacy import setup_logging; "
            f"setup_logging('INFO', {str(log)!r}); logging.getLogger('t').info('一次 电话13812345678')")
    with open(log, "ab") as f:
        subprocess.run([sys.executable, "-c", code], stderr=f, stdout=f, check=True)
    lines = [line for line in log.read_text(encoding="utf-8").splitlines() if "一次" in line]
    assert len(lines) == 1, lines
    assert "13812345678" not in lines[0]
