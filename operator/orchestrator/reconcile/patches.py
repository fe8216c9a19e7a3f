"""Minimal RFC 7386 merge patches, so that an unchanged status costs no API write at all."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel

from ..api.base import dump


def merge_patch(old: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, Any]:
    """The merge patch turning ``old`` into ``new``: changed keys, nested maps diffed, removed keys as None.

    Lists are replaced whole (merge patches cannot address list items). Empty when nothing changed.
    """
    patch: dict[str, Any] = {}
    for key in old.keys() - new.keys():
        patch[key] = None
    for key, value in new.items():
        before = old.get(key, _MISSING)
        if isinstance(value, Mapping) and isinstance(before, Mapping):
            nested = merge_patch(before, value)
            if nested:
                patch[key] = nested
        elif before is _MISSING or before != value:
            patch[key] = value
    return patch


class _Missing:
    pass


_MISSING: Any = _Missing()


def status_patch(raw: Mapping[str, Any], before: BaseModel, after: BaseModel) -> dict[str, Any]:
    """The merge patch from the stored status ``raw`` (read as the model ``before``) to ``after``.

    Values are compared in model form, so formatting differences of the stored object write nothing; a top-level
    field the stored status lacks counts as missing even when the model fills in a default, so it gets written.
    """
    old = {key: value for key, value in dump(before).items() if key in raw}
    return merge_patch(old, dump(after))
