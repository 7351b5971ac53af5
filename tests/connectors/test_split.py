from connectors.split import _own_split, split_message


def test_short_text_is_one_part():
    assert split_message("你好") == ["你好"]
    assert split_message("  ") == []


def test_split_respects_bytes_and_citations():
    cite = "《中华人民共和国民法典》第一千零八十八条"
    text = ("夫妻一方因抚育子女、照料老年人等负担较多义务的，离婚时有权向另一方请求补偿。" + cite + "。") * 60
    for parts in (split_message(text, 600), _own_split(text, 600)):
        assert len(parts) > 1
        assert all(len(p.encode()) <= 600 for p in parts)
        assert all(p.count("《") == p.count("》") for p in parts)
        assert "".join(parts) == text


def test_one_huge_sentence_is_cut_outside_brackets():
    text = "甲" * 500 + "《" + "乙" * 20 + "》" + "丙" * 500
    parts = _own_split(text, 300)
    assert all(len(p.encode()) <= 300 for p in parts)
    assert all(p.count("《") == p.count("》") for p in parts)
    assert "".join(parts) == text
