"""删除我的信息 is complete: after tickets.service.forget_resident no row of any table names the
resident (idempotency keys and notes included), and bot.rasa_client.delete_conversation replaces
Rasa's tracker (HTTP, against loopback servers) and deletes the SQL tracker store's rows."""
from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from sqlalchemy import select, text

from mingbai.db import Base, get_engine, session_scope
from tests.tickets.fixtures import local_dt
from tickets import clock, service
from tickets.models import Ticket, TicketNote

RK = "wechat:o6_bmjrPTlm6_2sgVt7hMZOPfL2M"
PHONE = "13912345678"


def _dump_all_tables() -> str:
    """Every row of every table, as text."""
    import mingbai.models  # noqa: F401  (registers every area's tables)

    out = []
    with get_engine().connect() as c:
        for table in Base.metadata.sorted_tables:
            for row in c.execute(table.select()):
                out.append(f"{table.name}: {tuple(row)}")
    return "\n".join(out)


def test_forget_leaves_no_row_naming_the_resident(db):
    clock.set_now(local_dt(2026, 11, 30, 9, 0))
    service.record_consent(RK, True)
    service.record_message(RK, "in", f"邻居打人，我电话 {PHONE}", "resident", "wechat")
    emergency = service.open_ticket(RK, domain="侵权", summary=f"邻居打人，电话{PHONE}", phone=PHONE,
                                    parties=["王五"], urgency="emergency",
                                    idempotency_key=f"emergency:{RK}:violence:2026113009")
    handoff = service.start_handoff(RK, "人工")  # its ticket's key is handoff:<resident>:<time>
    with session_scope() as s:
        t = s.scalars(select(Ticket).where(Ticket.number == emergency["number"])).one()
        t.resolution = f"已联系 {PHONE}，双方和解"
        s.add(TicketNote(ticket_id=t.id, author="wang", text=f"居民电话 {PHONE}，住幸福路12号"))
    before = _dump_all_tables()
    assert RK in before and PHONE in before

    service.forget_resident(RK)

    after = _dump_all_tables()
    assert RK not in after, [line for line in after.splitlines() if RK in line]
    assert PHONE not in after, [line for line in after.splitlines() if PHONE in line]
    with session_scope() as s:
        kept = {t.number: t for t in s.scalars(select(Ticket))}
        assert emergency["number"] in kept and handoff["ticket_number"] in kept  # the case record stays
        t = kept[emergency["number"]]
        assert t.idempotency_key == f"forgotten:{t.id}" and "138" not in t.resolution
        assert "139****5678" in t.resolution and t.domain == "侵权" and t.urgency == "emergency"
        note = s.scalars(select(TicketNote).where(TicketNote.ticket_id == t.id)).one()
        assert note.text == "居民电话 139****5678，住幸福路**号"

    # The same key later makes a new case: it no longer finds the forgotten one.
    again = service.open_ticket(RK, domain="侵权", summary="又打人了", urgency="emergency",
                                idempotency_key=f"emergency:{RK}:violence:2026113009")
    assert again["created"] and again["number"] not in kept


# Rasa's tracker ------------------------------------------------------------------------------

class Recorder:
    """A loopback server that records every request (method, path, query, JSON body)."""

    def __init__(self, delay: float = 0.0, status: int = 200):
        self.calls: list[tuple[str, str, object]] = []
        self.delay, self.status = delay, status
        rec = self

        class H(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_PUT(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                time.sleep(rec.delay)  # Rasa waits for the conversation's lock
                rec.calls.append(("PUT", self.path, json.loads(body or b"null")))
                self.send_response(rec.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            do_POST = do_PUT

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture()
def recorder():
    r = Recorder()
    yield r
    r.close()


def test_delete_conversation_replaces_the_tracker_with_a_restart(fresh_home, recorder):
    from bot import rasa_client
    from mingbai.settings import get_settings

    assert rasa_client.delete_conversation(RK, base_url=recorder.url) is True
    [(method, path, body)] = recorder.calls
    assert method == "PUT" and path.startswith("/conversations/wechat:o6_bmjrPTlm6_2sgVt7hMZOPfL2M/tracker/events?")
    assert f"token={get_settings().secret('rasa_token')}" in path
    assert isinstance(body, list) and [e["event"] for e in body] == ["restart"]


def test_delete_conversation_waits_in_the_background(fresh_home):
    """Called inside a Rasa turn (action_delete_data), the PUT waits for the turn's lock: the
    caller must not wait with it."""
    from bot import rasa_client

    slow = Recorder(delay=1.0)
    try:
        t0 = time.monotonic()
        th = rasa_client.delete_conversation(RK, base_url=slow.url, background=True)
        assert time.monotonic() - t0 < 0.5 and isinstance(th, threading.Thread)
        th.join(timeout=10)
        assert [c[0] for c in slow.calls] == ["PUT"]
    finally:
        slow.close()


def test_delete_conversation_failures_do_not_raise(fresh_home):
    from bot import rasa_client
    from tests.connectors.rasa_stub import RasaStub

    refusing = Recorder(status=500)
    try:
        assert rasa_client.delete_conversation(RK, base_url=refusing.url) is False
    finally:
        refusing.close()
    t0 = time.monotonic()  # closed now: nothing listens on that port any more
    assert rasa_client.delete_conversation(RK, base_url=refusing.url, timeout=(0.5, 0.5)) is False
    assert time.monotonic() - t0 < 5
    stub = RasaStub()  # the connectors' loopback Rasa answers 200 to any PUT
    try:
        assert rasa_client.delete_conversation(RK, base_url=stub.start()) is True
    finally:
        stub.stop()


@pytest.mark.postgres
def test_delete_conversation_cleans_the_sql_tracker_store(pg_db):
    """On the scale path Rasa keeps its tracker in the `events` table of the same database and
    its save only appends rows: delete_conversation deletes the sender's rows itself."""
    from bot import rasa_client

    with get_engine().begin() as c:  # the columns Rasa 3.6's SQLTrackerStore creates
        c.execute(text("CREATE TABLE events (id SERIAL PRIMARY KEY, sender_id VARCHAR(255) NOT NULL, "
                       "type_name VARCHAR(255) NOT NULL, timestamp FLOAT, intent_name TEXT, "
                       "action_name TEXT, data TEXT)"))
        for sender in (RK, RK, "web:someone-else"):
            c.execute(text("INSERT INTO events (sender_id, type_name, data) VALUES (:s, 'user', '{}')"),
                      {"s": sender})
    # Rasa is down here: the HTTP part fails, the table is cleaned all the same.
    assert rasa_client.delete_conversation(RK, base_url="http://127.0.0.1:9", timeout=(0.5, 0.5)) is False
    with get_engine().connect() as c:
        left = [r[0] for r in c.execute(text("SELECT sender_id FROM events"))]
    assert left == ["web:someone-else"]
