"""Check a parsed `FILTER` once: allowed nodes only, known names, kinds that compare, literals put back.

The checker walks the tree Python's parser made of the tokenizer's text. It refuses every node
outside a short list (no attribute, subscript, lambda, comprehension, f-string, tuple, dict...),
replaces the placeholder names by their literal values, folds `[...]` lists into constant sets,
compiles each `re()` pattern once (the call becomes a one-argument call of the compiled pattern),
and refuses comparisons whose kinds can never match (`size > "abc"`), each error with its column.
"""

from __future__ import annotations

import ast
from collections.abc import Callable
from typing import Any

from tgfetch.selection.functions import SIGNATURES, compile_pattern, matcher
from tgfetch.selection.literals import parse_date_literal
from tgfetch.selection.record import FIELD_KINDS, MEDIA_TYPES
from tgfetch.selection.tokens import ExprError, Lexed

__all__ = ["MAX_DEPTH", "Checked", "check"]

#: Expressions nested deeper than this (operators, calls, brackets) are refused.
MAX_DEPTH = 32
_ALLOWED = "fields, literals, [lists], and/or/not/in, == != < <= > >= + - * / and the functions " + ", ".join(
    SIGNATURES
)
_REFUSED = {
    ast.Attribute: "attribute access", ast.Subscript: "indexing", ast.Lambda: "lambda", ast.IfExp: "if/else",
    ast.Tuple: "a tuple (write a [list])", ast.Dict: "a dict", ast.Set: "a set", ast.ListComp: "a comprehension",
    ast.GeneratorExp: "a generator", ast.SetComp: "a comprehension", ast.DictComp: "a comprehension",
    ast.Starred: "'*'", ast.NamedExpr: "':='", ast.JoinedStr: "an f-string", ast.Slice: "a slice",
}  # fmt: skip
_COMPARISONS = (ast.Eq, ast.NotEq, ast.Lt, ast.LtE, ast.Gt, ast.GtE, ast.In, ast.NotIn)
_ARITHMETIC = (ast.Add, ast.Sub, ast.Mult, ast.Div)
_SAME_KIND = 'values of the same kind, e.g. size > 50MB, date >= 2024-01-31, ext == "mp4"'
_KIND_NAMES = {"num": "a number", "str": "a text", "date": "a date", "bool": "True/False", "any": "a value"}

Checked = tuple[ast.expr, dict[str, Callable[..., Any]]]


def _kind_name(kind: str) -> str:
    """Name a kind for an error line."""
    if kind.startswith("list:"):
        return "a list"
    return _KIND_NAMES.get(kind, kind)


def _fits(a: str, b: str) -> bool:
    """Tell whether values of two kinds may compare."""
    return a == b or "any" in (a, b)


def _constant(value: Any, like: ast.AST) -> ast.Constant:
    """Return a constant node at the place of `like`."""
    return ast.copy_location(ast.Constant(value=value), like)


