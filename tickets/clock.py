"""The one clock of the tickets area. Tests and simulations set it; production never does."""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Optional
from zoneinfo import ZoneInfo

LOCAL_TZ = ZoneInfo("Asia/Shanghai")
_frozen: Optional[datetime] = None


def now() -> datetime:
    return _frozen if _frozen is not None else datetime.now(timezone.utc)


def set_now(dt: Optional[datetime]) -> None:
    """Freeze the clock at `dt` (aware; naive is taken as UTC); None unfreezes."""
    global _frozen
    if dt is not None and dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    _frozen = dt.astimezone(timezone.utc) if dt is not None else None


def local(dt: datetime) -> datetime:
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return dt.astimezone(LOCAL_TZ)
