"""mingbai.crypto_fields: the key (env, or a 0600 file made once), rotation, rows from before
encryption, a wrong key, readable markers, and migration 0006 encrypting plaintext rows."""
from __future__ import annotations

import stat

import pytest
from sqlalchemy import text

PHONE = "13975318642"


@pytest.fixture()
def keyless(fresh_home, monkeypatch):
    from mingbai import crypto_fields

    monkeypatch.delenv(crypto_fields.KEY_ENV, raising=False)
    monkeypatch.delenv(crypto_fields.KEY_FILE_ENV, raising=False)
    crypto_fields.reset_key_cache()
    yield fresh_home
    crypto_fields.reset_key_cache()


def test_key_file_made_once_private_and_values_round_trip(keyless):
    from mingbai import crypto_fields as cf

    assert not cf.key_file().exists()
    assert cf.decrypt("旧的明文") == "旧的明文"  # reading plaintext needs no key and makes none
    assert not cf.key_file().exists()
    token = cf.encrypt(f"电话 {PHONE}")
    path = cf.key_file()
    assert path == keyless / "secrets" / "data.key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert token.startswith(cf.PREFIX) and PHONE not in token and cf.decrypt(token) == f"电话 {PHONE}"
    assert cf.encrypt(f"电话 {PHONE}") != token  # a new nonce each time: no equality in SQL
    assert cf.encrypt("") == "" and cf.encrypt(None) is None
    before = path.read_text()
    cf.reset_key_cache()
    assert cf.ensure_key() == path and path.read_text() == before  # never replaced


def test_env_key_rotation_and_a_wrong_key(keyless, monkeypatch):
    from mingbai import crypto_fields as cf

    old, new = cf.new_key(), cf.new_key()
    monkeypatch.setenv(cf.KEY_ENV, old)
    cf.reset_key_cache()
    token = cf.encrypt("住幸福路12号")
    assert not cf.key_file().exists()  # the environment's key: no file
    monkeypatch.setenv(cf.KEY_ENV, f"{new},{old}")
    cf.reset_key_cache()
    assert cf.decrypt(token) == "住幸福路12号"
    rotated = cf.reencrypt(token)
    monkeypatch.setenv(cf.KEY_ENV, new)
    cf.reset_key_cache()
    assert cf.decrypt(rotated) == "住幸福路12号"
    assert cf.decrypt(token) == cf.UNREADABLE  # the old key is gone: readable line, logged
    with pytest.raises(cf.DataKeyError):
        cf.decrypt(token, strict=True)
    monkeypatch.setenv(cf.KEY_ENV, "not-a-key")
    cf.reset_key_cache()
    with pytest.raises(cf.DataKeyError) as ei:
        cf.encrypt("x")
    assert "not-a-key" not in str(ei.value)


def test_columns_encrypt_keep_markers_readable_and_read_old_rows(keyless):
    from mingbai.db import get_engine, init_db, session_scope
    from tickets import service
    from tickets.grids import import_file
    from tickets.models import PURGED_TEXT, Message
    from tests.tickets.fixtures import SAMPLE

    init_db()
    import_file(SAMPLE)
    t = service.open_ticket("web:c1", domain="侵权", summary=f"电话 {PHONE}", phone=PHONE, parties=["邻居"],
                            location="大塘村")
    service.record_message("web:c1", "in", f"我电话 {PHONE}", "resident", "web")
    with get_engine().begin() as c:
        c.execute(text("INSERT INTO messages (resident_key, direction, author, channel, text, created_at) "
                       "VALUES ('web:c1', 'in', 'resident', 'web', '写在加密之前的一句', '2026-01-01')"))
        raw = c.execute(text("SELECT phone, summary, parties FROM tickets")).one()
        assert all(v.strip('"').startswith("enc1:") for v in raw) and PHONE not in "".join(raw)
    assert service.get_ticket(t["number"], with_phone=True)["phone"] == PHONE
    assert [m["text"] for m in service.transcript("web:c1")] == [f"我电话 {PHONE}", "写在加密之前的一句"]
    assert service.open_ticket("web:c1", domain="侵权", summary=f"电话 {PHONE}")["number"] == t["number"]
    with session_scope() as s:  # a marker stays readable, so that SQL can compare with it
        s.query(Message).filter(Message.resident_key == "web:c1").update({"text": PURGED_TEXT})
        assert s.query(Message).filter(Message.text == PURGED_TEXT).count() == 2
    with get_engine().connect() as c:
        assert c.execute(text("SELECT DISTINCT text FROM messages")).scalars().all() == [PURGED_TEXT]


def test_migration_0006_encrypts_rows_written_before(keyless):
    from alembic import command

    from mingbai.crypto_fields import decrypt
    from mingbai.db import alembic_config, get_engine

    cfg = alembic_config()
    command.upgrade(cfg, "0005_deferred_turns")
    with get_engine().begin() as c:
        c.execute(text("INSERT INTO connector_outbox (resident_key, channel, text, author, status, attempts, "
                       "next_try, created_at) VALUES ('wechat:o1', 'wechat', :t, 'staff', 'sent', 1, "
                       "'2026-01-01', '2026-01-01')"), {"t": f"回电 {PHONE}"})
        c.execute(text("INSERT INTO unanswered_items (ref, kind, resident_key, channel, question, status, created_at) "
                       "VALUES ('r1', 'unsure', 'web:a', 'web', :q, 'open', '2026-01-01')"), {"q": f"电话{PHONE}怎么办"})
    command.upgrade(cfg, "head")
    with get_engine().connect() as c:
        stored = c.execute(text("SELECT text FROM connector_outbox")).scalar()
        question = c.execute(text("SELECT question FROM unanswered_items")).scalar()
    assert stored.startswith("enc1:") and decrypt(stored) == f"回电 {PHONE}"
    assert question == "电话139****8642怎么办"  # the inbox keeps only the masked text
    command.downgrade(cfg, "0005_deferred_turns")
    with get_engine().connect() as c:
        assert c.execute(text("SELECT text FROM connector_outbox")).scalar() == f"回电 {PHONE}"
    command.upgrade(cfg, "head")
