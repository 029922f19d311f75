"""Times and durations as the command line and signed statements write them."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable

from gate.errors import InputError

# What tells the time: tests and reproducible runs pass a fixed one.
Clock = Callable[[], dt.datetime]


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


_DURATION = re.compile(r"^\s*(\d{1,6})\s*([smhdw])\s*$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_duration(text: str, what: str = "duration") -> dt.timedelta:
    """'90s', '30m', '12h', '7d', '2w'."""
    m = _DURATION.match(text or "")
    if not m:
        raise InputError(f"{what}: {text!r} is not a duration (e.g. 30m, 12h, 7d, 2w)")
    return dt.timedelta(seconds=int(m.group(1)) * _UNITS[m.group(2)])


def parse_when(text: str, now: dt.datetime, what: str = "date") -> dt.datetime:
    """A date (midnight UTC at its start), an ISO 8601 time with a zone, or a duration from now."""
    raw = (text or "").strip()
    if _DURATION.match(raw):
        try:
            return now + parse_duration(raw, what)
        except OverflowError:
            raise InputError(f"{what}: {text!r} is too far in the future") from None
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", raw):
        try:
            day = dt.date.fromisoformat(raw)
        except ValueError:
            raise InputError(f"{what}: {text!r} is not a valid date") from None
        return dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC)
    try:
        when = dt.datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise InputError(f"{what}: {text!r} is not a date, a time or a duration") from None
    if when.tzinfo is None:
        raise InputError(f"{what}: {text!r} has no time zone (add Z for UTC)")
    return when.astimezone(dt.UTC)


def rfc3339(when: dt.datetime) -> str:
    return when.astimezone(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def parse_rfc3339(text: str, what: str) -> dt.datetime:
    try:
        when = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except (ValueError, AttributeError, TypeError):
        raise InputError(f"{what}: {text!r} is not an RFC 3339 time") from None
    if when.tzinfo is None:
        raise InputError(f"{what}: {text!r} has no time zone")
    return when.astimezone(dt.UTC)


def human_days(delta: dt.timedelta) -> str:
    days = delta.total_seconds() / 86400
    if abs(days) >= 1:
        return f"{days:.0f} day{'s' if round(abs(days)) != 1 else ''}"
    hours = delta.total_seconds() / 3600
    return f"{hours:.0f} hour{'s' if round(abs(hours)) != 1 else ''}"
