"""Load: 50 residents over the WeChat safe-mode endpoint against the REAL stack (`mingbai run`:
real Rasa, real action server, real knowledge base), the embedded and the scale profile side by
side in one run. Writes bench/results/load.md and load.json.

Each profile gets its own stack: a temporary MINGBAI_HOME (the built index, Rasa model, caches
copied; the e5 model linked), its own ports, a fake WeChat API server on loopback that receives
the customer-service messages (answers that missed the passive reply), and for the scale profile
its own PostgreSQL database, Redis db index and RabbitMQ queue (dropped afterwards).

Residents (closed loop, `--residents` at once for `--duration` seconds): each one sends a
message, waits for the answer (the passive reply, or customer-service messages), "reads and
types" for a random think time (`--think`, seconds), and sends the next. The mix, per session:
legal questions from the tuning splits (bench/corpus/dev*.jsonl, never held-out; danger-now
texts left out, as they open a handoff), dialogue acts (你好 / 查进度 / 谢谢 / 有帮助 / 你是机器人吗),
long consultations (a 200-character story and follow-ups), intake starts (the form answered
step by step, some cancelled) and 转人工. After a handoff (转人工, an answer the bot is unsure of, an
emergency) the bot is silent for that resident by design (staff answer on the console): the
resident leaves and the slot goes to a NEW resident, who first gets the privacy notice and
answers 「同意」. WeChat's delivery contract is simulated: an
HTTP answer not back within 5 s is a miss, and the same request (same MsgId, same signed body) is
sent again, at most twice.

Counted per message: sent; answered (a passive reply, or ≥1 customer-service message before the
resident's next message, within --answer-wait s); duplicated (a second passive reply, or the same
text delivered twice); lost (neither). Latency: the passive reply's HTTP round trip (first try
to the reply, retries included) and the time to the answer by either path. CPU per turn: the CPU
time (utime+stime, reaped children included, from /proc) of every process under `mingbai run`
during the measured window, divided by the messages sent; the scale profile's PostgreSQL
backends of its database are reported beside it, Redis / RabbitMQ (shared servers) as whole-
server deltas. RSS: the sum over the stack's processes at the end of the window.

    flock /tmp/mingbai-bench.lock .venv-app/bin/python bench/bench_load.py [--duration 300]
        [--residents 50] [--profiles embedded,scale] [--think 5,20]
"""
from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import signal
import socket
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
os.environ.setdefault("OMP_NUM_THREADS", "1")

MINGBAI = str(Path(sys.executable).parent / "mingbai")
BUILT = ROOT / "var"
WECHAT_TIMEOUT_S = 5.0  # WeChat waits 5 s for the passive reply, then sends the same request again
RETRIES = 2
PG_ADMIN = os.environ.get("MINGBAI_BENCH_PG", "postgresql://root@127.0.0.1:5432/postgres")
PG_DB = "mingbai_load_bench"
REDIS_DB = int(os.environ.get("MINGBAI_BENCH_REDIS_DB", "12"))
AMQP = "amqp://guest:guest@127.0.0.1:5672/%2F"
AMQP_QUEUE = "mingbai_load_bench_events"
PORTS = {"embedded": {"web": 8110, "rasa": 5110, "actions": 5160},
         "scale": {"web": 8120, "rasa": 5120, "actions": 5170}}


from bench.stats import pct  # noqa: E402  (ROOT is on sys.path above)


# ---------------------------------------------------------------------------------------------
# What residents say

ACTS = ["你好", "查一下我反映的事办得怎么样了", "谢谢", "你是机器人吗"]
FOLLOW_UPS = ["那我需要准备哪些证据？", "去哪里可以申请法律援助？", "这种事一般要多长时间能解决？", "打官司大概要花多少钱？"]
STORIES = [
    "我在县城一个建筑工地干了八个多月的活，包工头一直说年底统一结，结果到了年底人找不着了，电话也不接。"
    "我们一起干活的有十几个人，每人被欠一两万块钱。我们手里只有当时记的考勤本和几张微信转账的截图，"
    "没有签过劳动合同。听说总包公司也要负责，但是总包公司说跟我们没关系，让我们去找包工头。"
    "现在快过年了，家里等着这个钱用，我们该怎么办？能不能告总包公司？",
    "我父亲去年去世了，留下老家一套宅基地上的房子和几万块存款。父亲生前跟我大哥住，说过房子给大哥，"
    "但是没有写遗嘱。现在大哥说房子和存款都归他，因为他照顾老人多。我和两个姐姐都出嫁了，平时也经常回来看望，"
    "也出了医药费。大姐说出嫁的女儿没有继承权，是这样吗？我们姐妹想分一部分，又不想闹翻，应该怎么处理比较好？",
    "上个月我骑电动车下班，在村口路口被一辆小货车撞了，左腿骨折住院二十多天，花了四万多医药费。"
    "交警认定对方负主要责任，我负次要责任，因为我没戴头盔。对方的车有交强险和商业险，保险公司说要等出院以后再谈。"
    "我现在没法上班，每个月少了三千多工资。请问我能要哪些赔偿？误工费怎么算？保险公司拖着不赔怎么办？",
    "我们村里十几年前把我家的一块承包地调给了别人种，当时说是临时的，也没签什么字。现在那块地要被征收了，"
    "有补偿款，村里说补偿款归现在种地的那户。我家的土地承包经营权证上还写着这块地。我想问这补偿款应该给谁？"
    "我该去找村委会还是找镇上？要不要打官司？",
]
INTAKE_STARTS = ["我要找调解员，邻居盖房把路堵了，想请人来看看", "我要登记一个纠纷", "邻居盖房占了我家的路，能不能派人来看看"]
# The intake form's questions (connectors.gateway.REPROMPT and the bot's responses) → an answer.
INTAKE_ANSWERS = [("对方", "隔壁老王家"), ("哪个村", "青山村三组"), ("村或社区", "青山村三组"), ("地址", "青山村三组"),
                  ("手机", "13800138000"), ("电话", "13800138000"), ("时间", "明天上午都在家"),
                  ("同意", "同意"), ("发生", "邻居盖房把我家门口的路占了一半，车开不进来，说了也不听"),
                  ("说说", "邻居盖房把我家门口的路占了一半，车开不进来，说了也不听")]
