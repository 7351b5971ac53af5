"""Issue 12, last "done when": no raw phone number, ID number, e-mail or secret at rest.

A scenario carries planted canaries — one mobile number in several spellings (plain, +86 with
spaces, full-width digits, dashes), an 18-digit 身份证号, an e-mail, the configured WeChat AppSecret
and the access_tokens the (fake) WeChat API issues — through the real stack: WeChat in safe mode
(the fake customer-service API, failing twice so that its error paths log), REST, the real Rasa
and action servers; a legal question held until consent, the intake form with the phone (its
answer queued while Rasa is down and replayed when it is back), a handoff (转人工) with a staff
reply, and 删除我的信息 for a second resident. Then every file under MINGBAI_HOME (logs, the SQLite
file and its WAL, …) and the Rasa stack's own logs, and every text / JSON column of every table,
are searched for the canaries: raw, NFKC-normalised, JSON-unescaped, and with any spacing
between the digits. Only ciphertext may hold them, in the columns mingbai.crypto_fields encrypts
— and those are shown to decrypt to the canaries. The PostgreSQL variant (the scale path) runs
the channel part with the Rasa stub on a private schema, and Rasa's own encrypted tracker store
(bot.tracker_store, two store instances as two replicas) on the same schema.
"""
from __future__ import annotations

import itertools
import json
import logging
import os
import re
import socket
import subprocess
import textwrap
import time
import unicodedata
from pathlib import Path

import pytest
import requests
import sqlalchemy as sa

from tests.connectors import wxsim
from tests.connectors.conftest import LiveServer, consent, load_sample_grid, make_app, wait_until
from tests.tickets.fixtures import pg_available, pg_db  # noqa: F401  (pg_db: a fixture)

ROOT = Path(__file__).resolve().parents[2]

PHONE = "13975318642"
PHONE_SPELLINGS = ("13975318642", "+86 139 7531 8642", "１３９７５３１８６４２", "139-7531-8642")
PHONE_FORGOTTEN = "13864297531"  # only the resident who says 删除我的信息 writes this one
ID_NO = "51012319880516247X"
EMAIL = "lin.canary@example.com"
APP_SECRET = "AppSecret-Canary-5d1e77"
TOKEN_PREFIX = "AT-Canary-"


def _spaced(canary: str) -> re.Pattern:
    """The canary with up to three non-digits between its characters (spaces, dashes, +86 …)."""
    return re.compile(r"\D{0,3}".join(map(re.escape, canary)), re.I)


CANARIES = {
    "phone": _spaced(PHONE),
    "phone_forgotten": _spaced(PHONE_FORGOTTEN),
    "id_number": _spaced(ID_NO),
    "email": re.compile(re.escape(EMAIL.split("@")[0]), re.I),
    "app_secret": re.compile(re.escape(APP_SECRET), re.I),
    "access_token": re.compile(re.escape(TOKEN_PREFIX), re.I),
}
_UESC = re.compile(r"\\u([0-9a-fA-F]{4})")


def _views(text: str) -> list[str]:
    """The text as written, with JSON / log escapes undone, and NFKC-normalised."""
    out = [text]
    if "\\u" in text:
        out.append(_UESC.sub(lambda m: chr(int(m.group(1), 16)), text))
    out += [unicodedata.normalize("NFKC", v) for v in out]
    return out


def hits(text: str) -> set[str]:
    return {name for v in _views(text) for name, pat in CANARIES.items() if pat.search(v)}


def _excerpt(text: str) -> str:
    from mingbai.privacy import scrub

    return scrub(text)[:160]


def scan_files(paths: list[Path]) -> list[str]:
    """Every file under each path (recursively): the canaries found, as 'file: names'."""
    found = []
    for root in paths:
        files = [root] if root.is_file() else [p for p in root.rglob("*") if p.is_file()]
        for f in files:
            data = f.read_bytes()
            if len(data) > 64 * 2**20:  # big binaries (vectors): the canaries' exact bytes
                needles = {n: [s.encode() for s in _spellings(n)] for n in CANARIES}
                names = {n for n, bs in needles.items() if any(b in data for b in bs)}
            else:
                names = hits(data.decode("utf-8", errors="ignore"))
            if names:
                found.append(f"{f}: {sorted(names)}")
    return found


