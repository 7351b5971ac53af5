"""Shared fixtures for the tickets and consoles tests: a fresh SQLite database or a private
PostgreSQL schema, both migrated with Alembic and loaded with the sample grids."""
from __future__ import annotations

import os
import uuid
from datetime import datetime
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "data" / "grids" / "sample.yml"
PG_BASE = os.environ.get("MINGBAI_TEST_PG", "postgresql://root@127.0.0.1:5432/test")


def _reset() -> None:
    from mingbai.db import reset_engines
    from mingbai.settings import reset_settings_cache

    reset_settings_cache()
    reset_engines()


def _load_sample() -> None:
    from mingbai.db import init_db
    from tickets.grids import import_file

    init_db()
    import_file(SAMPLE)


@pytest.fixture()
def sqlite_db(fresh_home):
    """A fresh SQLite database in its own data directory."""
    from tickets import clock

    _load_sample()
    yield "sqlite"
    clock.set_now(None)


def pg_available() -> bool:
    try:
        import psycopg2

        psycopg2.connect(PG_BASE.replace("postgresql://", "postgresql://", 1), connect_timeout=3).close()
        return True
    except Exception:
        return False


@pytest.fixture()
def pg_db(fresh_home, monkeypatch):
    """A private schema on the machine's PostgreSQL, dropped afterwards."""
    import psycopg2

    schema = "t_" + uuid.uuid4().hex[:12]
    conn = psycopg2.connect(PG_BASE)
    conn.autocommit = True
    conn.cursor().execute(f'CREATE SCHEMA "{schema}"')
    url = f"{PG_BASE}?options=-csearch_path%3D{schema}"
    monkeypatch.setenv("DATABASE_URL", url)
    _reset()
    from tickets import clock

    try:
        _load_sample()
        yield "postgres"
    finally:
        clock.set_now(None)
        from mingbai.db import get_engine

        get_engine(url).dispose()
        monkeypatch.delenv("DATABASE_URL")
        _reset()
        conn.cursor().execute(f'DROP SCHEMA "{schema}" CASCADE')
        conn.close()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db(request):
    """Runs a test against SQLite and against PostgreSQL."""
    return request.getfixturevalue("sqlite_db" if request.param == "sqlite" else "pg_db")


def make_staff(username: str, role: str, grid: str, *, domains=None, duty="00:00-24:00", days="1-7",
               password: str = "secret-pass-1") -> dict:
    from tickets.users import create_user

    return create_user(username, password, role, grid, display_name=username, domains=domains or [],
                       duty=duty, days=days)


def local_dt(*args) -> datetime:
    from tickets.clock import LOCAL_TZ

    return datetime(*args, tzinfo=LOCAL_TZ)
