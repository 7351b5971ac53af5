"""Re-index without downtime, under load: a full console re-index of the shipped knowledge base
(knowledge.reindex through POST /console/kb/index/start, as the 「重建索引」 button does) while N
client threads keep asking POST /api/v1/ask on the same web process.

Usage: flock /tmp/mingbai-bench.lock .venv-app/bin/python bench/bench_reindex.py [--home var] [--clients 4]
       [--before 20] [--after 5] [--no-idle]
Writes bench/results/reindex.md (and .json).

What runs: a temporary MINGBAI_HOME with a copy of the shipped index (`make setup`'s
HOME/index) and of the vector cache (so, like any re-index after setup, only changed texts are
encoded), a fresh SQLite database seeded from knowledge/qa/*.yml, and the real web app
(`mingbai serve-web`, waitress) on a free port. The API rate limit is off (one installation token
would otherwise be held to 120 questions a minute; switched off on the running Limiter, see
SERVE_WEB). One entry is published just before the
re-index; after the switch its question must be answered with it.

Phases, the same N closed-loop client threads throughout (no think time; every question text is
asked once, drawn from one shuffled pool of eval/knowledge questions and shipped paraphrases, so
the query-vector LRU never helps):
  before — the old index, --before seconds;
  during — from the start request until the status says done (the switch);
  after  — --after seconds on the new index.
A failed answer: an HTTP error or refused connection, an empty answer, or knowledge.ask's
"系统暂时出了点问题" fallback. Must be 0. Then (unless --no-idle) the same re-index again with no
clients, for the build time alone.
"""
from __future__ import annotations

import argparse
import http.client
import http.cookiejar
import json
import os
import random
import re
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
RESULTS = ROOT / "bench" / "results"
ERROR_TEXT = "系统暂时出了点问题"  # knowledge.answer.BAD_INPUT["error"]
MARK_ID = "bench-reindex-001"
MARK_Q = "试用期被辞退，公司说试用期不用给任何补偿，这样对吗？"
MARK = dict(domain="劳动纠纷", subtype="劳动合同", kind="qa", question=MARK_Q,
            paraphrases="试用期把我辞了说不用赔\n试用期被开除有没有补偿",
            answer="试用期里公司要辞退您，必须证明您不符合录用条件并说明理由；不能证明的，属于违法解除，"
                   "您可以要求继续履行合同或者要求赔偿金。先协商，不行就申请劳动仲裁。",
            steps="保留录用通知、劳动合同和辞退通知\n向劳动争议仲裁委员会申请仲裁",
            citations="劳动合同法第二十一条")
PW = "bench-password-1"


def _py() -> str:
    v = ROOT / ".venv-app" / "bin" / "python"
    return str(v) if v.exists() else sys.executable


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _pct(xs: list[float], p: float) -> float | None:
    if not xs:
        return None
    xs = sorted(xs)
    k = (len(xs) - 1) * p / 100
    lo, hi = int(k), min(int(k) + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)


def _rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def questions(seed: int = 11) -> list[str]:
    from knowledge.qa import load_all

    pool = []
    for f in sorted((ROOT / "eval" / "knowledge").glob("*.jsonl")):
        for line in f.read_text(encoding="utf-8").splitlines():
            if line.strip():
                t = json.loads(line).get("text")
                if t:
                    pool.append(t)
    for e in load_all():
        pool += list(e.paraphrases)
    pool = [q for q in dict.fromkeys(pool) if q != MARK_Q and 2 <= len(q) <= 200]
    random.Random(seed).shuffle(pool)
    return pool


# ----------------------------------------------------------------------------- the home and the server