# Answers that open a handoff, after which the bot stays silent for the resident (staff answer on
# the console): 转人工, an answer the bot is unsure of, 没帮助 twice (bot/actions: 「…工作人员会在这里回复您」)
# and emergencies (bot.emergency: 「我已通知工作人员尽快联系您」). The resident then leaves the load.
HANDED_OVER = re.compile(r"工作人员会在这里回复|(已通知|已请)工作人员")
# Session kinds and weights: the mix.
MIX = [("question", 55), ("act", 12), ("long", 10), ("intake", 13), ("handoff", 10)]


def load_questions() -> list[str]:
    from bot import router
    from bot.emergency import triage

    out = []
    for name in ("dev.jsonl", "dev2.jsonl"):  # tuning splits only; heldout.jsonl is never read here
        for line in (ROOT / "bench" / "corpus" / name).read_text(encoding="utf-8").splitlines():
            if not line.strip():
                continue
            text = json.loads(line)["text"]
            tri = triage(text, semantic=False)
            if (tri and tri.get("tier") == "danger_now") or router.act(text) or router.needs_visit(text) \
                    or router.out_of_scope(text):
                continue  # a plain legal question only: the acts come from the scripted sessions
            out.append(text)
    return out


# ---------------------------------------------------------------------------------------------
# The fake WeChat API's deliveries, indexed by resident, with arrival times


class Inbox(list):
    """Replaces FakeWeChatAPI.sent: every delivered customer-service message, per openid."""

    def __init__(self):
        super().__init__()
        self.cond = threading.Condition()
        self.by_user: dict[str, list[tuple[float, str]]] = {}

    def append(self, item) -> None:  # called by the fake API's handler threads
        super().append(item)
        with self.cond:
            self.by_user.setdefault(item.get("touser") or "", []).append((time.perf_counter(), item.get("content") or ""))
            self.cond.notify_all()

    def count(self, user: str) -> int:  # type: ignore[override]
        with self.cond:
            return len(self.by_user.get(user, []))

    def since(self, user: str, n: int) -> list[tuple[float, str]]:
        with self.cond:
            return list(self.by_user.get(user, [])[n:])

    def wait_new(self, user: str, n: int, until: float) -> list[tuple[float, str]]:
        with self.cond:
            while len(self.by_user.get(user, [])) <= n:
                left = until - time.perf_counter()
                if left <= 0:
                    break
                self.cond.wait(min(left, 0.5))
            return list(self.by_user.get(user, [])[n:])


# ---------------------------------------------------------------------------------------------
# One message, WeChat-style


@dataclass
class Msg:
    profile: str
    kind: str
    text: str
    t0: float = 0.0
    attempts: int = 0
    timeouts: int = 0
    errors: list = field(default_factory=list)
    passive: list = field(default_factory=list)  # (latency from t0, text) of each passive reply
    cs: list = field(default_factory=list)  # (latency from t0, text) customer-service messages
    http_s: list = field(default_factory=list)  # each attempt's round trip (None: timed out)
    openid: str = ""
    before: str = ""  # the resident's previous message and its answer (for a lost message's report)

    @property
    def answered(self) -> bool:
        return bool(self.passive or self.cs)

    @property
    def duplicated(self) -> bool:
        texts = [t for _, t in self.passive] + [t for _, t in self.cs]
        return len(self.passive) > 1 or len(texts) != len(set(texts))

    @property
    def answer_s(self) -> Optional[float]:
        lat = [x for x, _ in self.passive] + [x for x, _ in self.cs]
        return min(lat) if lat else None

    def last_text(self) -> str:
        return "\n".join([t for _, t in self.passive] + [t for _, t in self.cs])


class Ids:
    def __init__(self):
        self.n = int(time.time() * 1000) * 10
        self.lock = threading.Lock()

    def __call__(self) -> int:
        with self.lock:
            self.n += 1
            return self.n


