"""The functions and operators a `FILTER` expression may use, as the evaluator runs them.

A missing value (None) compared with anything is false, and so is a comparison of values
of different kinds; arithmetic on a missing value is missing. A bare date (`2024-01-31`)
compared with a message's datetime compares the UTC day.
"""

from __future__ import annotations

import ast
import importlib
import operator as op
import warnings
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any

import regex

__all__ = [
    "MAX_PATTERN",
    "OPERATORS",
    "REGEX_TIMEOUT",
    "SIGNATURES",
    "STATIC_FUNCTIONS",
    "RegexTimeout",
    "compile_pattern",
    "matcher",
]

#: A regular expression longer than this is refused.
MAX_PATTERN = 200
#: Seconds one regular expression may run on one message's text.
REGEX_TIMEOUT = 0.05
#: Counted repeats expand when `regex` compiles them (`(?:x{1000}){1000}` is a million nodes): the
#: expanded size of a pattern, counted on Python's own parse of it, may not exceed this.
MAX_EXPANDED = 10_000
# Python's regular-expression parser (no typing stubs): it reads the structure without expanding anything.
_sre: Any = importlib.import_module("re._parser")
_REPEATS = {_sre.MAX_REPEAT, _sre.MIN_REPEAT, _sre.POSSESSIVE_REPEAT}

#: Each function's argument kinds ("pattern": a string literal) and result kind.
SIGNATURES: dict[str, tuple[tuple[str, ...], str]] = {
    "re": (("str", "pattern"), "bool"),
    "lower": (("str",), "str"),
    "upper": (("str",), "str"),
    "contains": (("str", "str"), "bool"),
    "startswith": (("str", "str"), "bool"),
    "endswith": (("str", "str"), "bool"),
    "len": (("str",), "num"),
}


class RegexTimeout(Exception):
    """A regular expression ran longer than REGEX_TIMEOUT on one message."""


def _lower(x: object) -> str | None:
    """Return the text in lower case (None stays None)."""
    return x.lower() if isinstance(x, str) else None


def _upper(x: object) -> str | None:
    """Return the text in upper case (None stays None)."""
    return x.upper() if isinstance(x, str) else None


def _contains(haystack: object, needle: object) -> bool:
    """Tell whether the text contains the other."""
    return isinstance(haystack, str) and isinstance(needle, str) and needle in haystack


def _startswith(text: object, prefix: object) -> bool:
    """Tell whether the text starts with the prefix."""
    return isinstance(text, str) and isinstance(prefix, str) and text.startswith(prefix)


def _endswith(text: object, suffix: object) -> bool:
    """Tell whether the text ends with the suffix."""
    return isinstance(text, str) and isinstance(suffix, str) and text.endswith(suffix)


def _len(x: object) -> int | None:
    """Return the text's length in characters (None stays None)."""
    return len(x) if isinstance(x, str) else None


STATIC_FUNCTIONS: dict[str, Callable[..., Any]] = {
    "lower": _lower,
    "upper": _upper,
    "contains": _contains,
    "startswith": _startswith,
    "endswith": _endswith,
    "len": _len,
}


def _expanded(items: Any) -> int:
    """Return the size of a parsed pattern once counted repeats are expanded (stops early past the limit)."""
    total = 0
    for code, arg in items:
        if code in _REPEATS:
            low, high, sub = arg
            total += max(1, low if high == _sre.MAXREPEAT else high) * _expanded(sub)
        elif code is _sre.SUBPATTERN:
            total += _expanded(arg[-1])
        elif code is _sre.BRANCH:
            total += sum(_expanded(branch) for branch in arg[1])
        elif code is _sre.ATOMIC_GROUP:
            total += _expanded(arg)
        elif code in (_sre.ASSERT, _sre.ASSERT_NOT):
            total += _expanded(arg[1])
        elif code is _sre.GROUPREF_EXISTS:
            total += _expanded(arg[1]) + (_expanded(arg[2]) if arg[2] else 0)
        else:
            total += 1
        if total > MAX_EXPANDED:
            break
    return total


def compile_pattern(pattern: str) -> regex.Pattern[str]:
    """Compile a `re()` pattern (Python `re` syntax); ValueError names the problem."""
    if len(pattern) > MAX_PATTERN:
        raise ValueError(f"a regular expression of {len(pattern)} characters (at most {MAX_PATTERN})")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "possible nested set" and kin: not errors in VERSION0
            parsed = _sre.parse(pattern)
            if _expanded(parsed) > MAX_EXPANDED:
                raise ValueError(f"a regular expression whose counted repeats expand past {MAX_EXPANDED} items")
            return regex.compile(pattern, regex.VERSION0)
    except (_sre.error, regex.error, OverflowError, RecursionError) as exc:
        raise ValueError(f"bad regular expression: {exc}") from None


def matcher(pattern: regex.Pattern[str]) -> Callable[[object], bool]:
    """Return `re(text)` for one compiled pattern: a search bounded by REGEX_TIMEOUT."""

    def re_(text: object) -> bool:
        if not isinstance(text, str):
            return False
        try:
            return pattern.search(text, timeout=REGEX_TIMEOUT) is not None
        except TimeoutError:
            raise RegexTimeout(pattern.pattern) from None

    return re_


def _day(a: object, b: object) -> tuple[object, object]:
    """Compare a bare date with a datetime by the datetime's UTC day."""
    if type(a) is date and isinstance(b, datetime):
        return a, b.astimezone(UTC).date()
    if type(b) is date and isinstance(a, datetime):
        return a.astimezone(UTC).date(), b
    return a, b


def _comparison(fn: Callable[[Any, Any], Any]) -> Callable[[object, object], bool]:
    """Wrap a comparison: false with a missing value or values that do not compare."""

    def run(a: object, b: object) -> bool:
        if a is None or b is None:
            return False
        a, b = _day(a, b)
        try:
            return bool(fn(a, b))
        except TypeError:
            return False

    return run


def _member(x: Any, container: Any) -> bool:
    """Tell whether x is in the list (or text); a datetime is also in a list holding its UTC day."""
    if x in container:
        return True
    return isinstance(x, datetime) and not isinstance(container, str) and x.astimezone(UTC).date() in container


def _arithmetic(fn: Callable[[Any, Any], Any]) -> Callable[[object, object], object]:
    """Wrap arithmetic: numbers only; missing, or division by zero, gives a missing value."""

    def run(a: object, b: object) -> object:
        if type(a) not in (int, float) or type(b) not in (int, float):
            return None
        try:
            return fn(a, b)
        except ArithmeticError:
            return None

    return run


def _negate(a: object) -> object:
    """Negate a number (a missing value stays missing)."""
    return -a if type(a) in (int, float) else None  # type: ignore[operator]


def _plus(a: object) -> object:
    """Return a number unchanged (anything else is missing)."""
    return a if type(a) in (int, float) else None


OPERATORS: dict[type, Callable[..., Any]] = {
    ast.Eq: _comparison(op.eq),
    ast.NotEq: _comparison(op.ne),
    ast.Lt: _comparison(op.lt),
    ast.LtE: _comparison(op.le),
    ast.Gt: _comparison(op.gt),
    ast.GtE: _comparison(op.ge),
    ast.In: _comparison(lambda x, y: _member(x, y)),
    ast.NotIn: _comparison(lambda x, y: not _member(x, y)),
    ast.Add: _arithmetic(op.add),
    ast.Sub: _arithmetic(op.sub),
    ast.Mult: _arithmetic(op.mul),
    ast.Div: _arithmetic(op.truediv),
    ast.Not: op.not_,
    ast.USub: _negate,
    ast.UAdd: _plus,
}
