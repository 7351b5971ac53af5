"""A transaction that runs side effects (messages to residents, staff pushes) only after commit.

Sending from inside a transaction would hold SQLite's write lock while the outbound module
writes its own rows, and would tell residents about changes that might still roll back.
Also insert_ignore, the race-safe first insert of a row.
"""
from __future__ import annotations

import logging
from contextlib import contextmanager
from typing import Callable, Iterator

from sqlalchemy import event
from sqlalchemy.orm import Session

from mingbai.db import session_scope

log = logging.getLogger(__name__)


@contextmanager
def tx() -> Iterator[Session]:
    with session_scope() as s:
        s.info["after_commit"] = []
        yield s
        actions = s.info.pop("after_commit", [])
    for fn in actions:
        try:
            fn()
        except Exception:  # a failed notice must not undo the committed change
            log.exception("after-commit action failed")


def after_commit(session: Session, fn: Callable[[], object]) -> None:
    if "after_commit" in session.info:
        session.info["after_commit"].append(fn)
        return
    # A plain session: run once its transaction commits, drop on rollback.
    pending = session.info.setdefault("_pending_after", [])
    if not pending:
        def run(sess):
            for f in sess.info.pop("_pending_after", []):
                try:
                    f()
                except Exception:
                    log.exception("after-commit action failed")

        def drop(sess):
            sess.info.pop("_pending_after", None)

        event.listen(session, "after_commit", run, once=True)
        event.listen(session, "after_rollback", drop, once=True)
    pending.append(fn)


def insert_ignore(session: Session, model, values: dict) -> None:
    """INSERT … ON CONFLICT DO NOTHING: two first writes of the same row (a new resident's two
    first messages, a ticket counter's first number) may race; the loser keeps the winner's row."""
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    session.execute(insert(model).values(**values).on_conflict_do_nothing())
