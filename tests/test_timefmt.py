"""Durations and dates given on the command line: valid forms, and hostile strings as one-line errors."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gate.errors import InputError
from gate.timefmt import parse_duration, parse_rfc3339, parse_when, rfc3339

NOW = dt.datetime(2025, 3, 1, 12, 0, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ("30d", NOW + dt.timedelta(days=30)),
        ("12h", NOW + dt.timedelta(hours=12)),
        ("2w", NOW + dt.timedelta(weeks=2)),
        ("2025-07-01", dt.datetime(2025, 7, 1, tzinfo=dt.UTC)),
        ("2025-07-01T08:30:00Z", dt.datetime(2025, 7, 1, 8, 30, tzinfo=dt.UTC)),
        ("2025-07-01T10:30:00+02:00", dt.datetime(2025, 7, 1, 8, 30, tzinfo=dt.UTC)),
    ],
)
def test_when(text: str, want: dt.datetime) -> None:
    assert parse_when(text, NOW) == want


@pytest.mark.parametrize(
    "text", ["", "soon", "2025-13-01", "2025-07-01T08:30:00", "-5d", "5y", "9999999d", "999999w"]
)
def test_bad_when_is_input_error(text: str) -> None:
    with pytest.raises(InputError):
        parse_when(text, NOW)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=60))
def test_hostile_strings_never_escape_as_other_errors(text: str) -> None:
    for parse in (lambda t: parse_when(t, NOW), parse_duration, lambda t: parse_rfc3339(t, "x")):
        try:
            parse(text)
        except InputError as exc:
            assert "\n" not in exc.message


def test_rfc3339_round_trip() -> None:
    assert rfc3339(NOW) == "2025-03-01T12:00:00Z"
    assert parse_rfc3339("2025-03-01T12:00:00Z", "x") == NOW
    with pytest.raises(InputError, match="no time zone"):
        parse_rfc3339("2025-03-01T12:00:00", "x")
