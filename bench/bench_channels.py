"""WeChat webhook latency at 1, 20 and 50 concurrent residents on loopback, plus the web chat's
time to first answer. Writes bench/results/channels.md.

Setup (all on 127.0.0.1): the web app under waitress (16 threads, as `mingbai serve-web`), SQLite
in a fresh data dir, safe-mode (AES) callbacks built with wechatpy's crypto exactly as WeChat sends
them, replies decrypted and checked. The bot is a Rasa-REST-protocol stub answering after
--bot-delay seconds, so the numbers are the channel's own overhead plus that delay.

    .venv-app/bin/python bench/bench_channels.py [--bot-delay 0.2] [--per-resident 6]
"""
from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("OMP_NUM_THREADS", "1")


from bench.stats import pct  # noqa: E402  (ROOT is on sys.path above)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--bot-delay", type=float, default=0.2, help="stub bot think time, seconds")
    ap.add_argument("--levels", default="1,20,50")
    ap.add_argument("--per-resident", type=int, default=6)
    ap.add_argument("--single-count", type=int, default=40, help="messages for the 1-resident level")
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "channels.md"))
    args = ap.parse_args(argv)

    home = tempfile.mkdtemp(prefix="mingbai-bench-")
    os.environ["MINGBAI_HOME"] = home
    os.environ.pop("DATABASE_URL", None)
    os.environ.pop("REDIS_URL", None)

    import requests

    from tests.connectors import wxsim
    from tests.connectors.fake_wechat import FakeWeChatAPI
    from tests.connectors.rasa_stub import RasaStub

    api = FakeWeChatAPI(wxsim.APPID, wxsim.SECRET, wxsim.CORPID, wxsim.CORPSECRET)
    api_url = api.start()
    rasa = RasaStub()
    rasa.delay_s = args.bot_delay
    rasa_url = rasa.start()
    os.environ.update(wxsim.env(api_url, rasa_url))

    from mingbai.settings import reset_settings_cache

    reset_settings_cache()
    import socket
    import subprocess

    # The web app in its own process (as in production), so the load generator's GIL is not its.
    with socket.socket() as sk:
        sk.bind(("127.0.0.1", 0))
        port = sk.getsockname()[1]
    code = ("import logging; logging.basicConfig(level=logging.ERROR)\n"
            "from tests.connectors.conftest import make_app\n"
            "from waitress import serve\n"
            f"serve(make_app(), host='127.0.0.1', port={port}, threads=16, ident='mingbai')\n")
    server = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, env=dict(os.environ))
    base = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            if requests.get(base + "/healthz", timeout=1, proxies={"http": None}).ok:
                break
        except requests.RequestException:
            time.sleep(0.2)
    else:
        server.kill()
        raise SystemExit("web app did not start")

    from tickets import service

    levels = [int(x) for x in args.levels.split(",")]
    max_res = max(levels)
    for i in range(max_res):
        service.record_consent(f"wechat:o-bench-{i}", True)

    msg_id = [int(time.time() * 1000)]
    lock = threading.Lock()

    def next_id() -> int:
        with lock:
            msg_id[0] += 1
            return msg_id[0]

    def resident(i: int, n: int, lat: list, errs: list) -> None:
        http = requests.Session()
        http.trust_env = False
        openid = f"o-bench-{i}"
        for k in range(n):
            text = f"邻居占用公共走廊怎么办 {i}-{k}"
            cb = wxsim.build(wxsim.text_xml(openid, text, next_id()), "aes")
            t0 = time.perf_counter()
            try:
                r = http.post(base + cb.path, data=cb.body, headers={"Content-Type": "text/xml"}, timeout=30)
                dt = time.perf_counter() - t0
                reply = wxsim.read_reply(r.content, "aes") if r.status_code == 200 else None
                ok = reply is not None and text in (reply.get("Content") or "")
            except Exception as e:  # network errors count as errors
                dt, ok = time.perf_counter() - t0, False
                r = e
            lat.append(dt)
            if not ok:
                errs.append(repr(getattr(r, "status_code", r))[:80])

    rows = []
    for level in levels:
        n = args.single_count if level == 1 else args.per_resident
        lat: list[float] = []
        errs: list[str] = []
        # warm-up, not measured
        resident(0, 2, [], [])
        t0 = time.perf_counter()
        with ThreadPoolExecutor(level) as ex:
            for f in [ex.submit(resident, i, n, lat, errs) for i in range(level)]:
                f.result()
        wall = time.perf_counter() - t0
        rows.append((level, len(lat), pct(lat, 50), pct(lat, 95), pct(lat, 99), max(lat), len(errs),
                     len(lat) / wall))
        print(f"{level:>3} residents: n={len(lat)} p50={pct(lat, 50) * 1000:.0f}ms p95={pct(lat, 95) * 1000:.0f}ms "
              f"p99={pct(lat, 99) * 1000:.0f}ms max={max(lat) * 1000:.0f}ms errors={len(errs)} {errs[:3]}",
              flush=True)

    # Web chat: time to first answer (a new visitor: page, first message → notice; then consent →
    # the answer to the first question).
    first, answer = [], []
    for i in range(10):
        http = requests.Session()
        http.trust_env = False
        t0 = time.perf_counter()
        http.get(base + "/chat", timeout=10)
        r = http.post(base + "/chat/api/send", json={"text": f"欠钱不还怎么办{i}"}, timeout=30)
        first.append(time.perf_counter() - t0)
        assert r.ok and r.json()["replies"]
        t1 = time.perf_counter()
        r = http.post(base + "/chat/api/send", json={"text": "同意"}, timeout=30)
        answer.append(time.perf_counter() - t1)
        assert any(f"欠钱不还怎么办{i}" in t for t in r.json()["replies"])

    server.terminate()
    server.wait(timeout=30)

    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    lines = [
        "# Channels benchmark (WeChat webhook, web chat)",
        "",
        f"Run: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} · `bench/bench_channels.py "
        f"--bot-delay {args.bot_delay} --per-resident {args.per_resident}`",
        "",
        f"Machine: {platform.machine()}, {os.cpu_count()} CPU cores (shared with other work), Python "
        f"{platform.python_version()}; web app under waitress (16 threads) in its own process on loopback "
        "(the load generator, Rasa stub and fake WeChat API share a second process); SQLite in a fresh "
        "data dir; safe-mode (AES) callbacks built with wechatpy's crypto, replies decrypted and checked.",
        f"Bot: a Rasa REST-webhook stub answering after {args.bot_delay * 1000:.0f} ms, so latency = "
        "channel overhead (signature, decrypt, dedup row, consent/handoff checks, transcript writes, "
        "encrypt) + that delay. An error is any non-200, undecryptable or wrong reply.",
        "",
        "## WeChat webhook latency",
        "",
        "| concurrent residents | requests | p50 ms | p95 ms | p99 ms | max ms | errors | req/s |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for level, n, p50, p95, p99, mx, e, rps in rows:
        lines.append(f"| {level} | {n} | {p50 * 1000:.0f} | {p95 * 1000:.0f} | {p99 * 1000:.0f} | "
                     f"{mx * 1000:.0f} | {e} | {rps:.1f} |")
    lines += [
        "",
        "WeChat's deadline is 5 s; an answer not ready within 4 s would be acknowledged with `success` and "
        "sent through the customer-service API instead. Such a fallback counts as an error in this table "
        "(the passive reply did not carry the answer), so errors = 0 means every answer went back passively.",
        "",
        "## Web chat: time to first answer (10 new visitors)",
        "",
        "| step | median ms | max ms |",
        "|---|---:|---:|",
        f"| open /chat + first message → privacy notice | {statistics.median(first) * 1000:.0f} | "
        f"{max(first) * 1000:.0f} |",
        f"| “同意” → answer to the first question | {statistics.median(answer) * 1000:.0f} | "
        f"{max(answer) * 1000:.0f} |",
        "",
    ]
    out.write_text("\n".join(lines), encoding="utf-8")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