class Resident:
    """One slot of the load: a resident at a time (a new one after a handoff)."""

    def __init__(self, slot: int, profile: str, base: str, inbox: Inbox, ids: Ids, rng: random.Random,
                 questions: list[str], think: tuple[float, float], answer_wait: float):
        import requests

        self.slot, self.profile, self.base, self.inbox, self.ids, self.rng = slot, profile, base, inbox, ids, rng
        self.questions, self.think, self.answer_wait = questions, think, answer_wait
        self.http = requests.Session()
        self.http.trust_env = False
        self.generation = 0
        self.openid = self._new_openid()
        self.msgs: list[Msg] = []
        self.new_residents = 0

    def _new_openid(self) -> str:
        self.generation += 1
        return f"o-load-{self.profile[:2]}-{self.slot}-{self.generation}"

    def send(self, text: str, kind: str, record: bool = True) -> Msg:
        import requests

        from tests.connectors import wxsim

        m = Msg(self.profile, kind, text, openid=self.openid)
        if self.msgs and self.msgs[-1].openid == self.openid:
            prev = self.msgs[-1]
            m.before = f"{prev.kind}: {prev.text[:20]} → {prev.last_text()[:40]}"
        cb = wxsim.build(wxsim.text_xml(self.openid, text, self.ids()), "aes")
        seen = self.inbox.count(self.openid)
        m.t0 = time.perf_counter()
        for attempt in range(1 + RETRIES):
            m.attempts += 1
            t = time.perf_counter()
            try:
                r = self.http.post(self.base + cb.path, data=cb.body, headers={"Content-Type": "text/xml"},
                                   timeout=(3.0, WECHAT_TIMEOUT_S))
            except requests.Timeout:
                m.timeouts += 1
                m.http_s.append(None)
                continue  # WeChat: no answer within 5 s → the same request again
            except requests.RequestException as e:
                m.errors.append(type(e).__name__)
                m.http_s.append(None)
                continue
            dt = time.perf_counter() - t
            m.http_s.append(dt)
            if r.status_code != 200:
                m.errors.append(f"http {r.status_code}")
                break
            if dt > WECHAT_TIMEOUT_S:  # came back too late: WeChat has dropped it and retries
                m.timeouts += 1
                continue
            try:
                reply = wxsim.read_reply(r.content, "aes")
            except Exception as e:  # noqa: BLE001
                m.errors.append(f"bad reply {type(e).__name__}")
                break
            if reply and reply.get("Content"):
                m.passive.append((time.perf_counter() - m.t0, reply["Content"]))
            break  # an answer, or `success`: WeChat does not retry either
        # No passive reply: wait for the first customer-service message (the answer's other path).
        if not m.passive:
            self.inbox.wait_new(self.openid, seen, m.t0 + self.answer_wait)
        m.seen = seen  # type: ignore[attr-defined]
        if record:
            self.msgs.append(m)
        self._finish(m)
        return m

    def _finish(self, m: Msg) -> None:
        """Every customer-service message to this resident from the message's send until now is
        its answer (the resident sends nothing else meanwhile)."""
        m.cs = [(t - m.t0, c) for t, c in self.inbox.since(self.openid, m.seen)]

    def read(self, m: Msg, stop: float) -> None:
        """Think time before the next message (not past the end of the window), then count what
        else arrived for this message meanwhile."""
        delay = min(time.perf_counter() + self.rng.uniform(*self.think), stop) - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        self._finish(m)

    # Sessions ----------------------------------------------------------------------------
    def session(self, stop: float) -> None:
        kind = self.rng.choices([k for k, _ in MIX], weights=[w for _, w in MIX])[0]
        q = self.rng.choice
        script: list[tuple[str, str]]
        if kind == "question":
            script = [("question", q(self.questions)) for _ in range(self.rng.randint(1, 3))]
            if self.rng.random() < 0.3:
                script.append(("act", "谢谢"))
            elif self.rng.random() < 0.25:
                script.append(("act", "有帮助"))
        elif kind == "act":
            script = [("act", q(ACTS)), ("question", q(self.questions))]
        elif kind == "long":
            script = [("long", q(STORIES))] + [("question", f) for f in self.rng.sample(FOLLOW_UPS, self.rng.randint(1, 3))]
        elif kind == "intake":
            self._intake(stop)
            return
        else:  # handoff: a question, then 转人工; the resident leaves (the bot stays silent for them)
            script = [("question", q(self.questions)), ("handoff", "转人工")]
        for k, text in script:
            if time.perf_counter() >= stop:
                return
            m = self.send(text, k)
            self.read(m, stop)
            if self._left(m, k):
                return

    def _intake(self, stop: float) -> None:
        m = self.send(self.rng.choice(INTAKE_STARTS), "intake")
        self.read(m, stop)
        cancel_at = self.rng.randint(1, 4) if self.rng.random() < 0.3 else None
        for step in range(1, 8):
            if time.perf_counter() >= stop or self._left(m, "intake"):
                return
            asked = m.last_text()
            if cancel_at == step:
                m = self.send("取消", "intake")
                self.read(m, stop)
                return
            answer = next((a for key, a in INTAKE_ANSWERS if key in asked[-80:]), None)
            if answer is None:
                return  # the form is done (or asked something unscripted)
            m = self.send(answer, "intake")
            self.read(m, stop)

    def _left(self, m: Msg, kind: str) -> bool:
        """After 转人工 (or an emergency handoff) the bot is silent for this resident: a new one
        takes the slot and starts with the privacy notice."""
        if kind == "handoff" or HANDED_OVER.search(m.last_text()):
            m.handed_over = True  # type: ignore[attr-defined]
            self.openid = self._new_openid()
            self.new_residents += 1
            self.next_is_new = True
            return True
        return False

    def run(self, stop: float) -> None:
        self.next_is_new = False
        while time.perf_counter() < stop:
            if self.next_is_new:
                # A new resident: the first question gets the privacy notice, 「同意」 its answer.
                self.next_is_new = False
                m = self.send(self.rng.choice(self.questions), "new")
                self.read(m, stop)
                if time.perf_counter() >= stop:
                    break
                m = self.send("同意", "consent")
                self.read(m, stop)
                continue
            self.session(stop)


