"""The intake form's slot validation (ValidateDisputeForm): what each answer accepts or asks again.

The validate_* methods are called directly with rasa_sdk's CollectingDispatcher and a Tracker
built from events, as the action server would; place matching uses the sample grids.
"""
from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import yaml
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from bot.actions import slots as P
from bot.actions.intake import FORM_SLOTS, ValidateDisputeForm
from tests.tickets.fixtures import sqlite_db  # noqa: F401  (fresh SQLite db with data/grids/sample.yml)

ROOT = Path(__file__).resolve().parents[2]
DOMAIN = yaml.safe_load((ROOT / "bot" / "domain.yml").read_text(encoding="utf-8"))


# ------------------------------------------------------------------------------------ helpers
def user(text):
    return {"event": "user", "text": text, "parse_data": {"intent": {"name": "inform"}}}


def bot(text):
    return {"event": "bot", "text": text}


def slot(name, value):
    return {"event": "slot", "name": name, "value": value}


def tracker(events=(), **slots):
    events = list(events)
    values = {s: None for s in FORM_SLOTS}
    values.update(slots)
    latest = next((e for e in reversed(events) if e["event"] == "user"), {"text": ""})
    return Tracker.from_dict({
        "sender_id": "web:test", "slots": values, "latest_message": latest, "events": events,
        "active_loop": {"name": "dispute_form"}, "latest_action_name": "action_listen",
    })


def form_start():
    return [{"event": "action", "name": "action_prepare_dispute"}, {"event": "active_loop", "name": "dispute_form"}]


def validate(slot_name, value, trk=None):
    """(result dict, texts the bot said)."""
    d = CollectingDispatcher()
    trk = trk or tracker([user(value), slot(slot_name, value)], requested_slot=slot_name)
    out = getattr(ValidateDisputeForm(), f"validate_{slot_name}")(value, d, trk, DOMAIN)
    if asyncio.iscoroutine(out):
        out = asyncio.run(out)
    return out, [m.get("text") for m in d.messages]


# ------------------------------------------------------------------------------------ phone
@pytest.mark.parametrize("typed, stored, shown", [
    ("13812345678", "13812345678", "138****5678"),
    ("138 1234 5678", "13812345678", "138****5678"),
    ("１３８－１２３４－５６７８", "13812345678", "138****5678"),  # full-width digits and dash
    ("+86 139-0000-1111", "13900001111", "139****1111"),
    ("+86 138 1234 5678，白天打", "13812345678", "138****5678"),
    ("我电话是13812345678", "13812345678", "138****5678"),
    ("0571-88886666", "057188886666", "0571-****6666"),      # landline with area code
    ("（010）1234 5678", "01012345678", "010-****5678"),
])
def test_phone_accepts_mobiles_and_landlines_and_echoes_them_masked(typed, stored, shown):
    out, said = validate("phone", typed)
    assert out == {"phone": stored}
    assert said == [f"好的，联系电话 {shown}。"]
    assert stored not in said[0]


@pytest.mark.parametrize("typed", ["12345", "1381234567", "23812345678", "138123456789", "查进度", "明天下午"])
def test_phone_rejects_what_is_not_a_number_with_an_example(typed):
    out, said = validate("phone", typed)
    assert out == {"phone": None}
    assert len(said) == 1 and "比如 138 1234 5678" in said[0]


def test_phone_landline_without_area_code_asks_for_it():
    out, said = validate("phone", "8888 6666")
    assert out == {"phone": None}
    assert "区号" in said[0]


def test_phone_first_refusal_explains_why_second_is_accepted_without_a_phone():
    asked = form_start() + [slot("requested_slot", "phone"), bot("请留一个手机号，调解员好联系您。")]
    first = tracker(asked + [user("不方便留"), slot("phone", "不方便留")], requested_slot="phone")
    out, said = validate("phone", "不方便留", first)
    assert out == {"phone": None}
    assert "调解员才能" in said[0] and "「没有」" in said[0]

    events = asked + [user("不方便留"), slot("phone", None), slot("requested_slot", "phone"), bot(said[0]),
                      user("没有"), slot("phone", "没有")]
    out, said = validate("phone", "没有", tracker(events, requested_slot="phone"))
    assert out == {"phone": None}
    assert said == ["好的，先不留电话。调解员会在这里给您留言。"]


