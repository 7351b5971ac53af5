"""The gateway's turn: answer-first routing by forced intents, two-tier triage, form interruptions,
and answers from the knowledge base while Rasa is down."""
from __future__ import annotations

from connectors import deferred, gateway
from connectors.message import InboundMessage
from tests.connectors.conftest import consent


def _small_index(tmp_path, monkeypatch) -> None:
    """The knowledge base this test's home answers from: shipped statutes + the frozen Q&A fixture."""
    from knowledge import index
    from knowledge.search import reset_cache
    from mingbai.settings import get_settings
    from tests.knowledge.conftest import DATA

    monkeypatch.setenv("MINGBAI_KB_VECTOR_CACHE", str(tmp_path / "kb-vectors.sqlite"))
    # The fixture's asked questions, not knowledge/asked/: with a fresh vector cache the shipped ~10,700
    # would be encoded on every call (~4 minutes each on two slow cores) for routing that never reads them.
    index.build(get_settings().index_dir, qa_dir=DATA, asked_dir=DATA / "asked", article_vectors=False, workers=1,
                progress=False)
    reset_cache()


def _turn(rk: str, text: str) -> list[str]:
    return gateway.process(InboundMessage(rk, rk.split(":", 1)[0], text=text))


def test_question_goes_to_the_knowledge_road_with_its_words(client, rasa):
    rk = "rest:route-q"
    consent(rk)
    _turn(rk, "我老婆不让我见孩子，离婚的时候说好每月见两次")
    assert rasa.intents[(rk, "/ask_legal_question")] == 1
    assert rasa.metadata[-1]["text"] == "我老婆不让我见孩子，离婚的时候说好每月见两次"


def test_acts_are_forced_intents(client, rasa):
    rk = "rest:route-acts"
    consent(rk)
    for text, intent in [("谢谢", "/thanks"), ("你好", "/greet"), ("转人工", "/request_human"),
                         ("查进度", "/check_ticket_status"), ("帮我调解一下", "/report_dispute")]:
        _turn(rk, text)
        assert rasa.intents[(rk, intent)] == 1, text


def test_out_of_scope_never_opens_a_form(client, rasa):
    rk = "rest:route-oos"
    consent(rk)
    _turn(rk, "帮我写一首诗")
    assert rasa.intents[(rk, "/out_of_scope")] == 1
    assert rasa.intents[(rk, "/report_dispute")] == 0


def test_past_harm_is_answered_with_a_hotline_line_not_an_alarm(client, rasa):
    rk = "rest:route-past"
    consent(rk)
    replies = _turn(rk, "上个月被人骗了三万块，还能追回来吗")
    assert gateway.last_result()["outcome"] != "emergency"
    assert rasa.intents[(rk, "/ask_legal_question")] == 1
    assert rasa.metadata[-1].get("triage_line")  # the action puts it inside the answer
    assert not any("110" in r and "立即" in r for r in replies[:1] if "triage" in r)


def test_danger_now_gets_the_safety_line_first_and_a_ticket(client, rasa, tmp_path, monkeypatch):
    _small_index(tmp_path, monkeypatch)
    rk = "rest:route-gas"
    consent(rk)
    replies = _turn(rk, "家里煤气味好大，老人叫不醒")
    res = gateway.last_result()
    assert res["outcome"] == "emergency" and res["ticket_id"]
    assert "119" in replies[0] or "120" in replies[0]


def test_status_typed_mid_form_is_not_a_slot_value(client, rasa, tmp_path, monkeypatch):
    _small_index(tmp_path, monkeypatch)
    rk = "rest:route-form"
    consent(rk)
    rasa.forms[rk] = "preferred_time"
    try:
        _turn(rk, "查进度")
        assert rasa.intents[(rk, "/check_ticket_status")] == 1
        assert rasa.intents[(rk, "查进度")] == 0  # never sent as raw text for the form to store
        _turn(rk, "明天下午")
        assert rasa.intents[(rk, "明天下午")] == 1  # a real answer goes to the form
        replies = _turn(rk, "对了，离婚后孩子的抚养费一般给多少？")
        assert replies[-1].startswith(gateway.RESUME_FORM)  # answered, then the form goes on
    finally:
        rasa.forms.pop(rk, None)


def test_questions_are_answered_while_rasa_is_down(client, rasa, monkeypatch, tmp_path):
    from mingbai.settings import reset_settings_cache

    _small_index(tmp_path, monkeypatch)
    monkeypatch.setenv("MINGBAI_RASA_URL", "http://127.0.0.1:9")  # nothing listens there
    reset_settings_cache()
    rk = "rest:route-down"
    consent(rk)
    replies = _turn(rk, "老板拖欠工资不给怎么办")
    assert replies and replies[0] != gateway.BOT_DOWN and "劳动" in replies[0]
    assert gateway.last_result()["outcome"] == "answer"
    assert _turn(rk, "转人工") == [deferred.NOTICE]  # queued for when Rasa is back (test_degraded_mode)
    assert _turn(rk, "明天下午") == []  # a short answer waits for the bot too; told once already


def test_forget_during_a_handoff_is_not_swallowed(client, rasa):
    from tickets import service

    rk = "rest:route-forget"
    consent(rk)
    service.start_handoff(rk, "test")
    assert _turn(rk, "删除我的信息") == [gateway.FORGOTTEN]
    assert not service.has_consent(rk)


def test_a_not_sure_answer_after_consent_files_the_held_question(client, rasa, monkeypatch, tmp_path):
    """The first question waits for 同意; if its answer is "not sure", the inbox gets the question."""
    from mingbai.db import session_scope
    from mingbai.settings import reset_settings_cache
    from tickets.feedback import UnansweredItem

    _small_index(tmp_path, monkeypatch)
    monkeypatch.setenv("MINGBAI_RASA_URL", "http://127.0.0.1:9")  # the knowledge base answers alone
    reset_settings_cache()
    rk = "rest:route-held"
    question = "我那个事情到底该咋整啊你说说"  # too vague for any entry or article: "not sure"
    assert _turn(rk, question) == [gateway.PRIVACY_NOTICE]
    _turn(rk, "同意")
    with session_scope() as s:
        items = s.query(UnansweredItem).filter_by(resident_key=rk).all()
        questions = [i.question for i in items]
    assert gateway.last_result().get("confident") is False
    assert questions == [question]


def test_a_deletion_the_rules_do_not_hear_is_asked_before_anything_is_deleted(client, rasa):
    from tickets import service

    rk = "rest:route-forget-guess"
    consent(rk)
    assert _turn(rk, "你们帮我把那些聊天的东西弄没了，我不想留") == [gateway.FORGET_CONFIRM]
    assert rasa.intents[(rk, "/delete_my_data")] == 0 and service.has_consent(rk)  # nothing deleted yet
    assert gateway.last_result()["outcome"] == "forget"


def test_danger_only_the_model_hears_raises_the_alarm(client, rasa):
    rk = "rest:route-model-danger"
    consent(rk)
    replies = _turn(rk, "孩子们以后就拜托你们了 我累了不想再撑了")
    assert gateway.last_result()["outcome"] == "emergency"
    assert "12356" in replies[0]
