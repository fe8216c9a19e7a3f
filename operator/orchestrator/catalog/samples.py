"""Example values built from a ``fields`` JSON Schema, for example requests and rendering checks.

A value is taken, in order of preference, from ``const``, the schema's ``examples``, its ``default``, its first
``enum`` value, a sample for its ``format``, a string generated to match its ``pattern``, or a plain value of its
type that satisfies the numeric and length bounds. The result is meant to pass the validator; callers check it
with ``value_problems`` (a schema can always ask for more than a generator can guess).
"""

from __future__ import annotations

import copy
import math
import re
import warnings
from collections.abc import Mapping
from typing import Any

from .field_info import resolve, resolve_items, schema_type

FORMAT_SAMPLES: dict[str, str] = {
    "email": "someone@example.com",
    "idn-email": "someone@example.com",
    "uri": "https://example.com/",
    "url": "https://example.com/",
    "iri": "https://example.com/",
    "uri-reference": "https://example.com/",
    "hostname": "host.example.com",
    "idn-hostname": "host.example.com",
    "ipv4": "192.0.2.10",
    "ipv6": "2001:db8::10",
    "date": "2030-01-31",
    "date-time": "2030-01-31T12:00:00Z",
    "time": "12:00:00Z",
    "duration": "P1D",
    "uuid": "00000000-0000-4000-8000-000000000000",
}
_GROWTH = (0, 1, 2, 4, 8, 16, 32, 64)
_CANDIDATE_CHARS = "abcxyz0123456789-_.ABCXYZ :/@"


def example_fields(schema: Mapping[str, Any], *, complete: bool = False) -> dict[str, Any]:
    """Field values for a request: the required fields (``complete``: every declared field), recursively."""
    value = sample_value(schema, schema, complete=complete, top=True)
    return value if isinstance(value, dict) else {}


def sample_value(node: Any, root: Mapping[str, Any], *, complete: bool = False, top: bool = False) -> Any:
    """One value that should satisfy ``node`` (a schema inside ``root``)."""
    schema = resolve(node, root)
    if "const" in schema:
        return copy.deepcopy(schema["const"])
    kind = schema_type(schema)
    if kind == "object" and (top or complete or "default" not in schema):
        return _object(schema, root, complete=complete)
    examples = schema.get("examples")
    if isinstance(examples, list) and examples:
        return copy.deepcopy(examples[0])
    if "default" in schema:
        return copy.deepcopy(schema["default"])
    if isinstance(schema.get("enum"), list) and schema["enum"]:
        return copy.deepcopy(schema["enum"][0])
    if kind == "string":
        return sample_string(schema)
    if kind in ("integer", "number"):
        return sample_number(schema, integer=kind == "integer")
    if kind == "boolean":
        return False
    if kind == "array":
        return _array(schema, root, complete=complete)
    if kind == "null":
        return None
    return "example"


def _object(schema: Mapping[str, Any], root: Mapping[str, Any], *, complete: bool) -> dict[str, Any]:
    properties = schema.get("properties") or {}
    required = [name for name in schema.get("required") or [] if isinstance(name, str)]
    wanted = list(properties) if complete else [name for name in properties if name in required]
    result: dict[str, Any] = {}
    for name in [*wanted, *(name for name in required if name not in properties)]:
        result[name] = sample_value(properties.get(name, {}), root, complete=complete)
    extra = schema.get("additionalProperties")
    minimum = schema.get("minProperties")
    if isinstance(minimum, int) and len(result) < minimum and isinstance(extra, Mapping):
        for index in range(len(result), minimum):
            result[f"key{index + 1}"] = sample_value(extra, root, complete=complete)
    return result


def _array(schema: Mapping[str, Any], root: Mapping[str, Any], *, complete: bool) -> list[Any]:
    minimum = schema.get("minItems")
    count = minimum if isinstance(minimum, int) and minimum > 0 else 0
    if not count:
        return []
    items = resolve_items(schema, root)
    enum = items.get("enum")
    if isinstance(enum, list) and len(enum) >= count:
        return copy.deepcopy(enum[:count])
    first = sample_value(items, root, complete=complete)
    values = [first]
    for index in range(1, count):
        values.append(_variant(first, index, items))
    return values


