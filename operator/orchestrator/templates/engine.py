"""Rendering templates and evaluating conditions against the scopes (DESIGN.md, "Templates").

Rules a caller must know:

* A template without ``{{``, ``{%`` or ``{#`` is returned unchanged.
* A template that is a single ``{{ expression }}`` (whitespace around it allowed, comments ignored)
  returns the expression's value as plain data: a bool stays a bool, a list stays a list.
* Anything else renders to a string; one trailing newline is dropped (``keep_trailing_newline=False``).
* Values in the scopes are data: a field whose value looks like a template is never rendered.
* Every failure, whatever its cause, raises ``TemplateError`` with a one-line message and the line.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import jinja2
from jinja2 import nodes
from jinja2.lexer import describe_token
from jinja2.parser import Parser

from orchestrator.templates.budget import (
    DEFAULT_MAX_OPERATIONS,
    DEFAULT_MAX_OUTPUT,
    DEFAULT_TIME_BUDGET,
    RenderLimits,
    render_budget,
    to_plain_data,
)
from orchestrator.templates.errors import TemplateError, wrap_error
from orchestrator.templates.sandbox import TemplateEnvironment, default_environment

_MARKUP = ("{{", "{%", "{#")
_COMPILED_CACHE_SIZE = 1024


@dataclass(frozen=True)
class _PlainText:
    text: str


@dataclass(frozen=True)
class _SingleExpression:
    template: jinja2.Template
    line: int


@dataclass(frozen=True)
class _TextTemplate:
    template: jinja2.Template


_Compiled = _PlainText | _SingleExpression | _TextTemplate


def single_expression(template: nodes.Template) -> nodes.Expr | None:
    """The expression of a template that is one ``{{ expression }}`` and whitespace, else None."""
    if len(template.body) != 1 or not isinstance(template.body[0], nodes.Output):
        return None
    significant = [
        node for node in template.body[0].nodes if not (isinstance(node, nodes.TemplateData) and not node.data.strip())
    ]
    if len(significant) != 1 or isinstance(significant[0], nodes.TemplateData):
        return None
    return significant[0]


def parse_expression(source: str, environment: TemplateEnvironment) -> nodes.Expr:
    """Parse a condition: a bare expression (``fields.size == 'large'``) or one wrapped in ``{{ }}``.

    Raises ``TemplateError`` for a syntax error or for a wrapped template that is more than one expression.
    """
    stripped = source.strip()
    if not stripped:
        raise TemplateError("the expression is empty")
    try:
        if stripped.startswith("{{") and stripped.endswith("}}"):
            expression = single_expression(environment.parse(source))
            if expression is None:
                raise TemplateError("expected a single expression, such as \"fields.size == 'large'\"")
            return expression
        parser = Parser(environment, source, state="variable")
        expression = parser.parse_expression()
        if not parser.stream.eos:
            raise jinja2.TemplateSyntaxError(
                f"unexpected {describe_token(parser.stream.current)} after the expression",
                parser.stream.current.lineno,
            )
        expression.set_environment(environment)
        return expression
    except TemplateError:
        raise
    except Exception as error:
        raise wrap_error(error) from error


def _compile_expression(expression: nodes.Expr, environment: TemplateEnvironment) -> _SingleExpression:
    # What Environment.compile_expression does, but from an already parsed node (so lines stay those of
    # the original template) and without its Undefined -> None conversion.
    body = [nodes.Assign(nodes.Name("result", "store"), expression, lineno=expression.lineno)]
    template = environment.from_string(nodes.Template(body, lineno=1))
    return _SingleExpression(template, expression.lineno)


@functools.lru_cache(maxsize=_COMPILED_CACHE_SIZE)
def _compile(source: str, environment: TemplateEnvironment) -> _Compiled:
    if not any(marker in source for marker in _MARKUP):
        return _PlainText(source)
    try:
        parsed = environment.parse(source)
        expression = single_expression(parsed)
        if expression is not None:
            return _compile_expression(expression, environment)
        return _TextTemplate(environment.from_string(parsed))
    except Exception as error:
        raise wrap_error(error) from error


def _evaluate(compiled: _SingleExpression, scopes: Mapping[str, Any]) -> Any:
    template = compiled.template
    context = template.new_context(dict(scopes))
    try:
        for _ in template.root_render_func(context):
            pass
    except Exception:
        template.environment.handle_exception()  # re-raises with template line numbers
    return context.vars["result"]


def _render_text(compiled: _TextTemplate, scopes: Mapping[str, Any], limits: RenderLimits) -> str:
    chunks: list[str] = []
    size = 0
    for chunk in compiled.template.generate(dict(scopes)):
        size += len(chunk.encode("utf-8"))
        if size > limits.max_output:
            raise TemplateError(f"the rendered output exceeds the limit of {limits.max_output} bytes")
        chunks.append(chunk)
    return "".join(chunks)


def _render_native(compiled: _SingleExpression, scopes: Mapping[str, Any], limits: RenderLimits) -> Any:
    value = to_plain_data(_evaluate(compiled, scopes))
    encoded = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    if len(encoded.encode("utf-8")) > limits.max_output:
        raise TemplateError(f"the rendered value exceeds the limit of {limits.max_output} bytes")
    return value


def render(
    source: str,
    scopes: Mapping[str, Any],
    *,
    max_output: int = DEFAULT_MAX_OUTPUT,
    max_operations: int = DEFAULT_MAX_OPERATIONS,
    time_budget: float = DEFAULT_TIME_BUDGET,
    environment: TemplateEnvironment | None = None,
) -> Any:
    """Render ``source`` with ``scopes`` as its top-level names (``fields``, ``request``, ...).

    Returns the unchanged text for a template without markup, the plain-data value (str, int, float,
    bool, None, list or dict) for a single-expression template, else the rendered string.
    ``max_output`` bounds the result in UTF-8 bytes (JSON-encoded for a value) and any string or
    collection built on the way; ``max_operations`` and ``time_budget`` (seconds) bound the work.
    Raises ``TemplateError`` for every failure.
    """
    environment = environment or default_environment()
    compiled = _compile(source, environment)
    if isinstance(compiled, _PlainText):
        return compiled.text
    limits = RenderLimits(max_output, max_operations, time_budget)
    with render_budget(limits, scopes):
        try:
            if isinstance(compiled, _SingleExpression):
                return _render_native(compiled, scopes, limits)
            return _render_text(compiled, scopes, limits)
        except Exception as error:
            wrapped = wrap_error(error)
            if wrapped.line is None and isinstance(compiled, _SingleExpression):
                wrapped = TemplateError(wrapped.message, compiled.line)
            raise wrapped from error


def render_tree(
    value: Any,
    scopes: Mapping[str, Any],
    *,
    max_output: int = DEFAULT_MAX_OUTPUT,
    max_operations: int = DEFAULT_MAX_OPERATIONS,
    time_budget: float = DEFAULT_TIME_BUDGET,
    environment: TemplateEnvironment | None = None,
) -> Any:
    """A new structure with every string inside ``value`` (dicts, lists, tuples) rendered by ``render``.

    Mapping keys are not rendered; tuples become lists; other values are kept as they are. Limits apply
    to each string separately. A ``TemplateError`` carries the ``path`` of the failing string.
    """
    environment = environment or default_environment()

    def walk(item: Any, path: tuple[str | int, ...]) -> Any:
        if isinstance(item, str):
            try:
                return render(
                    item,
                    scopes,
                    max_output=max_output,
                    max_operations=max_operations,
                    time_budget=time_budget,
                    environment=environment,
                )
            except TemplateError as error:
                raise error.located(path) from error
        if isinstance(item, Mapping):
            return {key: walk(child, (*path, key)) for key, child in item.items()}
        if isinstance(item, list | tuple):
            return [walk(child, (*path, index)) for index, child in enumerate(item)]
        return item

    return walk(value, ())


def evaluate_condition(
    expression: str,
    scopes: Mapping[str, Any],
    *,
    max_operations: int = DEFAULT_MAX_OPERATIONS,
    time_budget: float = DEFAULT_TIME_BUDGET,
    environment: TemplateEnvironment | None = None,
) -> bool:
    """Evaluate an action's ``when:`` expression (bare or ``{{ }}``-wrapped) with Jinja truthiness.

    The value must be plain data (a generator such as ``xs | select(...)`` without ``| list`` is an
    error rather than always true); an undefined name or member raises ``TemplateError``, so test
    optional fields with ``is defined``.
    """
    environment = environment or default_environment()
    compiled = _compile_condition(expression, environment)
    limits = RenderLimits(max_operations=max_operations, time_budget=time_budget)
    with render_budget(limits, scopes):
        try:
            return bool(to_plain_data(_evaluate(compiled, scopes)))
        except Exception as error:
            wrapped = wrap_error(error)
            if wrapped.line is None:
                wrapped = TemplateError(wrapped.message, compiled.line)
            raise wrapped from error


@functools.lru_cache(maxsize=_COMPILED_CACHE_SIZE)
def _compile_condition(expression: str, environment: TemplateEnvironment) -> _SingleExpression:
    try:
        return _compile_expression(parse_expression(expression, environment), environment)
    except TemplateError:
        raise
    except Exception as error:
        raise wrap_error(error) from error


def compile_check(source: str, *, environment: TemplateEnvironment | None = None) -> None:
    """Raise ``TemplateError`` (with the line) if ``source`` does not parse or names an unknown filter
    or test; return None otherwise."""
    _compile(source, environment or default_environment())
