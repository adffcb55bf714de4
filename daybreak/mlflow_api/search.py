"""MLflow's search syntax: ``metrics.acc > 0.9 and params.lr = '0.1'`` and ``order_by`` terms.

A filter is clauses joined by AND; each clause is ``kind.key OP value`` where kind is
metrics, params, tags or attributes (MLflow's aliases accepted), OP one of = != < <= > >=
LIKE ILIKE IN NOT IN, or ``IS [NOT] NULL``. Keys with spaces or dots are quoted with
backticks or double quotes. Parsed once, evaluated in Python against each candidate.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Callable, Sequence
from typing import Any

from daybreak.mlflow_api.errors import invalid

KINDS = {
    "metric": "metrics",
    "metrics": "metrics",
    "param": "params",
    "params": "params",
    "parameter": "params",
    "parameters": "params",
    "tag": "tags",
    "tags": "tags",
    "attribute": "attributes",
    "attributes": "attributes",
    "attr": "attributes",
    "run": "attributes",
}
NUMBER_OPS = ("=", "!=", "<", "<=", ">", ">=")
STRING_OPS = ("=", "!=", "LIKE", "ILIKE", "IN", "NOT IN")
NULL_OPS = ("IS NULL", "IS NOT NULL")
TOKEN = re.compile(
    r"""\s*(?:
      (?P<string>'(?:[^']|'')*')
    | (?P<dquoted>"(?:[^"]|"")*")
    | (?P<backtick>`[^`]*`)
    | (?P<number>-?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)(?![\w.])
    | (?P<op>!=|<>|<=|>=|=|<|>|\(|\)|,)
    | (?P<word>[A-Za-z_][\w.\-:/]*)
    )""",
    re.VERBOSE,
)
KEYWORDS = {"AND", "OR", "LIKE", "ILIKE", "IN", "NOT", "IS", "NULL"}

Getter = Callable[[str, str], Any]


@dataclasses.dataclass(frozen=True)
class Clause:
    kind: str
    key: str
    op: str
    value: Any = None

    def matches(self, get: Getter) -> bool:
        found = get(self.kind, self.key)
        if self.op in NULL_OPS:
            return (found is None) == (self.op == "IS NULL")
        if found is None:
            return False
        if isinstance(self.value, float):
            return _compare_numbers(float(found), self.op, self.value)
        return _compare_strings(str(found), self.op, self.value)


@dataclasses.dataclass(frozen=True)
class OrderTerm:
    kind: str
    key: str
    ascending: bool


def _compare_numbers(found: float, op: str, wanted: float) -> bool:
    if math.isnan(found):
        return op == "!="
    return {
        "=": found == wanted,
        "!=": found != wanted,
        "<": found < wanted,
        "<=": found <= wanted,
        ">": found > wanted,
        ">=": found >= wanted,
    }[op]


def _compare_strings(found: str, op: str, wanted: Any) -> bool:
    if op == "=":
        return found == wanted
    if op == "!=":
        return found != wanted
    if op in ("LIKE", "ILIKE"):
        flags = re.IGNORECASE if op == "ILIKE" else 0
        return re.fullmatch(_like_pattern(str(wanted)), found, flags | re.DOTALL) is not None
    if op == "IN":
        return found in wanted
    return found not in wanted  # NOT IN


def _like_pattern(like: str) -> str:
    return "".join(".*" if ch == "%" else "." if ch == "_" else re.escape(ch) for ch in like)


def _tokens(text: str) -> list[tuple[str, str]]:
    out, pos = [], 0
    text = text.rstrip()
    while pos < len(text):
        found = TOKEN.match(text, pos)
        if found is None or found.end() == pos:
            raise invalid(
                f"cannot parse the filter at {text[pos : pos + 20]!r}",
                "write clauses like metrics.acc > 0.9 and params.lr = '0.1'",
            )
        kind = found.lastgroup or ""
        out.append((kind, found.group(kind)))
        pos = found.end()
    return out


def _unquote(kind: str, raw: str) -> str:
    if kind == "string":
        return raw[1:-1].replace("''", "'")
    if kind == "dquoted":
        return raw[1:-1].replace('""', '"')
    if kind == "backtick":
        return raw[1:-1]
    return raw


class _Parser:
    def __init__(self, text: str, kinds: Sequence[str]) -> None:
        self.tokens = _tokens(text)
        self.pos = 0
        self.kinds = kinds

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self) -> tuple[str, str]:
        token = self.peek()
        if token is None:
            raise invalid("the filter ends too early", "finish the last clause")
        self.pos += 1
        return token

    def keyword(self, *words: str) -> bool:
        token = self.peek()
        if token and token[0] == "word" and token[1].upper() in words:
            self.pos += 1
            return True
        return False

    def identifier(self) -> tuple[str, str]:
        kind, raw = self.take()
        if kind == "word" and raw.upper() not in KEYWORDS:
            head, dot, rest = raw.partition(".")
            if dot and head.lower() in KINDS and not rest:  # metrics."quoted key"
                quoted_kind, quoted = self.take()
                if quoted_kind not in ("dquoted", "backtick", "string"):
                    raise invalid(f"expected a quoted key after {raw!r}", "quote the key")
                return self._kind(head), _unquote(quoted_kind, quoted)
            if dot and head.lower() in KINDS:
                return self._kind(head), rest
            return self._kind("attributes"), raw
        raise invalid(
            f"expected a key like metrics.acc, found {raw!r}", "start each clause with a key"
        )

    def _kind(self, word: str) -> str:
        kind = KINDS.get(word.lower(), "")
        if kind not in self.kinds:
            raise invalid(f"cannot search by {word!r} here", f"use one of: {', '.join(self.kinds)}")
        return kind

    def clause(self) -> Clause:
        kind, key = self.identifier()
        if self.keyword("IS"):
            negate = self.keyword("NOT")
            if not self.keyword("NULL"):
                raise invalid("expected NULL after IS", "write IS NULL or IS NOT NULL")
            return Clause(kind, key, "IS NOT NULL" if negate else "IS NULL")
        op = self._operator()
        value = self._value(op)
        numeric = kind == "metrics" or (kind == "attributes" and key in NUMERIC_ATTRIBUTES)
        if numeric:
            if op not in NUMBER_OPS or not isinstance(value, float):
                raise invalid(
                    f"{kind}.{key} is a number: compare it with {' '.join(NUMBER_OPS)} and a number",
                    "for example metrics.acc > 0.9",
                )
        elif op not in STRING_OPS:
            raise invalid(
                f"{kind}.{key} is a string: compare it with {', '.join(STRING_OPS)}",
                "for example params.optimizer = 'adam'",
            )
        elif isinstance(value, float):
            value = _number_text(value)
        return Clause(kind, key, op, value)

    def _operator(self) -> str:
        if self.keyword("NOT"):
            if not self.keyword("IN"):
                raise invalid("expected IN after NOT", "write NOT IN ('a', 'b')")
            return "NOT IN"
        for word in ("LIKE", "ILIKE", "IN"):
            if self.keyword(word):
                return word
        kind, raw = self.take()
        if kind != "op" or raw in ("(", ")", ","):
            raise invalid(f"expected a comparison, found {raw!r}", "use = != < <= > >= LIKE IN")
        return "!=" if raw == "<>" else raw

    def _value(self, op: str) -> Any:
        if op in ("IN", "NOT IN"):
            return frozenset(self._list())
        kind, raw = self.take()
        if kind == "number":
            return float(raw)
        if kind in ("string", "dquoted"):
            return _unquote(kind, raw)
        raise invalid(f"expected a value, found {raw!r}", "quote strings: params.x = 'a'")

    def _list(self) -> list[str]:
        if self.take() != ("op", "("):
            raise invalid("expected '(' after IN", "write IN ('a', 'b')")
        items = []
        while True:
            kind, raw = self.take()
            if kind not in ("string", "dquoted", "number"):
                raise invalid(f"expected a quoted value in the list, found {raw!r}", "quote it")
            items.append(_unquote(kind, raw))
            kind, raw = self.take()
            if raw == ")":
                return items
            if raw != ",":
                raise invalid(f"expected ',' or ')', found {raw!r}", "separate values by ','")

    def parse(self) -> list[Clause]:
        clauses = []
        while self.peek() is not None:
            clauses.append(self.clause())
            if self.peek() is None:
                break
            if self.keyword("OR"):
                raise invalid("OR is not supported in searches", "run one search per branch")
            if not self.keyword("AND"):
                raise invalid(f"expected AND, found {self.peek()[1]!r}", "join clauses with AND")  # type: ignore[index]
        return clauses


NUMERIC_ATTRIBUTES = frozenset({"start_time", "end_time", "creation_time", "last_update_time"})


def _number_text(value: float) -> str:
    return str(int(value)) if value.is_integer() else repr(value)


def parse_filter(text: str | None, kinds: Sequence[str]) -> list[Clause]:
    """Clauses of an MLflow filter string; empty for no filter."""
    if not text or not text.strip():
        return []
    return _Parser(text, kinds).parse()


def parse_order_by(terms: Sequence[str], kinds: Sequence[str]) -> list[OrderTerm]:
    out = []
    for term in terms:
        parser = _Parser(term, kinds)
        kind, key = parser.identifier()
        ascending = True
        if parser.keyword("DESC"):
            ascending = False
        else:
            parser.keyword("ASC")
        if parser.peek() is not None:
            raise invalid(f"cannot order by {term!r}", "write e.g. 'metrics.acc DESC'")
        out.append(OrderTerm(kind, key, ascending))
    return out


def matches(clauses: Sequence[Clause], get: Getter) -> bool:
    return all(clause.matches(get) for clause in clauses)


def sort_key(terms: Sequence[OrderTerm], get: Getter) -> tuple[Any, ...]:
    """A key that sorts by ``terms`` with missing values last whatever the direction."""
    parts: list[Any] = []
    for term in terms:
        value = get(term.kind, term.key)
        if value is None or (isinstance(value, float) and math.isnan(value)):
            parts.append((1, 0))
            continue
        parts.append((0, _Directed(value, term.ascending)))
    return tuple(parts)


class _Directed:
    """A value that compares in the given direction (numbers and strings alike)."""

    __slots__ = ("ascending", "value")

    def __init__(self, value: Any, ascending: bool) -> None:
        self.value, self.ascending = value, ascending

    def __lt__(self, other: _Directed) -> bool:
        a, b = self.value, other.value
        numbers = isinstance(a, (int, float)) and isinstance(b, (int, float))
        if not numbers and type(a) is not type(b):
            a, b = str(a), str(b)
        return bool(a < b) if self.ascending else bool(a > b)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Directed) and self.value == other.value
