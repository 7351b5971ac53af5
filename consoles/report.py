"""平安报表 for maintainers (/console/report, /console/report.csv): by week / month / year and by
grid, village or town (tickets.report), with the vendored Chart.js served from /console/static."""
from __future__ import annotations

from flask import Blueprint, Response, abort, g, render_template, request

from consoles.access import admin_required

bp = Blueprint("report", __name__, url_prefix="/console", template_folder="templates",
               static_folder="static", static_url_path="/static")  # vendored Chart.js for the report


def _report_args():
    """?period=week|month|year&at=2026-W48|2026-11|2026&scope=QFZ (month= still works)."""
    from tickets.report import ReportError, build

    period = request.args.get("period") or "month"
    at = request.args.get("at") or request.args.get("month") or None
    if request.args.get("month") and not request.args.get("period"):
        period = "month"
    try:
        return build(period, at, request.args.get("scope") or None)
    except ReportError as e:
        abort(400, str(e))


@bp.get("/report")
@admin_required
def page():
    return render_template("console/report.html", r=_report_args(), user=g.user)


@bp.get("/report.csv")
@admin_required
def csv():
    from tickets.report import to_csv

    r = _report_args()
    name = f"pingan-{r['label']}{'-' + r['scope'] if r['scope'] else ''}.csv"
    return Response(to_csv(r), mimetype="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})
