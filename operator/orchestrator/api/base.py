"""Shared building blocks of every kind: the model base, metadata, conditions, patterns."""

from __future__ import annotations

import ast
import functools
import inspect
import re
import sys
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError
from pydantic.alias_generators import to_camel

GROUP = "orchestrator.dev"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"
PREFIX = f"{GROUP}/"

#: RFC 1123 label: what Kubernetes accepts for a namespace or a cluster-scoped name we control.
DNS_LABEL_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
#: RFC 1123 subdomain: what Kubernetes accepts for most object names.
DNS_SUBDOMAIN_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
#: Names that templates reach as attributes (`outputs.<name>`), so they must be identifiers.
IDENTIFIER_PATTERN = r"^[a-z][a-zA-Z0-9_]*$"
#: Semantic Versioning 2.0.0 (https://semver.org), without a leading "v".
SEMVER_PATTERN = (
    r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?"
    r"(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$"
)
#: Go duration as Flux and kubectl spell it: 30s, 5m, 1h30m, 250ms.
DURATION_PATTERN = r"^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$"

DnsLabel = Annotated[str, Field(pattern=DNS_LABEL_PATTERN, min_length=1, max_length=63)]
Identifier = Annotated[str, Field(pattern=IDENTIFIER_PATTERN, min_length=1, max_length=63)]
Duration = Annotated[str, Field(pattern=DURATION_PATTERN, examples=["30s", "10m", "1h30m"])]
_DURATION_PART = re.compile(r"([0-9]+(?:\.[0-9]+)?)(ms|s|m|h)")
_DURATION_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def duration_seconds(value: str) -> float:
    """Seconds of a Duration such as ``90s``, ``5m`` or ``1h30m`` (Go's time.ParseDuration units)."""
    if not re.fullmatch(DURATION_PATTERN, value):
        raise ValueError(f"'{value}' is not a duration (use e.g. 30s, 5m, 1h30m)")
    return sum(float(number) * _DURATION_UNITS[unit] for number, unit in _DURATION_PART.findall(value))


#: A Kubernetes quantity ("500m", "2Gi", 4). Checked semantically by the validator, so templates may be used.
Quantity = Annotated[int | str, Field(examples=["500m", "2Gi", 4])]


def _relative_path(value: str) -> str:
    parts = value.split("/")
    if value.startswith("/") or ".." in parts:
        raise ValueError("must be a relative path without '..' segments")
    return value


#: A path inside the catalog repository: relative, never escaping it.
RelativePath = Annotated[str, Field(min_length=1, pattern=r"^[^/]"), AfterValidator(_relative_path)]


# ---- attribute docstrings ----------------------------------------------------------------------------------------
# The string under a field is its description (in the CRDs and the JSON schemas), as with pydantic's
# `use_attribute_docstrings`. Pydantic (on Python < 3.13) finds each class's source by walking the stack,
# then tokenizes and parses it: a third of what importing the API costs. Here each module is parsed once, and the
# descriptions are set when the class is created; models build their validators on first use (`defer_build`), so
# the descriptions are in place before any schema is generated. tests/unit/test_generated.py compares the result.


@functools.cache
def _module_classes(module_name: str) -> dict[str, ast.ClassDef | None] | None:
    """The top-level classes of a module's source by name (None for a name defined twice); None without source."""
    file = getattr(sys.modules.get(module_name), "__file__", None)
    try:
        tree = ast.parse(Path(file).read_bytes()) if file else None
    except (OSError, SyntaxError, ValueError):
        return None
    if tree is None:
        return None
    classes: dict[str, ast.ClassDef | None] = {}
    for node in tree.body:
        if isinstance(node, ast.ClassDef):
            classes[node.name] = None if node.name in classes else node
    return classes


def attribute_docstrings(cls: type) -> dict[str, str]:
    """Field name -> the string literal right after its annotated assignment in the class body (cleaned like
    ``inspect.cleandoc``). Only top-level classes with a unique name are supported (TypeError otherwise)."""
    classes = _module_classes(cls.__module__)
    if classes is None:
        return {}  # no source (as pydantic: no descriptions)
    node = classes.get(cls.__name__)
    if node is None or cls.__qualname__ != cls.__name__:
        raise TypeError(f"{cls.__module__}.{cls.__qualname__}: API models must be top-level classes with unique names")
    docs: dict[str, str] = {}
    target: str | None = None
    previous: type[ast.stmt] | None = None
    for statement in node.body:
        if isinstance(statement, ast.AnnAssign) and isinstance(statement.target, ast.Name):
            target = statement.target.id
        elif (
            previous is ast.AnnAssign
            and isinstance(statement, ast.Expr)
            and isinstance(statement.value, ast.Constant)
            and isinstance(statement.value.value, str)
        ):
            if target:
                docs[target] = inspect.cleandoc(statement.value.value)
            target = None
        previous = type(statement)
    return docs


def _describe_fields(cls: type[BaseModel]) -> None:
    """Set each field's description from its docstring unless the field sets one itself."""
    if cls.__pydantic_generic_metadata__["origin"] is not None:
        return  # a parametrized generic model copies its fields (and descriptions) from its origin
    docs = attribute_docstrings(cls)
    for name, field_info in cls.__pydantic_fields__.items():
        if field_info.description is None and name in docs:
            field_info.description = docs[name]


class ApiModel(BaseModel):
    """Base of every spec model: camelCase on the wire, unknown fields rejected."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        defer_build=True,
    )

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        _describe_fields(cls)


class StatusModel(BaseModel):
    """Base of status models: camelCase, tolerant of fields written by newer operator versions."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="ignore",
        defer_build=True,
    )

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        _describe_fields(cls)


class ObjectMeta(ApiModel):
    """The part of Kubernetes metadata that catalog files and requests may set."""

    name: DnsLabel
    """Unique name; an RFC 1123 label (lower-case letters, digits and '-', at most 63 characters)."""
    namespace: DnsLabel | None = None
    """Namespace (ServiceRequest only; catalog kinds are cluster-scoped)."""
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)


class LocalObjectReference(ApiModel):
    """A reference to an object in the same namespace."""

    name: str = Field(min_length=1, max_length=253)


ConditionStatus = Literal["True", "False", "Unknown"]


class Condition(StatusModel):
    """One observation of an object's state, following Kubernetes API conventions (metav1.Condition)."""

    type: str = Field(max_length=316)
    status: ConditionStatus
    reason: str = Field(max_length=1024)
    message: str = Field(default="", max_length=32768)
    last_transition_time: datetime
    observed_generation: int | None = Field(default=None, ge=0)


class StatusBase(StatusModel):
    """Fields every kind's status carries."""

    observed_generation: int | None = Field(default=None, ge=0)
    """The metadata.generation this status describes."""
    conditions: list[Condition] = Field(default_factory=list)
    """Current conditions, one per type; Ready summarises them (kstatus)."""


def dump(model: BaseModel) -> dict[str, Any]:
    """Wire form of a model: camelCase keys, no unset optional fields."""
    return model.model_dump(mode="json", by_alias=True, exclude_none=True)


def first_problem(error: ValidationError) -> str:
    """``loc.path: message`` of a validation error's first problem, for one-line messages."""
    first = error.errors(include_url=False)[0]
    return f"{'.'.join(str(part) for part in first['loc'])}: {first['msg']}"