# ---------------------------------------------------------------------------------------------
# Process accounting (/proc)

TICK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


def _stat(pid: int) -> Optional[list[str]]:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return raw[raw.rindex(")") + 2:].split()  # fields from `state` on (index 0 = field 3)


def _kids() -> dict[int, list[int]]:
    kids: dict[int, list[int]] = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            st = _stat(int(d))
            if st:
                kids.setdefault(int(st[1]), []).append(int(d))
    return kids


def tree(root: int) -> list[int]:
    kids = _kids()
    out, todo = [], [root]
    while todo:
        p = todo.pop()
        out.append(p)
        todo += kids.get(p, [])
    return out


def cpu_s(pids: list[int], children: bool = True) -> dict[int, float]:
    """utime+stime (+ the reaped children's cutime+cstime), seconds, per pid."""
    out = {}
    for p in pids:
        st = _stat(p)
        if st:
            out[p] = (int(st[11]) + int(st[12]) + ((int(st[13]) + int(st[14])) if children else 0)) / TICK
    return out


def rss_mb(pids: list[int]) -> float:
    total = 0
    for p in pids:
        st = _stat(p)
        if st:
            total += int(st[21]) * PAGE
    return total / 2**20


def pss_mb(pids: list[int]) -> float:
    total = 0
    for p in pids:
        try:
            for line in Path(f"/proc/{p}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    total += int(line.split()[1]) * 1024
        except OSError:
            pass
    return total / 2**20


def pids_named(word: str) -> list[int]:
    out = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                if word in Path(f"/proc/{d}/comm").read_text():
                    out.append(int(d))
            except OSError:
                pass
    return out


def pg_backends(db: str) -> list[int]:
    import psycopg2

    with psycopg2.connect(PG_ADMIN) as c, c.cursor() as cur:
        cur.execute("SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()", (db,))
        return [r[0] for r in cur.fetchall()]


def loadavg() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "?"


# ---------------------------------------------------------------------------------------------
# A stack per profile


def free(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.3)
        return s.connect_ex(("127.0.0.1", port)) != 0


def make_home() -> Path:
    home = Path(tempfile.mkdtemp(prefix="mingbai-load-"))
    shutil.copytree(BUILT / "index", home / "index")
    (home / "rasa").mkdir()
    shutil.copytree(BUILT / "rasa" / "models", home / "rasa" / "models")
    for d in ("cache", "bot"):  # the emergency vectors and the issue classifier, as setup built them
        if (BUILT / d).exists():
            shutil.copytree(BUILT / d, home / d)
    (home / "models").symlink_to((BUILT / "models").resolve())
    return home


def services_setup() -> None:
    import pika
    import psycopg2
    import redis

    admin = psycopg2.connect(PG_ADMIN)
    admin.autocommit = True
    with admin.cursor() as c:
        c.execute(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{PG_DB}'")
        c.execute(f"DROP DATABASE IF EXISTS {PG_DB}")
        c.execute(f"CREATE DATABASE {PG_DB}")
    admin.close()
    r = redis.Redis(db=REDIS_DB)
    if r.dbsize():
        raise SystemExit(f"Redis db {REDIS_DB} is not empty: someone else uses it (MINGBAI_BENCH_REDIS_DB=…)")
    ch = pika.BlockingConnection(pika.URLParameters(AMQP)).channel()
    ch.queue_delete(AMQP_QUEUE)
    ch.connection.close()


def services_teardown() -> dict:
    import pika
    import psycopg2
    import redis

    out = {}
    try:
        ch = pika.BlockingConnection(pika.URLParameters(AMQP)).channel()
        out["rabbitmq_events"] = ch.queue_declare(AMQP_QUEUE, passive=True).method.message_count
        ch.queue_delete(AMQP_QUEUE)
        ch.connection.close()
    except Exception as e:  # noqa: BLE001
        out["rabbitmq_events"] = f"? ({type(e).__name__})"
    try:
        with psycopg2.connect(PG_ADMIN.rsplit("/", 1)[0] + "/" + PG_DB) as c, c.cursor() as cur:
            cur.execute("SELECT count(*), count(DISTINCT sender_id) FROM events")
            out["rasa_events_rows"], out["rasa_conversations"] = cur.fetchone()
    except Exception as e:  # noqa: BLE001
        out["rasa_events_rows"] = f"? ({type(e).__name__})"
    redis.Redis(db=REDIS_DB).flushdb()
    admin = psycopg2.connect(PG_ADMIN)
    admin.autocommit = True
    with admin.cursor() as c:
        c.execute(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{PG_DB}'")
        c.execute(f"DROP DATABASE IF EXISTS {PG_DB}")
    admin.close()
    return out


class Stack:
    def __init__(self, profile: str, api_url: str):
        from tests.connectors import wxsim

        self.profile = profile
        self.ports = PORTS[profile]
        self.home = make_home()
        env = {k: v for k, v in os.environ.items()
               if not k.startswith("MINGBAI_") and k not in ("DATABASE_URL", "REDIS_URL", "AMQP_URL")}
        env.update({k: v for k, v in wxsim.env(api_url, "").items() if k != "MINGBAI_RASA_URL"})
        env.update(MINGBAI_HOME=str(self.home), MINGBAI_PROFILE=profile, MINGBAI_RETENTION_DAYS="0",
                   MINGBAI_WEB_PORT=str(self.ports["web"]), MINGBAI_RASA_PORT=str(self.ports["rasa"]),
                   MINGBAI_ACTION_PORT=str(self.ports["actions"]), OMP_NUM_THREADS="1")
        if profile == "scale":
            env.update(DATABASE_URL=f"postgresql://root@127.0.0.1:5432/{PG_DB}",
                       REDIS_URL=f"redis://127.0.0.1:6379/{REDIS_DB}", AMQP_URL=AMQP, MINGBAI_AMQP_QUEUE=AMQP_QUEUE)
        self.env = env
        self.proc: Optional[subprocess.Popen] = None
        self.out = self.home / "run.out"

    def start(self, timeout: float = 600) -> float:
        busy = [p for p in self._all_ports() if not free(p)]
        if busy:
            raise SystemExit(f"ports busy: {busy}")
        t0 = time.monotonic()
        # As `make setup` leaves a data directory: the schema and the sample grids (tickets need one).
        for cmd in (["db", "upgrade"], ["grid", "import", "data/grids/sample.yml", "--if-empty"]):
            subprocess.run([MINGBAI, *cmd], cwd=ROOT, env=self.env, check=True, capture_output=True, timeout=300)
        log = open(self.out, "wb")
        self.proc = subprocess.Popen([MINGBAI, "run", "--profile", self.profile, "--timeout", str(int(timeout))],
                                     cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        log.close()
        while time.monotonic() - t0 < timeout + 30:
            text = self.out.read_text(errors="replace")
            if "Ctrl-C" in text:
                return time.monotonic() - t0
            if "✘" in text or self.proc.poll() is not None:
                break
            time.sleep(1)
        self.stop()
        raise SystemExit(f"{self.profile} stack did not start:\n{self.out.read_text(errors='replace')[-3000:]}")

    def _all_ports(self) -> list[int]:
        p = self.ports
        if self.profile == "scale":
            return [p["web"], p["web"] + 1, p["web"] + 2, p["rasa"], p["rasa"] + 1, p["actions"]]
        return [p["web"], p["rasa"], p["actions"]]

    def pids(self) -> list[int]:
        return tree(self.proc.pid) if self.proc and self.proc.poll() is None else []

    def groups(self) -> dict[str, list[int]]:
        """The stack's processes by supervised process (rasa, rasa-2, actions, web, web-2; the
        runner itself as `supervisor`), each with its own children."""
        try:
            st = json.loads((self.home / "run-state.json").read_text(encoding="utf-8"))
            top = {v["pid"]: k for k, v in (st.get("processes") or {}).items() if v.get("pid")}
        except (OSError, ValueError):
            top = {}
        kids = _kids()
        out = {"supervisor": [self.proc.pid]} if self.proc else {}
        for pid, name in top.items():
            group, todo = [], [pid]
            while todo:
                q = todo.pop()
                group.append(q)
                todo += kids.get(q, [])
            out[name] = group
        return out

    def restarts(self) -> dict:
        try:
            st = json.loads((self.home / "run-state.json").read_text(encoding="utf-8"))
            return {k: v.get("restarts", 0) for k, v in (st.get("processes") or {}).items()}
        except (OSError, ValueError):
            return {}

    def stop(self) -> None:
        if not self.proc:
            return
        pids = self.pids()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                pass
        for p in pids:  # anything left behind (by pid, only this stack's own processes)
            try:
                os.kill(p, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass

    def cleanup(self) -> None:
        shutil.rmtree(self.home, ignore_errors=True)


# ---------------------------------------------------------------------------------------------


def run_profile(profile: str, args, questions: list[str]) -> dict:
    from tests.connectors import wxsim
    from tests.connectors.fake_wechat import FakeWeChatAPI

    api = FakeWeChatAPI(wxsim.APPID, wxsim.SECRET, wxsim.CORPID, wxsim.CORPSECRET)
    inbox = Inbox()
    api.sent = inbox
    api_url = api.start()
    if profile == "scale":
        services_setup()
    stack = Stack(profile, api_url)
    result: dict = {"profile": profile}
    try:
        print(f"[{profile}] starting the stack (load {loadavg()}) …", flush=True)
        result["start_s"] = round(stack.start(), 1)
        print(f"[{profile}] ready in {result['start_s']} s", flush=True)
        base = f"http://127.0.0.1:{stack.ports['web']}"
        rng = random.Random(args.seed)
        ids = Ids()
        think = tuple(float(x) for x in args.think.split(","))
        residents = [Resident(i, profile, base, inbox, ids, random.Random(rng.random()), questions, think,
                              args.answer_wait) for i in range(args.residents)]
        # Warm-up, not measured: every resident consents and greets (the greeting reaches Rasa).
        warm_t0 = time.perf_counter()
        ths = [threading.Thread(target=lambda r=r: (r.send("同意", "warm", record=False),
                                                   r.send("你好", "warm", record=False))) for r in residents]
        for i, t in enumerate(ths):
            t.start()
            time.sleep(0.05)
        for t in ths:
            t.join()
        result["warmup_s"] = round(time.perf_counter() - warm_t0, 1)
        time.sleep(2)
        pids0 = stack.pids()
        cpu0 = cpu_s(pids0)
        groups0 = {k: sum(cpu_s(v).values()) for k, v in stack.groups().items()}
        pg0 = cpu_s(pg_backends(PG_DB), children=False) if profile == "scale" else {}
        shared0 = cpu_s(pids_named("redis-server") + pids_named("beam.smp"), children=False)
        self0 = os.times()
        load0 = loadavg()
        t_start = time.perf_counter()
        stop = t_start + args.duration
        print(f"[{profile}] {args.residents} residents for {args.duration:.0f} s (load {load0}) …", flush=True)
        ths = [threading.Thread(target=r.run, args=(stop,), daemon=True) for r in residents]
        for t in ths:
            t.start()
            time.sleep(min(0.2, args.duration / 10 / max(1, len(ths))))  # staggered arrivals
        for t in ths:
            t.join(timeout=args.duration + args.answer_wait + 120)
        t_done = time.perf_counter()
        pids1 = stack.pids()
        cpu1 = cpu_s(pids1)
        rss = rss_mb(pids1)
        groups = stack.groups()
        per_proc_rss = {k: round(rss_mb(v)) for k, v in groups.items()}
        per_proc_cpu = {k: round(sum(cpu_s(v).values()) - groups0.get(k, 0.0), 1) for k, v in groups.items()}
        pg_pids = pg_backends(PG_DB) if profile == "scale" else []
        pg1 = cpu_s(pg_pids, children=False)
        shared1 = cpu_s(pids_named("redis-server") + pids_named("beam.smp"), children=False)
        self1 = os.times()
        result["restarts"] = stack.restarts()
        msgs = [m for r in residents for m in r.msgs]
        # A process gone since (a restart) was reaped into its parent's cutime: totals subtract.
        stack_cpu = sum(cpu1.values()) - sum(cpu0.values())
        pg_cpu = sum(v - pg0.get(p, 0.0) for p, v in pg1.items())
        shared_cpu = sum(v - shared0.get(p, 0.0) for p, v in shared1.items())
        result.update(summarise(msgs, args.duration, t_done - t_start))
        turns = max(1, result["sent"])
        result.update({
            "stack_cpu_s": round(stack_cpu, 1), "cpu_ms_per_turn": round(1000 * stack_cpu / turns, 1),
            "pg_backends_cpu_ms_per_turn": round(1000 * pg_cpu / turns, 1) if profile == "scale" else None,
            "redis_rabbitmq_cpu_ms_per_turn": round(1000 * shared_cpu / turns, 1),
            "bench_cpu_ms_per_turn": round(1000 * ((self1.user + self1.system) - (self0.user + self0.system)) / turns, 1),
            "rss_mb": round(rss), "rss_by_process": per_proc_rss, "cpu_s_by_process": per_proc_cpu,
            "pg_backends_pss_mb": round(pss_mb(pg_pids)) if profile == "scale" else None,
            "processes": len(pids1), "new_residents": sum(r.new_residents for r in residents),
            "load_before": load0, "load_after": loadavg(),
        })
        print(f"[{profile}] {json.dumps({k: v for k, v in result.items() if k != 'kinds'}, ensure_ascii=False)}",
              flush=True)
    finally:
        stack.stop()
        if profile == "scale":
            try:
                result["services"] = services_teardown()
            except Exception as e:  # noqa: BLE001
                result["services"] = {"error": type(e).__name__}
        api.stop()
        if args.keep:
            print(f"[{profile}] kept {stack.home}")
        else:
            stack.cleanup()
    return result


def summarise(msgs: list[Msg], duration: float, wall: float) -> dict:
    answered = [m for m in msgs if m.answered]
    passive = [m for m in msgs if m.passive]
    lat_passive = [m.passive[0][0] for m in passive]
    lat_answer = [m.answer_s for m in answered]
    first_http = [m.http_s[0] for m in msgs if m.http_s and m.http_s[0] is not None]
    lost = [m for m in msgs if not m.answered]
    kinds: dict[str, dict] = {}
    for m in msgs:
        k = kinds.setdefault(m.kind, {"sent": 0, "answered": 0, "p50_ms": None})
        k["sent"] += 1
        k["answered"] += int(m.answered)
    ms = lambda x: round(1000 * x) if x == x else None  # noqa: E731 — NaN → None
    for k, v in kinds.items():
        v["p50_ms"] = ms(pct([m.answer_s for m in msgs if m.kind == k and m.answered], 50))
    return {
        "sent": len(msgs), "answered": len(answered), "answered_passive": len(passive),
        "answered_async": len(answered) - len(passive), "duplicated": sum(m.duplicated for m in msgs),
        "lost": len(lost), "lost_examples": [(m.kind, m.text[:30], m.errors[:2], m.timeouts, m.openid, m.before) for m in lost[:8]],
        "handed_to_staff": sum(bool(getattr(m, "handed_over", False)) for m in msgs),
        "retries": sum(m.attempts - 1 for m in msgs), "timeouts": sum(m.timeouts for m in msgs),
        "errors": sum(len(m.errors) for m in msgs),
        "throughput_per_s": round(len(answered) / duration, 2), "wall_s": round(wall, 1),
        "passive_p50_ms": ms(pct(lat_passive, 50)), "passive_p95_ms": ms(pct(lat_passive, 95)),
        "passive_p99_ms": ms(pct(lat_passive, 99)),
        "answer_p50_ms": ms(pct(lat_answer, 50)), "answer_p95_ms": ms(pct(lat_answer, 95)),
        "answer_p99_ms": ms(pct(lat_answer, 99)),
        "http_first_p50_ms": ms(pct(first_http, 50)), "http_first_p95_ms": ms(pct(first_http, 95)),
        "kinds": kinds,
    }


def machine() -> str:
    """The machine line every benchmark uses (bench/run_all.py), without the Python version."""
    from bench.run_all import machine as full

    return full().rsplit(", Python", 1)[0]


def write(results: list[dict], args, out_md: Path) -> None:
    out_md.parent.mkdir(parents=True, exist_ok=True)
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    data = {"date": when, "machine": machine(), "args": vars(args), "profiles": results}
    out_md.with_suffix(".json").write_text(json.dumps(data, ensure_ascii=False, indent=1), encoding="utf-8")
    cols = [("sent", "sent"), ("answered", "answered"), ("… passively", "answered_passive"),
            ("… via customer-service API", "answered_async"), ("duplicated", "duplicated"), ("lost", "lost"),
            ("handed to staff (转人工, unsure answer, emergency; the resident then leaves)", "handed_to_staff"),
            ("MsgId retries (no answer in 5 s)", "retries"), ("answers / s", "throughput_per_s"),
            ("passive reply p50 ms", "passive_p50_ms"), ("passive reply p95 ms", "passive_p95_ms"),
            ("passive reply p99 ms", "passive_p99_ms"), ("answer (either path) p50 ms", "answer_p50_ms"),
            ("answer p95 ms", "answer_p95_ms"), ("answer p99 ms", "answer_p99_ms"),
            ("stack CPU ms / turn", "cpu_ms_per_turn"), ("PostgreSQL backends CPU ms / turn", "pg_backends_cpu_ms_per_turn"),
            ("Redis + RabbitMQ CPU ms / turn (whole servers)", "redis_rabbitmq_cpu_ms_per_turn"),
            ("load generator CPU ms / turn", "bench_cpu_ms_per_turn"),
            ("stack RSS MB (all processes)", "rss_mb"), ("PostgreSQL backends PSS MB", "pg_backends_pss_mb"),
            ("processes", "processes"), ("start to ready s", "start_s"), ("restarts", "restarts"),
            ("load average before → after", "load")]
    names_ = [r["profile"] for r in results]
    lines = [
        "# Load: 50 residents over WeChat safe mode, embedded and scale profiles",
        "",
        f"Run: {when} · `flock /tmp/mingbai-bench.lock .venv-app/bin/python bench/bench_load.py "
        f"--duration {args.duration:.0f} --residents {args.residents} --think {args.think}`",
        "",
        f"Machine: {machine()}; shared with other work (load averages below). Everything on loopback.",
        "",
        "Stack: the real `mingbai run` (Rasa 3.6 with the trained model, the action server, the web app, "
        "the knowledge base) in a temporary MINGBAI_HOME. **embedded**: one web process (waitress), one Rasa, "
        "SQLite, no Redis. **scale** (`--profile scale`): two web workers sharing one listening socket, two "
        "Rasa replicas (SQL tracker store on PostgreSQL, RedisLockStore), Rasa events to RabbitMQ, the app's "
        "tables on PostgreSQL, dedup / rate limits / form hints on Redis. The WeChat API is a fake server "
        "on loopback that receives the customer-service messages.",
        "",
        f"Load: {args.residents} residents at once for {args.duration:.0f} s, closed loop: send, wait for the answer, "
        f"think {args.think.replace(',', '–')} s, send again. Mix per session: legal questions (dev splits of "
        "bench/corpus, 1–3 per session, sometimes 谢谢 / 有帮助) 55 %, acts (你好 / 查进度 / 谢谢 / 你是机器人吗, then "
        "a question) 12 %, long consultations (a ~200-character story and 1–3 follow-ups) 10 %, intake "
        "starts answered step by step (30 % cancelled) 13 %, 转人工 10 %. After any handoff (转人工, an answer "
        "the bot is unsure of, an emergency) the bot is silent for that resident by design, so the resident "
        "leaves and a new one takes the slot (privacy notice, 「同意」). WeChat's contract: no HTTP answer within 5 s → the "
        "same request (same MsgId) again, at most twice. Warm-up (not measured): every resident consents "
        "and greets once.",
        "",
        "| | " + " | ".join(names_) + " |",
        "|---|" + "---:|" * len(names_),
    ]
    for label, key in cols:
        vals = []
        for r in results:
            if key == "load":
                vals.append(f"{r.get('load_before')} → {r.get('load_after')}")
            elif key == "restarts":
                vals.append(str(sum((r.get("restarts") or {}).values())))
            else:
                v = r.get(key)
                vals.append("–" if v is None else str(v))
        lines.append(f"| {label} | " + " | ".join(vals) + " |")
    lines += ["", "Per kind of message (sent / answered / answer p50 ms):", ""]
    kinds = sorted({k for r in results for k in (r.get("kinds") or {})})
    lines += ["| kind | " + " | ".join(names_) + " |", "|---|" + "---:|" * len(names_)]
    for k in kinds:
        row = []
        for r in results:
            v = (r.get("kinds") or {}).get(k)
            row.append(f"{v['sent']} / {v['answered']} / {v['p50_ms']}" if v else "–")
        lines.append(f"| {k} | " + " | ".join(row) + " |")
    lines += ["", "By process (CPU s over the window / RSS MB at the end):", ""]
    for r in results:
        cpu, rss = r.get("cpu_s_by_process") or {}, r.get("rss_by_process") or {}
        lines.append(f"- {r['profile']}: " + ", ".join(f"{k} {cpu.get(k, '?')} s / {rss.get(k, '?')} MB" for k in rss))
    for r in results:
        svc = r.get("services")
        if svc:
            lines += ["", f"{r['profile']}: Rasa tracker rows in PostgreSQL {svc.get('rasa_events_rows')} "
                          f"({svc.get('rasa_conversations')} conversations); events on the RabbitMQ queue "
                          f"{svc.get('rabbitmq_events')}."]
        if r.get("lost_examples"):
            lines += ["", f"{r['profile']}: lost examples (kind, text, errors, timeouts, resident, previous message → its answer): {r['lost_examples']}"]
    lines += [
        "",
        "Definitions: *answered* — a passive reply, or ≥ 1 customer-service message before the resident's next "
        "message (waiting up to "
        f"{args.answer_wait:.0f} s); *duplicated* — a second passive reply or the same text delivered twice; *lost* — "
        "neither. *Passive reply* latency: from the first try to the passive reply (retries included); "
        "*answer*: to the first text by either path. *CPU per turn*: utime+stime of every process under "
        "`mingbai run` (reaped children included) over the measured window ÷ messages sent; the PostgreSQL "
        "backends of the scale profile's database are shown apart, Redis and RabbitMQ as whole-server deltas "
        "(shared with other users of this machine). *RSS*: the sum over the stack's processes at the end "
        "(shared pages counted in each process).",
        "",
    ]
    out_md.write_text("\n".join(lines), encoding="utf-8")
    print(f"wrote {out_md} and {out_md.with_suffix('.json')}")


def main(argv: Optional[list[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--duration", type=float, default=300, help="measured seconds per profile (default 300)")
    ap.add_argument("--residents", type=int, default=50)
    ap.add_argument("--profiles", default="embedded,scale")
    ap.add_argument("--think", default="5,20", help="seconds between a resident's answer and next message: lo,hi")
    ap.add_argument("--answer-wait", type=float, default=30, help="how long a resident waits for an answer")
    ap.add_argument("--seed", type=int, default=13)
    ap.add_argument("--keep", action="store_true", help="keep the temporary MINGBAI_HOMEs (logs)")
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "load.md"))
    args = ap.parse_args(argv)
    for k in ("DATABASE_URL", "REDIS_URL", "AMQP_URL"):
        os.environ.pop(k, None)
    # The bench process itself only imports the router and the rules (question filter).
    os.environ["MINGBAI_HOME"] = tempfile.mkdtemp(prefix="mingbai-load-gen-")
    questions = load_questions()
    print(f"{len(questions)} legal questions in the mix", flush=True)
    results = [run_profile(p.strip(), args, questions) for p in args.profiles.split(",") if p.strip()]
    write(results, args, Path(args.out))
    shutil.rmtree(os.environ["MINGBAI_HOME"], ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
