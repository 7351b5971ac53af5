"""residents' raw words and contact data encrypted at rest; the inbox's copies masked

Revision ID: 0006_encrypt_at_rest
Revises: 0005_deferred_turns
Create Date: 2026-12-06 09:00:00

- the columns staff or a replay need raw are encrypted (mingbai.crypto_fields, key in
  MINGBAI_DATA_KEY or MINGBAI_HOME/secrets/data.key): the transcript, a ticket's summary /
  parties / place / phone / preferred time / resolution and notes, the resident's place label, the outbox texts,
  the queued turns, the question held until consent, a turn's stored replies, the access_token,
  and Rasa's tracker events when its SQL store shares this database (the PostgreSQL path);
- tickets.phone, .location, .preferred_time and residents.location_label become TEXT (ciphertext
  is longer than their VARCHAR(40/200/80); PostgreSQL enforces the length). SQLite: a new column, copied, the old
  one dropped, the new one renamed — no table rebuild, which with foreign keys on would cascade
  into the tickets' notes and escalations;
- the 未解答 inbox's question and staff answer are masked (it only ever shows them masked).

Downgrade decrypts and restores the types; masking cannot be undone.
"""
import json

from alembic import op
import sqlalchemy as sa

from mingbai.crypto_fields import decrypt, encrypt, is_encrypted, rewrite_column
from mingbai.privacy import mask

revision = '0006_encrypt_at_rest'
down_revision = '0005_deferred_turns'
branch_labels = None
depends_on = None

# Readable markers (tickets.models): the retention's SQL compares with them.
_MARKERS = {"（已超过保存期限，内容已删除）", "（已超过保存期限，案情已删除）", "（应居民要求已删除）"}

# (table, column, primary key, JSON?)
ENCRYPTED = [
    ("messages", "text", "id", False),
    ("tickets", "summary", "id", False),
    ("tickets", "parties", "id", True),
    ("tickets", "location", "id", False),
    ("tickets", "phone", "id", False),
    ("tickets", "preferred_time", "id", False),
    ("tickets", "resolution", "id", False),
    ("ticket_notes", "text", "id", False),
    ("residents", "location_label", "resident_key", False),
    ("connector_outbox", "text", "id", False),
    ("connector_deferred_turn", "text", "id", False),
    ("connector_service_window", "pending_text", "resident_key", False),
    ("connector_access_token", "token", "name", False),
    ("connector_inbound_dedup", "replies", "id", True),
]
MASKED = [("unanswered_items", "question"), ("unanswered_items", "staff_answer")]
# Columns whose declared length ciphertext would overflow: (table, column, old length).
WIDENED = [("tickets", "phone", 40), ("tickets", "location", 200), ("tickets", "preferred_time", 80),
           ("residents", "location_label", 200)]


def _encrypt_text(value):
    if not isinstance(value, str) or value == "" or is_encrypted(value) or value in _MARKERS:
        return value
    return encrypt(value)


def _encrypt_json(value):
    if value is None or is_encrypted(value):
        return value
    return encrypt(json.dumps(value, ensure_ascii=False))


def _decrypt_text(value):
    return decrypt(value, strict=True) if is_encrypted(value) else value


def _decrypt_json(value):
    return json.loads(decrypt(value, strict=True)) if is_encrypted(value) else value


def _mask(value):
    return mask(value) if isinstance(value, str) and value else value


def _rasa_events(conn) -> bool:
    """Rasa's SQL tracker store keeps `events` in this database on the PostgreSQL path."""
    insp = sa.inspect(conn)
    return insp.has_table("events") and {"id", "sender_id", "type_name", "data"} <= {
        c["name"] for c in insp.get_columns("events")}


def _retype(conn, table: str, column: str, length=None) -> None:
    """To TEXT (length None), or back to VARCHAR(length)."""
    if conn.dialect.name == "sqlite":
        tmp = f"{column}__retyped"
        op.execute(f'ALTER TABLE {table} ADD COLUMN {tmp} {f"VARCHAR({length})" if length else "TEXT"}')
        op.execute(f'UPDATE {table} SET {tmp} = {column}')
        op.execute(f'ALTER TABLE {table} DROP COLUMN {column}')
        op.execute(f'ALTER TABLE {table} RENAME COLUMN {tmp} TO {column}')
    elif length:
        op.alter_column(table, column, type_=sa.String(length), existing_nullable=True,
                        postgresql_using=f"left({column}, {int(length)})")
    else:
        op.alter_column(table, column, type_=sa.Text(), existing_nullable=True)


def upgrade() -> None:
    conn = op.get_bind()
    for table, column, _length in WIDENED:
        _retype(conn, table, column)
    for table, column, pk, is_json in ENCRYPTED:
        rewrite_column(conn, table, column, _encrypt_json if is_json else _encrypt_text, pk=pk, json_=is_json)
    for table, column in MASKED:
        rewrite_column(conn, table, column, _mask)
    if _rasa_events(conn):
        rewrite_column(conn, "events", "data", _encrypt_text)


def downgrade() -> None:
    conn = op.get_bind()
    if _rasa_events(conn):
        rewrite_column(conn, "events", "data", _decrypt_text)
    for table, column, pk, is_json in ENCRYPTED:
        rewrite_column(conn, table, column, _decrypt_json if is_json else _decrypt_text, pk=pk, json_=is_json)
    for table, column, length in WIDENED:
        _retype(conn, table, column, length)
