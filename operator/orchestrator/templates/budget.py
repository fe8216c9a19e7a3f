"""Per-render resource limits, and the conversion of template values into plain data.

A render happens inside ``render_budget(...)``; the sandbox hooks (calls, loop iterations, intercepted
operators) charge the active budget, which raises ``TemplateError`` once an operation count, a wall-clock
deadline or a size bound is passed. The budget lives in a ``ContextVar`` so one shared environment serves
concurrent renders (threads or asyncio tasks) without any of them seeing another's counters.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

import jinja2

from orchestrator.templates.errors import TemplateError

DEFAULT_MAX_OUTPUT = 64 * 1024
DEFAULT_MAX_OPERATIONS = 100_000
DEFAULT_TIME_BUDGET = 1.0

# Deep enough for any real configuration; a deeper value is either a mistake or an attack.
_MAX_DATA_DEPTH = 64


@dataclass(frozen=True)
class RenderLimits:
    """Bounds for one template render.

    ``max_output``: UTF-8 bytes of rendered text (for a single-expression template: of the JSON encoding
    of its value), and the largest string or collection an operation inside the template may build.
    ``max_operations``: calls, loop iterations and intercepted operators, counted together.
    ``time_budget``: wall-clock seconds, checked whenever an operation is counted.
    """

    max_output: int = DEFAULT_MAX_OUTPUT
    max_operations: int = DEFAULT_MAX_OPERATIONS
    time_budget: float = DEFAULT_TIME_BUDGET


DEFAULT_LIMITS = RenderLimits()


@dataclass
class RenderBudget:
    """What one render has used so far; created by ``render_budget``."""

    limits: RenderLimits
    scopes: Mapping[str, Any]
    deadline: float
    operations: int = 0
    _paths: dict[int, str] | None = field(default=None, repr=False)

    def charge(self, count: int = 1) -> None:
        """Count ``count`` operations; raise ``TemplateError`` when a bound is passed."""
        self.operations += count
        if self.operations > self.limits.max_operations:
            raise TemplateError(
                f"the template needs more than {self.limits.max_operations} operations (loops or calls); simplify it"
            )
        if time.monotonic() > self.deadline:
            raise TemplateError(f"the template took longer than {self.limits.time_budget:g}s to render")

    def check_size(self, size: int, what: str) -> None:
        if size > self.limits.max_output:
            raise TemplateError(f"{what} would exceed the size limit of {self.limits.max_output}")

    def path_of(self, obj: Any) -> str | None:
        """The dotted path (``fields.db``) of a container that came from the scopes, for error messages.

        Built on the first miss only: successful renders never pay for it.
        """
        if self._paths is None:
            self._paths = {}
            for name, value in self.scopes.items():
                self._index(value, name, 0)
        return self._paths.get(id(obj))

    def _index(self, value: Any, path: str, depth: int) -> None:
        if depth > _MAX_DATA_DEPTH or len(self._paths or {}) > self.limits.max_operations:
            return
        if isinstance(value, Mapping):
            self._paths_set(value, path)
            for key, item in value.items():
                self._index(item, f"{path}.{key}", depth + 1)
        elif isinstance(value, list | tuple):
            self._paths_set(value, path)
            for index, item in enumerate(value):
                self._index(item, f"{path}[{index}]", depth + 1)

    def _paths_set(self, value: Any, path: str) -> None:
        assert self._paths is not None
        self._paths.setdefault(id(value), path)


_active: ContextVar[RenderBudget | None] = ContextVar("orchestrator_template_budget", default=None)


def active_budget() -> RenderBudget | None:
    """The budget of the render running in this context, or None outside ``render_budget``."""
    return _active.get()


def active_limits() -> RenderLimits:
    budget = _active.get()
    return DEFAULT_LIMITS if budget is None else budget.limits


def charge(count: int = 1) -> None:
    """Charge the active budget, if any."""
    budget = _active.get()
    if budget is not None:
        budget.charge(count)


@contextmanager
def render_budget(limits: RenderLimits, scopes: Mapping[str, Any]) -> Iterator[RenderBudget]:
    """Run the enclosed render under ``limits``."""
    budget = RenderBudget(limits, scopes, time.monotonic() + limits.time_budget)
    token = _active.set(budget)
    try:
        yield budget
    finally:
        _active.reset(token)


_DATA_TYPES = "a string, number, boolean, null, list or mapping"


def to_plain_data(value: Any, *, depth: int = 0) -> Any:
    """A copy of ``value`` made only of str, int, float, bool, None, list and dict (with str keys).

    Raises the undefined-variable error for an undefined value, and ``TemplateError`` for anything else
    (functions, generators, template internals), so no Python object leaks out of a template.
    Charges one operation per visited value.
    """
    charge()
    if isinstance(value, jinja2.Undefined):
        str(value)  # StrictUndefined raises the precise "has no attribute" error here.
        raise TemplateError("the template produced an undefined value")
    if value is None or isinstance(value, bool | float):
        return value
    if isinstance(value, str):
        return str(value)  # drops Markup
    if isinstance(value, int):
        return int(value)
    if depth > _MAX_DATA_DEPTH:
        raise TemplateError(f"the template produced a value nested deeper than {_MAX_DATA_DEPTH} levels")
    if isinstance(value, list | tuple):
        return [to_plain_data(item, depth=depth + 1) for item in value]
    if isinstance(value, Mapping):
        result = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise TemplateError(f"the template produced a mapping with a non-string key {key!r}")
            result[str(key)] = to_plain_data(item, depth=depth + 1)
        return result
    kind = type(value).__name__
    hint = "; add '| list' to turn it into a list" if kind == "generator" else ""
    raise TemplateError(f"the template produced a {kind}, but a value must be {_DATA_TYPES}{hint}")