def test_a_refusal_in_an_earlier_form_does_not_count():
    old = form_start() + [slot("requested_slot", "phone"), user("不想留电话"), slot("phone", None)]
    events = old + form_start() + [slot("requested_slot", "phone"), user("不想留电话"), slot("phone", "不想留电话")]
    out, said = validate("phone", "不想留电话", tracker(events, requested_slot="phone"))
    assert out == {"phone": None} and "调解员才能" in said[0]


def _run_form(events, **slots):
    d = CollectingDispatcher()
    trk = tracker(events, **slots)
    result = asyncio.run(ValidateDisputeForm().run(d, trk, DOMAIN))
    return result, [m.get("text") for m in d.messages]


def test_form_skips_the_phone_after_the_second_refusal():
    filled = {"dispute_summary": "邻居占了我家的地", "other_party": "邻居", "location": "清风镇大塘村"}
    asked = form_start() + [slot("requested_slot", "phone"), user("不想留电话"), slot("phone", None),
                            slot("requested_slot", "phone")]
    events, said = _run_form(asked + [user("没有"), slot("phone", "没有")], requested_slot="phone", **filled)
    assert {"event": "slot", "name": "phone", "value": None, "timestamp": None} in events
    requested = [e["value"] for e in events if e.get("name") == "requested_slot"]
    assert requested == ["preferred_time"]
    assert said == ["好的，先不留电话。调解员会在这里给您留言。"]

    # the next answers keep skipping the phone, and the form ends without it
    later = asked + [user("没有"), slot("phone", None), slot("requested_slot", "preferred_time"),
                     user("随时"), slot("preferred_time", "随时")]
    events, _ = _run_form(later, requested_slot="preferred_time", **filled)
    assert [e["value"] for e in events if e.get("name") == "requested_slot"] == ["consent"]


def test_form_asks_the_phone_again_after_one_refusal():
    events, said = _run_form(form_start() + [slot("requested_slot", "phone"), user("不方便"), slot("phone", "不方便")],
                             requested_slot="phone", dispute_summary="邻居占了我家的地", other_party="邻居",
                             location="大塘村")
    assert not [e for e in events if e.get("name") == "requested_slot"]  # Rasa asks the phone again
    assert "调解员才能" in said[0]


# ------------------------------------------------------------------------------------ time
@pytest.mark.parametrize("typed, stored", [
    ("明天下午三点以后", "明天下午三点以后"),
    ("工作日下午", "工作日下午"),
    ("周六上午", "周六上午"),
    ("星期天都在家", "星期天都在家"),
    ("晚上7点后", "晚上7点后"),
    ("马上", "马上"),
    ("明天下午可以吗", "明天下午可以吗"),
    ("随时", "随时"),
    ("都行", "随时"),
    ("什么时候都可以", "随时"),
    ("随时都可以的", "随时"),
])
def test_time_accepts_time_expressions(typed, stored):
    out, said = validate("preferred_time", typed)
    assert out == {"preferred_time": stored}
    assert said == []


@pytest.mark.parametrize("typed", ["查进度", "转人工吧", "13812345678", "？？", "好的",
                                   "我想问一下明天去法院起诉要带什么材料吗",
                                   "我家隔壁那户人家把垃圾全堆在我家门口已经好几个月了"])
def test_time_rejects_what_is_not_a_time_with_a_gentle_reask(typed):
    out, said = validate("preferred_time", typed)
    assert out == {"preferred_time": None}
    assert len(said) == 1 and "随时" in said[0]


# ------------------------------------------------------------------------------------ other party / summary
@pytest.mark.parametrize("typed, stored", [
    ("隔壁老王", "隔壁老王"), ("楼上住户", "楼上住户"), ("包工头张三", "包工头张三"),
    ("不知道", P.UNKNOWN_PARTY), ("不清楚", P.UNKNOWN_PARTY), ("我也不知道他叫啥", P.UNKNOWN_PARTY),
])
def test_other_party_accepts_a_party_or_unknown(typed, stored):
    out, said = validate("other_party", typed)
    assert out == {"other_party": stored} and said == []


@pytest.mark.parametrize("typed", ["", "   ", "。。。", "？", "什么意思"])
def test_other_party_rejects_empty_punctuation_and_meta_questions(typed):
    out, said = validate("other_party", typed)
    assert out == {"other_party": None}
    assert "不清楚" in said[0]