def _variant(value: Any, index: int, items: Mapping[str, Any]) -> Any:
    """Another item like ``value`` (so that ``uniqueItems`` can hold), when the items' schema still accepts it."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        step = items.get("multipleOf", 1)
        candidate = value + index * step
        maximum = items.get("maximum")
        return candidate if maximum is None or candidate <= maximum else value
    if isinstance(value, str):
        pattern = items.get("pattern")
        candidate = f"{value}{index + 1}"
        if not isinstance(pattern, str) or _matches(pattern, candidate):
            return candidate
    return copy.deepcopy(value)


def sample_number(schema: Mapping[str, Any], *, integer: bool) -> int | float:
    low: float | None = None
    if isinstance(schema.get("minimum"), int | float):
        low = float(schema["minimum"])
    if isinstance(schema.get("exclusiveMinimum"), int | float):
        bound = float(schema["exclusiveMinimum"])
        low = max(low if low is not None else bound, bound + (1 if integer else 0.5))
    high: float | None = None
    if isinstance(schema.get("maximum"), int | float):
        high = float(schema["maximum"])
    if isinstance(schema.get("exclusiveMaximum"), int | float):
        bound = float(schema["exclusiveMaximum"])
        high = min(high if high is not None else bound, bound - (1 if integer else 0.5))
    value = low if low is not None else (min(0.0, high) if high is not None else 0.0)
    step = schema.get("multipleOf")
    if isinstance(step, int | float) and step > 0:
        value = math.ceil(value / step) * step
    if integer:
        return math.ceil(value)
    return int(value) if float(value).is_integer() else value


def sample_string(schema: Mapping[str, Any]) -> str:
    min_length: int = schema["minLength"] if isinstance(schema.get("minLength"), int) else 0
    max_length: int | None = schema["maxLength"] if isinstance(schema.get("maxLength"), int) else None
    fmt = schema.get("format")
    pattern = schema.get("pattern")
    if isinstance(fmt, str) and fmt in FORMAT_SAMPLES:
        text = FORMAT_SAMPLES[fmt]
        if not isinstance(pattern, str) or _matches(pattern, text):
            return text
    if isinstance(pattern, str):
        generated = string_for_pattern(pattern, min_length=min_length, max_length=max_length)
        if generated is not None:
            return generated
    text = "example"
    if len(text) < min_length:
        text = ("example text " * (min_length // 13 + 1))[:min_length]
        text = text[:-1] + "x" if text.endswith(" ") else text
    if max_length is not None:
        text = text[:max_length]
    return text


def _matches(pattern: str, text: str) -> bool:
    try:
        return re.search(pattern, text) is not None
    except re.error:
        return False


def string_for_pattern(pattern: str, *, min_length: int = 0, max_length: int | None = None) -> str | None:
    """A short string that ``pattern`` (searched, as JSON Schema does) matches, within the length bounds;
    None when the pattern uses something the generator does not handle."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import sre_constants
        import sre_parse

    try:
        parsed = sre_parse.parse(pattern)
        compiled = re.compile(pattern)
    except (re.error, OverflowError, RecursionError):
        return None
    for growth in _GROWTH:
        try:
            text = _Emitter(sre_constants, growth).emit(parsed)
        except _Unsupported:
            return None
        if len(text) >= min_length and (max_length is None or len(text) <= max_length) and compiled.search(text):
            return text
    return None


class _Unsupported(Exception):
    pass


class _Emitter:
    """Writes one string matching a parsed regular expression: the first branch, ``growth`` extra repeats."""

    def __init__(self, constants: Any, growth: int) -> None:
        self.c = constants
        self.growth = growth
        self.groups: dict[int, str] = {}

    def emit(self, items: Any) -> str:
        return "".join(self._one(op, av) for op, av in items)

    def _one(self, op: Any, av: Any) -> str:
        c = self.c
        if op == c.LITERAL:
            return chr(av)
        if op == c.NOT_LITERAL:
            return "a" if av != ord("a") else "b"
        if op == c.ANY:
            return "a"
        if op == c.IN:
            return self._pick(av)
        if op == c.BRANCH:
            return self.emit(av[1][0])
        if op == c.SUBPATTERN:
            group, pattern = av[0], av[-1]
            text = self.emit(pattern)
            if group is not None:
                self.groups[group] = text
            return text
        if op in (c.MAX_REPEAT, c.MIN_REPEAT, getattr(c, "POSSESSIVE_REPEAT", None)):
            low, high, item = av
            count = low + self.growth if high == c.MAXREPEAT else min(high, low + self.growth)
            return "".join(self.emit(item) for _ in range(count))
        if op in (c.AT, c.ASSERT, c.ASSERT_NOT):
            return ""
        if op == getattr(c, "ATOMIC_GROUP", None):
            return self.emit(av)
        if op == c.GROUPREF:
            return self.groups.get(av, "")
        raise _Unsupported(str(op))

    def _pick(self, items: Any) -> str:
        c = self.c
        negated = bool(items) and items[0][0] == c.NEGATE
        members = items[1:] if negated else items
        if not negated:
            if self._in("a", members):
                return "a"
            for op, av in members:
                if op == c.LITERAL:
                    return chr(av)
                if op == c.RANGE:
                    return chr(av[0])
                if op == c.CATEGORY:
                    return self._category_sample(av)
        for candidate in _CANDIDATE_CHARS:
            if self._in(candidate, members) != negated:
                return candidate
        raise _Unsupported("character class")

    def _category_sample(self, category: Any) -> str:
        c = self.c
        samples = {
            c.CATEGORY_DIGIT: "0",
            c.CATEGORY_NOT_DIGIT: "a",
            c.CATEGORY_SPACE: " ",
            c.CATEGORY_NOT_SPACE: "a",
            c.CATEGORY_WORD: "a",
            c.CATEGORY_NOT_WORD: "-",
        }
        return samples.get(category, "a")

    def _in(self, char: str, members: Any) -> bool:
        c = self.c
        code = ord(char)
        for op, av in members:
            if op == c.LITERAL and code == av:
                return True
            if op == c.RANGE and av[0] <= code <= av[1]:
                return True
            if op == c.CATEGORY and re.fullmatch(_CATEGORY_PATTERNS.get(str(av), "(?!)"), char):
                return True
        return False


_CATEGORY_PATTERNS = {
    "CATEGORY_DIGIT": r"\d",
    "CATEGORY_NOT_DIGIT": r"\D",
    "CATEGORY_SPACE": r"\s",
    "CATEGORY_NOT_SPACE": r"\S",
    "CATEGORY_WORD": r"\w",
    "CATEGORY_NOT_WORD": r"\W",
}
