"""The `FILTER` tokenizer: every literal becomes a placeholder name before Python's parser sees the text.

Strings, numbers, sizes (`50MB`) and dates (`2024-01-31`, `2024-01-31T10:00Z`) are read here and
replaced by placeholder names (`_k0`, `_k1`, ...) whose values `Lexed.literals` keeps; the checker
puts the values back into the tree. What reaches `ast.parse` is therefore plain ASCII made only of
field and function names, `and or not in True False`, brackets, commas and operators: no string
prefix (`f"..."`), no escape sequence, no attribute access (`.`), no number syntax Python would
read differently (`0x1`, `1e9`, `1j`). Columns of errors are those of the original text (1-based).
"""

from __future__ import annotations

import bisect
import keyword
import re
from dataclasses import dataclass, field
from datetime import date, datetime

from tgfetch.selection.literals import SIZE_UNITS, SIZE_UNITS_HELP, parse_date_literal, size_from_parts
from tgfetch.selection.record import FIELD_KINDS, FIELDS

__all__ = ["FUNCTION_NAMES", "MAX_NESTING", "ExprError", "Lexed", "Literal", "lex"]

#: The functions an expression may call (their signatures are in the checker).
FUNCTION_NAMES = frozenset({"re", "lower", "upper", "contains", "startswith", "endswith", "len"})
#: Brackets nested deeper than this are refused.
MAX_NESTING = 20
_MAX_DIGITS = 30
_WORDS = frozenset({"and", "or", "not", "in", "True", "False"})
_OPERATORS = ("==", "!=", "<=", ">=", "<", ">", "(", ")", "[", "]", ",", "+", "-", "*", "/")
_CLOSING = {")": "(", "]": "["}

_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*", re.ASCII)
_NUMBER = re.compile(r"[0-9]+(?:\.[0-9]+)?|\.[0-9]+", re.ASCII)
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}(?:[Tt][0-9:.]+(?:[Zz]|[+-][0-9]{2}:?[0-9]{2})?)?", re.ASCII)

LiteralValue = str | int | float | date | datetime


class ExprError(ValueError):
    """An expression problem at a 1-based column of the original text, and what is allowed there."""

    def __init__(self, column: int, detail: str, expected: str | None = None) -> None:
        super().__init__(f"{detail} at column {column}")
        self.column = column
        self.detail = detail
        self.expected = expected


@dataclass(frozen=True, slots=True)
class Literal:
    """A literal read by the tokenizer: its value, kind ("str", "num", "date") and 1-based column."""

    value: LiteralValue
    kind: str
    column: int


@dataclass
class Lexed:
    """The text for Python's parser, the placeholders' literals, and how to map columns back."""

    source: str = ""
    literals: dict[str, Literal] = field(default_factory=dict)
    # (start in source, end in source, start in the original, end in the original) of each replaced span
    spans: list[tuple[int, int, int, int]] = field(default_factory=list)

    def column(self, offset: int) -> int:
        """Return the original text's 1-based column of a 0-based offset into `source`."""
        k = bisect.bisect_right(self.spans, (offset, 1 << 62)) - 1
        if k < 0:
            return offset + 1
        new_start, new_end, old_start, old_end = self.spans[k]
        if offset < new_end:
            return old_start + 1
        return old_end + (offset - new_end) + 1


