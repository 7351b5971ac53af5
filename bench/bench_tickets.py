"""Tickets and console: intake → ticket visible in the console, console page load p95, and the
SLA escalation simulation. Writes bench/results/tickets.md.

Setup (all on 127.0.0.1): the real app (mingbai.web.create_app) under waitress with 16 threads as
`mingbai serve-web` runs it, SQLite in a fresh data dir, the sample grids, staff accounts.

1. Intake → console: a resident's intake is POSTed to /api/v1/tickets (what an integration or the
   bot's action does); a real headless Chromium has the staff queue open (/console/), which checks
   for changes every 0.5 s and reloads; we time until the new ticket's row is in the page's DOM.
   Also the server side alone: until GET /console/ (HTTP) first contains the number.
2. Console page load: GET /console/ (queue) and /console/t/<number> (ticket + transcript) with
   300 tickets and 3,000 transcript messages in the database, sequential and 8 concurrent clients.
3. The simulated week (tickets.simulate): 70 cases, controllable clock, every deadline ticked one
   second early and exactly at breach.
4. 平安报表 (tickets.report): a year of synthetic tickets (default 50,000, bulk-inserted) in a
   temporary SQLite database — and in a private schema on PostgreSQL when MINGBAI_TEST_PG (or the
   tests' default postgresql://root@127.0.0.1:5432/test) answers; the yearly and monthly report
   (SQL aggregates) and the rendered page / CSV through the app. Goal: ≤ 2 s.

    .venv-app/bin/python bench/bench_tickets.py [--intakes 20] [--loads 200] [--report-n 50000]
    .venv-app/bin/python bench/bench_tickets.py --only report      # just 4 (writes tickets_report.md)
"""
from __future__ import annotations

import argparse
import os
import shutil
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
os.environ["MINGBAI_SLA_DISABLED"] = "1"


from bench.stats import pct  # noqa: E402  (ROOT is on sys.path above)


def ms(x: float) -> str:
    return f"{x * 1000:.0f} ms"


def fresh_home(name: str) -> Path:
    home = Path(tempfile.mkdtemp(prefix=f"mingbai-bench-{name}-"))
    os.environ["MINGBAI_HOME"] = str(home)
    os.environ.pop("DATABASE_URL", None)
    from mingbai.db import reset_engines
    from mingbai.settings import reset_settings_cache

    reset_settings_cache()
    reset_engines()
    return home


def serve(app):
    from waitress.server import create_server

    srv = create_server(app, host="127.0.0.1", port=0, threads=16, channel_timeout=120)

    def run():
        try:
            srv.run()
        except OSError:  # the socket closed under the loop at shutdown
            pass

    th = threading.Thread(target=run, daemon=True)
    th.start()
    return srv, f"http://127.0.0.1:{srv.effective_port}"


