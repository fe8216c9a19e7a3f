"""Filters a platform team needs, and size-checked replacements for Jinja filters that can allocate
without bound from a single small argument (``'x' | center(10**9)``)."""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
import string
import unicodedata
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from jinja2 import Undefined
from jinja2 import filters as jinja_filters

from orchestrator.templates.budget import active_limits, to_plain_data
from orchestrator.templates.errors import TemplateError

DNS_LABEL_MAX_LENGTH = 63
_HASH_LENGTH = 8
# Room for at least a few characters of the original before "-<hash>".
_DNS_LABEL_MIN_LENGTH = _HASH_LENGTH + 2

_NOT_ALPHANUMERIC = re.compile(r"[^a-z0-9]+")
_PRINTF_SPEC = re.compile(r"%(?:\([^)]*\))?[-#0 +]*(\*|\d+)?(?:\.(\*|\d+))?[a-zA-Z%]")
_NUMBER = re.compile(r"\d+")


def _text(value: Any, filter_name: str) -> str:
    # Numbers are unambiguous as text; booleans are not ("True" vs "true"), so they must be converted
    # explicitly.
    if isinstance(value, str):
        return value
    if isinstance(value, Undefined):
        str(value)  # raises the undefined-variable error, which says more than "not a string"
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    raise TypeError(f"{filter_name} expects a string, not {type(value).__name__}; convert it with '| string'")


def slug(value: Any) -> str:
    """Lowercase ASCII letters and digits joined by single dashes: ``"Team A / Prod"`` -> ``"team-a-prod"``.

    Accents are dropped (``"Café"`` -> ``"cafe"``); other characters become dashes, leading and trailing
    dashes are removed. May return an empty string.
    """
    decomposed = unicodedata.normalize("NFKD", _text(value, "slug"))
    ascii_text = decomposed.encode("ascii", "ignore").decode("ascii").lower()
    return _NOT_ALPHANUMERIC.sub("-", ascii_text).strip("-")


def dns_label(value: Any, max_length: int = DNS_LABEL_MAX_LENGTH) -> str:
    """``slug(value)`` made a valid RFC 1123 label of at most ``max_length`` (10..63) characters.

    A longer slug is cut and given a ``-<8 hex chars>`` suffix taken from the SHA-256 of the whole slug,
    so distinct long inputs stay distinct and the same input always gives the same label.
    """
    if not _DNS_LABEL_MIN_LENGTH <= max_length <= DNS_LABEL_MAX_LENGTH:
        raise ValueError(
            f"dns_label max_length must be between {_DNS_LABEL_MIN_LENGTH} and {DNS_LABEL_MAX_LENGTH}, not {max_length}"
        )
    label = slug(value)
    if not label:
        raise ValueError(f"dns_label: {value!r} has no letters or digits to make a label from")
    if len(label) <= max_length:
        return label
    digest = hashlib.sha256(label.encode("utf-8")).hexdigest()[:_HASH_LENGTH]
    head = label[: max_length - _HASH_LENGTH - 1].rstrip("-")
    return f"{head}-{digest}"


def to_json(value: Any) -> str:
    """Compact JSON with sorted keys; only plain data (no undefined values or Python objects)."""
    return json.dumps(to_plain_data(value), sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def b64encode(value: Any) -> str:
    """Standard base64 of the UTF-8 encoding of ``value`` (a string or number)."""
    return base64.b64encode(_text(value, "b64encode").encode("utf-8")).decode("ascii")


def b64decode(value: Any) -> str:
    """The UTF-8 text encoded in standard base64 ``value``; invalid base64 or non-UTF-8 bytes raise."""
    try:
        decoded = base64.b64decode(_text(value, "b64decode"), validate=True)
    except binascii.Error:
        raise ValueError("b64decode: the value is not valid base64") from None
    try:
        return decoded.decode("utf-8")
    except UnicodeDecodeError:
        raise ValueError("b64decode: the decoded bytes are not UTF-8 text") from None


def check_width(what: str, width: Any) -> None:
    """Reject a padding or repeat count that would build a string larger than the output limit."""
    limit = active_limits().max_output
    if isinstance(width, int) and not isinstance(width, bool) and abs(width) > limit:
        raise TemplateError(f"{what} of {width} exceeds the size limit of {limit}")


def check_printf_format(template: str, values: Any) -> None:
    """Reject ``%``-formatting whose field widths or precisions exceed the output limit."""
    star = False
    for match in _PRINTF_SPEC.finditer(template):
        for part in match.groups():
            if part == "*":
                star = True
            elif part is not None:
                check_width("a format width", int(part))
    if star:
        for item in values if isinstance(values, tuple) else (values,):
            check_width("a format width", item)


def check_brace_format(template: str, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> None:
    """Reject ``str.format`` specs whose widths or precisions exceed the output limit."""
    nested = False
    try:
        fields = list(string.Formatter().parse(template))
    except ValueError:
        return  # str.format reports the malformed template itself
    for _literal, _name, spec, _conversion in fields:
        if not spec:
            continue
        nested = nested or "{" in spec
        for number in _NUMBER.findall(spec):
            check_width("a format width", int(number))
    if nested:
        for item in (*args, *kwargs.values()):
            check_width("a format width", item)


def _bounded_center(value: Any, width: int = 80) -> str:
    check_width("center width", width)
    return jinja_filters.do_center(value, width)


def _bounded_indent(value: str, width: int | str = 4, first: bool = False, blank: bool = False) -> str:
    check_width("indent width", width)
    return jinja_filters.do_indent(value, width, first, blank)


def _bounded_batch(value: Any, linecount: int, fill_with: Any = None) -> Iterator[list[Any]]:
    check_width("batch size", linecount)
    return jinja_filters.do_batch(value, linecount, fill_with)


def _bounded_slice(value: Any, slices: int, fill_with: Any = None) -> Iterator[list[Any]]:
    check_width("slice count", slices)
    return jinja_filters.sync_do_slice(value, slices, fill_with)


def _bounded_format(value: str, *args: Any, **kwargs: Any) -> str:
    check_printf_format(value, kwargs or args)
    return jinja_filters.do_format(value, *args, **kwargs)


PLATFORM_FILTERS: dict[str, Callable[..., Any]] = {
    "slug": slug,
    "dns_label": dns_label,
    "to_json": to_json,
    "b64encode": b64encode,
    "b64decode": b64decode,
    "center": _bounded_center,
    "indent": _bounded_indent,
    "batch": _bounded_batch,
    "slice": _bounded_slice,
    "format": _bounded_format,
}

# ``random`` makes a render differ from one reconcile to the next, which an operator must never do.
REMOVED_FILTERS = ("random",)
