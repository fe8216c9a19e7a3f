"""The Jinja environment every template runs in: sandboxed, strict, immutable, bounded."""

from __future__ import annotations

import functools
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import jinja2
from jinja2 import nodes
from jinja2.compiler import CodeGenerator, Frame
from jinja2.exceptions import TemplateRuntimeError
from jinja2.runtime import Context
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.utils import missing

from orchestrator.templates.budget import active_budget, active_limits, charge, to_plain_data
from orchestrator.templates.errors import TemplateError
from orchestrator.templates.filters import (
    PLATFORM_FILTERS,
    REMOVED_FILTERS,
    check_brace_format,
    check_printf_format,
    check_width,
)

MAX_RANGE = 10_000
# Far beyond any number a configuration needs; Python cannot even print an int above ~14k bits.
_MAX_INT_BITS = 65_536
# Jinja's default globals that a configuration template has no use for; `dict` and `namespace` would
# also let a template build mutable state.
REMOVED_GLOBALS = ("lipsum", "cycler", "joiner", "namespace", "dict")
_PADDING_METHODS = frozenset({"center", "ljust", "rjust", "zfill", "expandtabs"})


def bounded_range(*args: int) -> range:
    """``range`` that refuses more than ``MAX_RANGE`` numbers."""
    numbers = range(*args)
    try:
        count = len(numbers)
    except OverflowError:
        count = MAX_RANGE + 1
    if count > MAX_RANGE:
        raise TemplateError(f"range() is limited to {MAX_RANGE} numbers")
    return numbers


class PathAwareUndefined(jinja2.StrictUndefined):
    """``StrictUndefined`` that names a missing member by its path in the scopes.

    ``'fields' has no attribute 'dbNmae'`` instead of Jinja's ``'dict object' has no attribute 'dbNmae'``.
    """

    __slots__ = ()

    def __init__(
        self,
        hint: str | None = None,
        obj: Any = missing,
        name: str | None = None,
        exc: type[TemplateRuntimeError] = jinja2.UndefinedError,
    ) -> None:
        if hint is None and obj is not missing and name is not None:
            hint = _missing_member_hint(obj, name)
        super().__init__(hint, obj, name, exc)


def _missing_member_hint(obj: Any, name: Any) -> str | None:
    budget = active_budget()
    path = None if budget is None else budget.path_of(obj)
    if path is None:
        return None  # Jinja's own wording ("'dict object' has no attribute 'x'")
    if isinstance(name, str):
        return f"'{path}' has no attribute {name!r}"
    return f"'{path}' has no element {name!r}"


def _fail_if_undefined(obj: Any) -> None:
    # Looking into an undefined value must report the undefined name ("'cycler' is undefined"), not
    # that the Undefined object's own attributes are private.
    if isinstance(obj, jinja2.Undefined):
        str(obj)


def _finalize(value: Any) -> Any:
    # Every `{{ }}` in a text template passes through here: only plain data may be printed, so a
    # template never shows "<function ...>" or "<generator ...>".
    to_plain_data(value)
    return value


def _deep_size(value: Any, limit: int) -> int:
    """Number of items in ``value`` counting nested collections, stopping once past ``limit``."""
    if isinstance(value, str):
        return len(value)
    if not isinstance(value, list | tuple | Mapping):
        return 1
    total = len(value)
    for item in value.values() if isinstance(value, Mapping) else value:
        if total > limit:
            break
        if isinstance(item, list | tuple | Mapping):
            total += _deep_size(item, limit)
    return total


def _check_repeat(left: Any, right: Any) -> None:
    for sequence, count in ((left, right), (right, left)):
        if isinstance(sequence, str | list | tuple) and isinstance(count, int):
            limit = active_limits().max_output
            budget = active_budget()
            size = _deep_size(sequence, limit) * max(count, 0)
            if budget is not None:
                budget.check_size(size, "repeating a value with '*'")
            elif size > limit:
                raise TemplateError(f"repeating a value with '*' would exceed the size limit of {limit}")
            return
    if isinstance(left, int) and isinstance(right, int) and left.bit_length() + right.bit_length() > _MAX_INT_BITS:
        raise TemplateError("the result of '*' is too large")


def _check_power(base: Any, exponent: Any) -> None:
    if (
        isinstance(base, int)
        and isinstance(exponent, int)
        and exponent > 0
        and abs(base) > 1
        and base.bit_length() * exponent > _MAX_INT_BITS
    ):
        raise TemplateError("the result of '**' is too large")


