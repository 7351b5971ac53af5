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


def iso(dt: Optional[datetime]) -> Optional[str]:
    """How the area's dicts carry a time: ISO text, None when unset."""
    return dt.isoformat() if dt else None


# Working time ---------------------------------------------------------------------------------
#
# A WorkCalendar is the opening hours of a tier or a node: intervals per weekday (local time),
# public holidays (closed all day) and 调休 workdays (a weekend day worked: the hours of the
# calendar's first working weekday). The SLA clock of normal cases runs only inside these hours,
# like a helpdesk's business-hours SLA policy: 1 h from Sunday 10:00 is Monday 09:30 at a grid
# that opens at 08:30.

from dataclasses import dataclass, field  # noqa: E402
from datetime import date, time, timedelta  # noqa: E402

WEEKDAYS = {"mon": 0, "tue": 1, "wed": 2, "thu": 3, "fri": 4, "sat": 5, "sun": 6,
            "一": 0, "二": 1, "三": 2, "四": 3, "五": 4, "六": 5, "日": 6, "天": 6}

# 国务院办公厅关于2026年部分节假日安排的通知: 放假日期 and 调休上班日期.
CN_HOLIDAYS_2026 = [
    "2026-01-01", "2026-01-02", "2026-01-03",                                  # 元旦
    "2026-02-15", "2026-02-16", "2026-02-17", "2026-02-18", "2026-02-19",      # 春节
    "2026-02-20", "2026-02-21", "2026-02-22", "2026-02-23",
    "2026-04-04", "2026-04-05", "2026-04-06",                                  # 清明节
    "2026-05-01", "2026-05-02", "2026-05-03", "2026-05-04", "2026-05-05",      # 劳动节
    "2026-06-19", "2026-06-20", "2026-06-21",                                  # 端午节
    "2026-09-25", "2026-09-26", "2026-09-27",                                  # 中秋节
    "2026-10-01", "2026-10-02", "2026-10-03", "2026-10-04", "2026-10-05",      # 国庆节
    "2026-10-06", "2026-10-07",
]
CN_WORKDAYS_2026 = ["2026-01-04", "2026-02-14", "2026-02-28", "2026-05-09", "2026-09-20", "2026-10-10"]
# 2027: the statutory days (全国年节及纪念日放假办法, 2025 edition); the State Council's 调休
# arrangement for 2027 is published late in 2026 — add its extra days and workdays then.
CN_HOLIDAYS_2027 = [
    "2027-01-01",                                                              # 元旦
    "2027-02-05", "2027-02-06", "2027-02-07", "2027-02-08",                    # 春节 (除夕–初三)
    "2027-04-05",                                                              # 清明节
    "2027-05-01", "2027-05-02",                                                # 劳动节
    "2027-06-09",                                                              # 端午节
    "2027-09-15",                                                              # 中秋节
    "2027-10-01", "2027-10-02", "2027-10-03",                                  # 国庆节
]
CN_WORKDAYS_2027: list[str] = []
DEFAULT_HOURS = {d: [("08:30", "17:30")] for d in range(5)}


def _hm(value: str) -> int:
    h, m = str(value).strip().split(":")
    return int(h) * 60 + int(m)


def parse_days(spec) -> list[int]:
    """"mon-fri", "sat", "mon,wed", "1-5" (1 = Monday), "一至五" → weekday numbers."""
    out: list[int] = []
    for part in str(spec).replace("，", ",").replace("至", "-").replace("到", "-").split(","):
        part = part.strip().lower()
        if not part:
            continue
        ends = [p.strip() for p in part.split("-")]
        nums = []
        for e in ends:
            if e.isdigit():
                nums.append((int(e) - 1) % 7)
            elif e[:3] in WEEKDAYS:
                nums.append(WEEKDAYS[e[:3]])
            elif e in WEEKDAYS:
                nums.append(WEEKDAYS[e])
            else:
                raise ValueError(f"不认识的星期: {e!r}")
        if len(nums) == 1:
            out.append(nums[0])
        else:
            d = nums[0]
            while True:
                out.append(d)
                if d == nums[1]:
                    break
                d = (d + 1) % 7
    return sorted(set(out))


def parse_intervals(spec) -> list[tuple[str, str]]:
    """"08:30-12:00, 13:30-17:30" or a list of such strings → [("08:30", "12:00"), ...]; "" / "closed" → []."""
    if spec in (None, "", "closed", "休息", False):
        return []
    items = spec if isinstance(spec, list) else str(spec).replace("，", ",").split(",")
    out = []
    for it in items:
        if isinstance(it, (list, tuple)):
            a, b = it
        else:
            a, b = str(it).strip().split("-")
        if not 0 <= _hm(a) < _hm(b) <= 24 * 60:
            raise ValueError(f"工作时间不对: {a}-{b}")
        out.append((str(a).strip(), str(b).strip()))
    return sorted(out, key=lambda ab: _hm(ab[0]))


