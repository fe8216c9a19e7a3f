"""Patch formats of kube-apiserver: JSON patch (RFC 6902), merge patch (RFC 7386), strategic merge (as a merge patch).
Server-side apply (``application/apply-patch+yaml``) is fieldmanager.apply; its YAML bodies are decoded here."""

from __future__ import annotations

import contextlib
import copy
import json
from collections.abc import Mapping
from typing import Any

import jsonpatch  # a dependency of kopf
import jsonpointer
import yaml

from .errors import bad_request, unprocessable, unsupported_media_type

__all__ = ["JSON_PATCH", "MERGE_PATCH", "SSA_PATCH", "STRATEGIC_PATCH", "apply_patch", "merge_patch", "parse_body"]

JSON_PATCH = "application/json-patch+json"
MERGE_PATCH = "application/merge-patch+json"
STRATEGIC_PATCH = "application/strategic-merge-patch+json"
SSA_PATCH = "application/apply-patch+yaml"
PATCH_TYPES = (JSON_PATCH, MERGE_PATCH, STRATEGIC_PATCH, SSA_PATCH)


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386: objects merge recursively, ``null`` deletes a key, anything else (lists too) replaces."""
    if not isinstance(patch, Mapping):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, Mapping) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def _strip_directives(patch: Any) -> Any:
    """Drop strategic-merge ``$patch``/``$setElementOrder``/``$retainKeys`` directives (treated as merge patch)."""
    if isinstance(patch, Mapping):
        return {k: _strip_directives(v) for k, v in patch.items() if not str(k).startswith("$")}
    if isinstance(patch, list):
        return [_strip_directives(item) for item in patch]
    return patch


def apply_patch(target: Mapping[str, Any], patch: Any, content_type: str) -> dict[str, Any]:
    """Apply a non-apply patch of the given content type to a (never mutated) object and return the new object."""
    if content_type == JSON_PATCH:
        if not isinstance(patch, list):
            raise bad_request("json patch must be a list of operations")
        try:
            result = jsonpatch.apply_patch(dict(target), patch, in_place=False)
        except jsonpatch.JsonPatchTestFailed as exc:
            raise unprocessable(f"the server rejected our request due to an error in our request: {exc}") from None
        except (jsonpatch.JsonPatchException, jsonpointer.JsonPointerException) as exc:
            raise unprocessable(f"the server rejected our request due to an error in our request: {exc}") from None
        except (TypeError, KeyError, ValueError) as exc:  # malformed operations
            raise bad_request(f"invalid json patch: {exc}") from None
    elif content_type in (MERGE_PATCH, STRATEGIC_PATCH):
        if not isinstance(patch, Mapping):
            raise bad_request("merge patch must be a JSON object")
        if content_type == STRATEGIC_PATCH:
            patch = _strip_directives(patch)
        result = merge_patch(target, patch)
    else:
        raise unsupported_media_type(content_type)
    if not isinstance(result, dict):
        raise unprocessable("the patched object is not a JSON object")
    return copy.deepcopy(result)


_YAML_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def parse_body(body: bytes, content_type: str) -> Any:
    """Decode a request body: JSON, or YAML for server-side apply (YAML is a superset of JSON)."""
    if not body.strip():
        return None
    try:
        if content_type == SSA_PATCH or content_type.endswith("yaml"):
            if body.lstrip()[:1] == b"{":  # most clients send JSON: parse it as such (the YAML parser is ~200x slower)
                with contextlib.suppress(ValueError):
                    return json.loads(body)
            return yaml.load(body, Loader=_YAML_LOADER)
        return json.loads(body)
    except (ValueError, yaml.YAMLError) as exc:
        raise bad_request(f"the body of the request could not be decoded: {exc}") from None
