"""Server-side printing: ``meta.k8s.io/v1 Table`` responses as ``kubectl get`` asks for them, with a JSONPath subset."""

from __future__ import annotations

import datetime
import json
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from .resources import Resource

__all__ = ["human_duration", "jsonpath", "to_table", "wants_table"]

Obj = Mapping[str, Any]
_TOKEN = re.compile(
    r"""\.(?P<name>[A-Za-z0-9_$-]+)
      | \[(?P<index>-?\d+)\]
      | \[(?P<star>\*)\]
      | \[\s*['"](?P<key>[^'"]+)['"]\s*\]
      | \[\?\(@(?P<fpath>(?:\.[A-Za-z0-9_-]+)+)\s*(?:(?P<op>==|!=)\s*(?P<lit>"[^"]*"|'[^']*'|[^)\s]+))?\s*\)\]
    """,
    re.VERBOSE,
)


def _literal(text: str) -> Any:
    if text[:1] in "\"'":
        return text[1:-1]
    try:
        return json.loads(text)
    except ValueError:
        return text


def _step(values: list[Any], match: re.Match[str]) -> list[Any]:
    out: list[Any] = []
    for value in values:
        if (name := match["name"] or match["key"]) is not None:
            if isinstance(value, Mapping) and name in value:
                out.append(value[name])
        elif match["index"] is not None:
            index = int(match["index"])
            if isinstance(value, list) and -len(value) <= index < len(value):
                out.append(value[index])
        elif match["star"]:
            out.extend(value if isinstance(value, list) else value.values() if isinstance(value, Mapping) else [])
        elif match["fpath"]:
            for item in value if isinstance(value, list) else []:
                found = jsonpath(item, match["fpath"])
                if match["op"] is None:
                    keep = bool(found)
                else:
                    equal = bool(found) and found[0] == _literal(match["lit"])
                    keep = equal if match["op"] == "==" else not equal
                if keep:
                    out.append(item)
    return out


def jsonpath(obj: Any, path: str) -> list[Any]:
    """Evaluate a kubectl-style JSONPath (``.a.b``, ``[0]``, ``[*]``, ``['k']``, ``[?(@.x=="y")]``); all matches."""
    path = path.strip()
    if path.startswith("{") and path.endswith("}"):
        path = path[1:-1].strip()
    values, position = [obj], 0
    while position < len(path):
        match = _TOKEN.match(path, position)
        if match is None:
            raise ValueError(f"unsupported JSONPath {path!r} at {path[position:]!r}")
        values, position = _step(values, match), match.end()
    return values


def human_duration(seconds: float) -> str:
    """Kubernetes' short age format (``45s``, ``3m12s``, ``25m``, ``4h5m``, ``20h``, ``3d4h``, ``200d``, ``3y12d``)."""
    s = int(seconds)
    if s < -1:
        return "<invalid>"
    if s < 0:
        return "0s"
    if s < 120:
        return f"{s}s"
    minutes, hours, days = s // 60, s // 3600, s // 86400

    def pair(big: int, big_unit: str, small: int, small_unit: str) -> str:
        return f"{big}{big_unit}{small}{small_unit}" if small else f"{big}{big_unit}"

    if minutes < 10:
        return pair(minutes, "m", s % 60, "s")
    if minutes < 180:
        return f"{minutes}m"
    if hours < 8:
        return pair(hours, "h", minutes % 60, "m")
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        return pair(days, "d", hours % 24, "h")
    if hours < 24 * 365 * 2:
        return f"{days}d"
    if hours < 24 * 365 * 8:
        return pair(days // 365, "y", days % 365, "d")
    return f"{days // 365}y"


def _age(timestamp: Any) -> str | None:
    if not isinstance(timestamp, str):
        return None
    try:
        then = datetime.datetime.fromisoformat(timestamp.replace("Z", "+00:00"))
    except ValueError:
        return "<invalid>"
    return human_duration((datetime.datetime.now(datetime.UTC) - then).total_seconds())


def _cell(value: Any, kind: str) -> Any:
    if value is None:
        return None
    if kind == "date":
        return _age(value)
    if kind == "integer" and isinstance(value, int | float | str):
        try:
            return int(value)
        except ValueError:
            return value
    if kind in ("string", "") and not isinstance(value, str):
        return json.dumps(value, separators=(",", ":")) if isinstance(value, Mapping | list) else str(value)
    return value


Column = tuple[dict[str, Any], Callable[[Obj], Any]]


def _column(name: str, kind: str, fn: Callable[[Obj], Any], priority: int = 0, fmt: str = "") -> Column:
    definition = {"name": name, "type": kind, "format": fmt, "description": name, "priority": priority}
    return definition, fn


def _name(obj: Obj) -> Any:
    return obj.get("metadata", {}).get("name")


def _created(obj: Obj) -> Any:
    return _age(obj.get("metadata", {}).get("creationTimestamp"))


def _size(*keys: str) -> Callable[[Obj], int]:
    return lambda obj: sum(len(obj.get(key) or {}) for key in keys)


def _event_object(obj: Obj) -> str:
    ref = obj.get("involvedObject") or obj.get("regarding") or {}
    return f"{str(ref.get('kind', '')).lower()}/{ref.get('name', '')}"


_BUILTIN: dict[tuple[str, str], list[Column]] = {
    ("", "namespaces"): [_column("Status", "string", lambda o: o.get("status", {}).get("phase"))],
    ("", "secrets"): [_column("Type", "string", lambda o: o.get("type")), _column("Data", "integer", _size("data"))],
    ("", "configmaps"): [_column("Data", "integer", _size("data", "binaryData"))],
}


def _columns(resource: Resource) -> list[Column]:
    name = _column("Name", "string", _name, fmt="name")
    if resource.printer_columns:
        custom = []
        for col in resource.printer_columns:
            kind, path = str(col.get("type", "string")), str(col.get("jsonPath", ""))

            def evaluate(obj: Obj, kind: str = kind, path: str = path) -> Any:
                found = jsonpath(obj, path)
                return _cell(found[0], kind) if found else None

            definition, fn = _column(
                str(col["name"]), kind, evaluate, int(col.get("priority", 0)), col.get("format", "")
            )
            definition["description"] = col.get("description", col["name"])
            custom.append((definition, fn))
        return [name, *custom]
    if resource.plural == "events" and resource.group in ("", "events.k8s.io"):
        return [
            _column("Last Seen", "string", lambda o: _age(o.get("lastTimestamp") or o.get("eventTime"))),
            _column("Type", "string", lambda o: o.get("type")),
            _column("Reason", "string", lambda o: o.get("reason")),
            _column("Object", "string", _event_object),
            _column("Message", "string", lambda o: o.get("message") or o.get("note")),
        ]
    return [name, *_BUILTIN.get((resource.group, resource.plural), []), _column("Age", "string", _created)]


def wants_table(accept: str) -> bool:
    return "as=Table" in accept.replace(" ", "")


def to_table(resource: Resource, objects: Sequence[Obj], rv: str, include_object: str = "Metadata") -> dict[str, Any]:
    columns = _columns(resource)
    rows = []
    for obj in objects:
        row: dict[str, Any] = {"cells": [fn(obj) for _, fn in columns]}
        if include_object == "Object":
            row["object"] = obj
        elif include_object != "None":
            row["object"] = {
                "kind": "PartialObjectMetadata",
                "apiVersion": "meta.k8s.io/v1",
                "metadata": obj.get("metadata", {}),
            }
        rows.append(row)
    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": {"resourceVersion": rv},
        "columnDefinitions": [definition for definition, _ in columns],
        "rows": rows,
    }