class _Checker:
    """One walk over one tree; `functions` collects the compiled `re()` patterns."""

    def __init__(self, lexed: Lexed) -> None:
        self.lexed = lexed
        self.functions: dict[str, Callable[..., Any]] = {}

    def fail(self, node: ast.AST, detail: str, expected: str | None = None) -> ExprError:
        """Return the error for `detail` at the node's column."""
        return ExprError(self.lexed.column(getattr(node, "col_offset", 0)), detail, expected)

    def visit(self, node: ast.AST, depth: int) -> tuple[ast.expr, str]:
        """Check one node; return it (or its replacement) and its kind."""
        if depth > MAX_DEPTH:
            raise self.fail(node, f"an expression nested deeper than {MAX_DEPTH} levels", "a flatter expression")
        visit = _VISITORS.get(type(node))
        if visit is None:
            what = _REFUSED.get(type(node), type(node).__name__)
            raise self.fail(node, f"{what} is not allowed", _ALLOWED)
        return visit(self, node, depth + 1)

    def name(self, node: ast.Name, depth: int) -> tuple[ast.expr, str]:
        """Check a field name, or put a literal back in place of its placeholder."""
        literal = self.lexed.literals.get(node.id)
        if literal is not None:
            return _constant(literal.value, node), literal.kind
        if node.id in FIELD_KINDS:
            return node, FIELD_KINDS[node.id]
        if node.id in SIGNATURES:
            raise self.fail(node, f"function {node.id!r} is not called", f"{node.id}(...)")
        raise self.fail(node, f"unknown name {node.id!r}", _ALLOWED)

    def constant(self, node: ast.Constant, depth: int) -> tuple[ast.expr, str]:
        """Accept True or False (every other literal came through a placeholder)."""
        if isinstance(node.value, bool):
            return node, "bool"
        raise self.fail(node, f"the literal {node.value!r} is not allowed", _ALLOWED)

    def list_(self, node: ast.List, depth: int) -> tuple[ast.expr, str]:
        """Fold a list of literals into a constant set."""
        values: list[Any] = []
        kinds: set[str] = set()
        for elt in node.elts:
            new, kind = self.visit(elt, depth)
            if not isinstance(new, ast.Constant) or kind.startswith("list:"):
                raise self.fail(elt, "a list holds literals only", '["mp4", "mkv"] or [1, 2]')
            values.append(new.value)
            kinds.add(kind)
        if len(kinds) > 1:
            raise self.fail(node, "a list mixes kinds of values", "a list of numbers, texts or dates")
        return _constant(frozenset(values), node), "list:" + (kinds.pop() if kinds else "any")

    def boolop(self, node: ast.BoolOp, depth: int) -> tuple[ast.expr, str]:
        """Check `and` / `or` over any number of values."""
        kinds = set()
        for i, value in enumerate(node.values):
            node.values[i], kind = self.visit(value, depth)
            if kind.startswith("list:"):
                raise self.fail(value, "a list only goes after in / not in", _ALLOWED)
            kinds.add(kind)
        return node, "bool" if kinds == {"bool"} else "any"

    def unary(self, node: ast.UnaryOp, depth: int) -> tuple[ast.expr, str]:
        """Check `not x`, `-x` or `+x`."""
        node.operand, kind = self.visit(node.operand, depth)
        if isinstance(node.op, ast.Not):
            return node, "bool"
        if isinstance(node.op, ast.USub | ast.UAdd) and _fits(kind, "num"):
            return node, "num"
        raise self.fail(node, f"this sign before {_kind_name(kind)} is not allowed", "- or + before a number")

    def binop(self, node: ast.BinOp, depth: int) -> tuple[ast.expr, str]:
        """Check arithmetic on numbers: + - * /."""
        if not isinstance(node.op, _ARITHMETIC):
            raise self.fail(node, f"the operator {type(node.op).__name__} is not allowed", "+ - * / on numbers")
        node.left, left = self.visit(node.left, depth)
        node.right, right = self.visit(node.right, depth)
        for side, kind in ((node.left, left), (node.right, right)):
            if not _fits(kind, "num"):
                raise self.fail(side, f"arithmetic on {_kind_name(kind)}", "+ - * / on numbers")
        return node, "num"

    def compare(self, node: ast.Compare, depth: int) -> tuple[ast.expr, str]:
        """Check a chain of comparisons: every pair of kinds that can match."""
        node.left, left_kind = self.visit(node.left, depth)
        left = node.left
        for i, (op, right) in enumerate(zip(node.ops, node.comparators, strict=True)):
            if not isinstance(op, _COMPARISONS):
                raise self.fail(right, f"the comparison {type(op).__name__} is not allowed", _ALLOWED)
            right, right_kind = self.visit(right, depth)
            left, left_kind, right, right_kind = self.literals_for_fields(left, left_kind, right, right_kind)
            if i == 0:
                node.left = left
            else:
                node.comparators[i - 1] = left
            node.comparators[i] = right
            self.pair(op, left, left_kind, right, right_kind)
            left, left_kind = right, right_kind
        return node, "bool"

    def pair(self, op: ast.cmpop, left: ast.expr, left_kind: str, right: ast.expr, right_kind: str) -> None:
        """Refuse a comparison of kinds that never match."""
        if isinstance(op, ast.In | ast.NotIn):
            if right_kind == "str" and _fits(left_kind, "str"):
                return
            if right_kind.startswith("list:") and _fits(left_kind, right_kind[5:]):
                return
            raise self.fail(right, f"{_kind_name(left_kind)} in {_kind_name(right_kind)} never matches",
                            "in [a list of the same kind] or a text in a text")  # fmt: skip
        for side, kind in ((left, left_kind), (right, right_kind)):
            if kind.startswith("list:"):
                raise self.fail(side, "a list only goes after in / not in", _ALLOWED)
        if not _fits(left_kind, right_kind):
            raise self.fail(right, f"{_kind_name(left_kind)} compared with {_kind_name(right_kind)}", _SAME_KIND)

    def literals_for_fields(
        self, left: ast.expr, left_kind: str, right: ast.expr, right_kind: str
    ) -> tuple[ast.expr, str, ast.expr, str]:
        """Check a literal against the field it is compared with (and read a quoted date as a date)."""
        if isinstance(left, ast.Name) and isinstance(right, ast.Constant):
            right, right_kind = self.literal_for(left.id, right, right_kind)
        elif isinstance(right, ast.Name) and isinstance(left, ast.Constant):
            left, left_kind = self.literal_for(right.id, left, left_kind)
        return left, left_kind, right, right_kind

    def literal_for(self, field: str, node: ast.Constant, kind: str) -> tuple[ast.expr, str]:
        """Refuse a literal the field can never hold; a date field turns a text into a date."""
        values = list(node.value) if isinstance(node.value, frozenset) else [node.value]
        strings = [v for v in values if isinstance(v, str)]
        if field == "date" and strings and kind in ("str", "list:str"):
            try:
                dates = [parse_date_literal(v) for v in strings]
            except (ValueError, OverflowError):
                raise self.fail(node, f"{strings[0]!r} is not a date", "an ISO date such as 2024-01-31") from None
            return _constant(dates[0] if kind == "str" else frozenset(dates), node), kind.replace("str", "date")
        for v in strings:
            if field == "media_type" and v not in MEDIA_TYPES:
                raise self.fail(node, f"unknown media type {v!r}", ", ".join(MEDIA_TYPES))
            if field == "ext" and (v != v.lower() or v.startswith(".")):
                raise self.fail(node, f"extension {v!r} never matches", "an extension in lower case, without the dot")
        return node, kind

    def call(self, node: ast.Call, depth: int) -> tuple[ast.expr, str]:
        """Check a call of a listed function with the right number and kinds of arguments."""
        name = node.func.id if isinstance(node.func, ast.Name) else ""
        if name not in SIGNATURES:
            raise self.fail(node, "only the listed functions may be called", ", ".join(SIGNATURES))
        params, result = SIGNATURES[name]
        if node.keywords or len(node.args) != len(params):
            raise self.fail(node, f"{name}() takes {len(params)} argument(s), no keywords", _usage(name, params))
        args = []
        for arg, param in zip(node.args, params, strict=True):
            new, kind = self.visit(arg, depth)
            want = "str" if param == "pattern" else param
            if not _fits(kind, want):
                raise self.fail(arg, f"{name}() given {_kind_name(kind)}", _usage(name, params))
            args.append(new)
        node.args = args
        if name == "re":
            return self.regex(node), result
        return node, result

    def regex(self, node: ast.Call) -> ast.expr:
        """Compile the pattern of `re(text, "pattern")` once; the call becomes `_reN(text)`."""
        pattern = node.args[1]
        if not isinstance(pattern, ast.Constant) or not isinstance(pattern.value, str):
            raise self.fail(pattern, "the pattern of re() is not a quoted string", 're(caption, "(?i)lecture")')
        try:
            compiled = compile_pattern(pattern.value)
        except ValueError as exc:
            raise self.fail(pattern, str(exc), "a regular expression in Python's re syntax") from None
        fname = f"_re{len(self.functions)}"
        self.functions[fname] = matcher(compiled)
        call = ast.Call(func=ast.Name(id=fname, ctx=ast.Load()), args=[node.args[0]], keywords=[])
        return ast.copy_location(call, node)


def _usage(name: str, params: tuple[str, ...]) -> str:
    """Show how a function is called."""
    shown = {"str": "text", "pattern": '"pattern"', "num": "number"}
    return f"{name}({', '.join(shown.get(p, p) for p in params)})"


_VISITORS: dict[type, Callable[[_Checker, Any, int], tuple[ast.expr, str]]] = {
    ast.Name: _Checker.name,
    ast.Constant: _Checker.constant,
    ast.List: _Checker.list_,
    ast.BoolOp: _Checker.boolop,
    ast.UnaryOp: _Checker.unary,
    ast.BinOp: _Checker.binop,
    ast.Compare: _Checker.compare,
    ast.Call: _Checker.call,
}


def check(tree: ast.expr, lexed: Lexed) -> Checked:
    """Check a parsed expression; return the tree to evaluate and the functions it needs (its patterns)."""
    checker = _Checker(lexed)
    node, _ = checker.visit(tree, 0)
    return node, checker.functions
