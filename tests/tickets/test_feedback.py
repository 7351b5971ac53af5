"""Residents' 有帮助/没帮助 (tickets.feedback), the 未解答 inbox's items and drafts, and the intake
routing with the urgency (tickets.intake._create) that made the old before_flush hook redundant."""
from __future__ import annotations

from datetime import datetime, timedelta

import pytest
import yaml
from sqlalchemy import select

from mingbai.db import session_scope
from knowledge import drafts
from tests.tickets.fixtures import local_dt, make_staff
from tickets import clock, feedback, service
from tickets.feedback import AnswerFeedback, UnansweredItem, parse_feedback
from tickets.models import AuditLog, Message

RK = "web:fb-1"


@pytest.mark.parametrize("text,want", [
    ("有帮助", True), ("有用", True), ("谢谢有用", True), ("👍", True), ("1", True), ("１", True),
    ("很有用，谢谢！", True), ("明白了", True), ("谢谢", True), ("没事谢谢", True),
    ("没帮助", False), ("没用", False), ("不对", False), ("答非所问", False), ("2", False), ("👎", False),
    ("没有帮助", False), ("不太有用", False), ("没什么用", False), ("看不懂", False), ("不是我问的", False),
    ("有用吗？", None), ("怎么没用", None), ("好的", None), ("3", None), ("", None), (None, None),
    ("老板拖欠工资三个月了怎么办", None), ("邻居家的树挡住了我家的光线有没有用的办法", None),
])
def test_parse_feedback(text, want):
    assert parse_feedback(text) is want


def test_strict_parse_ignores_plain_thanks():
    assert parse_feedback("好的谢谢", strict=True) is None and parse_feedback("好的谢谢") is True
    assert parse_feedback("有用，谢谢", strict=True) is True and parse_feedback("没用", strict=True) is False


def _ask(rk: str, question: str, answer: str, ch: str = "web") -> None:
    service.record_message(rk, "in", question, "resident", ch)
    service.record_message(rk, "out", answer, "bot", ch)


def _last_bot_id(rk: str) -> int:
    with session_scope() as s:
        return s.scalar(select(Message.id).where(Message.resident_key == rk, Message.author == "bot")
                        .order_by(Message.id.desc()).limit(1))


def test_feedback_is_stored_against_the_last_answer(db):
    _ask(RK, "邻居占了我家宅基地怎么办", "可以先找村委会调解……")
    answer_id = _last_bot_id(RK)
    service.record_message(RK, "in", "没帮助", "resident", "web")
    assert feedback.handle_reply(RK, "没帮助", "web") == feedback.THANKS_UNHELPFUL
    with session_scope() as s:
        fb = s.scalars(select(AnswerFeedback)).one()
        item = s.scalars(select(UnansweredItem)).one()
    assert (fb.answer_message_id, fb.helpful, fb.resident_key) == (answer_id, False, RK)
    assert (item.kind, item.question, item.answer_message_id, item.status) == \
        ("unhelpful", "邻居占了我家宅基地怎么办", answer_id, "open")
    # changing one's mind: the latest word wins, and the question leaves the inbox
    got = feedback.record_feedback(RK, True, "web")
    assert got["answer_message_id"] == answer_id and got["helpful"] is True
    with session_scope() as s:
        assert [f.helpful for f in s.scalars(select(AnswerFeedback))] == [True]
        assert s.scalars(select(UnansweredItem)).all() == []
    assert feedback.feedback_counts() == {"helpful": 1, "unhelpful": 0}


