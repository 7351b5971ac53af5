"""Emergency triage: recall 100% on eval/bot/emergency.jsonl (a miss is a severity-1 bug)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.emergency import detect

ROOT = Path(__file__).resolve().parents[2]
ROWS = [json.loads(line) for line in (ROOT / "eval" / "bot" / "emergency.jsonl").read_text().splitlines() if line.strip()]
POSITIVES = [r for r in ROWS if r["emergency"]]
NEGATIVES = [r for r in ROWS if not r["emergency"]]
LINES = {"violence": "110", "weapon_threat": "110", "fraud_in_progress": "96110", "medical": "120",
         "self_harm": "12356"}


def test_set_size():
    assert len(POSITIVES) >= 80 and len(NEGATIVES) >= 80


@pytest.mark.parametrize("row", POSITIVES, ids=[r["id"] for r in POSITIVES])
def test_every_emergency_is_caught_with_the_right_line(row):
    hit = detect(row["text"], semantic=False)  # the rules alone, on the set they were written for
    assert hit is not None, f"missed emergency: {row['text']}"
    assert LINES[row["kind"]] in hit["reply"] or LINES[row["kind"]] in hit["hotlines"]
    assert hit["hotlines"] and all(h in hit["reply"] for h in hit["hotlines"][:1])


def test_precision_on_hard_negatives():
    false_alarms = [r["text"] for r in NEGATIVES if detect(r["text"], wait=True)]
    precision = len(POSITIVES) / (len(POSITIVES) + len(false_alarms))
    assert precision >= 0.95, false_alarms


def test_kinds_and_lines():
    assert detect("我不想活了")["kind"] == "self_harm"
    assert "400-161-9995" in detect("活着没意思")["reply"]
    assert detect("他说要拿刀砍死我全家 现在就在我家门口")["kind"] == "weapon_threat"
    fraud = detect("公安局的人说我涉嫌洗钱 让我把钱转到安全账户")
    assert fraud["kind"] == "fraud_in_progress" and "96110" in fraud["reply"]
    assert "120" in detect("我爸晕倒了 叫不醒")["reply"]


@pytest.mark.parametrize("text", ["", "   ", "😀😀", "？？？", "a" * 10000, "你好", None])
def test_odd_input_is_safe(text):
    assert detect(text) is None


def test_traditional_and_spacing():
    assert detect("他說要殺了我") is not None
    assert detect("我 不 想 活 了") is not None


def test_fresh_phrasings_with_the_semantic_backstop():
    """eval/bot/emergency_holdout.jsonl was written after the rules: rules alone caught 18/38.
    With the e5 nearest-neighbour backstop recall must stay high (goal 100%; measured 33/38)."""
    rows = [json.loads(line) for line in (ROOT / "eval" / "bot" / "emergency_holdout.jsonl").read_text().splitlines()
            if line.strip()]
    hits = [(r, detect(r["text"], wait=True)) for r in rows]
    tp = sum(1 for r, h in hits if r["emergency"] and h)
    fp = sum(1 for r, h in hits if not r["emergency"] and h)
    positives = sum(r["emergency"] for r in rows)
    assert tp / positives >= 0.85, [r["text"] for r, h in hits if r["emergency"] and not h]
    assert tp / (tp + fp) >= 0.8


def test_semantic_hits_respect_past_and_advice_filters():
    assert "110" in detect("他把刀架在我脖子上", wait=True)["hotlines"]
    assert detect("他以前拿刀吓过我 这个算不算威胁", wait=True) is None


EVERYDAY = ["邻居装修太吵", "楼上漏水到我家了", "隔壁天天吵架", "村里有人占了我家宅基地", "物业费不交会怎样",
            "老板拖欠工资怎么办", "邻居家的狗天天叫", "对门把鞋柜放楼道里", "前夫不给抚养费", "网购的衣服不给退"]


@pytest.mark.parametrize("text", EVERYDAY)
def test_everyday_grievances_are_not_emergencies_with_the_backstop(text):
    # The semantic backstop must not turn a common complaint into a 110 reply.
    from bot.emergency import detect

    assert detect(text, wait=True) is None
