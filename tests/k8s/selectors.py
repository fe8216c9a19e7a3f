"""Label and field selectors, parsed and matched the way kube-apiserver does for list and watch requests."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .errors import bad_request

__all__ = ["FieldSelector", "LabelSelector", "parse_field_selector", "parse_label_selector"]

_KEY = r"[A-Za-z0-9][-A-Za-z0-9_./]*"
_VALUE = r"[-A-Za-z0-9_.]*"
_SET_RE = re.compile(rf"^\s*(?P<key>{_KEY})\s+(?P<op>in|notin)\s+\((?P<values>[^)]*)\)\s*$")
_CMP_RE = re.compile(rf"^\s*(?P<key>{_KEY})\s*(?P<op>==|!=|=|>|<)\s*(?P<value>{_VALUE})\s*$")
_EXISTS_RE = re.compile(rf"^\s*(?P<neg>!?)\s*(?P<key>{_KEY})\s*$")


@dataclass(frozen=True)
class _Requirement:
    key: str
    op: str  # "=", "!=", "in", "notin", "exists", "!", ">", "<"
    values: frozenset[str] = frozenset()

    def matches(self, labels: Mapping[str, str]) -> bool:
        present = self.key in labels
        value = labels.get(self.key)
        match self.op:
            case "exists":
                return present
            case "!":
                return not present
            case "=" | "in":
                return present and value in self.values
            case "!=" | "notin":
                return not present or value not in self.values
            case ">" | "<":
                try:
                    number, bound = int(value or ""), int(next(iter(self.values)))
                except ValueError:
                    return False
                return number > bound if self.op == ">" else number < bound
        return False  # pragma: no cover


def _split_top_level(text: str) -> list[str]:
    """Split on commas that are not inside ``(...)``: ``a in (x,y),b`` -> ``["a in (x,y)", "b"]``."""
    parts: list[str] = []
    current: list[str] = []
    depth = 0
    for char in text:
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        if char == "," and depth == 0:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    parts.append("".join(current))
    return [part for part in (p.strip() for p in parts) if part]


@dataclass(frozen=True)
class LabelSelector:
    requirements: tuple[_Requirement, ...] = ()

    def matches(self, obj: Mapping[str, Any]) -> bool:
        labels = obj.get("metadata", {}).get("labels") or {}
        return all(requirement.matches(labels) for requirement in self.requirements)


def parse_label_selector(text: str | None) -> LabelSelector:
    """Equality-based (``a=b``, ``a==b``, ``a!=b``, ``a``, ``!a``) and set-based (``in``, ``notin``) selectors."""
    requirements: list[_Requirement] = []
    for part in _split_top_level(text or ""):
        if match := _SET_RE.match(part):
            values = frozenset(v.strip() for v in match["values"].split(",") if v.strip())
            requirements.append(_Requirement(match["key"], match["op"], values))
        elif match := _CMP_RE.match(part):
            op = "=" if match["op"] == "==" else match["op"]
            requirements.append(_Requirement(match["key"], op, frozenset({match["value"]})))
        elif match := _EXISTS_RE.match(part):
            requirements.append(_Requirement(match["key"], "!" if match["neg"] else "exists"))
        else:
            raise bad_request(f"unable to parse requirement: {part!r}")
    return LabelSelector(tuple(requirements))


# Which field labels kube-apiserver supports per kind (all kinds support metadata.name and metadata.namespace).
_EXTRA_FIELDS: dict[str, frozenset[str]] = {
    "Event": frozenset(
        {
            "involvedObject.kind",
            "involvedObject.namespace",
            "involvedObject.name",
            "involvedObject.uid",
            "involvedObject.apiVersion",
            "involvedObject.resourceVersion",
            "involvedObject.fieldPath",
            "reason",
            "reportingComponent",
            "source",
            "type",
            "regarding.kind",
            "regarding.name",
            "regarding.namespace",
            "regarding.uid",
        }
    ),
    "Secret": frozenset({"type"}),
    "Namespace": frozenset({"status.phase"}),
    "Job": frozenset({"status.successful"}),
}


def _field_value(obj: Mapping[str, Any], path: str) -> str:
    value: Any = obj
    for part in path.split("."):
        value = value.get(part) if isinstance(value, Mapping) else None
    if path == "source" and isinstance(value, Mapping):  # events: `source` means source.component
        value = value.get("component")
    return "" if value is None else str(value)


@dataclass(frozen=True)
class FieldSelector:
    terms: tuple[tuple[str, bool, str], ...] = ()  # (field path, equal?, value)

    def matches(self, obj: Mapping[str, Any]) -> bool:
        return all((_field_value(obj, path) == value) == equal for path, equal, value in self.terms)

    def name(self) -> str | None:
        """The object name if the selector pins one (``metadata.name=x``), for a quick lookup."""
        return next((value for path, equal, value in self.terms if path == "metadata.name" and equal), None)


def parse_field_selector(text: str | None, kind: str) -> FieldSelector:
    allowed = {"metadata.name", "metadata.namespace"} | _EXTRA_FIELDS.get(kind, frozenset())
    terms: list[tuple[str, bool, str]] = []
    for part in _split_top_level(text or ""):
        match = re.match(r"^\s*([A-Za-z0-9_.]+)\s*(==|!=|=)\s*(.*?)\s*$", part)
        if not match:
            raise bad_request(f"invalid selector: {text!r}; can't understand {part!r}")
        path, op, value = match.groups()
        if path not in allowed:
            raise bad_request(f"field label not supported: {path}")
        terms.append((path, op != "!=", value))
    return FieldSelector(tuple(terms))