def test_summary_keeps_the_four_character_rule():
    assert validate("dispute_summary", "吵架")[0] == {"dispute_summary": None}
    assert validate("dispute_summary", "邻居占地")[0] == {"dispute_summary": "邻居占地"}


# ------------------------------------------------------------------------------------ location
@pytest.mark.usefixtures("sqlite_db")
@pytest.mark.parametrize("typed, stored, label", [
    ("大塘村", "清风镇大塘村", "清风镇大塘村"),
    ("清风镇大塘村", "清风镇大塘村", "清风镇大塘村"),
    ("和平社区", "城关街道和平社区", "城关街道和平社区"),
    ("大塘小学旁边", "清风镇大塘村第一网格（大塘小学旁边）", "清风镇大塘村第一网格"),
])
def test_location_matched_to_a_grid_is_confirmed(typed, stored, label):
    out, said = validate("location", typed)
    assert out == {"location": stored}
    assert said == [f"您是说{label}吗？不对的话请回「不对」。"]


@pytest.mark.usefixtures("sqlite_db")
def test_unknown_village_is_kept_as_typed_with_a_note():
    out, said = validate("location", "东风村三组")
    assert out == {"location": "东风村三组"}
    assert "工作人员会再跟您确认" in said[0]


@pytest.mark.usefixtures("sqlite_db")
def test_town_only_is_kept_as_typed_with_a_note():
    out, said = validate("location", "清风镇")
    assert out == {"location": "清风镇"} and "确认" in said[0]


def test_location_without_the_database_never_blocks(monkeypatch):
    import tickets.routing

    def broken(*a, **k):
        raise RuntimeError("db down")

    monkeypatch.setattr(tickets.routing, "match_place", broken)
    out, said = validate("location", "大塘村")
    assert out == {"location": "大塘村"} and "确认" in said[0]


@pytest.mark.parametrize("typed", ["", "。", "村"])
def test_location_too_short_is_asked_again(typed):
    out, said = validate("location", typed)
    assert out == {"location": None} and "村或社区" in said[0]


def _after_confirm(answer):
    """The turn after 「您是说清风镇大塘村吗？」: the answer arrives as the phone slot."""
    events = form_start() + [slot("requested_slot", "location"), user("大塘村"),
                             bot("您是说清风镇大塘村吗？不对的话请回「不对」。"), slot("location", "清风镇大塘村"),
                             slot("requested_slot", "phone"), bot("请留一个手机号，调解员好联系您。"),
                             user(answer), slot("phone", answer)]
    return tracker(events, requested_slot="phone", location="清风镇大塘村")


def test_no_after_the_place_confirmation_asks_the_place_again():
    out, said = validate("phone", "不对", _after_confirm("不对"))
    assert out == {"location": None, "phone": None}
    assert said == ["好的，是我没听准。"]


def test_yes_after_the_place_confirmation_just_asks_the_phone_again():
    out, said = validate("phone", "是的", _after_confirm("是的"))
    assert out == {"phone": None} and said == []


def test_a_phone_after_the_place_confirmation_is_taken():
    out, said = validate("phone", "13812345678", _after_confirm("13812345678"))
    assert out == {"phone": "13812345678"}


@pytest.mark.usefixtures("sqlite_db")
def test_no_with_another_place_confirms_that_place():
    out, said = validate("phone", "不对，是石桥村", _after_confirm("不对，是石桥村"))
    assert out == {"location": "城关街道石桥村", "phone": None}
    assert said == ["您是说城关街道石桥村吗？不对的话请回「不对」。"]


def test_no_without_a_place_confirmation_is_just_a_wrong_phone():
    out, said = validate("phone", "不对")
    assert out == {"phone": None} and "138 1234 5678" in said[0]


def test_forced_intent_values_fall_back_to_the_words_in_the_metadata():
    events = [{"event": "user", "text": "/inform", "metadata": {"text": "明天上午"}}, slot("preferred_time", "/inform")]
    trk = tracker(events, requested_slot="preferred_time")
    trk.latest_message = events[0]
    out, _ = validate("preferred_time", "/inform", trk)
    assert out == {"preferred_time": "明天上午"}
