"""Static discovery of the scope references a template makes, for ``devctl validate``.

A reference is a dotted path rooted at a name the template does not bind itself:
``{{ outputs.provision.endpoint }}`` -> ``('outputs', 'provision', 'endpoint')``. Rules:

* Only the longest chain of a usage is reported, not its prefixes.
* A string-constant subscript is a segment (``fields['db-name']``); any other subscript (a variable, an
  integer index, a slice) ends the path before it.
* A called attribute is a method, not data: ``fields.name.upper()`` -> ``('fields', 'name')``.
* Names bound inside the template (``set``, ``for`` targets and ``loop``, ``with``, macros and their
  arguments, ``caller``, imports) are not references; neither are globals (``range``), ``self``, or the
  names of filters and tests. A ``set`` binds from that statement on; a name set inside ``if`` counts as
  bound after it, one set inside ``for``, ``with`` or a macro does not leak out.
* References come in source order (by line) and each path once, at its first line.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from jinja2 import nodes

from orchestrator.templates.engine import parse_expression
from orchestrator.templates.errors import TemplateError, wrap_error
from orchestrator.templates.sandbox import TemplateEnvironment, default_environment

_SPECIAL_NAMES = frozenset({"self"})
_MACRO_NAMES = frozenset({"varargs", "kwargs", "caller"})


@dataclass(frozen=True)
class TemplateReference:
    """A path into the scopes used by a template, and the line of its first use."""

    path: tuple[str, ...]
    line: int

    def __str__(self) -> str:
        return ".".join(self.path)


def _bound_names(target: nodes.Node) -> set[str]:
    """Names a store target (``x``, ``k, v``) binds."""
    names = [target, *target.find_all(nodes.Name)]
    return {name.name for name in names if isinstance(name, nodes.Name) and name.ctx in ("store", "param")}


def _chain(node: nodes.Node) -> tuple[nodes.Name, tuple[str, ...]] | None:
    """The root name and segments when ``node`` is ``name(.attr | ['const'])*``, else None."""
    segments: list[str] = []
    while True:
        if isinstance(node, nodes.Getattr):
            segments.append(node.attr)
            node = node.node
        elif isinstance(node, nodes.Getitem) and isinstance(node.arg, nodes.Const):
            if not isinstance(node.arg.value, str):
                return None
            segments.append(node.arg.value)
            node = node.node
        elif isinstance(node, nodes.Name) and node.ctx == "load":
            return node, (node.name, *reversed(segments))
        else:
            return None


class _ReferenceFinder:
    def __init__(self, ignored: frozenset[str]) -> None:
        self._ignored = ignored
        self.found: list[tuple[int, int, tuple[str, ...]]] = []

    def references(self) -> list[TemplateReference]:
        seen: set[tuple[str, ...]] = set()
        result = []
        for line, _order, path in sorted(self.found):
            if path not in seen:
                seen.add(path)
                result.append(TemplateReference(path, line))
        return result

    def _record(self, root: nodes.Name, path: tuple[str, ...], bound: set[str]) -> None:
        if root.name not in bound and root.name not in self._ignored:
            self.found.append((root.lineno, len(self.found), path))

    # Expressions

    def expression(self, node: nodes.Node | None, bound: set[str]) -> None:
        if node is None:
            return
        chain = _chain(node)
        if chain is not None:
            self._record(chain[0], chain[1], bound)
        elif isinstance(node, nodes.Call):
            callee = node.node
            # The called attribute is a method: the data is what it is called on.
            if isinstance(callee, nodes.Getattr | nodes.Getitem):
                callee = callee.node
            self.expression(callee, bound)
            self._arguments(node, bound)
        elif isinstance(node, nodes.Filter | nodes.Test):
            self.expression(node.node, bound)
            self._arguments(node, bound)
        elif isinstance(node, nodes.CondExpr):
            self.expressions((node.expr1, node.test, node.expr2), bound)
        else:
            self.expressions(node.iter_child_nodes(), bound)

    def expressions(self, items: Iterable[nodes.Node | None], bound: set[str]) -> None:
        for item in items:
            self.expression(item, bound)

    def _arguments(self, node: nodes.Call | nodes.Filter | nodes.Test, bound: set[str]) -> None:
        self.expressions(node.args, bound)
        self.expressions((keyword.value for keyword in node.kwargs), bound)
        self.expressions((node.dyn_args, node.dyn_kwargs), bound)

    # Statements

    def statements(self, body: Iterable[nodes.Node], bound: set[str]) -> None:
        """Walk ``body`` in order; names it binds are added to ``bound`` (the current scope)."""
        for node in body:
            self.statement(node, bound)

    def statement(self, node: nodes.Node, bound: set[str]) -> None:
        if isinstance(node, nodes.Output):
            self.expressions((child for child in node.nodes if not isinstance(child, nodes.TemplateData)), bound)
        elif isinstance(node, nodes.If):
            self.expression(node.test, bound)
            self.statements(node.body, bound)
            self.statements(node.elif_, bound)
            self.statements(node.else_, bound)
        elif isinstance(node, nodes.For):
            self.expression(node.iter, bound)
            inner = bound | _bound_names(node.target) | {"loop"}
            self.expression(node.test, inner)
            self.statements(node.body, inner)
            self.statements(node.else_, set(bound))
        elif isinstance(node, nodes.Assign):
            self.expression(node.node, bound)
            self._assign(node.target, bound)
        elif isinstance(node, nodes.AssignBlock):
            self.statements(node.body, set(bound))
            self.expression(node.filter, bound)
            self._assign(node.target, bound)
        elif isinstance(node, nodes.With):
            self.expressions(node.values, bound)
            inner = set(bound)
            for target in node.targets:
                inner |= _bound_names(target)
            self.statements(node.body, inner)
        elif isinstance(node, nodes.Macro):
            bound.add(node.name)
            self._macro(node.args, node.defaults, node.body, bound | _MACRO_NAMES)
        elif isinstance(node, nodes.CallBlock):
            self.expression(node.call, bound)
            self._macro(node.args, node.defaults, node.body, bound | _MACRO_NAMES)
        elif isinstance(node, nodes.FilterBlock):
            self.expression(node.filter, bound)
            self.statements(node.body, set(bound))
        elif isinstance(node, nodes.Import):
            self.expression(node.template, bound)
            bound.add(node.target)
        elif isinstance(node, nodes.FromImport):
            self.expression(node.template, bound)
            bound.update(name if isinstance(name, str) else name[1] for name in node.names)
        elif isinstance(node, nodes.Block | nodes.Scope | nodes.ScopedEvalContextModifier):
            if isinstance(node, nodes.ScopedEvalContextModifier):
                self.expressions((keyword.value for keyword in node.options), bound)
            self.statements(node.body, set(bound))
        elif isinstance(node, nodes.Expr):
            self.expression(node, bound)
        else:  # Include, Extends, EvalContextModifier, ExprStmt, ...: walk expressions, then statements
            for child in node.iter_child_nodes():
                if isinstance(child, nodes.Expr):
                    self.expression(child, bound)
                else:
                    self.statement(child, bound)

    def _assign(self, target: nodes.Node, bound: set[str]) -> None:
        if isinstance(target, nodes.NSRef):
            root = nodes.Name(target.name, "load", lineno=target.lineno)
            self._record(root, (target.name,), bound)
        else:
            bound |= _bound_names(target)

    def _macro(
        self, args: list[nodes.Name], defaults: list[nodes.Expr], body: list[nodes.Node], bound: set[str]
    ) -> None:
        inner = bound | {arg.name for arg in args}
        self.expressions(defaults, inner)
        self.statements(body, inner)


def _finder(environment: TemplateEnvironment) -> _ReferenceFinder:
    return _ReferenceFinder(frozenset(environment.globals) | _SPECIAL_NAMES)


def find_references(source: str, *, environment: TemplateEnvironment | None = None) -> list[TemplateReference]:
    """Every scope reference in template ``source``; raises ``TemplateError`` (with line) if it does
    not parse."""
    return list(_references(source, environment or default_environment()))


@functools.lru_cache(maxsize=4096)
def _references(source: str, environment: TemplateEnvironment) -> tuple[TemplateReference, ...]:
    # Cached: the operator asks about the same item templates on every reconcile (parsing them each time was a tenth
    # of a reconcile's CPU in the issue-8 burst). A parse error is not cached; it raises again.
    try:
        parsed = environment.parse(source)
    except Exception as error:
        raise wrap_error(error) from error
    finder = _finder(environment)
    finder.statements(parsed.body, set())
    return tuple(finder.references())


def find_references_in_expression(
    expression: str, *, environment: TemplateEnvironment | None = None
) -> list[TemplateReference]:
    """Every scope reference in a ``when:`` expression (bare or ``{{ }}``-wrapped, as for
    ``evaluate_condition``); raises ``TemplateError`` if it does not parse."""
    environment = environment or default_environment()
    parsed = parse_expression(expression, environment)
    finder = _finder(environment)
    finder.expression(parsed, set())
    return finder.references()


def uses_scope(value: Any, scope: str) -> bool:
    """Whether any template inside ``value`` (strings, mappings, lists) reads the scope ``scope``."""
    if isinstance(value, str):
        if "{" not in value:
            return False
        try:
            return any(ref.path[0] == scope for ref in find_references(value))
        except TemplateError:
            return False
    if isinstance(value, Mapping):
        return any(uses_scope(v, scope) for v in value.values())
    if isinstance(value, list | tuple):
        return any(uses_scope(v, scope) for v in value)
    return False
