"""SLA policy: acknowledge ≤ 1 h, answer ≤ 24 h; configurable per tier and urgency.

Overrides: $MINGBAI_HOME/sla.toml, e.g.

    [normal]            # every tier
    ack_minutes = 60
    answer_minutes = 1440
    [tier3.normal]      # 乡镇/街道 only
    answer_minutes = 2880
"""
from __future__ import annotations

import tomllib
from datetime import datetime, timedelta

URGENCIES = ("normal", "urgent", "emergency")
DEFAULTS = {
    "normal": {"ack_minutes": 60, "answer_minutes": 24 * 60},
    "urgent": {"ack_minutes": 30, "answer_minutes": 8 * 60},
    "emergency": {"ack_minutes": 10, "answer_minutes": 60},
}


def _overrides() -> dict:
    from mingbai.settings import get_settings

    path = get_settings().home / "sla.toml"
    if not path.exists():
        return {}
    return tomllib.loads(path.read_text(encoding="utf-8"))


def limits(tier: int, urgency: str, overrides: dict | None = None) -> tuple[timedelta, timedelta]:
    urgency = urgency if urgency in URGENCIES else "normal"
    conf = dict(DEFAULTS[urgency])
    o = _overrides() if overrides is None else overrides
    conf.update(o.get(urgency, {}))
    conf.update(o.get(f"tier{tier}", {}).get(urgency, {}))
    return timedelta(minutes=conf["ack_minutes"]), timedelta(minutes=conf["answer_minutes"])


def deadlines(tier: int, urgency: str, start: datetime) -> tuple[datetime, datetime]:
    ack, answer = limits(tier, urgency)
    return start + ack, start + answer
