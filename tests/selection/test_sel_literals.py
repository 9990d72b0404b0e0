"""Size and date literals of the selection settings."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from tgfetch.errors import ConfigError
from tgfetch.selection.literals import parse_date_from, parse_date_to, parse_size


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0", 0),
        ("1048576", 1048576),
        (5, 5),
        ("7B", 7),
        ("1KB", 1000),
        ("1kb", 1000),
        ("1KiB", 1024),
        ("1kib", 1024),
        ("50MB", 50_000_000),
        ("50MiB", 50 * 1024**2),
        ("2GB", 2_000_000_000),
        ("2GiB", 2 * 1024**3),
        ("1TB", 10**12),
        ("1TiB", 1024**4),
        ("1.5GB", 1_500_000_000),
        ("1.5GiB", 1610612736),
        ("0.5KB", 500),
        (".5MB", 500_000),
        ("  2 MB ", 2_000_000),
        ("1.0001KB", 1000),  # rounded down to whole bytes
    ],
)
def test_sizes(text: str | int, expected: int) -> None:
    assert parse_size(text, "MIN_FILE_SIZE") == expected


@pytest.mark.parametrize(
    ("text", "detail"),
    [
        ("-1", "never negative"),
        ("-5MB", "never negative"),
        (-3, "never negative"),
        ("5XB", "unknown size unit 'XB'"),
        ("5 K", "unknown size unit 'K'"),
        ("1e9", "not a size"),
        ("abc", "not a size"),
        ("", "not a size"),
        ("1,5GB", "not a size"),
        ("1.2.3MB", "not a size"),
        ("99999999999TB", "larger than"),
    ],
)
def test_bad_sizes_name_the_setting_the_value_and_what_is_allowed(text: str | int, detail: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_size(text, "MAX_FILE_SIZE")
    msg = str(err.value)
    assert "\n" not in msg
    assert msg.startswith(f"MAX_FILE_SIZE={str(text)!r} is not allowed: ")
    assert detail in msg
    assert "expected" in msg and "KiB" in msg


def test_a_boolean_is_not_a_size() -> None:
    with pytest.raises(ConfigError, match="MIN_FILE_SIZE"):
        parse_size(True, "MIN_FILE_SIZE")


@pytest.mark.parametrize(
    ("text", "start", "end"),
    [
        ("2024-01-31", datetime(2024, 1, 31, tzinfo=UTC), datetime(2024, 1, 31, 23, 59, 59, 999999, tzinfo=UTC)),
        ("2024-01-31T10:00", datetime(2024, 1, 31, 10, tzinfo=UTC), datetime(2024, 1, 31, 10, tzinfo=UTC)),
        ("2024-01-31 10:00:05", datetime(2024, 1, 31, 10, 0, 5, tzinfo=UTC), datetime(2024, 1, 31, 10, 0, 5, tzinfo=UTC)),  # noqa: E501
        ("2024-01-31T10:00Z", datetime(2024, 1, 31, 10, tzinfo=UTC), datetime(2024, 1, 31, 10, tzinfo=UTC)),
        ("2024-01-31T10:00+02:00", datetime(2024, 1, 31, 8, tzinfo=UTC), datetime(2024, 1, 31, 8, tzinfo=UTC)),
        ("2024-01-31T01:00-05:00", datetime(2024, 1, 31, 6, tzinfo=UTC), datetime(2024, 1, 31, 6, tzinfo=UTC)),
        (date(2024, 1, 31), datetime(2024, 1, 31, tzinfo=UTC), datetime(2024, 1, 31, 23, 59, 59, 999999, tzinfo=UTC)),
        (datetime(2024, 1, 31, 10), datetime(2024, 1, 31, 10, tzinfo=UTC), datetime(2024, 1, 31, 10, tzinfo=UTC)),
    ],
)
def test_dates_are_utc_and_a_bare_end_date_is_the_whole_day(text: str | date, start: datetime, end: datetime) -> None:
    got_from = parse_date_from(text, "DATE_FROM")
    got_to = parse_date_to(text, "DATE_TO")
    assert got_from == start and got_to == end
    assert got_from.tzinfo is not None and got_from.utcoffset() == start.utcoffset()
    assert got_to.tzinfo is not None


def test_the_last_day_of_the_calendar_is_still_a_day() -> None:
    assert parse_date_to("9999-12-31", "DATE_TO").year == 9999


@pytest.mark.parametrize("text", ["2024-02-30", "yesterday", "31/01/2024", "2024-1-5", "2024-01-31T25:00", ""])
def test_bad_dates_name_the_setting(text: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_date_to(text, "DATE_TO")
    msg = str(err.value)
    assert msg.startswith(f"DATE_TO={text!r} is not allowed: ") and "\n" not in msg
    assert "expected an ISO date" in msg