@dataclass
class WorkCalendar:
    code: str = "office"
    name: str = ""
    hours: dict[int, list[tuple[str, str]]] = field(default_factory=lambda: dict(DEFAULT_HOURS))
    holidays: frozenset = frozenset()
    workdays: frozenset = frozenset()

    @classmethod
    def from_config(cls, code: str, name: str = "", hours: Optional[dict] = None, holidays=(), workdays=()):
        """From the YAML: hours {"mon-fri": "08:30-17:30", "sat": "09:00-12:00", "sun": closed}."""
        parsed: dict[int, list[tuple[str, str]]] = {}
        for key, spec in (hours or {}).items():
            for d in parse_days(key):
                parsed[d] = parse_intervals(spec)
        return cls(code=code, name=name or code, hours=parsed,
                   holidays=frozenset(_d(x) for x in holidays or ()),
                   workdays=frozenset(_d(x) for x in workdays or ()))

    @classmethod
    def from_stored(cls, code: str, name: str, hours: dict, holidays=(), workdays=()):
        """From the work_calendars row: hours {"0": [["08:30", "17:30"]], ...} (0 = Monday)."""
        return cls(code=code, name=name or code,
                   hours={int(k): [tuple(iv) for iv in v] for k, v in (hours or {}).items()},
                   holidays=frozenset(_d(x) for x in holidays or ()),
                   workdays=frozenset(_d(x) for x in workdays or ()))

    def to_json_hours(self) -> dict:
        return {str(d): [list(iv) for iv in ivs] for d, ivs in sorted(self.hours.items())}

    @property
    def always_open(self) -> bool:
        return all(self.hours.get(d) == [("00:00", "24:00")] for d in range(7)) and not self.holidays

    def _day_hours(self, day: date) -> list[tuple[str, str]]:
        if day in self.holidays:
            return []
        if day in self.workdays and not self.hours.get(day.weekday()):
            for d in range(7):  # 调休: a weekend day worked with a normal working day's hours
                if self.hours.get(d):
                    return self.hours[d]
            return []
        return self.hours.get(day.weekday(), [])

    def intervals(self, day: date) -> list[tuple[datetime, datetime]]:
        """Open intervals of a local calendar day, as aware local datetimes."""
        base = datetime.combine(day, time(0), tzinfo=LOCAL_TZ)
        return [(base + timedelta(minutes=_hm(a)), base + timedelta(minutes=_hm(b))) for a, b in self._day_hours(day)]

    def is_open(self, when: datetime) -> bool:
        t = local(when)
        return any(a <= t < b for a, b in self.intervals(t.date()))

    def is_workday(self, day: date) -> bool:
        return bool(self._day_hours(day))

    def next_open(self, when: datetime) -> Optional[datetime]:
        """`when` itself if open, else the start of the next open interval (None: never, within a year)."""
        t = local(when)
        for i in range(400):
            day = t.date() + timedelta(days=i)
            for a, b in self.intervals(day):
                if b > t:
                    return max(a, t)
        return None

    def add(self, start: datetime, duration: timedelta) -> datetime:
        """`start` + `duration` of working time (UTC). A calendar never open: wall time."""
        if self.always_open:
            return start + duration
        left = duration
        t = local(start)
        for i in range(800):
            day = t.date() + timedelta(days=i)
            for a, b in self.intervals(day):
                if b <= t:
                    continue
                a = max(a, t)
                if a + left <= b:
                    return (a + left).astimezone(timezone.utc)
                left -= b - a
        return start + duration  # no working time configured: fall back to wall time

    def working_between(self, a: datetime, b: datetime) -> timedelta:
        """Working time between two instants (0 if b <= a)."""
        if b <= a:
            return timedelta(0)
        if self.always_open:
            return b - a
        la, lb = local(a), local(b)
        total = timedelta(0)
        day = la.date()
        while day <= lb.date():
            for x, y in self.intervals(day):
                lo, hi = max(x, la), min(y, lb)
                if hi > lo:
                    total += hi - lo
            day += timedelta(days=1)
        return total


def _d(value) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value).strip())


def builtin_calendar(code: str = "office") -> WorkCalendar:
    """Monday–Friday 08:30–17:30 with the Chinese public holidays and 调休 workdays above."""
    return WorkCalendar.from_config(code, "工作日 08:30–17:30", {"mon-fri": "08:30-17:30"},
                                    CN_HOLIDAYS_2026 + CN_HOLIDAYS_2027, CN_WORKDAYS_2026 + CN_WORKDAYS_2027)


ALWAYS_OPEN = WorkCalendar(code="always", name="全天候", hours={d: [("00:00", "24:00")] for d in range(7)})