def _spellings(name: str) -> list[str]:
    base = {"phone": PHONE_SPELLINGS, "phone_forgotten": (PHONE_FORGOTTEN,), "id_number": (ID_NO,),
            "email": (EMAIL,), "app_secret": (APP_SECRET,), "access_token": (TOKEN_PREFIX,)}[name]
    return [*base, *(json.dumps(s)[1:-1] for s in base)]


def _texty(col_type) -> bool:
    name = type(col_type).__name__.upper()
    return isinstance(col_type, (sa.String, sa.Text, sa.JSON)) or any(k in name for k in ("CHAR", "TEXT", "JSON"))


def scan_db(engine, schema: str | None = None) -> tuple[list[str], dict[str, set[str]]]:
    """Every text / JSON column of every table, read raw (no decryption). Returns the raw hits
    ('table.column: names') and, per column, the canaries its ciphertexts decrypt to."""
    raw_hits: list[str] = []
    decrypted: dict[str, set[str]] = {}
    insp = sa.inspect(engine)
    with engine.connect() as conn:
        for table in insp.get_table_names(schema=schema):
            cols = [c["name"] for c in insp.get_columns(table, schema=schema) if _texty(c["type"])]
            if not cols:
                continue
            t = sa.table(table, *[sa.column(c) for c in cols], schema=schema)
            for row in conn.execute(sa.select(*t.c)):
                for col, value in zip(cols, row):
                    if value is None:
                        continue
                    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
                    where = f"{table}.{col}"
                    found = hits(text)
                    if found:
                        raw_hits.append(f"{where}: {sorted(found)} in {_excerpt(text)!r}")
                    inner = text[1:-1] if text.startswith('"enc1:') else text  # EncryptedJSON's JSON string
                    if inner.startswith("enc1:"):
                        from mingbai.crypto_fields import decrypt

                        plain = decrypt(inner, strict=True)  # raises if the key cannot open it
                        decrypted.setdefault(where, set()).update(hits(plain))
    return raw_hits, decrypted


def _report(raw_hits: list[str], leaks: list[str]) -> str:
    return ("raw canaries in database columns:\n  " + "\n  ".join(raw_hits or ["none"])
            + "\nraw canaries in files:\n  " + "\n  ".join(leaks or ["none"]))


def _raw_values(table: str, column: str, **where) -> list:
    """Stored values as they are in the database (no decryption)."""
    from mingbai.db import get_engine

    t = sa.table(table, sa.column(column), *[sa.column(k) for k in where])
    q = sa.select(t.c[column])
    for k, v in where.items():
        q = q.where(t.c[k] == v)
    with get_engine().connect() as conn:
        return [r[0] for r in conn.execute(q)]


def _prove_encrypted(table: str, column: str, want: set[str], **where) -> None:
    """The row holds ciphertext only, and it decrypts to text holding the canaries `want`."""
    values = [v for v in _raw_values(table, column, **where) if v]
    assert values, f"nothing stored in {table}.{column} for {where}"
    for v in values:
        assert not hits(v), f"raw canaries {sorted(hits(v))} in {table}.{column}: {_excerpt(v)!r}"
    from mingbai.crypto_fields import decrypt, is_encrypted

    assert all(is_encrypted(v) for v in values), f"{table}.{column} is not encrypted"
    assert want <= set().union(*(hits(decrypt(v, strict=True)) for v in values))


