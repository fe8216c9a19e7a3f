"""The small subset of JQL the fake JIRA understands.

Enough for adopting a ticket after an unknown outcome (``labels = "orchestrator-<uid>" AND project = DBA``) and for
tests: clauses over a handful of fields with ``=``, ``!=``, ``IN``, ``NOT IN``, ``IS [NOT] EMPTY`` and ``~`` (summary
only), combined with ``AND``, ``OR``, ``NOT`` and parentheses, and an optional ``ORDER BY``. Anything else raises
``JqlError`` carrying a message worded like JIRA's own, which the server turns into a 400.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

# JQL field name (lower case) -> canonical field the evaluator asks the issue for.
FIELDS: dict[str, str] = {
    "labels": "labels",
    "project": "project",
    "key": "key",
    "issuekey": "key",
    "id": "key",
    "status": "status",
    "statuscategory": "statusCategory",
    "resolution": "resolution",
    "issuetype": "issuetype",
    "type": "issuetype",
    "priority": "priority",
    "component": "component",
    "summary": "summary",
}
ORDER_FIELDS: dict[str, str] = {"created": "created", "updated": "updated", "key": "key", "id": "key"}
# Operators each field supports (JIRA rejects e.g. '~' on labels the same way).
_EQUALITY = frozenset({"=", "!=", "in", "not in", "is", "is not"})
OPERATORS: dict[str, frozenset[str]] = dict.fromkeys(set(FIELDS.values()), _EQUALITY)
OPERATORS["summary"] = frozenset({"~", "!~", "is", "is not"})
_ALL_OPERATORS = "'=', '!=', '~', '!~', 'IN', 'NOT IN', 'IS' and 'IS NOT'"

_TOKEN = re.compile(
    r"""\s*(?:
        (?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
      | (?P<unterminated>["'].*)
      | (?P<op>!=|!~|>=|<=|=|~|>|<)
      | (?P<punct>[(),])
      | (?P<word>[^\s"'(),=!~<>]+)
    )""",
    re.VERBOSE,
)
_KEYWORDS = frozenset({"and", "or", "not", "in", "is", "empty", "null", "order", "by", "asc", "desc"})


class JqlError(ValueError):
    """A query outside the supported subset, or malformed; ``str()`` is the message JIRA would give."""


@dataclass(frozen=True)
class Token:
    kind: str  # string | op | punct | word | keyword | end
    text: str
    pos: int

    @property
    def value(self) -> str:
        if self.kind != "string":
            return self.text
        return re.sub(r"\\(.)", r"\1", self.text[1:-1])


@dataclass(frozen=True)
class Clause:
    field: str
    op: str  # '=', '!=', 'in', 'not in', 'is', 'is not', '~', '!~'
    values: tuple[str, ...]


@dataclass(frozen=True)
class BoolOp:
    op: str  # 'and' | 'or'
    parts: tuple[Node, ...]


@dataclass(frozen=True)
class Not:
    part: Node


Node = Clause | BoolOp | Not


@dataclass(frozen=True)
class Query:
    where: Node | None
    order_by: tuple[tuple[str, bool], ...]  # (canonical field, descending)


def tokenize(jql: str) -> list[Token]:
    """Split JQL into tokens; keywords are recognised case-insensitively, only when unquoted."""
    tokens: list[Token] = []
    pos = 0
    while pos < len(jql):
        if not jql[pos:].strip():
            break
        m = _TOKEN.match(jql, pos)
        if m is None or m.lastgroup is None:  # pragma: no cover - the word class catches everything else
            raise JqlError(f"Error in the JQL Query: unexpected character at position {pos + 1}.")
        kind, text = m.lastgroup, m.group(m.lastgroup)
        start = m.start(kind)
        if kind == "unterminated":
            raise JqlError(
                f"Error in the JQL Query: The quoted string '{text[1:]}' has not been completed. "
                f"(line 1, character {start + 1})"
            )
        if kind == "word" and text.lower() in _KEYWORDS:
            kind, text = "keyword", text.lower()
        tokens.append(Token(kind, text, start))
        pos = m.end()
    tokens.append(Token("end", "", len(jql)))
    return tokens


class _Parser:
    def __init__(self, jql: str) -> None:
        self.tokens = tokenize(jql)
        self.i = 0

    def peek(self) -> Token:
        return self.tokens[self.i]

    def next(self) -> Token:
        tok = self.tokens[self.i]
        self.i += 1
        return tok

    def at_keyword(self, *words: str) -> bool:
        tok = self.peek()
        return tok.kind == "keyword" and tok.text in words

    def fail(self, expecting: str, tok: Token | None = None) -> JqlError:
        tok = tok or self.peek()
        got = "end of query" if tok.kind == "end" else f"'{tok.text}'"
        return JqlError(
            f"Error in the JQL Query: Expecting {expecting} but got {got}. (line 1, character {tok.pos + 1})"
        )

    def query(self) -> Query:
        where = None if self.at_keyword("order") or self.peek().kind == "end" else self.or_expr()
        order: list[tuple[str, bool]] = []
        if self.at_keyword("order"):
            self.next()
            if not self.at_keyword("by"):
                raise self.fail("'by'")
            self.next()
            while True:
                tok = self.next()
                if tok.kind not in ("word", "string"):
                    raise self.fail("a field name", tok)
                field = ORDER_FIELDS.get(tok.value.lower())
                if field is None:
                    raise JqlError(f"Not able to sort using field '{tok.value}'.")
                descending = False
                if self.at_keyword("asc", "desc"):
                    descending = self.next().text == "desc"
                order.append((field, descending))
                if self.peek().kind == "punct" and self.peek().text == ",":
                    self.next()
                    continue
                break
        if self.peek().kind != "end":
            raise self.fail("either 'OR' or 'AND'" if where is not None else "a field name")
        return Query(where, tuple(order))

    def or_expr(self) -> Node:
        parts = [self.and_expr()]
        while self.at_keyword("or"):
            self.next()
            parts.append(self.and_expr())
        return parts[0] if len(parts) == 1 else BoolOp("or", tuple(parts))

    def and_expr(self) -> Node:
        parts = [self.not_expr()]
        while self.at_keyword("and"):
            self.next()
            parts.append(self.not_expr())
        return parts[0] if len(parts) == 1 else BoolOp("and", tuple(parts))

    def not_expr(self) -> Node:
        if self.at_keyword("not"):
            self.next()
            return Not(self.not_expr())
        tok = self.peek()
        if tok.kind == "punct" and tok.text == "(":
            self.next()
            inner = self.or_expr()
            if not (self.peek().kind == "punct" and self.peek().text == ")"):
                raise self.fail("')'")
            self.next()
            return inner
        return self.clause()

    def clause(self) -> Clause:
        tok = self.next()
        if tok.kind not in ("word", "string"):
            raise self.fail("a field name", tok)
        field = FIELDS.get(tok.value.lower())
        if field is None:
            raise JqlError(f"Field '{tok.value}' does not exist or you do not have permission to view it.")
        op_tok = self.next()
        if op_tok.kind == "op" or (op_tok.kind == "keyword" and op_tok.text in ("in", "is")):
            op = op_tok.text
        elif op_tok.kind == "keyword" and op_tok.text == "not" and self.at_keyword("in"):
            self.next()
            op = "not in"
        else:
            raise self.fail(f"operator; the valid operators are {_ALL_OPERATORS}", op_tok)
        if op == "is" and self.at_keyword("not"):
            self.next()
            op = "is not"
        if op not in OPERATORS[field]:
            raise JqlError(f"The operator '{op.upper()}' is not supported by the '{tok.value}' field.")
        if op in ("is", "is not"):
            if not self.at_keyword("empty", "null"):
                raise self.fail("'EMPTY' or 'NULL'")
            self.next()
            return Clause(field, op, ())
        if op in ("in", "not in"):
            return Clause(field, op, self.value_list())
        return Clause(field, op, (self.value(),))

    def value(self) -> str:
        tok = self.next()
        if tok.kind in ("string", "word") or (tok.kind == "keyword" and tok.text in ("empty", "null")):
            return tok.value
        raise self.fail("either a value, 'EMPTY' or a function", tok)

    def value_list(self) -> tuple[str, ...]:
        tok = self.next()
        if not (tok.kind == "punct" and tok.text == "("):
            raise self.fail("'('", tok)
        values = [self.value()]
        while self.peek().kind == "punct" and self.peek().text == ",":
            self.next()
            values.append(self.value())
        if not (self.peek().kind == "punct" and self.peek().text == ")"):
            raise self.fail("')'")
        self.next()
        return tuple(values)


def parse(jql: str) -> Query:
    """Parse a query of the supported subset; raise ``JqlError`` otherwise."""
    return _Parser(jql).query()


def matches(node: Node | None, lookup: Callable[[str], list[str]]) -> bool:
    """Evaluate ``node`` against one issue; ``lookup(field)`` gives the field's values (empty when unset).

    Comparisons are case-insensitive, as JIRA's are for these fields.
    """
    if node is None:
        return True
    if isinstance(node, BoolOp):
        results = (matches(part, lookup) for part in node.parts)
        return all(results) if node.op == "and" else any(results)
    if isinstance(node, Not):
        return not matches(node.part, lookup)
    have = [v.lower() for v in lookup(node.field)]
    wanted = [v.lower() for v in node.values]
    if node.field == "resolution" and wanted == ["unresolved"]:
        wanted, op = [], "is" if node.op in ("=", "in") else "is not"
    else:
        op = node.op
    if op == "is":
        return not have
    if op == "is not":
        return bool(have)
    if op in ("~", "!~"):
        words = wanted[0].replace("*", "").split()
        found = bool(have) and all(w in have[0] for w in words)
        return found if op == "~" else not found
    hit = any(v in have for v in wanted)
    return hit if op in ("=", "in") else not hit


def referenced(node: Node | None, field: str) -> list[str]:
    """Values a query compares ``field`` against with ``=``/``IN`` (for JIRA's 'value does not exist' checks)."""
    if node is None:
        return []
    if isinstance(node, BoolOp):
        return [v for part in node.parts for v in referenced(part, field)]
    if isinstance(node, Not):
        return referenced(node.part, field)
    return list(node.values) if node.field == field and node.op in ("=", "in", "!=", "not in") else []
