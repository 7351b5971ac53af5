"""End-to-end conversations through the running stack: a real Rasa server (REST channel) and a real
action server, with the real knowledge base and ticket service behind them."""
from __future__ import annotations

import json
import re
import uuid
from pathlib import Path

import pytest

pytestmark = pytest.mark.rasa
ROOT = Path(__file__).resolve().parents[2]
SAMPLE_GRIDS = ROOT / "data" / "grids" / "sample.yml"


@pytest.fixture(scope="module")
def stack(rasa_stack):
    from tickets.grids import import_file

    if SAMPLE_GRIDS.exists():
        import_file(SAMPLE_GRIDS)
    return rasa_stack


class Resident:
    def __init__(self, base: str):
        self.base = base
        self.key = f"rest:test-{uuid.uuid4().hex[:10]}"
        self.last: list[dict] = []

    def say(self, text: str) -> list[str]:
        from bot import rasa_client

        self.last = rasa_client.turn(self.key, text, base_url=self.base)
        return [m["text"] for m in self.last if m.get("text")]

    @property
    def custom(self) -> dict:
        """The last payload with an outcome in the latest turn."""
        from bot import rasa_client

        with_outcome = [c for c in rasa_client.payloads(self.last) if "outcome" in c]
        return with_outcome[-1] if with_outcome else {}


def joined(texts: list[str]) -> str:
    return "\n".join(texts)


def test_first_contact_privacy_notice_and_greeting(stack):
    r = Resident(stack["rasa"])
    texts = r.say("你好")
    assert "删除我的信息" in texts[0] and "保存" in texts[0]
    assert r.custom["outcome"] == "chitchat"
    # Only once per resident.
    assert "删除我的信息" not in joined(r.say("你好呀"))


def test_legal_question_gets_answer_then_followup_keeps_context(stack):
    r = Resident(stack["rasa"])
    texts = r.say("出了交通事故，对方全责，我能要哪些赔偿")
    c = r.custom
    assert c["outcome"] == "answer" and c["domain"] == "交通事故"
    assert c["citations"] and all({"law", "article", "text"} <= set(x) for x in c["citations"])
    assert "有帮助吗" in texts[-1]
    assert "调解" in texts[-1]  # a dispute with another party: mediation is offered
    r.say("那要赔多少钱")
    c2 = r.custom
    assert c2["outcome"] == "answer" and c2["domain"] == "交通事故" and c2["follow_up"] is True


def test_mediation_offer_declined(stack):
    r = Resident(stack["rasa"])
    r.say("邻居占了我家的宅基地，法律上怎么说")
    assert r.custom["outcome"] == "answer"
    texts = r.say("不用了")
    assert "我要调解" in joined(texts) and r.custom["outcome"] == "chitchat"


def test_dispute_intake_form_opens_a_ticket(stack):
    from tickets import service

    r = Resident(stack["rasa"])
    texts = r.say("楼上天天半夜蹦迪，吵得我睡不着")
    assert r.custom["outcome"] == "intake" and r.custom["subtype"] == "邻里纠纷"
    assert "对方是谁" in texts[-1]  # the first message already said what happened
    assert "村或社区" in joined(r.say("楼上502那户"))
    assert "手机号" in joined(r.say("大塘村"))
    assert "号码好像不对" in joined(r.say("138123"))
    texts = r.say("我电话 138 1234 5678")
    assert "138****5678" in joined(texts) and "13812345678" not in joined(texts)
    assert "同意" in joined(r.say("周末上午"))
    texts = r.say("同意")
    c = r.custom
    assert c["outcome"] == "intake" and c["ticket_id"]
    assert re.search(r"\d{4}-[A-Z0-9]+-\d{4}", joined(texts))
    assert "1 小时" in joined(texts) and "24 小时" in joined(texts)
    ticket = service.get_ticket(c["ticket_id"], with_phone=True)
    assert ticket["domain"] == "侵权" and ticket.get("subtype") == "邻里纠纷"
    assert "13812345678" in json.dumps(ticket, ensure_ascii=False)
    # check_ticket_status lists it
    texts = r.say("我登记的事情办得怎么样了")
    assert r.custom["outcome"] == "status" and c["ticket_id"] in joined(texts)


def test_emergency_inside_an_open_form(stack):
    from tickets import service

    r = Resident(stack["rasa"])
    r.say("我要调解和邻居的纠纷")
    assert r.custom["outcome"] == "intake"
    texts = r.say("他拿着菜刀冲过来了 说要砍死我")
    assert "110" in texts[0]  # the first reply carries the line
    c = r.custom
    assert c["outcome"] == "emergency" and c["kind"] == "weapon_threat" and c["ticket_id"]
    assert service.get_ticket(c["ticket_id"])["urgency"] == "emergency"
    assert service.in_handoff(r.key)
    assert r.say("喂") == []  # paused: a person takes over


def test_self_harm_gets_crisis_lines(stack):
    r = Resident(stack["rasa"])
    texts = r.say("活着没意思，不想活了")
    assert "12356" in texts[0] and "400-161-9995" in texts[0]
    assert r.custom["outcome"] == "emergency"