@pytest.fixture()
def production_log():
    """The app's log file as `mingbai serve-web` writes it (privacy.setup_logging), with urllib3 at
    DEBUG so that every request line is written, query string (secret, access_token) included."""
    from mingbai import privacy
    from mingbai.settings import get_settings

    root, urllib3 = logging.getLogger(), logging.getLogger("urllib3")
    before, level, u_level = list(root.handlers), root.level, urllib3.level
    path = get_settings().log_dir / "web.log"
    path.parent.mkdir(parents=True, exist_ok=True)
    privacy.setup_logging("INFO", path)
    urllib3.setLevel(logging.DEBUG)
    yield path
    for h in [h for h in root.handlers if h not in before]:
        h.flush()
        root.removeHandler(h)
        h.close()
    root.setLevel(level)
    urllib3.setLevel(u_level)


@pytest.fixture()
def restore_settings():
    """Requested before `monkeypatch`, so its teardown runs after monkeypatch has restored the
    environment: drops the settings and engines cached with this test's environment."""
    yield
    from mingbai.db import reset_engines
    from mingbai.settings import reset_settings_cache

    reset_settings_cache()
    reset_engines()


def _dead_base() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}"  # nothing listens there once closed


class Scenario:
    """The residents' side: WeChat through the live app (safe mode), REST for the rest."""

    ids = itertools.count(int(time.time() * 1000) + 91_000_000)

    def __init__(self, live: LiveServer, fake_api):
        self.live, self.fake = live, fake_api
        self.http = requests.Session()
        self.http.trust_env = False

    def wechat(self, openid: str, text: str, timeout: float = 90) -> list[str]:
        """One WeChat message; its replies, passive or through the customer-service API."""
        from connectors import gateway
        from connectors.wechat import _parts

        before = len(self.fake.contents(openid))
        msg_id = next(self.ids)
        r = self.live.post(wxsim.build(wxsim.text_xml(openid, text, msg_id)), timeout=30)
        assert r.status_code == 200, r.text[:200]
        reply = wxsim.read_reply(r.content, "aes")
        if reply:
            return [reply["Content"]]
        assert wait_until(lambda: (gateway.record_of("wechat", str(msg_id)) or {}).get("state") == "done",
                          timeout=timeout, step=0.2)
        rec = gateway.record_of("wechat", str(msg_id))
        if rec["delivered"] != "async":
            return []
        n = len(_parts(rec["replies"]))
        got = self.fake.wait_for(before + n, timeout=30, touser=openid)
        return got[before:]

    def rest(self, sender: str, text: str) -> list[str]:
        r = self.http.post(self.live.url + "/api/v1/messages", json={"sender": sender, "text": text},
                           headers=self._auth(), timeout=120)
        assert r.status_code == 200, r.text[:300]
        return r.json()["replies"]

    def rest_poll(self, sender: str) -> list[str]:
        r = self.http.get(self.live.url + "/api/v1/messages", params={"sender": sender}, headers=self._auth(),
                          timeout=30)
        return [m["text"] for m in r.json()["messages"]]

    @staticmethod
    def _auth() -> dict:
        from mingbai.settings import get_settings

        return {"Authorization": f"Bearer {get_settings().secret('api_token')}"}


def _use(monkeypatch, **env: str) -> None:
    from mingbai.db import reset_engines
    from mingbai.settings import reset_settings_cache

    for k, v in env.items():
        monkeypatch.setenv(k, v)
    reset_settings_cache()
    reset_engines()


@pytest.fixture()
def canary_api(fake_api):
    """The fake WeChat API issuing canary tokens and knowing the canary AppSecret."""
    with fake_api.lock:
        saved = (fake_api.secret, fake_api.token_prefix)
        fake_api.secret, fake_api.token_prefix = APP_SECRET, TOKEN_PREFIX
        fake_api.sent.clear()
        fake_api.script.clear()
        fake_api.valid_tokens.clear()
    yield fake_api
    with fake_api.lock:
        fake_api.secret, fake_api.token_prefix = saved
        fake_api.echo_request_in_errors = False
        fake_api.script.clear()
        fake_api.valid_tokens.clear()


