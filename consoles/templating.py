"""What every console template can use: the filters cn_time / cn_mask / cn_left, console_csrf and
status_labels, and the SLA badge of a ticket (the deadline that matters now). A blueprint without
routes: registering it installs these app-wide."""
from __future__ import annotations

from datetime import datetime
from typing import Optional

from flask import Blueprint

from consoles.access import csrf_token
from mingbai.privacy import mask
from tickets.clock import local, now as clock_now
from tickets.lifecycle import OPEN, STATUS_LABELS

bp = Blueprint("console", __name__, template_folder="templates")


@bp.app_context_processor
def _ctx():
    return {"console_csrf": csrf_token, "status_labels": STATUS_LABELS}


def sla_badge(t: dict) -> Optional[dict]:
    """The deadline that matters now: acknowledge (待受理/已上报) or answer (未答复)."""
    if t["status"] in ("new", "escalated"):
        kind, due = "受理", t["ack_due"]
    elif t["status"] in OPEN and not t["answered_at"]:
        kind, due = "答复", t["answer_due"]
    else:
        return None
    left = (datetime.fromisoformat(due) - clock_now()).total_seconds()
    level = "late" if left < 0 else "soon" if left < 15 * 60 else "ok"
    return {"kind": kind, "due": due, "left": int(left), "level": level}


def _fmt_left(sec: int) -> str:
    late, sec = sec < 0, abs(sec)
    h, m = divmod(sec // 60, 60)
    txt = f"{h}小时{m}分" if h else f"{m}分"
    return f"超时{txt}" if late else f"剩{txt}"


@bp.app_template_filter("cn_time")
def local_time(iso: Optional[str], fmt: str = "%m-%d %H:%M") -> str:
    if not iso:
        return ""
    return local(datetime.fromisoformat(iso)).strftime(fmt)


@bp.app_template_filter("cn_mask")
def _mask_filter(text: Optional[str]) -> str:
    return mask(text or "")


@bp.app_template_filter("cn_left")
def _left_filter(sec: int) -> str:
    return _fmt_left(sec)