def test_only_right_after_a_bot_answer(db):
    assert feedback.handle_reply("web:nobody", "有用", "web") is None         # no answer at all
    assert feedback.record_feedback("web:nobody", True, "web") is None
    _ask(RK, "欠钱不还怎么办", "可以先协商……")
    service.record_message(RK, "in", "1", "resident", "web")
    assert feedback.handle_reply(RK, "1", "web") is None                      # digits need the prompt
    _ask(RK, "借条怎么写", "借条要写明……\n" + feedback.FEEDBACK_PROMPT)
    service.record_message(RK, "in", "2", "resident", "web")
    assert feedback.handle_reply(RK, "2", "web") == feedback.THANKS_UNHELPFUL
    # the prompt as a message of its own: the answer before it is rated
    _ask(RK, "彩礼能要回来吗", "看情况……")
    answer_id = _last_bot_id(RK)
    service.record_message(RK, "out", feedback.FEEDBACK_PROMPT, "bot", "web")
    service.record_message(RK, "in", "1", "resident", "web")
    assert feedback.handle_reply(RK, "1", "web") == feedback.THANKS_HELPFUL
    with session_scope() as s:
        assert s.scalars(select(AnswerFeedback).where(AnswerFeedback.answer_message_id == answer_id)).one().helpful
    # the bot's own 「有帮助吗？」 line after the answer: the answer is rated, not the line
    _ask(RK, "赡养费怎么算", "按子女收入……")
    answer_id = _last_bot_id(RK)
    service.record_message(RK, "out", "有帮助吗？如果和对方谈不拢，我可以帮您登记，请调解员来调解。需要吗？", "bot", "web")
    service.record_message(RK, "in", "好的谢谢", "resident", "web")
    assert feedback.handle_reply(RK, "好的谢谢", "web") is None  # maybe a yes to 「需要吗？」: the bot decides
    service.record_message(RK, "out", "有帮助吗？", "bot", "web")
    service.record_message(RK, "in", "有帮助", "resident", "web")
    assert feedback.handle_reply(RK, "有帮助", "web") == feedback.THANKS_HELPFUL
    with session_scope() as s:
        assert s.scalars(select(AnswerFeedback).where(AnswerFeedback.answer_message_id == answer_id)).one().helpful
    # the 1–5 satisfaction question is the system's, not a bot answer
    service.record_message(RK, "out", "请您给我们的服务打个分", "system", "web")
    service.record_message(RK, "in", "有帮助", "resident", "web")
    assert feedback.handle_reply(RK, "有帮助", "web") is None
    # too late
    _ask(RK, "工伤怎么认定", "……")
    clock.set_now(clock.now() + timedelta(hours=2))
    service.record_message(RK, "in", "有用", "resident", "web")
    assert feedback.handle_reply(RK, "有用", "web") is None


def test_mark_unanswered_once_per_answer(db):
    _ask(RK, "我家的狗咬了人要赔多少", "这个问题我暂时没有把握答准……")
    answer_id = _last_bot_id(RK)
    service.record_message(RK, "out", "您可以换个说法再问，或说「转人工」找工作人员。", "bot", "web")
    first = feedback.mark_unanswered(RK, "unsure", channel="web")
    again = feedback.mark_unanswered(RK, "not_sure", channel="web")
    assert first and first == again
    service.record_message(RK, "in", "没用", "resident", "web")
    feedback.handle_reply(RK, "没用", "web")  # the same answer: still one item
    _ask(RK, "asdf", "没听懂，您能换个说法吗？")
    fb = feedback.mark_unanswered(RK, "fallback", question="asdf 转写", channel="web")
    with session_scope() as s:
        items = {i.id: (i.kind, i.question) for i in s.scalars(select(UnansweredItem))}
    assert items == {first: ("unsure", "我家的狗咬了人要赔多少"), fb: ("fallback", "asdf 转写")}
    with session_scope() as s:
        assert s.get(UnansweredItem, first).answer_message_id == answer_id  # the answer, not the follow-up
    with pytest.raises(ValueError):
        feedback.mark_unanswered(RK, "bogus")