def _wechat_env(api_url: str, rasa_url: str) -> dict:
    env = wxsim.env(api_url, rasa_url)
    env["MINGBAI_WECHAT_SECRET"] = APP_SECRET
    return env


def _staff_reply_through_two_failures(openid: str, number: str, monkeypatch, fake_api) -> str:
    """A staff reply to a WeChat resident whose first send cannot fetch a token (the API is
    unreachable: requests' error quotes the token URL with the AppSecret) and whose second send
    gets an error that quotes the request URL with the access_token. The third goes out."""
    from sqlalchemy import select, update

    from mingbai import outbox
    from mingbai.db import session_scope
    from mingbai.outbox import Outbox, utcnow
    from tickets import service

    text = f"您好，我是网格员。我们会打 {PHONE_SPELLINGS[3]} 联系您，请保持电话畅通。"
    good_base = os.environ["MINGBAI_WECHAT_API_BASE"]
    with session_scope() as s:  # a fresh token must be fetched for this send
        from connectors.store import AccessToken

        s.execute(sa.delete(AccessToken))
    _use(monkeypatch, MINGBAI_WECHAT_API_BASE=_dead_base())
    service.staff_reply(number, "pii_wang", text)
    rk = f"wechat:{openid}"

    def attempts() -> tuple[int, str, str]:
        with session_scope() as s:
            row = s.scalars(select(Outbox).where(Outbox.resident_key == rk, Outbox.author.like("staff%"))
                            .order_by(Outbox.id.desc())).first()
            return (row.attempts, row.status, row.last_error or "") if row else (0, "", "")

    assert wait_until(lambda: attempts()[0] >= 1, timeout=20), attempts()
    assert attempts()[1] == "failed" and "/cgi-bin/token" in attempts()[2]
    _use(monkeypatch, MINGBAI_WECHAT_API_BASE=good_base)
    with fake_api.lock:
        fake_api.echo_request_in_errors = True
    fake_api.fail_next(-1)

    def retry_now() -> None:
        with session_scope() as s:
            s.execute(update(Outbox).where(Outbox.resident_key == rk, Outbox.status == "failed")
                      .values(next_try=utcnow()))
        outbox.wake()

    retry_now()
    assert wait_until(lambda: attempts()[0] >= 2, timeout=20), attempts()
    assert "system error" in attempts()[2] and "access_token=***" in attempts()[2]
    retry_now()
    assert wait_until(lambda: attempts()[1] == "sent", timeout=20), attempts()
    assert text in fake_api.contents(openid)
    return text