def prepare(src_home: Path, home: Path) -> None:
    """A copy of the shipped index and vector cache; a database seeded from knowledge/qa."""
    if not (src_home / "index" / "meta.json").exists():
        raise SystemExit(f"no shipped index in {src_home}/index: run `make setup` first")
    shutil.copytree(src_home / "index", home / "index")
    cache = src_home / "cache" / "kb-vectors.sqlite"
    if cache.exists():
        (home / "cache").mkdir(parents=True)
        shutil.copy(cache, home / "cache" / "kb-vectors.sqlite")
    code = f"""
from mingbai.db import init_db
from knowledge import store
from tickets.users import create_user
init_db()
n = store.ensure_seeded()
create_user("bench-admin", {PW!r}, "管理员", None, display_name="bench")
create_user("bench-author", {PW!r}, "审核员", None, display_name="author")
create_user("bench-review", {PW!r}, "审核员", None, display_name="review")
store.save({MARK_ID!r}, store.form_to_data({MARK!r}), "bench-author")
store.submit({MARK_ID!r}, "bench-author")
store.publish({MARK_ID!r}, "bench-review", golden=False)  # published just before the re-index
print(n)
"""
    out = subprocess.run([_py(), "-c", code], env=_env(home), cwd=ROOT, capture_output=True, text=True)
    if out.returncode:
        raise SystemExit(out.stderr[-3000:])


def _env(home: Path, **extra) -> dict:
    env = dict(os.environ, MINGBAI_HOME=str(home), OMP_NUM_THREADS="1",
               MINGBAI_MODEL_PATH=str(os.environ.get("MINGBAI_MODEL_PATH") or ROOT / "var" / "models" / "e5-small"),
               **extra)
    for k in ("DATABASE_URL", "REDIS_URL", "AMQP_URL", "MINGBAI_KB_VECTOR_CACHE", "MINGBAI_INDEX_PATH",
              "MINGBAI_RATE_LIMITS", "MINGBAI_PROFILE"):
        env.pop(k, None)
    return env


# `mingbai serve-web` itself (mingbai.web.main: warm-up, SLA scheduler, waitress, 48 threads) with the
# rate limiter switched off once installed: one installation token gets 120 questions a minute, and
# MINGBAI_RATE_LIMITS=false is not accepted by create_app at every revision (flask_limiter asserts
# on a disabled Limiter's storage).
SERVE_WEB = """
import sys
import mingbai.web as web
_install = web._install_rate_limits
def _install_then_off(app, settings):
    _install(app, settings)
    for limiter in app.extensions.get("limiter", ()):
        limiter.enabled = False
web._install_rate_limits = _install_then_off
sys.exit(web.main(sys.argv[1:]))
"""