@dataclass
class _Lexer:
    """One pass over the text; `out` collects the pieces of `Lexed.source`."""

    text: str
    lexed: Lexed = field(default_factory=Lexed)
    out: list[str] = field(default_factory=list)
    pos: int = 0
    length: int = 0
    open: list[tuple[str, int]] = field(default_factory=list)

    def emit(self, piece: str, end: int) -> None:
        """Copy `piece` (the same length as the text up to `end`) into the source."""
        self.out.append(piece)
        self.length += len(piece)
        self.pos = end

    def literal(self, value: LiteralValue, kind: str, end: int) -> None:
        """Replace the text up to `end` by a placeholder name for `value`."""
        name = f"_k{len(self.lexed.literals)}"
        self.lexed.literals[name] = Literal(value, kind, self.pos + 1)
        glued = bool(self.out) and (self.out[-1][-1:].isalnum() or self.out[-1][-1:] == "_")
        piece = f"{' ' if glued else ''}{name} "  # never glued to a neighbouring name (`in"abc"`, `"a""b"`)
        self.lexed.spans.append((self.length, self.length + len(piece), self.pos, end))
        self.out.append(piece)
        self.length += len(piece)
        self.pos = end

    def fail(self, detail: str, at: int | None = None, expected: str | None = None) -> ExprError:
        """Return the error for `detail` at an offset of the text (default: the current one)."""
        return ExprError((self.pos if at is None else at) + 1, detail, expected)

    def run(self) -> Lexed:
        """Read the whole text (leading blanks are dropped: Python's parser refuses an indent)."""
        lead = len(self.text) - len(self.text.lstrip())
        if lead:
            self.lexed.spans.append((0, 0, 0, lead))
            self.pos = lead
        while self.pos < len(self.text):
            self.step()
        if self.open:
            what, at = self.open[-1]
            raise self.fail(f"{what!r} is never closed", at)
        self.lexed.source = "".join(self.out)
        return self.lexed

    def step(self) -> None:
        """Read one token."""
        c = self.text[self.pos]
        if c.isspace():
            self.emit(" ", self.pos + 1)
        elif c in "'\"":
            self.string(c)
        elif c.isascii() and (c.isdigit() or (c == "." and _ascii_digit(self.text[self.pos + 1 : self.pos + 2]))):
            self.number()
        elif c.isascii() and (c.isalpha() or c == "_"):
            self.word()
        else:
            self.operator(c)

    def string(self, quote: str) -> None:
        """Read a quoted string: a backslash escapes the quote or a backslash, any other is kept."""
        chars: list[str] = []
        i = self.pos + 1
        text = self.text
        while i < len(text) and text[i] != quote:
            if text[i] == "\\" and i + 1 < len(text) and text[i + 1] in (quote, "\\"):
                i += 1
            chars.append(text[i])
            i += 1
        if i >= len(text):
            raise self.fail("this string is never closed")
        self.literal("".join(chars), "str", i + 1)

    def number(self) -> None:
        """Read a number, a size with its unit or a date."""
        d = _DATE.match(self.text, self.pos)
        if d is not None:
            try:
                self.literal(parse_date_literal(d.group()), "date", d.end())
            except (ValueError, OverflowError) as exc:
                raise self.fail(f"{d.group()!r} is not a valid date ({exc})") from None
            return
        m = _NUMBER.match(self.text, self.pos)
        assert m is not None
        if len(m.group()) > _MAX_DIGITS:
            raise self.fail(f"a number of more than {_MAX_DIGITS} characters")
        unit = _IDENT.match(self.text, m.end())
        if unit is not None:
            try:
                self.literal(size_from_parts(m.group(), unit.group()), "num", unit.end())
            except ValueError as exc:
                raise self.fail(str(exc), expected=f"a size unit: {SIZE_UNITS_HELP}") from None
            return
        if self.text[m.end() : m.end() + 1] == ".":
            raise self.fail("'.' is not allowed (no attribute access)", m.end(), "a number such as 1.5")
        number = m.group()
        self.literal(float(number) if "." in number else int(number), "num", m.end())

    def word(self) -> None:
        """Read a name: a keyword, a field or a function (the checker tells which may go where)."""
        m = _IDENT.match(self.text, self.pos)
        assert m is not None
        name = m.group()
        if name in _WORDS or name in FUNCTION_NAMES or name in FIELD_KINDS:
            self.emit(name, m.end())
            return
        if self.text[m.end() : m.end() + 1] in ("'", '"'):
            raise self.fail(f"string prefix {name!r} is not allowed", expected="plain quotes (backslashes are kept)")
        raise self.fail(*_unknown_name(name, self.text[: self.pos]))

    def operator(self, c: str) -> None:
        """Read an operator or a bracket; anything else is refused."""
        two = self.text[self.pos : self.pos + 2]
        op = two if two in _OPERATORS else c if c in _OPERATORS else None
        if op is None:
            detail, expected = _unexpected(c, two)
            raise self.fail(detail, expected=expected)
        if op in ("(", "["):
            self.open.append((op, self.pos))
            if len(self.open) > MAX_NESTING:
                raise self.fail(f"brackets nested deeper than {MAX_NESTING} levels")
        elif op in _CLOSING:
            if not self.open or self.open[-1][0] != _CLOSING[op]:
                raise self.fail(f"{op!r} does not close anything")
            self.open.pop()
        self.emit(op, self.pos + len(op))


def _unknown_name(name: str, before: str) -> tuple[str, None, str]:
    """Describe an unknown name and what is allowed, with a hint for the likely mistakes."""
    names = f"a field ({', '.join(FIELDS)}) or a function ({', '.join(sorted(FUNCTION_NAMES))})"
    if name == "None":
        return "None is not allowed (a missing value compares false with anything)", None, "not FIELD to test for one"
    if keyword.iskeyword(name) or keyword.issoftkeyword(name):
        return f"{name!r} is not allowed", None, "the words and, or, not, in, True, False"
    if name.lower() in SIZE_UNITS and before.rstrip() != before and before.rstrip()[-1:].isdigit():
        return f"unknown name {name!r}", None, "a size written without a space, e.g. 50MB"
    if name.lower() in {"and", "or", "not", "in", "true", "false"}:
        return f"unknown name {name!r}", None, "the words in lower case: and, or, not, in (and True, False)"
    return f"unknown name {name!r}", None, names


def _unexpected(c: str, two: str) -> tuple[str, str]:
    """Describe a character that starts no token, and what is allowed instead."""
    allowed = "a field, a function call, a literal, brackets or one of == != < <= > >= + - * / ,"
    if c == ".":
        return "'.' is not allowed (no attribute access)", allowed
    if c == "=":
        return "'=' is not allowed", "== to compare"
    if two in ("&&", "||") or c == "!":
        return f"{two if two in ('&&', '||') else c!r} is not allowed", "the words and, or, not"
    return f"character {c!r} is not allowed", allowed


def lex(text: str) -> Lexed:
    """Tokenize `text`; raise ExprError at the first character that starts no allowed token."""
    return _Lexer(text).run()


def _ascii_digit(c: str) -> bool:
    """Tell whether `c` is one of 0-9 (`"¹".isdigit()` is True, but no number starts with it)."""
    return c.isascii() and c.isdigit()