@pytest.mark.rasa
def test_no_raw_personal_data_or_secret_at_rest(rasa_stack, session_home, canary_api, production_log, restore_settings,
                                                monkeypatch):
    from connectors import deferred
    from connectors.store import DeferredTurn
    from mingbai.settings import get_settings
    from tickets import service

    action_port = rasa_stack["actions"].rsplit(":", 1)[1]
    _use(monkeypatch, **_wechat_env(canary_api.url, rasa_stack["rasa"]), MINGBAI_ACTION_PORT=action_port)
    monkeypatch.delenv("REDIS_URL", raising=False)
    home = Path(get_settings().home)
    assert home == Path(session_home)  # the action server writes tickets into this very database
    app = make_app()
    load_sample_grid()
    live = LiveServer(app)
    sc = Scenario(live, canary_api)
    try:
        # 1. WeChat: a legal question with every personal canary, before consent: held, then answered.
        w = f"oPiiAtRest{next(Scenario.ids)}"
        first = (f"你好，我叫林某，手机 {PHONE_SPELLINGS[2]}，身份证 {ID_NO}，邮箱 {EMAIL}。"
                 "老板拖欠我三个月工资不给，怎么办？")
        assert "同意" in sc.wechat(w, first)[0]  # the privacy notice
        _prove_encrypted("connector_service_window", "pending_text", {"phone", "id_number", "email"},
                         resident_key=f"wechat:{w}")
        answer = sc.wechat(w, "同意")
        assert answer and "谢谢您的信任" in answer[0]
        # 2. 转人工, a message to the staff member, and the staff reply through two API failures.
        sc.wechat(w, "转人工")
        assert service.in_handoff(f"wechat:{w}")
        during = sc.wechat(w, f"我的手机号是 {PHONE_SPELLINGS[1]}，邮箱 {EMAIL}，方便的时候联系我。")
        assert during == [], during
        number = service.active_handoff(f"wechat:{w}")["ticket_number"]
        _staff_reply_through_two_failures(w, number, monkeypatch, canary_api)
        service.end_handoff(f"wechat:{w}", "staff:pii_wang")

        # 3. REST: the intake form; the phone answer comes while Rasa is down (queued, replayed).
        r = f"pii-intake-{next(Scenario.ids)}"
        consent(f"rest:{r}")
        texts = sc.rest(r, f"楼上天天半夜蹦迪，吵得我睡不着。我的身份证号是 {ID_NO}")
        assert "对方是谁" in "".join(texts), texts
        assert "村或社区" in "".join(sc.rest(r, "楼上502那户"))
        assert "手机号" in "".join(sc.rest(r, "大塘村"))
        _use(monkeypatch, MINGBAI_RASA_URL=_dead_base())
        assert sc.rest(r, f"我电话 {PHONE_SPELLINGS[3]}") == [deferred.NOTICE]
        _prove_encrypted("connector_deferred_turn", "text", {"phone"}, resident_key=f"rest:{r}")
        _use(monkeypatch, MINGBAI_RASA_URL=rasa_stack["rasa"])

        def drained() -> bool:
            deferred.drain()
            return deferred.backlog() == 0

        assert wait_until(drained, timeout=60, step=0.5)
        late = sc.rest_poll(r)
        assert any("139****8642" in t for t in late), late
        _prove_encrypted("connector_outbox", "text", {"phone"}, resident_key=f"rest:{r}")
        assert "同意" in "".join(sc.rest(r, "周末上午"))
        sc.rest(r, "同意")
        [ticket] = [t for t in service.tickets_for_resident(f"rest:{r}") if t["domain"] != "综合咨询"]
        assert service.get_ticket(ticket["number"], with_phone=True)["phone"] == PHONE
        _prove_encrypted("tickets", "phone", {"phone"}, number=ticket["number"])
        _prove_encrypted("tickets", "summary", {"id_number"}, number=ticket["number"])

        # 4. A second resident writes, then 删除我的信息.
        f = f"pii-forget-{next(Scenario.ids)}"
        consent(f"rest:{f}")
        sc.rest(f, f"我手机号 {PHONE_FORGOTTEN}，邮箱 {EMAIL}，离婚以后孩子的抚养费怎么算？")
        assert "删除" in "".join(sc.rest(f, "删除我的信息"))
        assert deferred.backlog() == 0 and not sc.rest_poll(f)
    finally:
        live.stop()
    for h in logging.getLogger().handlers:
        h.flush()

    log_text = production_log.read_text(encoding="utf-8")
    assert "/cgi-bin/token" in log_text and "system error" in log_text  # the error paths did log
    assert "access_token=***" in log_text and "secret=***" in log_text  # urllib3's request lines, scrubbed

    from mingbai.db import get_engine

    # Every text column of every table, and every file: the data directory (database, WAL, logs,
    # caches) and the Rasa stack's own logs.
    raw_hits, decrypted = scan_db(get_engine())
    leaks = scan_files([home, *(Path(p) for p in rasa_stack["logs"].values())])
    assert raw_hits == leaks == [], _report(raw_hits, leaks)
    # The encrypted columns hold them, and the key opens them.
    for where, want in {"messages.text": {"phone", "id_number", "email"}, "tickets.phone": {"phone"},
                        "tickets.summary": {"id_number"}, "connector_outbox.text": {"phone"},
                        "connector_access_token.token": {"access_token"}}.items():
        assert want <= decrypted.get(where, set()), (where, decrypted.get(where))
    # 删除我的信息 left nothing of the second resident, not even encrypted.
    assert not any("phone_forgotten" in names for names in decrypted.values()), decrypted
    assert not [t for t in _raw_values("connector_deferred_turn", "text") if t]


