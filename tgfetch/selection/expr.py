"""`FILTER`: an expression over a message's fields, compiled once, evaluated by `simpleeval`.

    media_type == "video" and size > 50MB and re(caption, "(?i)lecture")
    ext in ["mp4", "mkv"] and date >= 2024-01-01 and not contains(lower(file_name), "sample")

How it is kept safe and fast:

1. `tokens.lex` reads the text (at most MAX_EXPRESSION characters) and replaces every literal
   (strings, numbers, sizes, dates) by a placeholder name; anything else that is not a field, a
   whitelisted function, `and or not in True False`, a bracket or an operator is refused there,
   with its column (so no `.`, no string prefixes, no `__import__`, no `lambda`).
2. Python's parser (`ast.parse`, never `eval`/`compile` to code) turns that ASCII text into a tree.
3. `check.check` keeps only a short list of node kinds, puts the literals back, folds lists into
   constant sets, compiles `re()` patterns once (regular expressions run with a time bound),
   and refuses comparisons whose kinds can never match.
4. `simpleeval.SimpleEval` evaluates that checked tree for each record (`previously_parsed`: no
   parse per message), restricted to the same node kinds, with comparison and arithmetic
   operators that treat a missing value (None) as never matching.
"""

from __future__ import annotations

import ast
import warnings
from collections.abc import Callable
from typing import Any

from simpleeval import InvalidExpression, SimpleEval

from tgfetch.selection.check import check
from tgfetch.selection.functions import OPERATORS, REGEX_TIMEOUT, STATIC_FUNCTIONS, RegexTimeout
from tgfetch.selection.literals import refuse
from tgfetch.selection.record import FIELDS, FilterRecord
from tgfetch.selection.tokens import ExprError, Lexed, lex

__all__ = ["FILTER_HELP", "MAX_EXPRESSION", "Filter", "compile_filter"]

#: Expressions longer than this (in characters) are refused.
MAX_EXPRESSION = 2000
FILTER_HELP = (
    'an expression such as media_type == "video" and size > 50MB and re(caption, "(?i)lecture") over the fields '
    + ", ".join(FIELDS)
)
_NODES = (ast.Name, ast.Constant, ast.BoolOp, ast.UnaryOp, ast.BinOp, ast.Compare, ast.Call)


class _Names:
    """The record the evaluator reads names from (set before each evaluation)."""

    __slots__ = ("record",)

    def __init__(self) -> None:
        self.record: FilterRecord | None = None

    def __getitem__(self, key: str) -> object:
        return getattr(self.record, key)


class _Evaluator(SimpleEval):  # type: ignore[misc]
    """simpleeval's evaluator, limited to the node kinds the checker lets through."""

    nodes: dict[type, Callable[..., Any]]

    def __init__(self, functions: dict[str, Callable[..., Any]], names: _Names) -> None:
        super().__init__(operators=dict(OPERATORS), functions=functions, names=names)
        self.nodes = {kind: handler for kind, handler in self.nodes.items() if kind in _NODES}


class Filter:
    """A compiled `FILTER`; `matches` evaluates it on one record (not thread-safe: one per thread)."""

    __slots__ = ("_evaluator", "_names", "_tree", "fields", "setting", "text")

    def __init__(self, text: str, setting: str, tree: ast.expr, functions: dict[str, Callable[..., Any]]) -> None:
        self.text = text
        self.setting = setting
        self.fields = frozenset(n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and n.id in FIELDS)
        self._tree = tree
        self._names = _Names()
        self._evaluator = _Evaluator({**STATIC_FUNCTIONS, **functions}, self._names)

    def matches(self, record: FilterRecord) -> bool:
        """Tell whether the record passes the filter."""
        self._names.record = record
        try:
            return bool(self._evaluator.eval(self.text, previously_parsed=self._tree))
        except RegexTimeout as exc:
            slow = f"the regular expression {str(exc)!r} ran longer than {REGEX_TIMEOUT} s on message {record.id}"
            refuse(self.setting, self.text, slow, "a regular expression that does not backtrack so much")
        except InvalidExpression as exc:  # the checker lets nothing through that gets here
            refuse(self.setting, self.text, f"cannot be evaluated ({exc})", FILTER_HELP)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Filter) and other.text == self.text

    def __hash__(self) -> int:
        return hash(self.text)

    def __repr__(self) -> str:
        return f"Filter({self.text!r})"


def _syntax(lexed: Lexed) -> ast.expr:
    """Parse the tokenizer's text into a tree; a syntax error becomes an ExprError at its column."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return ast.parse(lexed.source, mode="eval").body
    except SyntaxError as exc:
        if not exc.offset:  # the text ended where more was needed
            raise ExprError(lexed.column(len(lexed.source)), "the expression ends too early", FILTER_HELP) from None
        offset = min(exc.offset - 1, len(lexed.source))
        msg = (exc.msg or "").split(".")[0]
        detail = "cannot be read" + (f" ({msg})" if msg and "_k" not in msg else "")
        raise ExprError(lexed.column(offset), detail, FILTER_HELP) from None
    except (RecursionError, MemoryError):
        raise ExprError(1, "nested too deeply", "a flatter expression") from None


def compile_filter(text: str, setting: str = "FILTER") -> Filter:
    """Compile a filter expression once; a bad one raises ConfigError naming the setting, value and column."""
    if not isinstance(text, str):
        refuse(setting, text, "not a text", FILTER_HELP)
    if len(text) > MAX_EXPRESSION:
        refuse(setting, text, f"{len(text)} characters (at most {MAX_EXPRESSION})", FILTER_HELP)
    if not text.strip():
        refuse(setting, text, "empty", FILTER_HELP)
    try:
        lexed = lex(text)
        tree, functions = check(_syntax(lexed), lexed)
    except ExprError as exc:
        refuse(setting, text, f"{exc.detail} at column {exc.column}", exc.expected or FILTER_HELP)
    return Filter(text, setting, tree, functions)