def test_request_human_hands_off_and_resume_brings_the_bot_back(stack):
    from bot import rasa_client
    from tickets import service

    r = Resident(stack["rasa"])
    r.say("转人工")
    assert r.custom["outcome"] == "handoff" and service.in_handoff(r.key)
    assert r.say("在吗") == []
    assert service.end_handoff(r.key, "staff:test")  # the console then resumes Rasa:
    rasa_client.resume(r.key, base_url=r.base)
    assert not service.in_handoff(r.key)
    assert r.say("你好")


def test_twice_not_understood_hands_off(stack):
    from tickets import service

    r = Resident(stack["rasa"])
    texts = r.say("嗯嗯啊啊哦哦")
    assert "换个说法" in joined(texts) and r.custom["outcome"] == "out_of_scope"
    r.say("阿巴阿巴阿巴")
    assert r.custom["outcome"] == "handoff" and service.in_handoff(r.key)


def test_status_without_tickets_out_of_scope_and_chitchat(stack):
    r = Resident(stack["rasa"])
    assert "还没有登记" in joined(r.say("我的工单处理到哪一步了"))
    assert r.custom["outcome"] == "status"
    r.say("今天天气怎么样")
    assert r.custom["outcome"] == "out_of_scope"
    r.say("你真聪明")
    assert r.custom["outcome"] == "chitchat"
    r.say("你是机器人吗")
    assert r.custom["outcome"] == "chitchat"


def test_delete_my_data(stack):
    from tickets import service

    r = Resident(stack["rasa"])
    r.say("你好")
    service.record_consent(r.key, True)
    texts = r.say("删除我的信息")
    assert "已删除" in joined(texts) and r.custom["outcome"] == "status"
    assert not service.has_consent(r.key)


def test_converse_cli_direct(stack, tmp_path):
    from connectors.converse import main

    src = tmp_path / "in.jsonl"
    lines = [{"id": "q", "text": "老板拖欠工资三个月不给怎么办"}, {"id": "e", "text": "救命 他在打我"},
             {"id": "h", "text": "转人工"}, {"id": "o", "text": "今天天气怎么样"}]
    src.write_text("\n".join(json.dumps(x, ensure_ascii=False) for x in lines) + "\n")
    out = tmp_path / "out.jsonl"
    assert main(["--input", str(src), "--output", str(out), "--direct", "--rasa-url", stack["rasa"]]) == 0
    rows = {r["id"]: r for r in map(json.loads, out.read_text().splitlines())}
    assert rows["q"]["outcome"] == "answer" and rows["q"]["domain"] == "劳动纠纷" and rows["q"]["citations"]
    assert rows["e"]["outcome"] == "emergency" and "110" in rows["e"]["replies"][0]
    assert "删除我的信息" in rows["e"]["replies"][-1]  # the privacy notice comes after the hotline
    assert rows["h"]["outcome"] == "handoff" and rows["o"]["outcome"] == "out_of_scope"
    for r in rows.values():
        assert set(r) >= {"id", "replies", "outcome", "domain", "citations", "ticket_id"}


def test_classify_cli_takes_intent_from_rasa(stack, tmp_path, monkeypatch):
    from bot.cli_classify import main

    src = tmp_path / "in.jsonl"
    src.write_text(json.dumps({"id": 1, "text": "转人工"}, ensure_ascii=False) + "\n"
                   + json.dumps({"id": 2, "text": "物业乱收停车费"}, ensure_ascii=False) + "\n")
    out = tmp_path / "out.jsonl"
    assert main(["--input", str(src), "--output", str(out)]) == 0
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert rows[0]["intent"] == "request_human"
    assert rows[1]["intent"] in {"report_dispute", "ask_legal_question"} and rows[1]["subtype"] == "物业纠纷"


@pytest.fixture()
def web_app(stack):
    """The real web app (gateway, REST channel) in a thread, talking to the test Rasa stack."""
    import threading

    from werkzeug.serving import make_server

    from mingbai.web import create_app
    from tests.fixtures_rasa import free_port

    app = create_app()
    port = free_port()
    server = make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{port}"
    server.shutdown()


def test_converse_cli_through_the_web_rest_channel(stack, web_app, tmp_path):
    from connectors.converse import main

    src = tmp_path / "in.jsonl"
    lines = [{"id": 1, "text": "借给朋友两万块钱 他一直不还 怎么办"}, {"id": 2, "text": "他说要拿刀砍死我全家 现在就在我家门口"},
             {"id": 3, "text": "你好"}]
    src.write_text("\n".join(json.dumps(x, ensure_ascii=False) for x in lines) + "\n")
    out = tmp_path / "out.jsonl"
    assert main(["--input", str(src), "--output", str(out), "--web-url", web_app, "--rasa-url", stack["rasa"]]) == 0
    rows = {r["id"]: r for r in map(json.loads, out.read_text().splitlines())}
    assert rows[1]["outcome"] == "answer" and rows[1]["domain"] == "债权债务" and rows[1]["citations"]
    assert rows[2]["outcome"] == "emergency" and "110" in rows[2]["replies"][0]
    assert rows[3]["outcome"] == "chitchat" and rows[3]["replies"]