# ---------------------------------------------------------------------------------------------
# PostgreSQL (the scale path): the channels on a private schema, and Rasa's tracker store there.

RASA_PY = ROOT / ".venv-rasa" / "bin" / "python"

# Runs in Rasa's own runtime: two store instances (two replicas) on one schema.
TRACKER_SCRIPT = textwrap.dedent("""
    import asyncio, json, sys
    from rasa.shared.core.domain import Domain
    from rasa.shared.core.events import BotUttered, SlotSet, UserUttered
    from rasa.shared.core.trackers import DialogueStateTracker
    from bot.tracker_store import EncryptedSQLTrackerStore

    arg = json.loads(sys.argv[1])
    domain = Domain.from_dict({"slots": {"phone": {"type": "text", "mappings": [{"type": "custom"}]}}})

    async def main():
        replica_1 = EncryptedSQLTrackerStore(domain=domain, **arg["store"])
        replica_2 = EncryptedSQLTrackerStore(domain=domain, **arg["store"])
        t = DialogueStateTracker(arg["sender"], domain.slots)
        t.update(UserUttered(arg["said"]))
        t.update(SlotSet("phone", arg["phone"]))
        t.update(BotUttered("好的，联系电话 139****8642。"))
        await replica_1.save(t)
        back = await replica_2.retrieve(arg["sender"])
        back.update(UserUttered("周末上午"))
        await replica_2.save(back)
        again = await replica_1.retrieve(arg["sender"])
        texts = [e.as_dict().get("text") for e in again.events]
        print(json.dumps({"phone": again.get_slot("phone"), "texts": texts}, ensure_ascii=False))

    asyncio.run(main())
""")


