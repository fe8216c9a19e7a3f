"""Kubernetes `Status` errors as kube-apiserver reports them (reason, message wording, details)."""

from __future__ import annotations

from typing import Any

from kmock import KubernetesError

__all__ = [
    "KubernetesError",
    "already_exists",
    "apply_conflict",
    "bad_request",
    "conflict",
    "forbidden",
    "gone",
    "invalid",
    "method_not_allowed",
    "not_found",
    "service_unavailable",
    "unsupported_media_type",
]


def _qualified(plural: str, group: str) -> str:
    return f"{plural}.{group}" if group else plural


def not_found(plural: str, group: str, name: str | None) -> KubernetesError:
    if name is None:
        return KubernetesError(404, "NotFound", "the server could not find the requested resource", {})
    details = {"name": name, "group": group, "kind": plural}
    return KubernetesError(404, "NotFound", f'{_qualified(plural, group)} "{name}" not found', details)


def already_exists(plural: str, group: str, name: str) -> KubernetesError:
    details = {"name": name, "group": group, "kind": plural}
    return KubernetesError(409, "AlreadyExists", f'{_qualified(plural, group)} "{name}" already exists', details)


def conflict(plural: str, group: str, name: str, why: str | None = None) -> KubernetesError:
    why = why or "the object has been modified; please apply your changes to the latest version and try again"
    message = f'Operation cannot be fulfilled on {_qualified(plural, group)} "{name}": {why}'
    return KubernetesError(409, "Conflict", message, {"name": name, "group": group, "kind": plural})


def apply_conflict(message: str, causes: list[dict[str, Any]]) -> KubernetesError:
    """A 409 for server-side apply conflicts (``NewApplyConflict``: the details hold only the causes)."""
    return KubernetesError(409, "Conflict", message, {"causes": causes})


def invalid(kind: str, group: str, name: str, field: str, cause: str, detail: str) -> KubernetesError:
    """A 422 for a field validation error, e.g. ``invalid(..., "metadata.name", "FieldValueRequired", "...")``."""
    qualified_kind = f"{kind}.{group}" if group else kind
    reason_text = {
        "FieldValueRequired": "Required value",
        "FieldValueForbidden": "Forbidden",
        "FieldValueInvalid": "Invalid value",
        "FieldValueNotSupported": "Unsupported value",
        "FieldValueTooLong": "Too long",
    }.get(cause, cause)
    message = f'{qualified_kind} "{name}" is invalid: {field}: {reason_text}: {detail}'
    details: dict[str, Any] = {
        "name": name,
        "group": group,
        "kind": kind,
        "causes": [{"reason": cause, "message": f"{reason_text}: {detail}", "field": field}],
    }
    return KubernetesError(422, "Invalid", message, details)


def unprocessable(message: str) -> KubernetesError:
    """A 422 as kube-apiserver answers a JSON patch that cannot be applied (a failed ``test`` op included)."""
    return KubernetesError(422, "Invalid", message, {})


def bad_request(message: str) -> KubernetesError:
    return KubernetesError(400, "BadRequest", message, {})


def forbidden(message: str, details: dict[str, Any] | None = None) -> KubernetesError:
    return KubernetesError(403, "Forbidden", message, details or {})


def gone(message: str) -> KubernetesError:
    return KubernetesError(410, "Expired", message, {})


def method_not_allowed(message: str) -> KubernetesError:
    return KubernetesError(405, "MethodNotAllowed", message, {})


def service_unavailable(message: str) -> KubernetesError:
    return KubernetesError(503, "ServiceUnavailable", message, {})


def unsupported_media_type(content_type: str) -> KubernetesError:
    return KubernetesError(
        415, "UnsupportedMediaType", f"the body of the request was in an unknown format: {content_type}", {}
    )


def status_body(exc: KubernetesError) -> dict[str, Any]:
    """The ``v1 Status`` object for an error (used for HTTP responses and watch ``ERROR`` events)."""
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": exc.message or "",
        "reason": exc.reason or "",
        "details": exc.details or {},
        "code": exc.status,
    }
