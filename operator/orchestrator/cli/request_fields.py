"""Field values from the command line: ``-f values.yaml`` files, then ``--field key=value`` flags.

``--field`` values are YAML scalars, so ``replicas=3`` is the integer 3, ``enabled=true`` a boolean and
``name=orders`` a string; a value written as a flow collection (``tags=[a, b]``, ``limits={cpu: 1}``) is a list or
a mapping. Dotted keys build nested objects: ``db.size=small`` is ``{"db": {"size": "small"}}``; ``\\.`` is a
literal dot in a key. A later flag wins over an earlier one and over the files.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from ..catalog.source_files import parse_yaml, read_source


class FieldInputError(ValueError):
    """A --field flag or a values file that cannot be used; the message names the flag or the file and line."""


def split_key(key: str) -> tuple[str, ...]:
    """``a.b\\.c`` -> ``("a", "b.c")``; an empty part is an error."""
    parts: list[str] = []
    current = ""
    escaped = False
    for char in key:
        if escaped:
            current += char
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == ".":
            parts.append(current)
            current = ""
        else:
            current += char
    if escaped:
        current += "\\"
    parts.append(current)
    if any(not part.strip() for part in parts):
        raise FieldInputError(f"--field {key}=...: the key has an empty part (use a.b=value for nested fields)")
    return tuple(parts)


def parse_scalar(raw: str) -> Any:
    """The value of ``--field key=raw``, read as YAML the way a values file would read it.

    A value that YAML would read as a mapping or a list without being written as one (``note=a: b``, ``x=- y``)
    stays a string, as does text that is not valid YAML: flags are for scalars, and a stray colon must not turn a
    sentence into an object.
    """
    if raw.strip() == "":
        return raw
    documents, problems = parse_yaml(raw, "--field")
    if problems or len(documents) > 1:
        return raw
    if not documents:  # parse_yaml skips null documents: "null" and "~" are an explicit null
        return None if raw.strip() in _NULLS else raw
    value = documents[0].data
    if isinstance(value, dict | list) and not raw.lstrip().startswith(("{", "[")):
        return raw
    return value


_NULLS = ("null", "Null", "NULL", "~")


def parse_field(argument: str) -> tuple[tuple[str, ...], Any]:
    """``key=value`` -> (key path, value)."""
    key, separator, raw = argument.partition("=")
    if not separator or not key.strip():
        raise FieldInputError(f"--field {argument}: expected KEY=VALUE (e.g. replicas=3 or db.size=small)")
    return split_key(key.strip()), parse_scalar(raw)


def set_path(values: dict[str, Any], path: tuple[str, ...], value: Any, origin: str) -> None:
    """Set ``values[path[0]][path[1]]... = value``, creating objects on the way."""
    target = values
    for depth, part in enumerate(path[:-1]):
        existing = target.get(part)
        if existing is None:
            existing = target[part] = {}
        elif not isinstance(existing, dict):
            where = ".".join(path[: depth + 1])
            raise FieldInputError(f"{origin}: '{where}' is already set to {existing!r}, which is not an object")
        target = existing
    target[path[-1]] = value


def deep_merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """``override`` on top of ``base``; nested mappings merge, everything else is replaced."""
    result = copy.deepcopy(dict(base))
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(result.get(key), dict):
            result[key] = deep_merge(result[key], value)
        else:
            result[key] = copy.deepcopy(value)
    return result


def load_values_file(path: Path) -> dict[str, Any]:
    """The field values of a YAML file: a mapping of values, or a ServiceRequest manifest (its spec.fields)."""
    source = read_source(path, str(path))
    if source.diagnostics:
        raise FieldInputError(source.diagnostics[0].render())
    if len(source.documents) != 1:
        raise FieldInputError(f"{path}: expected one YAML document of field values, found {len(source.documents)}")
    data = source.documents[0].data
    if isinstance(data, dict) and data.get("kind") == "ServiceRequest":
        spec = data.get("spec")
        data = spec.get("fields", {}) if isinstance(spec, dict) else None
    if not isinstance(data, dict):
        raise FieldInputError(f"{path}: expected a mapping of field values (name: value), got {type(data).__name__}")
    return data


def collect_fields(values_files: Iterable[Path], field_flags: Iterable[str]) -> dict[str, Any]:
    """The request's fields: the files merged in order, then each --field on top."""
    values: dict[str, Any] = {}
    for path in values_files:
        values = deep_merge(values, load_values_file(path))
    for argument in field_flags:
        key, value = parse_field(argument)
        set_path(values, key, value, f"--field {argument}")
    return values