def start_server(home: Path, port: int, token: str) -> subprocess.Popen:
    log = open(home / "bench-web.log", "wb")
    p = subprocess.Popen([_py(), "-c", SERVE_WEB, "--host", "127.0.0.1", "--port", str(port)], cwd=ROOT,
                         env=_env(home, MINGBAI_API_TOKEN=token), stdout=log, stderr=subprocess.STDOUT,
                         start_new_session=True)
    end = time.time() + 240
    while time.time() < end:
        if p.poll() is not None:
            raise SystemExit(f"web server exited: see {home / 'bench-web.log'}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as r:
                if r.status == 200:
                    return p
        except OSError:
            time.sleep(0.5)
    p.terminate()
    raise SystemExit("web server did not come up in 240 s")


class Console:
    """A logged-in console session (cookies + CSRF), as the browser has."""

    def __init__(self, base: str, user: str):
        self.base = base
        self.op = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
        body = urllib.parse.urlencode({"username": user, "password": PW}).encode()
        self.op.open(f"{base}/console/login", body, timeout=30).read()
        html = self.op.open(f"{base}/console/kb/index", timeout=30).read().decode()
        m = re.search(r'name="csrf" value="([^"]+)"', html)
        if not m:
            raise SystemExit("console login failed (no CSRF token on the re-index page)")
        self.csrf = m.group(1)

    def start_reindex(self) -> dict:
        req = urllib.request.Request(f"{self.base}/console/kb/index/start",
                                     data=urllib.parse.urlencode({"csrf": self.csrf}).encode(),
                                     headers={"Accept": "application/json"})
        return json.loads(self.op.open(req, timeout=60).read())

    def status(self) -> dict:
        return json.loads(self.op.open(f"{self.base}/console/kb/index/status.json", timeout=60).read())


# ----------------------------------------------------------------------------- the clients

class Clients:
    def __init__(self, port: int, token: str, pool: list[str], n: int):
        self.port, self.token, self.n = port, token, n
        self.pool, self.lock = iter(pool), threading.Lock()
        self.stop = threading.Event()
        self.log: list[dict] = []
        self.threads = [threading.Thread(target=self._run, daemon=True, name=f"client-{i}") for i in range(n)]

    def _next(self) -> str | None:
        with self.lock:
            return next(self.pool, None)

    def _run(self) -> None:
        conn = None
        while not self.stop.is_set():
            q = self._next()
            if q is None:
                break
            body = json.dumps({"text": q}).encode()
            t0 = time.time()
            p0 = time.perf_counter()
            code, ans, err = 0, "", ""
            try:
                if conn is None:
                    conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
                conn.request("POST", "/api/v1/ask", body, {"Content-Type": "application/json",
                                                            "Authorization": f"Bearer {self.token}"})
                r = conn.getresponse()
                raw = r.read()
                code = r.status
                if code == 200:
                    d = json.loads(raw)
                    ans = d.get("answer") or ""
                    eid = d.get("entry_id")
                else:
                    eid = None
            except Exception as e:  # refused / reset / timeout
                err, eid = repr(e)[:200], None
                conn = None
            ms = (time.perf_counter() - p0) * 1000
            ok = code == 200 and bool(ans.strip()) and ERROR_TEXT not in ans
            self.log.append({"start": t0, "end": time.time(), "ms": ms, "ok": ok, "code": code, "err": err,
                             "entry": eid, "cited": None})

    def start(self) -> None:
        for t in self.threads:
            t.start()

    def finish(self) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(120)


def ask_once(port: int, token: str, text: str) -> dict:
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    c.request("POST", "/api/v1/ask", json.dumps({"text": text}).encode(),
              {"Content-Type": "application/json", "Authorization": f"Bearer {token}"})
    r = c.getresponse()
    return json.loads(r.read()) if r.status == 200 else {"status": r.status}


def phase_stats(rows: list[dict], seconds: float) -> dict:
    ms = [r["ms"] for r in rows]
    return {"answers": len(rows), "failed": sum(not r["ok"] for r in rows), "seconds": round(seconds, 1),
            "per_s": round(len(rows) / seconds, 1) if seconds > 0 else None,
            "p50_ms": _r(_pct(ms, 50)), "p95_ms": _r(_pct(ms, 95)), "max_ms": _r(max(ms) if ms else None)}


def _r(x):
    return None if x is None else round(x, 1)


def reindex(console: Console, pid: int) -> dict:
    """Start through the console, follow the status like the progress bar does (every 0.5 s)."""
    t0 = time.time()
    st = console.start_reindex()
    if st.get("busy"):
        raise SystemExit("a re-index was already running")
    stages, rss = {}, []
    while True:
        st = console.status()
        if st.get("stage") and st["stage"] not in stages and st["state"] == "running":
            stages[st["stage"]] = round(time.time() - t0, 1)
        m = _rss_mb(pid)
        if m:
            rss.append(m)
        if st["state"] != "running":
            break
        if time.time() - t0 > 3600:
            raise SystemExit("re-index did not finish in an hour")
        time.sleep(0.5)
    t1 = time.time()
    if st["state"] != "done":
        raise SystemExit(f"re-index failed: {st.get('error')}")
    return {"t0": t0, "t1": t1, "wall_s": round(t1 - t0, 1), "server_s": st.get("seconds"),
            "entries": st.get("entries"), "dir": st.get("dir"), "stages": stages,
            "rss_max_mb": round(max(rss)) if rss else None}


# ----------------------------------------------------------------------------- main

def run(args) -> dict:
    from run_all import machine  # bench/run_all.py

    tmp = Path(tempfile.mkdtemp(prefix="mingbai-bench-reindex-"))
    home = tmp / "home"
    home.mkdir()
    token = secrets.token_urlsafe(24)
    port = _free_port()
    res: dict = {"date": time.strftime("%Y-%m-%d %H:%M"), "machine": machine(), "clients": args.clients,
                 "load_before": [round(x, 2) for x in os.getloadavg()]}
    srv = None
    try:
        t = time.time()
        prepare(args.home, home)
        res["prepare_s"] = round(time.time() - t, 1)
        build = json.loads((home / "index" / "meta.json").read_text(encoding="utf-8")).get("build") or {}
        res["shipped_index"] = {"articles": build.get("ingest", {}).get("articles"),
                                "article_vectors": build.get("dense_articles", {}).get("articles_dense"),
                                "qa_entries": build.get("qa", {}).get("entries")}
        t = time.time()
        srv = start_server(home, port, token)
        res["server_start_s"] = round(time.time() - t, 1)
        old = ask_once(port, token, MARK_Q)
        assert old.get("answer") and old.get("entry_id") != MARK_ID, old
        pool = questions()
        for q in pool[-20:]:  # warm-up (not measured, not reused)
            ask_once(port, token, q)
        pool = pool[:-20]
        console = Console(f"http://127.0.0.1:{port}", "bench-admin")
        res["rss_before_mb"] = round(_rss_mb(srv.pid) or 0)

        cl = Clients(port, token, pool, args.clients)
        t_start = time.time()
        cl.start()
        time.sleep(args.before)
        ri = reindex(console, srv.pid)
        time.sleep(args.after)
        cl.finish()
        t_end = time.time()
        log = cl.log
        before = [r for r in log if r["end"] <= ri["t0"]]
        during = [r for r in log if r["start"] >= ri["t0"] and r["end"] <= ri["t1"]]
        straddle = [r for r in log if r["start"] < ri["t0"] < r["end"] or r["start"] < ri["t1"] < r["end"]]
        after = [r for r in log if r["start"] >= ri["t1"]]
        res["phases"] = {"before": phase_stats(before, ri["t0"] - t_start),
                         "during": phase_stats(during, ri["t1"] - ri["t0"]),
                         "after": phase_stats(after, t_end - ri["t1"])}
        res["straddling"] = len(straddle)
        res["answers_total"] = len(log)
        res["failed_total"] = sum(not r["ok"] for r in log)
        res["failures"] = [r for r in log if not r["ok"]][:5]
        res["pool_exhausted"] = len(log) >= len(pool)
        res["reindex"] = {k: v for k, v in ri.items() if k not in ("t0", "t1")}
        new = ask_once(port, token, MARK_Q)
        res["new_entry_answered"] = new.get("entry_id") == MARK_ID
        res["rss_after_mb"] = round(_rss_mb(srv.pid) or 0)
        if not args.no_idle:
            time.sleep(2)
            idle = reindex(console, srv.pid)
            res["reindex_idle"] = {k: v for k, v in idle.items() if k not in ("t0", "t1")}
            res["rss_idle_after_mb"] = round(_rss_mb(srv.pid) or 0)
        res["load_after"] = [round(x, 2) for x in os.getloadavg()]
    finally:
        if srv is not None:
            srv.terminate()
            try:
                srv.wait(30)
            except subprocess.TimeoutExpired:
                srv.kill()
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            print(f"kept {tmp}")
    return res


def markdown(res: dict) -> str:
    ph, ri = res["phases"], res["reindex"]
    idle = res.get("reindex_idle")
    si = res["shipped_index"]
    lines = [
        "## Re-index without downtime",
        "",
        f"A full console re-index of the shipped knowledge base ({si['articles']:,} articles, "
        f"{si['article_vectors']:,} with vectors; {ri['entries']:,} Q&A entries served from the database: "
        f"the shipped {si['qa_entries']:,} seeded from knowledge/qa + one published just before) started with "
        "`POST /console/kb/index/start` (the 「重建索引」 button) on a running `mingbai serve-web` (API rate limit off), "
        f"while {res['clients']} client threads keep asking `POST /api/v1/ask` on the same process, back to back, every "
        "question a different text (eval questions and shipped paraphrases, shuffled: no query-cache hits). "
        "The vector cache is a copy of `make setup`'s, so only changed texts are encoded. "
        f"`bench/bench_reindex.py`; {res['date']}; {res['machine']}.",
        "",
        "| | re-index | answers | failed | answers/s | ask p50 | ask p95 | max |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, label in (("before", "before (old index)"), ("during", "**during the re-index**"),
                        ("after", "after the switch (new index)")):
        p = ph[name]
        took = f"**{ri['server_s']} s**" if name == "during" else ""
        lines.append(f"| {label} | {took} | {p['answers']} | {p['failed']} | {p['per_s']} | {p['p50_ms']} ms | "
                     f"{p['p95_ms']} ms | {p['max_ms']} ms |")
    lines += [
        "",
        f"- Failed answers over the whole run: **{res['failed_total']}** of {res['answers_total']} "
        f"(HTTP error, refused connection, empty answer or the 「系统暂时出了点问题」 fallback; "
        f"{res['straddling']} answers straddled the start or the switch and are counted only here).",
        f"- Re-index {ri['server_s']} s in the server (build → load → switch), {ri['wall_s']} s from the button to "
        f"the status saying done; stages first seen (status polled every 0.5 s) at "
        + ", ".join(f"{k.rstrip('…')} {v} s" for k, v in ri["stages"].items()) + ".",
        f"- The entry published just before the re-index: answered by the new index after the switch: "
        f"**{'yes' if res['new_entry_answered'] else 'NO'}**.",
        f"- Web process RSS: {res['rss_before_mb']} MB before, peak {ri['rss_max_mb']} MB during, "
        f"{res['rss_after_mb']} MB after the switch (both indexes are loaded for a moment before it; the old one's "
        "searcher is then dropped from the process cache, but RSS does not fall back).",
    ]
    if idle:
        lines.append(f"- The same re-index again with no clients asking: {idle['server_s']} s in the server "
                     f"({idle['wall_s']} s wall); RSS peak {idle['rss_max_mb']} MB, "
                     f"{res.get('rss_idle_after_mb')} MB after.")
    lines += [
        f"- Load average (1/5/15 min) at the start {res['load_before']}, at the end {res['load_after']} — "
        "the two cores are shared with other engineers' jobs, so absolute times vary between runs.",
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--home", type=Path, default=ROOT / "var", help="where `make setup` built index/ and cache/")
    ap.add_argument("--clients", type=int, default=4)
    ap.add_argument("--before", type=float, default=20.0, help="seconds of asking before the re-index")
    ap.add_argument("--after", type=float, default=5.0, help="seconds of asking after the switch")
    ap.add_argument("--no-idle", action="store_true", help="skip the second re-index without clients")
    ap.add_argument("--keep", action="store_true", help="keep the temporary home")
    ap.add_argument("--no-write", action="store_true", help="print only; do not write bench/results")
    args = ap.parse_args(argv)
    res = run(args)
    md = markdown(res)
    print(md)
    if not args.no_write:
        RESULTS.mkdir(parents=True, exist_ok=True)
        (RESULTS / "reindex.json").write_text(json.dumps(res, ensure_ascii=False, indent=1), encoding="utf-8")
        (RESULTS / "reindex.md").write_text(md, encoding="utf-8")
    ok = res["failed_total"] == 0 and res["new_entry_answered"] and not res["pool_exhausted"]
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
