"""Time-of-day, day-of-week and calendar-date rules of branch nodes, and holiday lists.

Written in schemes as::

    time: "09:00-18:00"            # or a list; the end is excluded; "22:00-06:00" spans midnight
    days: [mon-fri, sat]           # names, ranges ("fri-mon" wraps), lists
    dates: ["2025-12-24", "12-31", "07-01..08-31", "2025-05-01..2025-05-08"]

A date without a year recurs every year; a range's ends are both included and must both have
a year or both not have one.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_FULL_DAY_NAMES = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_TIME = re.compile(r"(\d{1,2}):(\d{2})")
_DATE = re.compile(r"(?:(\d{4})-)?(\d{1,2})-(\d{1,2})")


class RuleError(ValueError):
    """A malformed time, day or date rule; the message says what was expected."""


@dataclass(frozen=True, slots=True)
class TimeRange:
    start_min: int  # minutes after midnight
    end_min: int  # excluded; smaller than start: spans midnight

    def contains(self, minute: int) -> bool:
        if self.start_min <= self.end_min:
            return self.start_min <= minute < self.end_min
        return minute >= self.start_min or minute < self.end_min


@dataclass(frozen=True, slots=True)
class DateRange:
    year: int | None  # None: every year (then start/end years are unused)
    start: tuple[int, int, int]  # (year or 0, month, day)
    end: tuple[int, int, int]

    def contains(self, day: dt.date) -> bool:
        if self.year is not None:
            return self.start <= (day.year, day.month, day.day) <= self.end
        md = (0, day.month, day.day)
        if self.start <= self.end:
            return self.start <= md <= self.end
        return md >= self.start or md <= self.end  # "12-24..01-02" wraps the new year


def _as_list(value: object, what: str) -> list[object]:
    if isinstance(value, str | dt.date):
        return [value]
    if isinstance(value, list) and value:
        return value
    raise RuleError(f"expected {what} or a non-empty list of them; got {value!r}")


def parse_times(value: object) -> tuple[TimeRange, ...]:
    out = []
    for item in _as_list(value, "a time range 'HH:MM-HH:MM'"):
        text = str(item).replace(" ", "")
        start, sep, end = text.partition("-")
        if not sep:
            raise RuleError(f"expected a time range 'HH:MM-HH:MM'; got {item!r}")
        out.append(TimeRange(_minutes(start, item), _minutes(end, item)))
    return tuple(out)


def _minutes(text: str, item: object) -> int:
    m = _TIME.fullmatch(text)
    if m is None:
        raise RuleError(f"expected a time range 'HH:MM-HH:MM'; got {item!r}")
    hours, minutes = int(m[1]), int(m[2])
    if hours == 24 and minutes == 0:
        return 24 * 60
    if hours > 23 or minutes > 59:
        raise RuleError(f"expected hours 00-24 and minutes 00-59; got {item!r}")
    return hours * 60 + minutes


def parse_days(value: object) -> frozenset[int]:
    days: set[int] = set()
    for item in _as_list(value, "a day name (mon..sun) or range 'mon-fri'"):
        for part in str(item).lower().replace(" ", "").split(","):
            first, sep, last = part.partition("-")
            a, b = _day(first, item), _day(last if sep else first, item)
            span = (b - a) % 7
            days.update((a + i) % 7 for i in range(span + 1))
    return frozenset(days)


def _day(name: str, item: object) -> int:
    for i, full in enumerate(_FULL_DAY_NAMES):
        if name in (full, DAY_NAMES[i]):
            return i
    raise RuleError(f"expected day names {', '.join(DAY_NAMES)}; got {item!r}")


def parse_dates(value: object) -> tuple[DateRange, ...]:
    out = []
    for item in _as_list(value, "a date 'YYYY-MM-DD', 'MM-DD' or range 'A..B'"):
        if isinstance(item, dt.date):  # YAML reads unquoted ISO dates itself
            item = item.isoformat()
        text = str(item).replace(" ", "")
        first, sep, last = text.partition("..")
        start, end = _date(first, item), _date(last if sep else first, item)
        if (start[0] == 0) != (end[0] == 0):
            raise RuleError(f"expected both ends of a date range with a year or both "
                            f"without; got {item!r}")
        if start[0] and start > end:
            raise RuleError(f"expected a date range that does not end before it starts; "
                            f"got {item!r}")
        out.append(DateRange(start[0] or None, start, end))
    return tuple(out)


def _date(text: str, item: object) -> tuple[int, int, int]:
    m = _DATE.fullmatch(text)
    if m is None:
        raise RuleError(f"expected a date 'YYYY-MM-DD', 'MM-DD' or range 'A..B'; got {item!r}")
    year = int(m[1]) if m[1] else 0
    try:
        dt.date(year or 2000, int(m[2]), int(m[3]))  # 2000: a leap year, so 02-29 is valid
    except ValueError as exc:
        raise RuleError(f"expected a real date; got {item!r} ({exc})") from None
    return year, int(m[2]), int(m[3])


def in_times(ranges: tuple[TimeRange, ...], local: dt.datetime) -> bool:
    minute = local.hour * 60 + local.minute
    return any(r.contains(minute) for r in ranges)


def in_dates(ranges: tuple[DateRange, ...], local: dt.datetime) -> bool:
    day = local.date()
    return any(r.contains(day) for r in ranges)
