"""Unit tests of the ticket state machine."""
from __future__ import annotations

import pytest

from tickets.lifecycle import STATUS_LABELS, TRANSITIONS, TransitionError, allowed, check
from tickets.models import Ticket

LEGAL = {
    ("new", "acknowledged"), ("new", "escalated"),
    ("acknowledged", "in_mediation"), ("acknowledged", "escalated"),
    ("in_mediation", "resolved"), ("in_mediation", "escalated"),
    ("escalated", "acknowledged"), ("escalated", "escalated"), ("escalated", "closed"),
    ("resolved", "closed"),
}


def _t(status: str) -> Ticket:
    return Ticket(number="2026-QF01-0001", status=status)


@pytest.mark.parametrize("src", list(STATUS_LABELS))
@pytest.mark.parametrize("dst", list(STATUS_LABELS))
def test_every_pair(src, dst):
    if (src, dst) in LEGAL:
        check(_t(src), dst)
    else:
        with pytest.raises(TransitionError) as e:
            check(_t(src), dst)
        msg = str(e.value)
        assert "2026-QF01-0001" in msg and STATUS_LABELS[src] in msg and STATUS_LABELS[dst] in msg
        assert "不能改为" in msg


def test_table_matches_spec():
    assert {(a, b) for a, bs in TRANSITIONS.items() for b in bs} == LEGAL
    assert allowed("closed") == []
    assert allowed("new") == ["acknowledged", "escalated"]


def test_unknown_status():
    with pytest.raises(TransitionError, match="没有「done」这个状态"):
        check(_t("new"), "done")


def test_closed_message_lists_nothing():
    with pytest.raises(TransitionError, match="无（已结束）"):
        check(_t("closed"), "acknowledged")
