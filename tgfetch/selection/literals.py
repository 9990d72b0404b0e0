"""Size and date literals of the selection settings, and the one-line error they raise.

Sizes: whole bytes (`1048576`) or a number with a unit, `KB`/`MB`/`GB`/`TB` (powers of
1000) or `KiB`/`MiB`/`GiB`/`TiB` (powers of 1024), any case, decimals allowed (`1.5GB`,
rounded down to whole bytes), never negative. Dates: ISO dates or datetimes; without a
zone they are UTC. A bare date as the end of a range means the whole day.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time
from decimal import Decimal, InvalidOperation
from typing import NoReturn

from tgfetch.errors import ConfigError

__all__ = [
    "MAX_SIZE",
    "SIZE_UNITS",
    "SIZE_UNITS_HELP",
    "DATE_HELP",
    "SIZE_HELP",
    "refuse",
    "parse_date_from",
    "parse_date_literal",
    "parse_date_to",
    "parse_size",
    "size_from_parts",
    "shown",
]

#: Unit (lower case) → bytes; `b` is a plain byte.
SIZE_UNITS: dict[str, int] = {
    "b": 1,
    "kb": 1000,
    "mb": 1000**2,
    "gb": 1000**3,
    "tb": 1000**4,
    "kib": 1024,
    "mib": 1024**2,
    "gib": 1024**3,
    "tib": 1024**4,
}
SIZE_UNITS_HELP = "B, KB, MB, GB, TB (powers of 1000) or KiB, MiB, GiB, TiB (powers of 1024)"
SIZE_HELP = f"a whole number of bytes or a number with a unit: {SIZE_UNITS_HELP}, e.g. 500MB or 1.5GiB"
DATE_HELP = "an ISO date or datetime, e.g. 2024-01-31, 2024-01-31T10:00 or 2024-01-31T10:00+02:00 (no zone: UTC)"
#: The largest size accepted (an exabyte: far above any Telegram file, far below an int64).
MAX_SIZE = 10**18
_MAX_SHOWN = 200

_SIZE_RE = re.compile(r"(?P<num>[0-9]+(?:\.[0-9]+)?|\.[0-9]+)\s*(?P<unit>[A-Za-z]*)", re.ASCII)
_BARE_DATE_RE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", re.ASCII)
_DATETIME_RE = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}(?::[0-9]{2}(?:\.[0-9]{1,6})?)?(?:Z|[+-][0-9]{2}:?[0-9]{2})?",
    re.ASCII | re.IGNORECASE,
)


def shown(value: object) -> str:
    """Render a setting's value for an error line: quoted, escaped, at most 200 characters."""
    text = str(value)
    if len(text) > _MAX_SHOWN:
        text = text[:_MAX_SHOWN] + "…"
    return repr(text)


def refuse(setting: str, value: object, detail: str, expected: str) -> NoReturn:
    """Raise the one-line ConfigError naming the setting, the value and what is allowed."""
    why = f"{detail}; " if detail else ""
    raise ConfigError(f"{setting}={shown(value)} is not allowed: {why}expected {expected}")


def size_from_parts(number: str, unit: str) -> int:
    """Return the bytes of a number and a unit; ValueError names what is wrong."""
    mult = SIZE_UNITS.get(unit.lower()) if unit else 1
    if mult is None:
        raise ValueError(f"unknown size unit {unit!r}")
    try:
        value = int(Decimal(number) * mult)
    except InvalidOperation:
        raise ValueError(f"{number!r} is not a number") from None
    if value > MAX_SIZE:
        raise ValueError(f"{number}{unit} is larger than the largest size accepted ({MAX_SIZE} bytes)")
    return value


def parse_size(text: str | int, setting: str) -> int:
    """Parse a size setting into bytes; a bad value raises ConfigError naming `setting`."""
    if isinstance(text, bool):
        refuse(setting, text, "not a size", SIZE_HELP)
    if isinstance(text, int):
        if text < 0:
            refuse(setting, text, "a size is never negative", SIZE_HELP)
        if text > MAX_SIZE:
            refuse(setting, text, "too large", SIZE_HELP)
        return text
    stripped = text.strip()
    if stripped.startswith("-"):
        refuse(setting, text, "a size is never negative", SIZE_HELP)
    m = _SIZE_RE.fullmatch(stripped)
    if m is None:
        refuse(setting, text, "not a size", SIZE_HELP)
    try:
        return size_from_parts(m["num"], m["unit"])
    except ValueError as exc:
        refuse(setting, text, str(exc), SIZE_HELP)


def parse_date_literal(text: str) -> date | datetime:
    """Parse an ISO date (a `date`: a whole day) or datetime (aware, UTC); ValueError if it is neither."""
    t = text.strip()
    if _BARE_DATE_RE.fullmatch(t):
        return date.fromisoformat(t)
    if not _DATETIME_RE.fullmatch(t):
        raise ValueError("not an ISO date or datetime")
    value = datetime.fromisoformat(t.upper().replace("Z", "+00:00"))
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def _as_datetime(text: str | date, setting: str) -> date | datetime:
    """Turn a setting's date value into a date or an aware UTC datetime, or refuse it."""
    if isinstance(text, datetime):
        return text.replace(tzinfo=UTC) if text.tzinfo is None else text.astimezone(UTC)
    if isinstance(text, date):
        return text
    try:
        return parse_date_literal(text)
    except (ValueError, OverflowError) as exc:
        refuse(setting, text, str(exc), DATE_HELP)


def parse_date_from(text: str | date, setting: str) -> datetime:
    """Parse the start of a date range (inclusive): a bare date is its midnight, UTC."""
    value = _as_datetime(text, setting)
    if isinstance(value, datetime):
        return value
    return datetime.combine(value, time.min, tzinfo=UTC)


def parse_date_to(text: str | date, setting: str) -> datetime:
    """Parse the end of a date range (inclusive): a bare date is the last microsecond of that day, UTC."""
    value = _as_datetime(text, setting)
    if isinstance(value, datetime):
        return value
    return datetime.combine(value, time.max, tzinfo=UTC)