def test_collect_takes_the_staff_answer_after_a_handoff(db):
    make_staff("wang", "网格员", "QF01")
    rk = "web:fb-handoff"
    _ask(rk, "承包地被村里收回了不给补偿合法吗", "这个问题我暂时没有把握答准……")
    item_id = feedback.mark_unanswered(rk, "unsure", channel="web")
    service.record_message(rk, "in", "转人工", "resident", "web")
    h = service.start_handoff(rk, "居民要求人工服务")
    t = service.get_ticket(h["ticket_number"])
    service.staff_reply(t["number"], "wang", "承包期内发包方不得收回承包地，可以找镇农经站。")
    service.end_handoff(rk, "staff:wang")
    # a second handoff whose question was never marked
    rk2 = "web:fb-handoff2"
    service.record_message(rk2, "in", "村里收回承包地没给钱怎么办", "resident", "web")
    service.start_handoff(rk2, "居民要求人工服务")
    service.staff_reply(service.active_handoff(rk2)["ticket_number"], "wang", "可以申请农村土地承包仲裁。")
    service.end_handoff(rk2, "staff:wang")
    assert feedback.collect() == {"added": 1, "answered": 1}
    assert feedback.collect() == {"added": 0, "answered": 0}  # idempotent
    with session_scope() as s:
        item = s.get(UnansweredItem, item_id)
        other = s.scalars(select(UnansweredItem).where(UnansweredItem.resident_key == rk2)).one()
    assert item.staff_answer.startswith("承包期内") and item.staff_author == "staff:wang"
    assert (other.kind, other.question, other.staff_answer) == ("handoff", "村里收回承包地没给钱怎么办",
                                                                "可以申请农村土地承包仲裁。")
    groups = feedback.groups(background=drafts.questions())
    assert len(groups) == 1 and groups[0]["count"] == 2 and groups[0]["residents"] == 2
    assert groups[0]["staff_answer"]


def test_group_to_draft_yaml(db, fresh_home):
    _ask("web:a", "邻居占了我家的宅基地怎么办，我电话13812345678", "没有把握……")
    feedback.mark_unanswered("web:a", "unsure")
    _ask("web:b", "隔壁邻居把我家宅基地占了咋办", "没有把握……")
    feedback.mark_unanswered("web:b", "unsure")
    _ask("web:c", "老板拖欠工资不给怎么办", "没有把握……")
    feedback.mark_unanswered("web:c", "unsure")
    groups = feedback.groups(background=drafts.questions())
    assert [g["count"] for g in groups] == [2, 1]
    g = groups[0]
    assert all("13812345678" not in q["text"] for q in g["questions"])
    got = drafts.make_draft(g["ids"], domain="房产纠纷", subtype="宅基地/土地", actor="staff:zhou",
                              answer="宅基地使用权受法律保护，可以先找村委会调解。", steps=["先协商", "再找村委会调解"],
                              use_store=False)
    path = fresh_home / "kb_drafts" / f"{got['id']}.yml"
    assert got["path"] == str(path) and path.exists()
    from knowledge.qa import load_file

    [entry] = load_file(path)
    assert entry.status == "draft" and entry.domain == "房产纠纷" and entry.subtype == "宅基地/土地"
    assert entry.citations == [] and entry.steps == ["先协商", "再找村委会调解"]
    assert sorted([entry.question] + entry.paraphrases) == sorted(q["text"] for q in g["questions"])
    assert "13812345678" not in path.read_text(encoding="utf-8")
    assert yaml.safe_load(path.read_text(encoding="utf-8"))[0]["id"] == got["id"]
    assert [x["count"] for x in feedback.groups(background=drafts.questions())] == [1]
    assert feedback.groups("done", background=drafts.questions())[0]["draft_id"] == got["id"]
    with pytest.raises(feedback.DraftError):
        drafts.make_draft(feedback.groups(background=drafts.questions())[0]["ids"], domain="劳动纠纷", answer=" ", actor="staff:zhou",
                            use_store=False)
    assert feedback.set_status(feedback.groups(background=drafts.questions())[0]["ids"], "ignored", "staff:zhou") == 1
    assert feedback.groups(background=drafts.questions()) == [] and len(feedback.groups("ignored", background=drafts.questions())) == 1


