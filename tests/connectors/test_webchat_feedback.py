"""Web chat one-tap 有帮助/没帮助: an answer reply carries "feedback": true, and a tap goes through the
gateway's feedback path (tickets.feedback.handle_reply), like the typed word: 没帮助 lands in the
未解答 inbox, 有帮助 is recorded, neither reaches the bot."""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from mingbai.db import session_scope


def answer_reply(sender, message):
    """What the bot's answer_question action sends: the answer with its outcome payload, then 有帮助吗？"""
    return [{"text": f"关于“{message}”：这是测试回答。",
             "custom": {"outcome": "answer", "domain": "邻里纠纷", "citations": [], "confident": True}},
            "有帮助吗？"]


def _rows():
    from tickets.feedback import AnswerFeedback, UnansweredItem

    with session_scope() as s:
        fb = [(f.resident_key, f.helpful, f.channel)
              for f in s.scalars(select(AnswerFeedback).order_by(AnswerFeedback.id))]
        items = [(i.resident_key, i.kind, i.question, i.channel, i.status)
                 for i in s.scalars(select(UnansweredItem).order_by(UnansweredItem.id))]
    return fb, items


def _ask(client, text, cid):
    r = client.post("/chat/api/send", json={"text": text, "client_id": cid})
    assert r.status_code == 200
    return r.get_json()


def test_one_tap_feedback_is_recorded_and_unhelpful_lands_in_the_inbox(client, rasa):
    from tickets import feedback, service

    rasa.reply = answer_reply
    first = _ask(client, "邻居装修太吵怎么办", "fbtest0001")
    assert "同意" in first["replies"][0] and first["feedback"] is False  # the privacy notice: nothing to rate
    j = _ask(client, "同意", "fbtest0002")
    assert any("这是测试回答" in t for t in j["replies"]) and j["feedback"] is True
    rk = next(k for k in rasa.turns if k[1] == "邻居装修太吵怎么办")[0]
    turns = rasa.total_turns()

    # 👎 没帮助: the thanks comes back, the question is in the 未解答 inbox, the bot never saw it.
    r = client.post("/chat/api/feedback", json={"helpful": False, "client_id": "fbtest0003"})
    assert r.status_code == 200
    got = r.get_json()
    assert got["replies"] == [feedback.THANKS_UNHELPFUL] and got["counted"] is True
    assert rasa.total_turns() == turns
    fb, items = _rows()
    assert fb == [(rk, False, "web")]
    assert items == [(rk, "unhelpful", "邻居装修太吵怎么办", "web", "open")]
    texts = [m["text"] for m in service.transcript(rk)]
    assert texts[-2:] == ["没帮助", feedback.THANKS_UNHELPFUL]  # the same transcript as a typed reply

    # A second tap on the same answer is refused (the page disables the buttons anyway).
    again = client.post("/chat/api/feedback", json={"helpful": True, "client_id": "fbtest0004"})
    assert again.status_code == 409 and again.get_json()["error"]
    assert rasa.total_turns() == turns and len(_rows()[0]) == 1

    # 👍 有帮助 on the next answer: recorded, nothing new in the inbox.
    j = _ask(client, "装修噪音可以几点开始", "fbtest0005")
    assert j["feedback"] is True
    turns = rasa.total_turns()
    r = client.post("/chat/api/feedback", json={"helpful": True, "client_id": "fbtest0006"})
    assert r.status_code == 200 and r.get_json()["replies"] == [feedback.THANKS_HELPFUL]
    assert rasa.total_turns() == turns
    fb, items = _rows()
    assert fb == [(rk, False, "web"), (rk, True, "web")]
    assert [i[1] for i in items] == ["unhelpful"]
    assert feedback.feedback_counts() == {"helpful": 1, "unhelpful": 1}


def test_stale_or_malformed_taps_never_reach_the_bot(client, rasa, monkeypatch):
    from tickets import feedback

    rasa.reply = answer_reply
    _ask(client, "欠钱不还怎么办", "fbstale001")
    assert _ask(client, "同意", "fbstale002")["feedback"] is True
    turns = rasa.total_turns()

    assert client.post("/chat/api/feedback", data={"helpful": "1"}).status_code == 415  # not JSON
    assert client.post("/chat/api/feedback", json={"helpful": "yes"}).status_code == 400

    # Past the feedback window the tap is refused instead of going to the bot as a question.
    monkeypatch.setattr(feedback, "FEEDBACK_WINDOW", timedelta(seconds=-1))
    r = client.post("/chat/api/feedback", json={"helpful": False, "client_id": "fbstale003"})
    assert r.status_code == 409 and r.get_json()["counted"] is False
    assert rasa.total_turns() == turns
    assert _rows() == ([], [])


def test_non_answers_offer_no_feedback(client, rasa):
    rasa.reply = lambda sender, message: ["您好！有什么可以帮您？"]  # no answer outcome
    _ask(client, "你好", "fbnone0001")
    j = _ask(client, "同意", "fbnone0002")
    assert j["replies"] and j["feedback"] is False
