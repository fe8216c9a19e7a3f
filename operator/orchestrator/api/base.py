"""Shared building blocks of every kind: the model base, metadata, conditions, patterns."""

from __future__ import annotations

import re
from datetime import datetime
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


class ApiModel(BaseModel):
    """Base of every spec model: camelCase on the wire, unknown fields rejected."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        use_attribute_docstrings=True,
    )


class StatusModel(BaseModel):
    """Base of status models: camelCase, tolerant of fields written by newer operator versions."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="ignore",
        use_attribute_docstrings=True,
    )


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