def bench_console(n_intakes: int, n_loads: int) -> dict:
    import requests

    fresh_home("console")
    from mingbai.db import init_db
    from mingbai.web import create_app
    from tickets import service
    from tickets.grids import import_file
    from tickets.users import create_user, issue_token

    init_db()
    import_file(ROOT / "data" / "grids" / "sample.yml")
    create_user("wang", "bench-pass-1", "网格员", "QF01", duty="00:00-24:00", days="1-7")
    create_user("zhou", "bench-pass-1", "人民调解员", "QFZ", duty="00:00-24:00", days="1-7")
    token = issue_token("wang")
    # background load: 300 tickets across the county, 10 messages each
    places = ["大塘一组", "大塘五组", "柳湾渡口", "锦绣花园", "幸福小区", "和平路", "东门老街", "石桥头"]
    first = None
    for i in range(300):
        rk = f"web:bg{i}"
        for j in range(10):
            service.record_message(rk, "in" if j % 2 == 0 else "out", f"第{j}句话，电话1380000{i:04d}",
                                   "resident" if j % 2 == 0 else "bot", "web")
        t = service.open_ticket(rk, domain="侵权", summary=f"背景工单 {i}", location=places[i % len(places)])
        if first is None and t["grid"] == "QF01":
            first = t["number"]
    app = create_app()
    srv, base = serve(app)
    out: dict = {}
    try:
        s = requests.Session()
        s.post(f"{base}/console/login", data={"username": "wang", "password": "bench-pass-1"})
        hdr = {"Authorization": f"Bearer {token}"}

        # -- server side: intake POST → GET /console/ contains it
        server_lat = []
        for i in range(n_intakes):
            t0 = time.perf_counter()
            r = requests.post(f"{base}/api/v1/tickets", headers=hdr, json={
                "resident_key": f"web:srv{i}", "domain": "劳动纠纷", "summary": f"欠薪 {i}", "location": "大塘一组"})
            number = r.json()["number"]
            while number not in s.get(f"{base}/console/").text:
                time.sleep(0.005)
            server_lat.append(time.perf_counter() - t0)
        out["server_visible"] = server_lat

        # -- browser: the queue page open in Chromium, until the row is in the DOM
        browser_lat = []
        chromium = shutil.which("chromium") or "/usr/bin/chromium"
        if Path(chromium).exists():
            from playwright.sync_api import sync_playwright

            with sync_playwright() as p:
                b = p.chromium.launch(executable_path=chromium, args=[
                    "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                    "--disable-background-networking", "--disable-component-update", "--disable-sync"])
                page = b.new_page()
                page.goto(f"{base}/console/login")
                page.fill("#username", "wang")
                page.fill("#password", "bench-pass-1")
                page.click("#login-btn")
                page.wait_for_selector("#grid")
                for i in range(n_intakes):
                    time.sleep(0.3 + (i % 5) * 0.1)  # land at different points of the poll cycle
                    t0 = time.perf_counter()
                    r = requests.post(f"{base}/api/v1/tickets", headers=hdr, json={
                        "resident_key": f"web:br{i}", "domain": "婚姻家庭", "summary": f"彩礼 {i}",
                        "location": "大塘二组"})
                    number = r.json()["number"]
                    page.wait_for_selector(f'.ticket-row[data-number="{number}"]', timeout=15000)
                    browser_lat.append(time.perf_counter() - t0)
                b.close()
        out["browser_visible"] = browser_lat

        # -- page loads
        def timed(url, sess):
            t0 = time.perf_counter()
            r = sess.get(url)
            assert r.status_code == 200, (url, r.status_code)
            return time.perf_counter() - t0

        for name, url in (("queue", f"{base}/console/"), ("ticket", f"{base}/console/t/{first}")):
            for _ in range(10):
                timed(url, s)
            out[f"{name}_seq"] = [timed(url, s) for _ in range(n_loads)]
            sessions = []
            for _ in range(8):
                x = requests.Session()
                x.post(f"{base}/console/login", data={"username": "zhou", "password": "bench-pass-1"})
                sessions.append(x)
            with ThreadPoolExecutor(8) as ex:
                out[f"{name}_conc8"] = list(ex.map(lambda i: timed(url, sessions[i % 8]), range(n_loads)))
        out["queue_rows_wang"] = s.get(f"{base}/console/").text.count('class="card ticket-row"')
        out["queue_rows_zhou"] = sessions[0].get(f"{base}/console/").text.count('class="card ticket-row"')
    finally:
        srv.close()
    return out


def bench_week() -> dict:
    fresh_home("week")
    from mingbai.db import init_db
    from tickets import simulate
    from tickets.clock import LOCAL_TZ
    from tickets.grids import import_file
    from datetime import datetime

    init_db()
    import_file(ROOT / "data" / "grids" / "sample.yml")
    simulate.create_staff()
    t0 = time.perf_counter()
    r = simulate.run(datetime(2026, 11, 30, tzinfo=LOCAL_TZ), days=7, n=70, seed=2026)
    r.pop("intakes")
    r["seconds"] = time.perf_counter() - t0
    return r


def _synthetic_year(n: int, seed: int = 2026) -> None:
    """n tickets over 2026, bulk-inserted (Core executemany), with escalation rows for the
    escalated ones: a realistic mix of statuses, SLA outcomes, tiers and satisfaction."""
    import random
    from datetime import datetime, timedelta, timezone

    from sqlalchemy import insert, select

    from mingbai.db import session_scope
    from tickets.models import Escalation, GridNode, Ticket

    rnd = random.Random(seed)
    with session_scope() as s:
        nodes = {x.code: x for x in s.scalars(select(GridNode))}
    grids = [x for x in nodes.values() if x.level == "grid"]
    parents = {x.id: x.parent_id for x in nodes.values()}
    domains = [("侵权", "邻里纠纷"), ("婚姻家庭", "彩礼"), ("劳动纠纷", "欠薪"), ("债权债务", "民间借贷"),
               ("房产纠纷", "物业纠纷"), ("交通事故", None), ("消费权益", "网购")]
    start = datetime(2026, 1, 1, tzinfo=timezone.utc) - timedelta(hours=8)
    now = datetime(2026, 12, 31, 12, tzinfo=timezone.utc)
    rows, escs = [], []
    for i in range(n):
        g = rnd.choice(grids)
        created = start + timedelta(seconds=rnd.randrange(365 * 86400))
        tier = rnd.choices([1, 2, 3, 4], [70, 18, 9, 3])[0]
        node = g.id
        for _ in range(tier - 1):
            node = parents.get(node) or node
        status = rnd.choices(["closed", "resolved", "in_mediation", "acknowledged", "new", "escalated"],
                             [45, 30, 8, 6, 6, 5])[0]
        ack_due, answer_due = created + timedelta(hours=1), created + timedelta(hours=24)
        acked = None if status in ("new", "escalated") else created + timedelta(minutes=rnd.choice([5, 30, 55, 90]))
        answered = created + timedelta(hours=rnd.choice([2, 10, 20, 30])) if status in (
            "in_mediation", "resolved", "closed") else None
        resolved = answered + timedelta(days=rnd.randint(0, 20)) if status in ("resolved", "closed") and answered else None
        outcome = rnd.choices(["调解成功", "调解未成功"], [85, 15])[0] if resolved else None
        d, sub = rnd.choice(domains)
        rows.append(dict(
            number=f"B{i:07d}", year=2026, seq=i + 1, idempotency_key=f"bench:{i}", resident_key=f"web:b{i}",
            channel="web", domain=d, subtype=sub, summary="合成工单", grid_code=g.code, grid_id=g.id, tier=tier,
            node_id=node, status=status, urgency=rnd.choices(["normal", "urgent", "emergency"], [85, 12, 3])[0],
            ack_due=ack_due, answer_due=answer_due, acknowledged_at=acked, answered_at=answered,
            first_acknowledged_at=acked, first_answered_at=answered,
            ack_sla=None if acked is None else ("met" if acked <= ack_due else "missed"),
            answer_sla=None if answered is None else ("met" if answered <= answer_due else "missed"),
            outcome=outcome, next_route=None if outcome != "调解未成功" else "诉讼",
            satisfaction=rnd.choice([None, None, 3, 4, 5, 5]) if resolved else None, consent=rnd.random() > 0.02,
            version=1, created_at=created, updated_at=min(now, created + timedelta(days=1)), resolved_at=resolved,
            closed_at=resolved if status == "closed" else None))
        if tier > 1:
            escs.append((i, tier, created))
    with session_scope() as s:
        for k in range(0, len(rows), 5000):
            s.execute(insert(Ticket), rows[k:k + 5000])
    with session_scope() as s:
        ids = dict(s.execute(select(Ticket.number, Ticket.id)).all())
        erows = [dict(ticket_id=ids[f"B{i:07d}"], from_tier=tier - 1, to_tier=tier, reason="ack_breach",
                      due_at=created + timedelta(hours=1), fired_at=created + timedelta(hours=1),
                      actor="system:sla", note="合成") for i, tier, created in escs]
        for k in range(0, len(erows), 5000):
            s.execute(insert(Escalation), erows[k:k + 5000])


def bench_report(n: int, backend: str) -> dict:
    """Time tickets.report on a year of n synthetic tickets (SQLite or a PostgreSQL schema)."""
    from datetime import datetime, timezone

    fresh_home(f"report-{backend}")
    cleanup = None
    if backend == "postgres":
        import uuid

        import psycopg2

        base = os.environ.get("MINGBAI_TEST_PG", "postgresql://root@127.0.0.1:5432/test")
        schema = "bench_" + uuid.uuid4().hex[:10]
        conn = psycopg2.connect(base, connect_timeout=3)
        conn.autocommit = True
        conn.cursor().execute(f'CREATE SCHEMA "{schema}"')
        os.environ["DATABASE_URL"] = f"{base}?options=-csearch_path%3D{schema}"
        from mingbai.db import reset_engines
        from mingbai.settings import reset_settings_cache

        reset_settings_cache()
        reset_engines()

        def cleanup():
            from mingbai.db import get_engine

            get_engine().dispose()
            os.environ.pop("DATABASE_URL", None)
            conn.cursor().execute(f'DROP SCHEMA "{schema}" CASCADE')
            conn.close()
    try:
        from mingbai.db import init_db
        from mingbai.web import create_app
        from tickets import clock, report
        from tickets.grids import import_file
        from tickets.users import create_user

        init_db()
        import_file(ROOT / "data" / "grids" / "sample.yml")
        create_user("admin", "bench-pass-1", "管理员", None)
        t0 = time.perf_counter()
        _synthetic_year(n)
        gen_s = time.perf_counter() - t0
        clock.set_now(datetime(2026, 12, 31, 12, tzinfo=timezone.utc))
        out = {"backend": backend, "n": n, "generate_s": gen_s}
        for name, fn in (("year", lambda: report.build("year", "2026")),
                         ("month", lambda: report.build("month", "2026-11")),
                         ("year_town", lambda: report.build("year", "2026", scope="QFZ"))):
            fn()
            out[name] = [(time.perf_counter(), fn(), time.perf_counter()) for _ in range(5)]
            out[name] = [b - a for a, _r, b in out[name]]
        r = report.build("year", "2026")
        out["total"] = r["total"]
        app = create_app()
        app.config["TESTING"] = True
        c = app.test_client()
        c.post("/console/login", data={"username": "admin", "password": "bench-pass-1"})
        for name, url in (("page_year", "/console/report?period=year&at=2026"),
                          ("csv_year", "/console/report.csv?period=year&at=2026")):
            assert c.get(url).status_code == 200
            xs = []
            for _ in range(5):
                t0 = time.perf_counter()
                resp = c.get(url)
                xs.append(time.perf_counter() - t0)
                assert resp.status_code == 200
            out[name] = xs
        clock.set_now(None)
        return out
    finally:
        if cleanup:
            cleanup()


def _pg_up() -> bool:
    try:
        import psycopg2

        psycopg2.connect(os.environ.get("MINGBAI_TEST_PG", "postgresql://root@127.0.0.1:5432/test"),
                         connect_timeout=3).close()
        return True
    except Exception:
        return False


def report_lines(results: list[dict]) -> list[str]:
    lines = [
        "### 平安报表 on a year of synthetic tickets (goal ≤ 2 s)",
        "",
        "`tickets.report.build` (SQL aggregates) and the page / CSV through the app (Flask test client, "
        "admin logged in); 5 runs after one warm-up. `bench/bench_tickets.py --only report`.",
        "",
        "| backend | tickets | what | median | max |",
        "|---|---|---|---|---|",
    ]
    words = {"year": "build: year 2026, whole county", "month": "build: month 2026-11",
             "year_town": "build: year 2026, scope 清风镇", "page_year": "GET /console/report?period=year (rendered)",
             "csv_year": "GET /console/report.csv?period=year"}
    for r in results:
        for k, w in words.items():
            lines.append(f"| {r['backend']} | {r['n']:,} | {w} | {ms(statistics.median(r[k]))} | {ms(max(r[k]))} |")
        lines.append(f"| {r['backend']} | {r['n']:,} | (generating the tickets, not timed as report) "
                     f"| {r['generate_s']:.1f} s | |")
    lines.append("")
    return lines


def run_report(n: int) -> list[dict]:
    results = [bench_report(n, "sqlite")]
    if _pg_up():
        results.append(bench_report(n, "postgres"))
    return results


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--intakes", type=int, default=20)
    ap.add_argument("--loads", type=int, default=200)
    ap.add_argument("--report-n", type=int, default=50_000)
    ap.add_argument("--only", choices=["report"], default=None)
    args = ap.parse_args(argv)
    if args.only == "report":
        lines = ["## 平安报表", ""] + report_lines(run_report(args.report_n))
        out = ROOT / "bench" / "results" / "tickets_report.md"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text("\n".join(lines), encoding="utf-8")
        print("\n".join(lines))
        return 0
    c = bench_console(args.intakes, args.loads)
    w = bench_week()
    rep = run_report(args.report_n)

    def row(label, xs):
        return f"| {label} | {len(xs)} | {ms(statistics.median(xs))} | {ms(pct(xs, 95))} | {ms(max(xs))} |"

    lines = [
        "## Tickets and volunteer console",
        "",
        "Real app (`create_app`) under waitress (16 threads) on loopback, SQLite, sample grids; "
        "300 background tickets and 3,000 transcript messages. `bench/bench_tickets.py`.",
        "",
        "### Intake → ticket visible in the console (goal < 1 s)",
        "",
        "| path | n | median | p95 | max |",
        "|---|---|---|---|---|",
        row("POST /api/v1/tickets → GET /console/ contains it (server side)", c["server_visible"]),
    ]
    if c["browser_visible"]:
        lines.append(row("POST /api/v1/tickets → row in the open queue page (headless Chromium, 0.5 s check)",
                         c["browser_visible"]))
    else:
        lines.append("| headless Chromium | – | not run: /usr/bin/chromium missing | | |")
    lines += [
        "",
        "### Console page load",
        "",
        "| page | n | median | p95 | max |",
        "|---|---|---|---|---|",
        row(f"/console/ queue, 1 client ({c['queue_rows_wang']} rows: 网格员 QF01)", c["queue_seq"]),
        row(f"/console/ queue, 8 concurrent ({c['queue_rows_zhou']} rows: 清风镇 mediator)", c["queue_conc8"]),
        row("/console/t/<n> ticket + transcript, 1 client", c["ticket_seq"]),
        row("/console/t/<n> ticket + transcript, 8 concurrent", c["ticket_conc8"]),
        "",
        "### SLA escalation simulation (one week, controllable clock)",
        "",
        f"{w['tickets']} cases over 7 days from 2026-11-30 (Mon) 00:00; staff on office hours at grid/village/town, "
        f"county 24 h; some staff acknowledge late or never. {w['ticks']} ticks (each deadline ticked 1 s early "
        f"and exactly at breach) in {w['seconds']:.1f} s.",
        "",
        f"- escalations to a higher tier: **{w['tier_escalations']}**, steps {w['by_step']}",
        f"- fired exactly at the breach second: **{w['fired_exactly_at_breach']} / {w['escalations']}**; "
        f"fired one second early: **{w['fired_one_second_early']}**; tier order kept: **{w['tier_order_ok']}**",
        f"- by reason: {w['by_reason']} (`*_top` = reminders at the county, where there is no higher tier)",
        f"- starting tier {w['start_tier']} (normal cases wait at the grid for working hours; urgent ones out of "
        f"hours go to the town's on-call person; unknown places → county); final tier {w['final_tier']}",
        f"- residents told in their channel: {w['resident_notices']} notices, "
        f"{w['town_notices']} of them 「已转交镇矛调中心处理」",
        "",
    ] + report_lines(rep)
    out = ROOT / "bench" / "results" / "tickets.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines), encoding="utf-8")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
