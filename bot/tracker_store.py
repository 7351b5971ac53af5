"""Rasa's SQL tracker store with every event encrypted at rest (the PostgreSQL / scale path).

Rasa's SQLTrackerStore (rasa 3.6.21) keeps each event as a row of the `events` table whose
`data` column is the event's JSON: the resident's words, the bot's replies and every slot value
(the intake form's phone number, place and summary). This subclass maps the very same table with
`data` as mingbai.crypto_fields.EncryptedText, and changes nothing else: SQLTrackerStore reads and
writes through `self.SQLEvent` / `self.Base` only (save, _retrieve, _event_query, keys), so the
queries, the session handling and the append-only save stay Rasa's own. The other columns hold
no personal data (sender_id is the pseudonymous resident key; intent_name / action_name are names
from the domain; for a slot event action_name is the slot's name, never its value).

Rows written before (plain JSON) are read as they are; migration 0006 encrypts them. Every replica
reads the same key (mingbai.rasa_runtime.rasa_env hands Rasa MINGBAI_DATA_KEY_FILE), so a
resident's turns may land on either replica. Used by mingbai.rasa_runtime.scale_endpoints as
``type: bot.tracker_store.EncryptedSQLTrackerStore``; it runs inside Rasa's own Python 3.10
runtime (SQLAlchemy 1.4), never in the app's.
"""
from __future__ import annotations

import sqlalchemy as sa
from rasa.core.tracker_store import SQLTrackerStore
from sqlalchemy.ext.declarative import declarative_base

from mingbai.crypto_fields import EncryptedText

_Base = declarative_base()


class EncryptedSQLEvent(_Base):
    """Rasa's SQLTrackerStore.SQLEvent, column for column, with `data` encrypted."""

    __tablename__ = "events"

    # As rasa's _create_sequence("events"): only databases without autoincrement (Oracle) use it.
    id = sa.Column(sa.Integer, sa.Sequence("events_seq", optional=True), primary_key=True)
    sender_id = sa.Column(sa.String(255), nullable=False, index=True)
    type_name = sa.Column(sa.String(255), nullable=False)
    timestamp = sa.Column(sa.Float)
    intent_name = sa.Column(sa.String(255))
    action_name = sa.Column(sa.String(255))
    data = sa.Column(EncryptedText())  # the same TEXT column in the database


class EncryptedSQLTrackerStore(SQLTrackerStore):
    """SQLTrackerStore whose event JSON is encrypted at rest (same table, same endpoint options)."""

    Base = _Base
    SQLEvent = EncryptedSQLEvent


__all__ = ["EncryptedSQLTrackerStore", "EncryptedSQLEvent"]
