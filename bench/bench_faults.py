"""Faults under load (issue 12, item 4): 30 residents on the WeChat endpoint in safe mode for 3 minutes
against a real stack, while Rasa and then the action server are killed and Redis and then
PostgreSQL are restarted. Writes bench/results/faults.md and faults.json.

The stack is the real one: `mingbai run` (its supervisor, Rasa with the trained model, the action
server, the web app under waitress) on its own MINGBAI_HOME (a temporary folder with copies of
var/index, var/rasa/models, var/bot, var/cache and a link to var/models: nothing is rebuilt), on its
own ports, with the scale settings: DATABASE_URL on a database of its own on the machine's
PostgreSQL (Rasa's SQL tracker store goes there too) and REDIS_URL on a Redis db index of its own
(dedup fast path, nonce cache, rate limits, Rasa's RedisLockStore).

The WeChat side is simulated as WeChat behaves: each resident is a thread sending safe-mode
(AES) callbacks built with wechatpy's crypto (tests/connectors/wxsim.py). A try that brings no
passive reply within 5 s (timeout, error, or `success`) is retried with the same MsgId — the very
same request — 5 s after it started, 3 tries at most. Answers that miss the passive window go out
through the customer-service API, here the loopback fake WeChat API server
(tests/connectors/fake_wechat.py), which records what each resident received and when.

After the load the benchmark waits until the system is quiet (nothing queued in the outbox or in
the deferred-turn queue, no turn in progress) and then accounts every message from the resident's
side: answered passively, answered late (customer-service API), duplicated (more than one answer
to one message, or one answer delivered twice), lost (no answer at all; a reply telling the
resident to send it again counts as lost). Customer-service deliveries are matched to the messages
they answer through the outbox rows' idempotency keys (`wechat:<MsgId>:<part>`, and for replays of
queued messages `deferred:<ref>:<part>` plus the quoted message).

Faults (times from the start of the load; each waits for the previous component to be back):
  rasa     SIGKILL to Rasa's process group              (the supervisor restarts it)
  actions  SIGKILL to the action server's process group (the supervisor restarts it)
  redis    the machine's Redis shut down (SHUTDOWN SAVE) and started again with the same settings
  postgres `pg_ctlcluster <ver> <cluster> restart -m fast`

It restarts the machine's PostgreSQL and Redis: run it alone, under the shared lock:

    flock /tmp/mingbai-bench.lock .venv-app/bin/python bench/bench_faults.py
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import random
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
BUILT = ROOT / "var"
PG_ADMIN = "postgresql://root@127.0.0.1:5432/test"

# Legal questions from the calibration corpus (bench/corpus dev + dev2) that no rule routes
# elsewhere: no dialogue act, not out of scope, no visit request, no emergency (rules and the
# semantic backstop), distinct in their first 20 characters (the quote of a late reply).
QUESTION_IDS = [
    "d108", "f309", "d139", "f154", "d074", "f129", "f163", "f215", "f170", "f316", "f206", "d180", "f049",
    "d049", "f027", "f092", "f058", "d069", "f074", "d114", "f210", "d086", "d166", "d133", "f141", "f192",
    "f067", "f075", "f081", "d027", "f012", "f084", "d088", "f030", "d068", "f260", "f220", "d147", "f283",
    "f001", "f281", "f157", "f117", "d037", "d153", "d055", "f063", "f218", "d107", "d146", "f100", "f277",
    "f005", "f078", "d031", "f266", "f125", "f072", "d024", "f070", "f097", "f198", "f202", "f115", "d079",
    "f073", "f312", "f179", "f145", "f208", "f193", "f019", "d038", "f152", "d100", "f245", "d174", "d184",
    "f128", "d032", "f158", "f045", "f090", "f103", "f197", "f053", "f275", "f096", "f219", "f166",
]
# Messages the router sends to Rasa as dialogue acts: queued (and answered later) while the bot is down.
ACTS = ["你好", "您好", "在吗", "有人吗", "下午好", "查进度", "查询我的事项进度", "我的申请进度怎么样了",
        "帮我查一下进度", "我登记的事办得怎么样了", "你是谁", "你是机器人吗", "你能做什么", "你会干什么",
        "谢谢", "多谢", "谢谢你", "非常感谢"]

TRY_TIMEOUT = 5.0   # WeChat waits 5 s for the passive reply
TRIES = 3           # and tries a message 3 times


def now() -> float:
    return time.time()


# ---------------------------------------------------------------------------------------------
# Services: a database and a Redis db of our own; restarts of the machine's PostgreSQL and Redis


def pg_exec(sql: str, url: str = PG_ADMIN) -> None:
    import psycopg2

    conn = psycopg2.connect(url, connect_timeout=5)
    conn.autocommit = True
    try:
        conn.cursor().execute(sql)
    finally:
        conn.close()


def _plain(value):
    """A column the app encrypts at rest (outbox text, transcript), read back with the stack's data key
    (MINGBAI_HOME/secrets/data.key of the stack this process started)."""
    from mingbai import crypto_fields

    return crypto_fields.decrypt(value, strict=True)


def pg_query(url: str, sql: str, args: tuple = ()) -> list[tuple]:
    import psycopg2

    conn = psycopg2.connect(url, connect_timeout=5)
    try:
        cur = conn.cursor()
        cur.execute(sql, args)
        return cur.fetchall()
    finally:
        conn.close()


def pg_cluster() -> tuple[str, str]:
    """(version, name) of the cluster on port 5432, from pg_lsclusters."""
    out = subprocess.run(["pg_lsclusters", "-h"], capture_output=True, text=True, check=True).stdout
    for line in out.splitlines():
        parts = line.split()
        if len(parts) >= 3 and parts[2] == "5432":
            return parts[0], parts[1]
    raise RuntimeError("no PostgreSQL cluster on port 5432 (pg_lsclusters)")


def pg_up(url: str) -> bool:
    try:
        pg_query(url, "select 1")
        return True
    except Exception:
        return False


def restart_postgres() -> str:
    ver, name = pg_cluster()
    cmd = ["pg_ctlcluster", "--skip-systemctl-redirect", "-m", "fast", ver, name, "restart"]
    subprocess.run(cmd, check=True, capture_output=True, timeout=120)
    return " ".join(cmd)


def redis_client(db: int = 0, port: int = 6379):
    import redis
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    return redis.Redis(host="127.0.0.1", port=port, db=db, socket_timeout=2, socket_connect_timeout=2,
                       retry=Retry(NoBackoff(), 0))  # a health probe answers at once, no retries


def redis_up(port: int = 6379) -> bool:
    try:
        return bool(redis_client(port=port).ping())
    except Exception:
        return False


def restart_redis(port: int = 6379) -> str:
    """Stop the machine's Redis and start it again with the settings it runs with.

    Not `service redis-server restart`: this Redis was not started by that init script (it runs as
    root with pidfile /var/run/redis.pid; the script's /run/redis/redis-server.pid does not exist),
    so the script would leave it running and start a second server that cannot bind the port.
    Not `DEBUG RESTART` either. SHUTDOWN SAVE keeps other users' keys: the same server is started
    again on the same dir and loads them back; a dump file that did not exist before is removed."""
    r = redis_client(port=port)
    cfg = {}
    for k in ("port", "bind", "dir", "dbfilename", "logfile", "pidfile", "save", "appendonly", "daemonize",
              "protected-mode"):
        cfg.update({(a.decode() if isinstance(a, bytes) else a): (b.decode() if isinstance(b, bytes) else b)
                    for a, b in r.config_get(k).items()})
    dump = Path(cfg["dir"]) / cfg["dbfilename"]
    had_dump = dump.exists()
    try:
        r.shutdown(save=True)
    except Exception:  # the connection closes as the server goes
        pass
    for _ in range(100):
        if not redis_up(port):
            break
        time.sleep(0.1)
    cmd = ["redis-server", "--port", cfg["port"], "--bind", *cfg["bind"].split(), "--dir", cfg["dir"],
           "--dbfilename", cfg["dbfilename"], "--logfile", cfg["logfile"], "--pidfile", cfg["pidfile"],
           "--save", cfg["save"], "--appendonly", cfg["appendonly"], "--protected-mode", cfg["protected-mode"],
           "--daemonize", "yes"]
    subprocess.run(cmd, check=True, capture_output=True, timeout=30)
    for _ in range(200):
        if redis_up(port):
            break
        time.sleep(0.05)
    if not had_dump:
        try:
            dump.unlink()
        except OSError:
            pass
    return "redis-cli SHUTDOWN SAVE; " + " ".join(c if c else '""' for c in cmd)


def ensure_services() -> None:
    """Never leave the machine without its PostgreSQL or Redis."""
    if not redis_up():
        subprocess.run(["redis-server", "--daemonize", "yes", "--bind", "127.0.0.1", "--port", "6379", "--save", "",
                        "--appendonly", "no"], capture_output=True)
    if not pg_up(PG_ADMIN):
        ver, name = pg_cluster()
        subprocess.run(["pg_ctlcluster", "--skip-systemctl-redirect", ver, name, "start"], capture_output=True)


# ---------------------------------------------------------------------------------------------
# The stack


def make_home() -> Path:
    home = Path(tempfile.mkdtemp(prefix="mingbai-faults-"))
    shutil.copytree(BUILT / "index", home / "index")
    (home / "rasa").mkdir()
    shutil.copytree(BUILT / "rasa" / "models", home / "rasa" / "models")
    for d in ("bot", "cache"):  # classifier and emergency-bank caches: no re-embedding at start
        if (BUILT / d).exists():
            shutil.copytree(BUILT / d, home / d)
    (home / "models").symlink_to(BUILT / "models", target_is_directory=True)
    return home


class Stack:
    def __init__(self, home: Path, ports: tuple[int, int, int], db_url: str, redis_url: str, api_url: str,
                 profile: str = ""):
        from tests.connectors import wxsim

        self.home, self.db_url = home, db_url
        self.web_port, self.rasa_port, self.action_port = ports
        env = {k: v for k, v in os.environ.items()
               if not k.startswith("MINGBAI_") and k not in ("DATABASE_URL", "REDIS_URL", "AMQP_URL")}
        wx = {k: v for k, v in wxsim.env(api_url, "").items()
              if k.startswith("MINGBAI_WECHAT_")}
        env.update(wx)
        env.update({
            "MINGBAI_HOME": str(home), "MINGBAI_WEB_PORT": str(self.web_port),
            "MINGBAI_RASA_PORT": str(self.rasa_port), "MINGBAI_ACTION_PORT": str(self.action_port),
            "DATABASE_URL": db_url, "REDIS_URL": redis_url, "OMP_NUM_THREADS": "1",
            "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false",
        })
        if profile:
            env["MINGBAI_PROFILE"] = profile
        self.env = env
        self.proc: Optional[subprocess.Popen] = None
        self.out = home / "logs" / "mingbai-run.out"

    def start(self, timeout: float) -> float:
        self.out.parent.mkdir(parents=True, exist_ok=True)
        t0 = now()
        with open(self.out, "ab") as log:
            self.proc = subprocess.Popen([str(ROOT / ".venv-app" / "bin" / "mingbai"), "run", "--timeout", str(timeout)],
                                         cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                                         start_new_session=True)
        while now() - t0 < timeout + 30:
            st = self.state()
            if st.get("state") == "running":
                return now() - t0
            if self.proc.poll() is not None:
                raise RuntimeError(f"mingbai run exited ({self.proc.returncode}); see {self.out}")
            time.sleep(1)
        raise RuntimeError(f"the stack did not start in {timeout:.0f} s; see {self.out}")

    def state(self) -> dict:
        try:
            return json.loads((self.home / "run-state.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}

    def pids(self, name: str) -> list[int]:
        """`name` and its replicas (the scale profile's rasa-2, web-2 …)."""
        procs = self.state().get("processes") or {}
        return [p["pid"] for n, p in procs.items() if (n == name or n.startswith(name + "-")) and p.get("pid")]

    def kill(self, name: str) -> list[int]:
        pids = self.pids(name)
        if not pids:
            raise RuntimeError(f"{name} has no pid in run-state.json")
        for pid in pids:
            os.killpg(pid, signal.SIGKILL)
        return pids

    def rasa_token(self) -> str:
        return (self.home / ".rasa_token").read_text().strip()

    def stop(self) -> None:
        if self.proc is None:
            return
        pids = [p.get("pid") for p in (self.state().get("processes") or {}).values() if p.get("pid")]
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
        for pid in pids:  # children that outlived the supervisor (never expected)
            try:
                os.killpg(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass


# ---------------------------------------------------------------------------------------------
# Health of each component, sampled all along


class Monitor:
    COMPONENTS = ("rasa", "actions", "web", "postgres", "redis")

    def __init__(self, stack: Stack, interval: float = 0.5, redis_port: int = 6379):
        import requests

        self.stack, self.interval, self.redis_port = stack, interval, redis_port
        self.samples: dict[str, list[tuple[float, bool]]] = {c: [] for c in self.COMPONENTS}
        self.stop_ev = threading.Event()
        self.http = requests
        self.threads = [threading.Thread(target=self._loop, args=(c,), daemon=True) for c in self.COMPONENTS]

    def check(self, c: str) -> bool:
        s = self.stack
        try:
            if c == "rasa":
                return self.http.get(f"http://127.0.0.1:{s.rasa_port}/status", params={"token": s.rasa_token()},
                                     timeout=3, proxies={"http": None}).status_code == 200
            if c == "actions":
                return self.http.get(f"http://127.0.0.1:{s.action_port}/health", timeout=3,
                                     proxies={"http": None}).status_code == 200
            if c == "web":
                return self.http.get(f"http://127.0.0.1:{s.web_port}/healthz", timeout=3,
                                     proxies={"http": None}).status_code == 200
            if c == "postgres":
                return pg_up(s.db_url)
            if c == "redis":
                return redis_up(self.redis_port)
        except Exception:
            return False
        return False

    def _loop(self, c: str) -> None:
        while not self.stop_ev.is_set():
            self.samples[c].append((now(), self.check(c)))
            self.stop_ev.wait(self.interval)

    def start(self) -> None:
        for t in self.threads:
            t.start()

    def stop(self) -> None:
        self.stop_ev.set()

    def is_up(self, c: str) -> bool:
        return bool(self.samples[c]) and self.samples[c][-1][1]

    def down_up(self, c: str, since: float) -> tuple[Optional[float], Optional[float]]:
        """First sample down after `since`, and the first sample up after that."""
        down = next((t for t, ok in self.samples[c] if t >= since and not ok), None)
        if down is None:
            return None, None
        up = next((t for t, ok in self.samples[c] if t > down and ok), None)
        return down, up

    def wait_back(self, c: str, since: float, done: float, timeout: float) -> Optional[float]:
        """When `c` answered again after the fault injected at `since` (the injection returned at
        `done`: a restart command returns once the service is back). A restart faster than the
        sampling is never seen down: then it was back when the command returned."""
        end = now() + timeout
        while now() < end:
            down, up = self.down_up(c, since)
            if up is not None:
                return up
            if down is None and now() > done + 2 * self.interval + 3 and self.is_up(c):
                return done
            time.sleep(0.2)
        return None


# ---------------------------------------------------------------------------------------------
# Residents


@dataclass
class Sent:
    resident: int
    openid: str
    msg_id: int
    text: str
    kind: str  # question | act
    t: float
    tries: list = field(default_factory=list)  # {"t", "dt", "status", "reply"}
    window: str = ""


class Load:
    def __init__(self, base: str, n: int, questions: list[str], api, seed: int = 7):
        from tests.connectors import wxsim

        self.wx = wxsim
        self.base, self.n, self.api = base, n, api
        self.questions = questions
        self.sent: list[Sent] = []
        self.setup: list[Sent] = []  # consent and warm-up messages, not accounted
        self.lock = threading.Lock()
        self.stop_at = float("inf")
        self.rng = random.Random(seed)
        self._id = int(now() * 1000) * 1000

    def openid(self, i: int) -> str:
        return f"oFaultBenchResident{i:09d}"  # 28 characters, like a real openid

    def next_id(self) -> int:
        with self.lock:
            self._id += 1
            return self._id

    def send(self, i: int, text: str, kind: str = "question", record: bool = True) -> Sent:
        import requests

        http = getattr(self._tls, "http", None)
        if http is None:
            http = self._tls.http = requests.Session()
            http.trust_env = False
        s = Sent(i, self.openid(i), self.next_id(), text, kind, now())
        with self.lock:
            (self.sent if record else self.setup).append(s)
        cb = self.wx.build(self.wx.text_xml(s.openid, text, s.msg_id), "aes")
        for k in range(TRIES):
            t0 = now()
            status, reply = None, None
            try:
                r = http.post(self.base + cb.path, data=cb.body, headers={"Content-Type": "text/xml"},
                              timeout=(TRY_TIMEOUT, TRY_TIMEOUT))
                status = r.status_code
                if status == 200:
                    parsed = self.wx.read_reply(r.content, "aes")
                    reply = parsed.get("Content") if parsed else None
            except requests.Timeout:
                status = "timeout"
            except requests.RequestException as e:
                status = type(e).__name__
            dt = now() - t0
            if dt > TRY_TIMEOUT:  # WeChat has stopped listening: a late passive reply is lost
                reply, status = None, f"late({status})"
            s.tries.append({"t": t0, "dt": dt, "status": status, "reply": reply})
            if reply:
                break
            if k < TRIES - 1:  # the next try 5 s after this one started (at once after a timeout)
                time.sleep(max(0.0, t0 + TRY_TIMEOUT - now()))
        return s

    _tls = threading.local()

    def resident(self, i: int, async_wait: float) -> None:
        rng = random.Random(i * 7919)
        qs = self.questions[:]
        rng.shuffle(qs)
        acts = ACTS[:]
        rng.shuffle(acts)
        k = 0
        while now() < self.stop_at:
            if rng.random() < 0.3:
                text, kind = acts[k % len(acts)], "act"
            else:
                text, kind = qs[k % len(qs)], "question"
            k += 1
            before = len(self.api.contents(self.openid(i)))
            s = self.send(i, text, kind)
            if not any(t["reply"] for t in s.tries):
                # No passive reply: wait a while for the customer-service message, as a person would.
                end = now() + async_wait
                while now() < min(end, self.stop_at + async_wait) and len(self.api.contents(self.openid(i))) <= before:
                    time.sleep(0.25)
            time.sleep(rng.uniform(1.0, 4.0))


class StampedList(list):
    """FakeWeChatAPI.sent with the arrival time of each delivery."""

    def append(self, item):  # noqa: D401
        item = dict(item, t=now())
        super().append(item)


# ---------------------------------------------------------------------------------------------
# Accounting


def said(text: str) -> str:
    from connectors.deferred import _said

    return _said(text)


def classify_reply(text: str) -> str:
    """answer | notice (told the answer will follow) | failure (asked to send it again) | fallback"""
    from connectors import deferred, gateway

    if text.startswith(deferred.NOTICE[:8]):
        return "notice"
    if text.startswith(gateway.BOT_DOWN[:6]) or text.startswith(gateway.SORRY[:10]) or "没能处理好，请再发一次" in text:
        return "failure"
    if text.startswith(gateway.BOT_SILENT[:8]):
        return "fallback"
    return "answer"


def account(load: Load, deliveries: list[dict], outbox: list[tuple], dedup: dict) -> dict:
    """Every message from the resident's side (see the module doc)."""
    from connectors.deferred import LATE

    late_re = re.compile("^" + re.escape(LATE.split("{said}")[0]) + "(.*?)" + re.escape(LATE.split("{said}")[1].rstrip("\n")))
    by_id = {s.msg_id: s for s in load.sent}
    info = {s.msg_id: {"events": [], "parts": [], "deliveries": 0, "notices": 0, "failures": 0, "fallback": False}
            for s in load.sent}
    # outbox rows: id, resident_key, text, status, attempts, dedup_key, created_at, sent_at
    rows = {r[0]: r for r in outbox}
    pool: dict[tuple[str, str], list[int]] = {}
    for r in sorted(outbox, key=lambda r: r[0]):
        if r[3] == "sent":
            pool.setdefault((r[1], r[2]), []).append(r[0])
    used: dict[int, int] = {}
    row_of_delivery = []
    for d in sorted(deliveries, key=lambda d: d["t"]):
        key = (f"wechat:{d['touser']}", d["content"])
        ids = pool.get(key) or []
        fresh = [i for i in ids if i not in used]
        rid = fresh[0] if fresh else (ids[0] if ids else None)
        if rid is not None:
            used[rid] = used.get(rid, 0) + 1
        row_of_delivery.append((d, rid))
    # row -> message
    deferred_taken: set[int] = set()
    by_resident: dict[str, list[Sent]] = {}
    for s in load.sent:
        by_resident.setdefault(s.openid, []).append(s)

    def msg_of_row(rid: int, depth: int = 0) -> tuple[Optional[int], str]:
        r = rows.get(rid)
        if r is None or depth > 3:
            return None, ""
        key = r[5] or ""
        # connectors.wechat._enqueue_async: wechat:<MsgId>:<part>, + :<piece> from outbound.send
        m = re.match(r"^wechat:(\d+):(w?\d+)(?::(\d+))?$", key)
        if m:
            return int(m.group(1)), m.group(2) if m.group(3) in (None, "0") else "cont"
        m = re.match(r"^outbox:(\d+):(\d+)$", key)
        if m:
            parent, _ = msg_of_row(int(m.group(1)), depth + 1)
            return parent, "cont"
        m = re.match(r"^deferred:([0-9a-f]+):(\d+)$", key)
        if m:
            if rid in replay_of:
                return replay_of[rid], m.group(2)
            q = late_re.match(r[2])
            quote = q.group(1) if q else None
            if quote is None and "没能处理好" in r[2]:
                quote = r[2].split("“", 1)[-1].split("”", 1)[0]
            openid = r[1].split(":", 1)[1]
            for s in by_resident.get(openid, []):
                if s.msg_id in deferred_taken or said(s.text) != quote:
                    continue
                if any(t["reply"] and classify_reply(t["reply"]) == "answer" for t in s.tries):
                    continue
                deferred_taken.add(s.msg_id)
                replay_of[rid] = s.msg_id
                return s.msg_id, m.group(2)
            return None, m.group(2)
        return None, ""

    replay_of: dict[int, int] = {}
    unattributed = []
    for d, rid in row_of_delivery:
        mid, part = msg_of_row(rid) if rid is not None else (None, "")
        if mid is None or mid not in info:
            unattributed.append({"touser": d["touser"], "text": d["content"][:40], "row": rid})
            continue
        i = info[mid]
        i["deliveries"] += 1
        kind = classify_reply(d["content"])
        if part in ("0",):
            if kind == "failure":
                i["failures"] += 1
            elif kind == "notice":  # 「系统正在恢复…」 sent late through the API: not an answer
                i["notices"] += 1
            else:
                i["events"].append(("late", d["t"]))
                i["fallback"] |= kind == "fallback"
        i["parts"].append((rid, part))
    resent = {rid: n for rid, n in used.items() if n > 1}
    per: list[dict] = []
    for s in load.sent:
        i = info[s.msg_id]
        for t in s.tries:
            if t["reply"]:
                kind = classify_reply(t["reply"])
                if kind == "notice":
                    i["notices"] += 1
                elif kind == "failure":
                    i["failures"] += 1
                else:
                    i["events"].append(("passive", t["t"] + t["dt"]))
                    i["fallback"] |= kind == "fallback"
        events = sorted(i["events"], key=lambda e: e[1])
        dup_rows = [rid for rid, _ in i["parts"] if rid in resent]
        rec = dedup.get(str(s.msg_id), {})
        per.append({
            "msg_id": s.msg_id, "resident": s.resident, "kind": s.kind, "window": s.window, "t": s.t,
            "tries": len(s.tries), "statuses": [t["status"] for t in s.tries],
            "answered": bool(events), "how": events[0][0] if events else None,
            "answer_after_s": round(events[0][1] - s.t, 2) if events else None,
            "answered_at": events[0][1] if events else None,
            "duplicated": len(events) > 1 or bool(dup_rows), "answers": len(events),
            "notices": i["notices"], "failures": i["failures"], "fallback": i["fallback"],
            "dedup_state": rec.get("state"), "dedup_delivered": rec.get("delivered"),
        })
    return {"messages": per, "unattributed": unattributed, "resent_rows": resent}


# ---------------------------------------------------------------------------------------------


def main(argv: Optional[list[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--residents", type=int, default=30)
    ap.add_argument("--duration", type=float, default=180.0, help="seconds of load")
    ap.add_argument("--ports", default="18700,18705,18755", help="web,rasa,actions")
    ap.add_argument("--redis-db", type=int, default=12)
    ap.add_argument("--redis-port", type=int, default=6379,
                    help="another port: a Redis of your own (started beforehand), restarted instead of the machine's")
    ap.add_argument("--profile", default="", help="MINGBAI_PROFILE for the stack (default: the settings' "
                    "default, embedded); with `scale` the rasa fault kills every Rasa replica")
    ap.add_argument("--faults", default="rasa,actions,redis,postgres")
    ap.add_argument("--at", default="15,75,115,140", help="earliest start of each fault, seconds into the load")
    ap.add_argument("--async-wait", type=float, default=20.0, help="how long a resident waits for a late answer")
    ap.add_argument("--drain", type=float, default=240.0, help="max seconds to wait for quiet after the load")
    ap.add_argument("--start-timeout", type=float, default=600.0)
    ap.add_argument("--keep-home", action="store_true")
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "faults.md"))
    ap.add_argument("--render", metavar="JSON", help="only write the markdown again from a results JSON")
    args = ap.parse_args(argv)
    if args.render:
        write(json.loads(Path(args.render).read_text(encoding="utf-8")), Path(args.out))
        return 0

    faults = [f for f in args.faults.split(",") if f]
    at = [float(x) for x in args.at.split(",")]
    ports = tuple(int(p) for p in args.ports.split(","))
    home = make_home()
    os.environ["MINGBAI_HOME"] = str(home)  # this process reads nothing of var/
    for k in ("DATABASE_URL", "REDIS_URL", "MINGBAI_DATABASE_URL", "MINGBAI_REDIS_URL"):
        os.environ.pop(k, None)
    dbname = f"mingbai_faults_{os.getpid()}"
    db_url = f"postgresql://root@127.0.0.1:5432/{dbname}"
    redis_url = f"redis://127.0.0.1:{args.redis_port}/{args.redis_db}"

    from tests.connectors import wxsim
    from tests.connectors.fake_wechat import FakeWeChatAPI

    api = FakeWeChatAPI(wxsim.APPID, wxsim.SECRET)
    api.sent = StampedList()
    api_url = api.start()
    pg_exec(f'DROP DATABASE IF EXISTS "{dbname}"')
    pg_exec(f'CREATE DATABASE "{dbname}"')
    redis_client(args.redis_db, args.redis_port).flushdb()
    stack = Stack(home, ports, db_url, redis_url, api_url, profile=args.profile)
    mon = Monitor(stack, redis_port=args.redis_port)
    result: dict = {}
    try:
        print(f"home {home}; database {dbname}; redis db {args.redis_db}; ports {ports}", flush=True)
        started_in = stack.start(args.start_timeout)
        print(f"stack ready in {started_in:.0f} s", flush=True)
        base = f"http://127.0.0.1:{stack.web_port}"
        questions = load_questions()
        load = Load(base, args.residents, questions, api)
        # Every resident agrees to the privacy notice first; a few questions warm the bot up.
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(10) as ex:
            list(ex.map(lambda i: load.send(i, "同意", record=False), range(args.residents)))
        for i in range(3):
            load.send(i, questions[-1 - i], record=False)
        mon.start()
        time.sleep(2)
        t0 = now()
        load.stop_at = t0 + args.duration
        threads = [threading.Thread(target=load.resident, args=(i, args.async_wait), daemon=True)
                   for i in range(args.residents)]
        for t in threads:
            t.start()
        events: list[dict] = []
        prev_back = t0
        for name, earliest in zip(faults, at + [at[-1]] * len(faults)):
            when = max(t0 + earliest, prev_back + 10)
            while now() < when:
                time.sleep(0.2)
            ev = {"fault": name, "t": now()}
            if name in ("rasa", "actions"):
                ev["action"] = "SIGKILL process group " + ", ".join(map(str, stack.kill(name)))
                comp = name
            elif name == "redis":
                ev["action"] = restart_redis(args.redis_port)
                comp = "redis"
            elif name == "postgres":
                ev["action"] = restart_postgres()
                comp = "postgres"
            else:
                raise SystemExit(f"unknown fault {name}")
            ev["done"] = now()
            back = mon.wait_back(comp, ev["t"], ev["done"], timeout=400)
            ev["back"] = back
            down, _ = mon.down_up(comp, ev["t"])
            ev["down_seen"] = down
            prev_back = back or now()
            events.append(ev)
            print(f"  {name}: injected at +{ev['t'] - t0:.1f}s, back at "
                  f"{'+%.1fs' % (back - t0) if back else 'never'}", flush=True)
        load.stop_at = max(load.stop_at, prev_back + 20)
        while now() < load.stop_at:
            time.sleep(0.5)
        for t in threads:
            t.join(timeout=3 * TRY_TIMEOUT + args.async_wait + 10)
        t_end = now()
        print(f"load done: {len(load.sent)} messages in {t_end - t0:.0f} s; waiting for quiet", flush=True)
        quiet_at = wait_quiet(db_url, args.drain)
        mon.stop()
        # Windows: each message belongs to the fault period in which it was first sent.
        bounds = [("baseline", t0)] + [(e["fault"], e["t"]) for e in events]
        for s in load.sent:
            s.window = [n for n, b in bounds if s.t >= b][-1]
        outbox = [(r[0], r[1], _plain(r[2]), *r[3:]) for r in pg_query(
            db_url, "select id, resident_key, text, status, attempts, dedup_key, created_at, sent_at "
                    "from connector_outbox where channel = 'wechat' order by id")]
        dedup = {r[0]: {"state": r[1], "delivered": r[2]} for r in pg_query(
            db_url, "select msg_key, state, delivered from connector_inbound_dedup where channel = 'wechat'")}
        acc = account(load, list(api.sent), outbox, dedup)
        result = summarise(args, load, acc, events, mon, t0, t_end, quiet_at, stack, db_url, started_in)
    finally:
        mon.stop()
        stack.stop()
        api.stop()
        ensure_services()
        try:
            pg_exec(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')
        except Exception as e:
            print(f"could not drop {dbname}: {e}", file=sys.stderr)
        try:
            redis_client(args.redis_db, args.redis_port).flushdb()
        except Exception:
            pass
        if not args.keep_home:
            shutil.rmtree(home, ignore_errors=True)
    if result:
        write(result, Path(args.out))
    return 0 if result and result["total"]["lost"] == 0 and result["total"]["duplicated"] == 0 else 1


def load_questions() -> list[str]:
    texts = {}
    for f in ("dev.jsonl", "dev2.jsonl"):
        for line in (ROOT / "bench" / "corpus" / f).read_text(encoding="utf-8").splitlines():
            if line.strip():
                d = json.loads(line)
                texts[d["id"]] = d["text"].strip()
    return [texts[i] for i in QUESTION_IDS if i in texts]


def wait_quiet(db_url: str, limit: float, stable: float = 15.0) -> Optional[float]:
    """Until nothing waits in the outbox or the deferred queue and no turn is in progress, for
    `stable` seconds in a row (or `limit` passes). Returns when it got quiet."""
    end, quiet_since = now() + limit, None
    while now() < end:
        try:
            (busy,), = pg_query(db_url, """
                select (select count(*) from connector_outbox
                        where channel = 'wechat' and status in ('queued', 'pending', 'failed'))
                     + (select count(*) from connector_deferred_turn)
                     + (select count(*) from connector_inbound_dedup where state = 'processing')""")
        except Exception:
            busy = 1
        if busy == 0:
            quiet_since = quiet_since or now()
            if now() - quiet_since >= stable:
                return quiet_since
        else:
            quiet_since = None
        time.sleep(1)
    return None


def _window_stats(msgs: list[dict]) -> dict:
    answered = [m for m in msgs if m["answered"]]
    waits = [m["answer_after_s"] for m in answered]
    return {
        "sent": len(msgs),
        "answered": len(answered),
        "passive": sum(1 for m in answered if m["how"] == "passive"),
        "late": sum(1 for m in answered if m["how"] == "late"),
        "duplicated": sum(1 for m in msgs if m["duplicated"]),
        "lost": sum(1 for m in msgs if not m["answered"]),
        "retried": sum(1 for m in msgs if m["tries"] > 1),
        "tries": sum(m["tries"] for m in msgs),
        "notices": sum(m["notices"] for m in msgs),
        "failure_replies": sum(m["failures"] for m in msgs),
        "fallback_answers": sum(1 for m in msgs if m["fallback"]),
        "acts": sum(1 for m in msgs if m["kind"] == "act"),
        "answer_p50_s": round(statistics.median(waits), 2) if waits else None,
        "answer_max_s": round(max(waits), 2) if waits else None,
    }


def summarise(args, load: Load, acc: dict, events: list[dict], mon: Monitor, t0: float, t_end: float,
              quiet_at: Optional[float], stack: Stack, db_url: str, started_in: float) -> dict:
    msgs = acc["messages"]
    windows = {}
    for name in ["baseline"] + [e["fault"] for e in events]:
        windows[name] = _window_stats([m for m in msgs if m["window"] == name])
    faults = []
    for k, e in enumerate(events):
        nxt = events[k + 1]["t"] if k + 1 < len(events) else t_end
        hit = [m for m in msgs if e["t"] <= m["t"] < (e["back"] or nxt) + 5]
        last = max((m["answered_at"] for m in hit if m["answered_at"]), default=None)
        faults.append({
            "fault": e["fault"], "action": e["action"], "at_s": round(e["t"] - t0, 1),
            "component_down_s": round(e["down_seen"] - t0, 1) if e["down_seen"] else None,
            "component_back_after_s": round(e["back"] - e["t"], 1) if e["back"] else None,
            "messages_during_outage": len(hit),
            "all_answered_after_s": round(last - e["t"], 1) if last and all(m["answered"] for m in hit) else None,
        })
    state = stack.state()
    restarts = {n: p.get("restarts") for n, p in (state.get("processes") or {}).items()}
    # The transcript: each message recorded once (a turn run twice would record it twice).
    got: dict = {}
    for key, text in pg_query(db_url, "select resident_key, text from messages where direction = 'in' "
                                      "and resident_key like 'wechat:oFaultBench%%'"):
        k = (key, _plain(text))
        got[k] = got.get(k, 0) + 1
    want: dict = {}
    for s in load.sent + load.setup:
        want[(f"wechat:{s.openid}", s.text)] = want.get((f"wechat:{s.openid}", s.text), 0) + 1
    extra = sum(max(0, got.get(k, 0) - n) for k, n in want.items())
    missing = sum(max(0, n - got.get(k, 0)) for k, n in want.items())
    handoffs = pg_query(db_url, "select count(*) from handoffs where resident_key like 'wechat:oFaultBench%%'")[0][0]
    # Distinct lines: under `mingbai run` each record reaches web.log twice (the file handler and
    # the supervisor's capture of stderr); a timestamped line is one record. Every web worker's log.
    log_lines: set[str] = set()
    for web_log in sorted((stack.home / "logs").glob("web*.log")):
        log_lines |= set(web_log.read_text(encoding="utf-8", errors="replace").splitlines())

    def in_log(phrase: str) -> int:
        return sum(1 for line in log_lines if phrase in line)

    statuses: dict[str, int] = {}
    for m in msgs:
        for st in m["statuses"]:
            statuses[str(st)] = statuses.get(str(st), 0) + 1
    lost = [m for m in msgs if not m["answered"]]
    dups = [m for m in msgs if m["duplicated"]]
    return {
        "run": {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(t0)), "residents": args.residents,
                "duration_s": round(t_end - t0), "stack_start_s": round(started_in),
                "quiet_after_load_s": round(max(0.0, quiet_at - t_end), 1) if quiet_at else None,
                "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"},
        "total": _window_stats(msgs),
        "windows": windows,
        "faults": faults,
        "supervisor_restarts": restarts,
        "profile": args.profile or "embedded (default)",
        "transcript": {"inbound_recorded_twice": extra, "inbound_not_recorded": missing},
        "handoffs": handoffs,
        "try_statuses": statuses,
        "log": {"dedup_takeovers": in_log("took over a stale"),
                "rasa_unavailable": in_log("rasa unavailable"),
                "queued_for_later": in_log("queued for later"),
                "wechat_turn_failed": in_log("wechat turn failed"),
                "http_500": in_log("Exception on /wechat"),
                "record_message_failed": in_log("record_message failed"),
                "could_not_queue": in_log("could not queue")},
        "unattributed_deliveries": acc["unattributed"][:20],
        "resent_rows": acc["resent_rows"],
        "lost": lost[:50],
        "slow": [m for m in msgs if (m["answer_after_s"] or 0) > 10][:300],
        "duplicated": dups[:50],
    }


def write(res: dict, out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(res, ensure_ascii=False, indent=1), encoding="utf-8")
    r, tot = res["run"], res["total"]
    lines = [
        "# Faults under load (WeChat safe mode, real stack)",
        "",
        f"Run: {r['date']} · `flock /tmp/mingbai-bench.lock .venv-app/bin/python bench/bench_faults.py` · "
        f"{r['machine']}, shared with other work.",
        "",
        f"{r['residents']} simulated residents on `/wechat` in safe mode (AES) for {r['duration_s']} s against "
        f"`mingbai run`, profile {res.get('profile', 'embedded (default)')} (supervisor, Rasa with the trained "
        "model, action server, web app under waitress; own MINGBAI_HOME and ports) with "
        "PostgreSQL (DATABASE_URL, Rasa's SQL tracker store too) and Redis (REDIS_URL, Rasa's lock store); "
        "the customer-service API is a loopback fake WeChat server. Each resident sends a legal question "
        "(70 %) or a dialogue act (30 %: greeting, 查进度, identity, thanks — these wait for the bot while "
        "it is down), waits for the answer (up to 20 s for a late one), pauses 1–4 s. A try without a passive "
        "reply within 5 s is retried with the same MsgId 5 s after it started (3 tries, as WeChat; stricter "
        "than WeChat, which does not retry after `success`).",
        "",
        "Accounting from the residents' side once the system was quiet (outbox and deferred queue empty, "
        f"no turn in progress, for 15 s; quiet {r['quiet_after_load_s']} s after the load): *answered late* = through the customer-service API; "
        "*duplicated* = more than one answer to one message or one text delivered twice; *lost* = no answer "
        "at all (a reply asking to send it again counts as lost). 「系统正在恢复…」 notices are not answers.",
        "",
        "| period | sent | answered | passive | late | duplicated | lost | retried | answer p50 s | max s |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, w in list(res["windows"].items()) + [("**all**", tot)]:
        lines.append(f"| {name} | {w['sent']} | {w['answered']} | {w['passive']} | {w['late']} | {w['duplicated']} | "
                     f"{w['lost']} | {w['retried']} | {w['answer_p50_s']} | {w['answer_max_s']} |")
    lines += [
        "",
        "| fault | how | at s | component back after s | messages during the outage | all of them answered after s |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for f in res["faults"]:
        lines.append(f"| {f['fault']} | `{f['action'][:90]}` | {f['at_s']} | {f['component_back_after_s']} | "
                     f"{f['messages_during_outage']} | {f['all_answered_after_s']} |")
    t = res["transcript"]
    lines += [
        "",
        f"Supervisor restarts: {res['supervisor_restarts']}. Transcript: {t['inbound_recorded_twice']} inbound "
        f"messages recorded twice, {t['inbound_not_recorded']} not recorded. Notices 「系统正在恢复」: "
        f"{tot['notices']}; replies asking to resend: {tot['failure_replies']}; fallback answers "
        f"(「我没太明白」): {tot['fallback_answers']}. Tries by outcome (HTTP status; `timeout` = no answer "
        f"within 5 s): {res['try_statuses']}. Answers later than 10 s: {len(res.get('slow', []))} (listed in "
        f"faults.json). web.log: {res['log']}.",
        "",
        *([f"Unattributed customer-service deliveries: {res['unattributed_deliveries']}", ""]
          if res["unattributed_deliveries"] else []),
        *([f"Lost: {[(m['window'], m['kind'], m['statuses'], m['dedup_state'], m['dedup_delivered']) for m in res['lost']]}",
           ""] if res["lost"] else []),
        *([f"Duplicated: {[(m['window'], m['kind'], m['answers'], m['statuses']) for m in res['duplicated']]}", ""]
          if res["duplicated"] else []),
        "Periods: a message belongs to the fault period in which it was first sent (until the next fault). "
        "*Component back* is the first successful health check after the fault (Rasa /status, action server "
        "/health, Redis PING, PostgreSQL SELECT 1), sampled every 0.5 s; *all answered* is when the last "
        "message sent between the fault and 5 s after the component came back got its answer.",
        "",
    ]
    out.write_text("\n".join(lines), encoding="utf-8")
    print("\n".join(lines))
    print(f"wrote {out} and {out.with_suffix('.json')}")


if __name__ == "__main__":
    sys.exit(main())
