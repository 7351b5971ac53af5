"""SQLAlchemy 2 engine, session factory and the declarative Base shared by all areas.

SQLite in the data directory by default; PostgreSQL when DATABASE_URL is set.
The schema is owned by Alembic (migrations/); `init_db()` upgrades to head.
"""
from __future__ import annotations

from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Iterator, Optional

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

from mingbai.settings import PROJECT_ROOT, get_settings


class Base(DeclarativeBase):
    pass


def _sqlite_pragmas(dbapi_conn, _record) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")  # readers never block the writer
    cur.execute("PRAGMA synchronous=NORMAL")  # durable enough with WAL, far fewer fsyncs
    cur.execute("PRAGMA busy_timeout=10000")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()


def _driver_url(url: str) -> str:
    # SQLAlchemy 2.1 maps bare postgresql:// to psycopg 3; the lock installs psycopg2.
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        try:
            import psycopg  # noqa: F401
        except ImportError:
            return "postgresql+psycopg2://" + url.split("://", 1)[1]
    return url


@lru_cache(maxsize=8)
def get_engine(url: Optional[str] = None) -> Engine:
    # hide_parameters: SQL errors (IntegrityError …) and echo never carry residents' data
    # (texts, phone numbers) into logs or tracebacks.
    url = _driver_url(url or get_settings().db_url)
    if url.startswith("sqlite"):
        Path(url.split("///", 1)[1]).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 10},
                               hide_parameters=True)
        event.listen(engine, "connect", _sqlite_pragmas)
    else:
        engine = create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20,
                               hide_parameters=True)
    return engine


@lru_cache(maxsize=8)
def _factory(url: str) -> sessionmaker:
    return sessionmaker(bind=get_engine(url), expire_on_commit=False)


@contextmanager
def session_scope(url: Optional[str] = None) -> Iterator[Session]:
    """A transaction: commit on success, roll back on error."""
    s = _factory(url or get_settings().db_url)()
    try:
        yield s
        s.commit()
    except Exception:
        s.rollback()
        raise
    finally:
        s.close()


def alembic_config(url: Optional[str] = None):
    from alembic.config import Config

    cfg = Config(str(PROJECT_ROOT / "migrations" / "alembic.ini"))
    cfg.set_main_option("script_location", str(PROJECT_ROOT / "migrations"))
    cfg.set_main_option("sqlalchemy.url", (url or get_settings().db_url).replace("%", "%%"))
    return cfg


def init_db(url: Optional[str] = None) -> None:
    """Bring the schema to the latest migration (idempotent). The table registry
    (mingbai.models, which imports every area) is loaded by migrations/env.py, not here: this
    module sits below all areas and imports none of them."""
    from alembic import command

    command.upgrade(alembic_config(url), "head")


def reset_engines() -> None:
    get_engine.cache_clear()
    _factory.cache_clear()
