from mingbai.jsonl import iter_jsonl


def test_objects_blank_lines_and_bad_lines(tmp_path):
    f = tmp_path / "in.jsonl"
    f.write_text('{"id": 1, "text": "你好"}\n\n[1, 2]\n{oops\n{"id": 2}\n', encoding="utf-8")
    rows = list(iter_jsonl(f))
    assert [r[0] for r in rows] == [1, 3, 4, 5]
    assert rows[0][1] == {"id": 1, "text": "你好"} and rows[0][2] is None
    assert rows[1][1] is None and "应是 JSON 对象" in rows[1][2]
    assert rows[2][1] is None and "不是合法 JSON" in rows[2][2]
    assert rows[3][1] == {"id": 2}