def _check_call(obj: Any, args: tuple[Any, ...]) -> None:
    receiver = getattr(obj, "__self__", None)
    if isinstance(receiver, str) and getattr(obj, "__name__", None) in _PADDING_METHODS:
        for argument in args:
            check_width(f"the width given to {obj.__name__}()", argument)


def _check_result(result: Any) -> None:
    if isinstance(result, str | list | tuple | Mapping):
        limit = active_limits().max_output
        if len(result) > limit:
            raise TemplateError(f"a value built by the template exceeds the size limit of {limit}")


class _BudgetedCodeGenerator(CodeGenerator):
    """Compiles every ``{% for %}`` to iterate through ``TemplateEnvironment.iterate_with_budget``.

    Loops are the one construct that runs without passing a sandbox hook per step, so without this a
    loop over a list stored in a variable could spin forever.
    """

    def visit_For(self, node: nodes.For, frame: Frame) -> None:
        guarded_iter = nodes.Call(
            nodes.EnvironmentAttribute("iterate_with_budget"), [node.iter], [], None, None, lineno=node.lineno
        )
        guarded = nodes.For(
            node.target, guarded_iter, node.body, node.else_, node.test, node.recursive, lineno=node.lineno
        )
        guarded.set_environment(self.environment)
        super().visit_For(guarded, frame)


class TemplateEnvironment(ImmutableSandboxedEnvironment):
    """Jinja environment for catalog templates.

    On top of Jinja's immutable sandbox (no ``_private`` attributes, no Python internals, no mutation of
    lists and dicts, so a template can never change the scopes it reads): ``StrictUndefined`` with
    path-aware messages, no autoescaping, no loaders (no file access), a trimmed set of globals, the
    platform filters, and per-render budgets on operations, time and value sizes (see ``budget.py``).
    For a mapping, ``a.b`` prefers the key ``b`` over a method named ``b`` (``fields.items`` is the field
    ``items`` when it exists).
    """

    code_generator_class = _BudgetedCodeGenerator
    intercepted_binops = frozenset({"*", "**", "%"})

    def __init__(self) -> None:
        super().__init__(
            undefined=PathAwareUndefined,
            autoescape=False,
            keep_trailing_newline=False,
            finalize=_finalize,
            auto_reload=False,
        )
        for name in REMOVED_GLOBALS:
            self.globals.pop(name, None)
        self.globals["range"] = bounded_range
        for name in REMOVED_FILTERS:
            self.filters.pop(name, None)
        self.filters.update(PLATFORM_FILTERS)

    def getattr(self, obj: Any, attribute: str) -> Any:
        _fail_if_undefined(obj)
        if isinstance(obj, Mapping):
            try:
                if attribute in obj:
                    return obj[attribute]
            except TypeError:
                pass
        return super().getattr(obj, attribute)

    def getitem(self, obj: Any, argument: Any) -> Any:
        _fail_if_undefined(obj)
        return super().getitem(obj, argument)

    def call(self, context: Context, obj: Any, /, *args: Any, **kwargs: Any) -> Any:
        charge()
        _check_call(obj, args)
        result = super().call(context, obj, *args, **kwargs)
        _check_result(result)
        return result

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        charge()
        if operator == "*":
            _check_repeat(left, right)
        elif operator == "**":
            _check_power(left, right)
        elif operator == "%" and isinstance(left, str):
            check_printf_format(left, right)
        return super().call_binop(context, operator, left, right)

    def wrap_str_format(self, value: Any) -> Any:
        sandboxed = super().wrap_str_format(value)
        if sandboxed is None:
            return None
        template: str = value.__self__
        is_format_map = value.__name__ == "format_map"

        @functools.wraps(sandboxed)
        def checked_format(*args: Any, **kwargs: Any) -> str:
            mapping = args[0] if is_format_map and args and isinstance(args[0], Mapping) else kwargs
            check_brace_format(template, () if is_format_map else args, mapping)
            return sandboxed(*args, **kwargs)

        return checked_format

    def iterate_with_budget(self, iterable: Iterable[Any]) -> Iterator[Any]:
        """Yield from ``iterable``, charging one operation per item (used by every compiled for loop)."""
        for item in iterable:
            charge()
            yield item


def make_environment() -> TemplateEnvironment:
    """A new, fully configured template environment."""
    return TemplateEnvironment()


@functools.cache
def default_environment() -> TemplateEnvironment:
    """The shared environment used when a caller passes none. Never mutated after construction."""
    return make_environment()
