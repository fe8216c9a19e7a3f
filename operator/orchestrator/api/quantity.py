"""Kubernetes resource quantities (k8s.io/apimachinery/pkg/api/resource), parsed exactly enough to validate."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

_QUANTITY = re.compile(
    r"^(?P<number>[+-]?(\d+(\.\d*)?|\.\d+))(?P<suffix>Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E|[eE][+-]?\d+)?$"
)
_BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
_DECIMAL = {
    "n": Decimal("1e-9"),
    "u": Decimal("1e-6"),
    "m": Decimal("1e-3"),
    "": Decimal(1),
    "k": Decimal("1e3"),
    "M": Decimal("1e6"),
    "G": Decimal("1e9"),
    "T": Decimal("1e12"),
    "P": Decimal("1e15"),
    "E": Decimal("1e18"),
}


class QuantityError(ValueError):
    """The value is not a Kubernetes quantity."""


def parse_quantity(value: int | float | str) -> Decimal:
    """The quantity's value in base units ("500m" -> 0.5, "2Gi" -> 2147483648).

    Raises QuantityError for anything the API server would reject, including negative amounts.
    """
    if isinstance(value, bool):
        raise QuantityError(f"{value!r} is not a Kubernetes quantity")
    text = str(value).strip() if isinstance(value, int | float) else value
    match = _QUANTITY.match(text)
    if match is None:
        raise QuantityError(f"'{value}' is not a Kubernetes quantity (for example 500m, 2, 512Mi, 2Gi)")
    try:
        number = Decimal(match["number"])
    except InvalidOperation as exc:  # pragma: no cover - the regex admits only valid decimals
        raise QuantityError(f"'{value}' is not a Kubernetes quantity") from exc
    if number < 0:
        raise QuantityError(f"'{value}' is negative; a quantity here must be zero or more")
    suffix = match["suffix"] or ""
    if suffix in _BINARY:
        return number * _BINARY[suffix]
    if suffix in _DECIMAL:
        return number * _DECIMAL[suffix]
    return number * Decimal(10) ** int(suffix[1:])
