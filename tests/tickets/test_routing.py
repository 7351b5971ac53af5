"""Routing: place names and WeChat locations to grids, on-duty hours, domain specialists,
nobody on duty → the next tier."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from mingbai.db import session_scope
from tests.tickets.fixtures import local_dt, make_staff
from tickets.models import GridNode, StaffUser
from tickets.routing import is_on_duty, match_place, nearest_grid, resolve_node, route


def _node(s, code):
    return s.scalars(select(GridNode).where(GridNode.code == code)).one()


@pytest.mark.parametrize("text,code", [
    ("我家在大塘一组，邻居占了我的地", "QF01"),
    ("大塘五组", "QF02"),
    ("住在锦绣花园", "QF04"),
    ("城关街道和平路33号", "CG01"),
    ("柳湾渡口旁边", "QF03"),
    ("东门老街", "CG03"),
    ("清风镇", "QFZ"),
    ("大塘村", "QF01"),  # a village without a grid named: its first grid
    ("北京朝阳区", None),
    ("", None),
])
def test_place_to_node(sqlite_db, text, code):
    with session_scope() as s:
        node = resolve_node(s, text)
        assert (node.code if node else None) == code


def test_longest_alias_wins(sqlite_db):
    with session_scope() as s:
        # "新街" (community) and "新街菜市场" (grid alias) both occur: the longer, more exact one wins
        assert match_place(s, "新街菜市场门口").code == "QF04"


def test_wechat_location_nearest_grid(sqlite_db):
    with session_scope() as s:
        assert nearest_grid(s, 30.2922, 120.0990).code == "QF01"
        assert nearest_grid(s, 30.2337, 120.1710).code == "CG04"
        assert nearest_grid(s, 39.9, 116.4) is None  # Beijing: not our county
        assert resolve_node(s, None, 30.2476, 120.1560).code == "CG01"
        # a stated place beats the coordinates
        assert resolve_node(s, "东门老街", 30.2476, 120.1560).code == "CG03"


def _user(**kw):
    base = dict(username="u", password_hash="x", role="网格员", active=True,
                duty_days=[0, 1, 2, 3, 4], duty_start="08:30", duty_end="17:30")
    base.update(kw)
    return StaffUser(**base)


def test_business_hours():
    u = _user()
    assert is_on_duty(u, local_dt(2026, 11, 30, 8, 30))       # Monday 08:30
    assert not is_on_duty(u, local_dt(2026, 11, 30, 8, 29))
    assert not is_on_duty(u, local_dt(2026, 11, 30, 17, 30))  # end is exclusive
    assert not is_on_duty(u, local_dt(2026, 12, 5, 10, 0))    # Saturday
    assert not is_on_duty(_user(active=False), local_dt(2026, 11, 30, 10, 0))


def test_overnight_and_all_day():
    night = _user(duty_start="20:00", duty_end="08:00", duty_days=[4])  # Friday night
    assert is_on_duty(night, local_dt(2026, 12, 4, 21, 0))
    assert is_on_duty(night, local_dt(2026, 12, 5, 7, 59))   # Saturday morning: Friday's shift
    assert not is_on_duty(night, local_dt(2026, 12, 5, 21, 0))
    allday = _user(duty_start="00:00", duty_end="24:00", duty_days=list(range(7)))
    assert is_on_duty(allday, local_dt(2026, 12, 6, 3, 0))
    assert is_on_duty(allday, local_dt(2026, 12, 6, 23, 59))


def test_domain_specialist_and_next_tier(sqlite_db):
    make_staff("grid1", "网格员", "QF01", duty="08:30-17:30", days="1-5")
    make_staff("labour", "人民调解员", "QFZ", domains=["劳动纠纷"], duty="08:30-17:30", days="1-5")
    make_staff("family", "人民调解员", "QFZ", domains=["婚姻家庭"], duty="08:30-17:30", days="1-5")
    make_staff("duty", "人民调解员", "QFX", duty="00:00-24:00", days="1-7")
    monday10 = local_dt(2026, 11, 30, 10, 0)
    sunday10 = local_dt(2026, 12, 6, 10, 0)
    with session_scope() as s:
        qf01 = _node(s, "QF01")
        r = route(s, qf01, "劳动纠纷", monday10)
        assert (r.tier, r.node.code, r.assignee, r.on_duty) == (1, "QF01", None, ["grid1"])  # grid first: 小事不出村
        r = route(s, qf01, "劳动纠纷", monday10, start_tier=2)   # village has nobody → town
        assert (r.tier, r.node.code, r.assignee, r.skipped) == (3, "QFZ", "labour", [2])
        r = route(s, qf01, "婚姻家庭", monday10, start_tier=3)
        assert r.assignee == "family"
        r = route(s, qf01, "交通事故", monday10, start_tier=3)   # no specialist: the town queue
        assert (r.assignee, sorted(r.on_duty)) == (None, ["family", "labour"])
        # weekend, normal case: it waits at the grid for Monday morning (小事不出村), the grid's
        # staff are told; only urgent cases go up out of hours (tests/tickets/test_working_time.py)
        r = route(s, qf01, "劳动纠纷", sunday10)
        assert (r.tier, r.node.code, r.skipped, r.on_duty) == (1, "QF01", [], ["grid1"])
        r = route(s, qf01, "劳动纠纷", sunday10, urgency="urgent")  # no on-call at the town: county
        assert (r.tier, r.node.code, r.skipped) == (4, "QFX", [1, 2, 3])
        s.execute(StaffUser.__table__.update().where(StaffUser.username == "duty").values(active=False))
        r = route(s, qf01, "劳动纠纷", sunday10, urgency="urgent")  # nobody anywhere: the county keeps it
        assert (r.tier, r.node.code, r.assignee) == (4, "QFX", None)


def test_specialist_load_balancing(sqlite_db):
    from tickets import service

    make_staff("a", "人民调解员", "QF01", domains=["劳动纠纷"])
    make_staff("b", "人民调解员", "QF01", domains=["劳动纠纷"])
    got = [service.open_ticket(f"web:r{i}", domain="劳动纠纷", summary=f"欠薪 {i}", location="大塘一组")["assignee"]
           for i in range(4)]
    assert sorted(got) == ["a", "a", "b", "b"]