def test_group_to_draft_in_the_knowledge_store(sqlite_db):
    """With knowledge.store (DB-backed entries) the draft is a new entry there, authored by the
    staff member (so another person reviews it)."""
    if drafts.kb_store() is None:
        pytest.skip("knowledge.store is not there")
    from knowledge import store

    _ask("web:s1", "土地流转合同到期了对方不还地怎么办", "没有把握……")
    feedback.mark_unanswered("web:s1", "unsure")
    _ask("web:s2", "流转出去的土地合同到期对方不还", "没有把握……")
    feedback.mark_unanswered("web:s2", "unsure")
    [g] = feedback.groups(background=drafts.questions())
    got = drafts.make_draft(g["ids"], domain="房产纠纷", actor="staff:zhou",
                              answer="合同到期后对方应当返还土地，可以先找村委会调解，也可以申请土地承包仲裁。")
    assert got["store"] and got["path"] is None
    e = store.get_entry(got["id"])
    assert e["status"] == "draft" and e["author"] == "zhou"
    data = e.get("data") or e
    assert sorted([data["question"]] + list(data["paraphrases"])) == sorted(q["text"] for q in g["questions"])
    assert feedback.groups(background=drafts.questions()) == [] and feedback.groups("done", background=drafts.questions())[0]["draft_id"] == got["id"]
    with pytest.raises(feedback.DraftError):  # the knowledge base's own rules (答复 ≤ 200 字)
        _ask("web:s3", "另一个问题怎么办", "没有把握……")
        feedback.mark_unanswered("web:s3", "unsure")
        drafts.make_draft(feedback.groups(background=drafts.questions())[0]["ids"], domain="房产纠纷", actor="staff:zhou", answer="长" * 300)


def test_forget_resident_removes_feedback_and_items(db):
    _ask(RK, "离婚孩子归谁", "……")
    service.record_message(RK, "in", "没帮助", "resident", "web")
    feedback.handle_reply(RK, "没帮助", "web")
    service.forget_resident(RK)
    with session_scope() as s:
        assert s.scalars(select(AnswerFeedback)).all() == []
        assert s.scalars(select(UnansweredItem)).all() == []


# The intake fix: tickets.intake._create routes with the urgency and takes the Route's
# working-time deadlines itself (the before_flush hook in tickets.lifecycle is gone).

def test_sunday_case_deadlines_are_in_working_time(sqlite_db):
    import tickets.lifecycle as lifecycle

    assert not hasattr(lifecycle, "_intake_bridge")
    make_staff("grid1", "网格员", "QF01", duty="08:30-17:30", days="1-5")
    make_staff("qfz-duty", "人民调解员", "QFZ", duty="08:30-17:30", days="1-5")
    clock.set_now(local_dt(2026, 12, 6, 15, 0))  # Sunday afternoon
    t = service.open_ticket("web:sun", domain="债权债务", summary="借钱不还", location="大塘一组")
    assert (t["tier"], t["node"]) == (1, "QF01")
    ack, answer = (clock.local(datetime.fromisoformat(t[k])) for k in ("ack_due", "answer_due"))
    assert ack == local_dt(2026, 12, 7, 9, 30)       # Monday 08:30 + 1 h of working time
    assert answer == local_dt(2026, 12, 9, 14, 30)   # 24 working hours later, not Monday 15:00
    urgent = service.open_ticket("web:sun2", domain="侵权", summary="要打起来了", location="大塘一组",
                                 urgency="urgent")
    assert (urgent["tier"], urgent["assignee"]) == (3, "qfz-duty")  # routed with its urgency
    assert clock.local(datetime.fromisoformat(urgent["ack_due"])) == local_dt(2026, 12, 6, 15, 30)
    with session_scope() as s:
        routes = s.scalars(select(AuditLog).where(AuditLog.action == "route")).all()
    assert len(routes) == 2 and routes[0].detail["ack_due"] == t["ack_due"]
    assert "非工作时间" in routes[0].detail["why"]
    hist = service.ticket_history(t["number"])
    assert hist[0]["kind"] == "route" and hist[0]["to_name"] == "网格" and "12-07 08:30" in hist[0]["why"]