def _rasa_tracker_round_trip(schema: str) -> dict:
    """Rasa's encrypted SQL tracker store on the test schema, saved by one replica and read and
    extended by the other (what two Rasa servers sharing PostgreSQL do)."""
    from urllib.parse import urlsplit

    from mingbai.rasa_runtime import rasa_env
    from tests.tickets.fixtures import PG_BASE

    u = urlsplit(PG_BASE)
    arg = {"store": {"dialect": "postgresql", "host": u.hostname, "port": u.port or 5432, "db": u.path.lstrip("/"),
                     "username": u.username or "", "password": u.password or "",
                     "query": {"options": f"-csearch_path={schema}"}},
           "sender": "wechat:oPiiTracker", "said": f"我的电话 {PHONE_SPELLINGS[1]}，身份证 {ID_NO}", "phone": PHONE}
    p = subprocess.run([str(RASA_PY), "-c", TRACKER_SCRIPT, json.dumps(arg, ensure_ascii=False)], cwd=ROOT,
                       env=rasa_env(), capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr[-3000:]
    return json.loads(p.stdout.strip().splitlines()[-1])


@pytest.mark.postgres
def test_no_raw_personal_data_at_rest_on_postgres(wx_env, canary_api, rasa, production_log, monkeypatch, request):
    if not pg_available():
        pytest.skip("no PostgreSQL on 127.0.0.1:5432")
    request.getfixturevalue("pg_db")
    if not RASA_PY.exists():
        pytest.fail("Rasa runtime missing: run make setup")
    from connectors import deferred
    from mingbai.db import get_engine
    from mingbai.settings import get_settings
    from tests.connectors.rasa_stub import default_reply
    from tickets import service

    _use(monkeypatch, MINGBAI_WECHAT_SECRET=APP_SECRET)
    settings = get_settings()
    assert settings.db_url.startswith("postgresql")
    schema = re.search(r"search_path%3D(\w+)", settings.db_url).group(1)
    app = make_app()
    live = LiveServer(app)
    sc = Scenario(live, canary_api)
    try:
        w = f"oPiiPg{next(Scenario.ids)}"
        rk = f"wechat:{w}"
        sc.wechat(w, f"手机 {PHONE_SPELLINGS[2]}，身份证 {ID_NO}，邮箱 {EMAIL}，欠薪怎么办？")
        _prove_encrypted("connector_service_window", "pending_text", {"phone", "id_number", "email"},
                         resident_key=rk)
        assert sc.wechat(w, "同意")  # the stub echoes the held question: dedup replies, outbox
        # The intake form waits for the phone (the stub says so); Rasa goes down; the answer waits.
        rasa.forms[rk] = "phone"
        sc.wechat(w, "大塘村")
        _use(monkeypatch, MINGBAI_RASA_URL=_dead_base())
        sc.wechat(w, f"我电话 {PHONE_SPELLINGS[3]}")
        _prove_encrypted("connector_deferred_turn", "text", {"phone"}, resident_key=rk)
        _use(monkeypatch, MINGBAI_RASA_URL=rasa.url)
        rasa.forms.pop(rk, None)

        def drained() -> bool:
            deferred.drain()
            return deferred.backlog() == 0

        assert wait_until(drained, timeout=30, step=0.3)
        assert canary_api.wait_for(1, timeout=20, touser=w)
        # What the action server writes for the intake form, on PostgreSQL (varchar limits too).
        t = service.open_ticket(rk, domain="侵权", summary=f"楼上噪音，身份证 {ID_NO}", parties=[f"邻居 {EMAIL}"],
                                location="大塘村幸福路12号3栋", phone=PHONE, preferred_time=f"周末上午，或打 {PHONE}")
        service.start_handoff(rk, "resident_request", t["number"])
        _staff_reply_through_two_failures(w, t["number"], monkeypatch, canary_api)
        service.add_note(t["number"], "pii_wang", f"居民电话 {PHONE}")
        # 删除我的信息: the stub does what action_delete_data does (tickets.service.forget_resident).
        f = f"oPiiPgForget{next(Scenario.ids)}"
        consent(f"wechat:{f}")
        sc.wechat(f, f"我手机号 {PHONE_FORGOTTEN}，抚养费怎么算？")

        def forgetting(sender: str, message: str) -> list:
            if message == "删除我的信息":
                n = service.forget_resident(sender)
                return [{"text": "已删除您的个人信息和聊天记录。", "custom": {"outcome": "status", "deleted": n}}]
            return default_reply(sender, message)

        rasa.reply = forgetting
        assert "已删除" in "".join(sc.wechat(f, "删除我的信息"))
    finally:
        live.stop()
    tracker = _rasa_tracker_round_trip(schema)
    assert tracker["phone"] == PHONE and any(PHONE_SPELLINGS[1] in (x or "") for x in tracker["texts"])
    for h in logging.getLogger().handlers:
        h.flush()

    raw_hits, decrypted = scan_db(get_engine(), schema=schema)
    leaks = scan_files([Path(settings.home)])
    assert raw_hits == leaks == [], _report(raw_hits, leaks)
    for where, want in {"messages.text": {"phone", "id_number", "email"}, "tickets.phone": {"phone"},
                        "tickets.summary": {"id_number"}, "tickets.parties": {"email"},
                        "tickets.preferred_time": {"phone"}, "ticket_notes.text": {"phone"},
                        "connector_outbox.text": {"phone"}, "connector_inbound_dedup.replies": {"phone"},
                        "connector_access_token.token": {"access_token"},
                        "events.data": {"phone", "id_number"}}.items():
        assert want <= decrypted.get(where, set()), (where, decrypted.get(where))
    assert not any("phone_forgotten" in names for names in decrypted.values()), decrypted
