"""The CLIs (`mingbai grid|user|sla|db`) and the migrations staying in step with the models."""
from __future__ import annotations

import json

from sqlalchemy import select

from mingbai.cli import main as cli
from mingbai.db import Base, get_engine, init_db, session_scope
from tests.tickets.fixtures import ROOT


def test_db_upgrade_and_models_in_sync(fresh_home):
    assert cli(["db", "upgrade"]) == 0
    assert cli(["db", "upgrade"]) == 0  # idempotent
    init_db()
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    import mingbai.models  # noqa: F401

    with get_engine().connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    # a table/column added to any area's models needs a new Alembic revision
    assert diff == [], f"models and migrations differ; add a revision: {diff}"


def test_grid_import_yaml_and_csv(fresh_home, tmp_path, capsys):
    assert cli(["grid", "import", str(ROOT / "data" / "grids" / "sample.yml")]) == 0
    assert "新增 18 个" in capsys.readouterr().out
    assert cli(["grid", "import", str(ROOT / "data" / "grids" / "sample.yml")]) == 0
    assert "新增 0 个, 更新 18 个" in capsys.readouterr().out
    csv = tmp_path / "more.csv"
    csv.write_text("code,name,level,parent,kind,centre,aliases,lat,lon\n"
                   "CG-XH,新华社区,village,CGJD,社区,社区调委会,新华,30.25,120.17\n"
                   "CG05,新华社区网格,grid,CG-XH,,,新华路|新华小区,30.251,120.171\n", encoding="utf-8")
    assert cli(["grid", "import", str(csv)]) == 0
    from tickets import service

    assert service.set_location("web:x", label="新华小区")["grid"] == "CG05"
    bad = tmp_path / "bad.csv"
    bad.write_text("code,name,level,parent\nX1,某网格,grid,NOPE\n", encoding="utf-8")
    assert cli(["grid", "import", str(bad)]) == 1
    assert "上级 NOPE 不存在" in capsys.readouterr().err
    assert cli(["grid", "list"]) == 0
    assert "QF01" in capsys.readouterr().out


def test_user_create_and_token(fresh_home, capsys):
    cli(["grid", "import", str(ROOT / "data" / "grids" / "sample.yml")])
    capsys.readouterr()
    rc = cli(["user", "create", "--role", "人民调解员", "--grid", "QFZ", "--username", "labour",
              "--password", "long-enough-1", "--domains", "劳动纠纷,工伤", "--duty", "08:30-17:30", "--days", "1-5",
              "--token"])
    out = capsys.readouterr().out
    assert rc == 0 and "已创建 labour" in out and "mbt_" in out
    assert cli(["user", "create", "--role", "厨师", "--grid", "QFZ", "--username", "x", "--password", "12345678"]) == 1
    assert "角色只能是" in capsys.readouterr().err
    assert cli(["user", "create", "--role", "网格员", "--grid", "NOPE", "--username", "y", "--password", "12345678"]) == 1
    assert cli(["user", "create", "--role", "网格员", "--grid", "QF01", "--username", "z", "--password", "short"]) == 1
    from tickets.models import StaffUser
    from tickets.users import authenticate

    with session_scope() as s:
        u = s.scalars(select(StaffUser).where(StaffUser.username == "labour")).one()
        assert u.password_hash.startswith(("scrypt:", "pbkdf2:")) and "long-enough-1" not in u.password_hash
        assert (u.domains, u.duty_days, u.duty_start) == (["劳动纠纷", "工伤"], [0, 1, 2, 3, 4], "08:30")
    assert authenticate("labour", "long-enough-1")["role"] == "人民调解员"
    assert authenticate("labour", "wrong") is None


def test_sla_tick_cli(fresh_home, capsys):
    cli(["grid", "import", str(ROOT / "data" / "grids" / "sample.yml")])
    from tickets import service

    service.open_ticket("web:cli", domain="侵权", summary="x", location="大塘一组")
    capsys.readouterr()
    assert cli(["sla", "tick", "--now", "2099-01-01T00:00:00+00:00"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["reminders"] >= 1 and out["conflicts"] == 0
