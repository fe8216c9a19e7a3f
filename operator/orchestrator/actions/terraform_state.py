"""The per-request Terraform record: one Secret per request and action holding state, snapshots and the pending plan.

Keys (each gzip-compressed, so a typical state stays far below the 1 MiB Secret limit):
``tfstate`` (local state, absent with a remote ``backend``), ``module`` (tar.gz of the module as last applied),
``inputs`` (the variables as last applied), ``backend``, ``sensitive-outputs`` (sensitive module outputs, for the
item's output templates), and while a manual approval is pending ``plan``, ``plan-module``, ``plan-inputs``.
Annotations: ``applied-lock`` (the lock id of the last apply that finished: a restarted operator that finds its lock
there knows the apply happened), ``plan-hash``, ``module-revision``.

Every write carries the resourceVersion it read (a 409 means another writer: the caller retries on fresh data),
and the Secret is owned by the request, so it goes when the request goes (after destroy), unless orphaned.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..clients.kubernetes_types import SECRETS, KubernetesApiError, KubernetesClient

PREFIX = "orchestrator.dev/"
APPLIED_LOCK = PREFIX + "applied-lock"
PLAN_HASH = PREFIX + "plan-hash"
MODULE_REVISION = PREFIX + "module-revision"
MODULE_PATH = PREFIX + "module"
STATE_LABEL = PREFIX + "terraform-state"
REQUEST_LABEL = PREFIX + "request"
ORPHANED_LABEL = PREFIX + "orphaned"
MAX_SECRET_BYTES = 1_000_000
BINARY_KEYS = ("tfstate", "module", "plan", "plan-module")
JSON_KEYS = ("inputs", "backend", "sensitive-outputs", "plan-inputs")


class StateTooLarge(Exception):
    """The record would not fit into a Secret."""


def state_secret_name(request: str, action: str) -> str:
    """``<request>-tfstate-<action>``, lower-cased (with a short hash when that changed it), at most 253 characters."""
    lowered = action.lower()
    suffix = lowered if lowered == action else f"{lowered}-{hashlib.sha256(action.encode()).hexdigest()[:6]}"
    name = f"{request}-tfstate-{suffix}"
    if len(name) > 253:
        name = f"{name[:240]}-{hashlib.sha256(name.encode()).hexdigest()[:12]}"
    return name


@dataclass
class StateRecord:
    """What the Secret holds (decoded); ``resource_version`` is None while the Secret does not exist."""

    name: str
    namespace: str
    resource_version: str | None = None
    blobs: dict[str, bytes] = field(default_factory=dict)
    documents: dict[str, Any] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    orphaned: bool = False

    @property
    def exists(self) -> bool:
        return self.resource_version is not None

    @property
    def state(self) -> bytes | None:
        return self.blobs.get("tfstate")

    @property
    def applied_lock(self) -> str | None:
        return self.annotations.get(APPLIED_LOCK)

    @property
    def plan_hash(self) -> str | None:
        return self.annotations.get(PLAN_HASH) if "plan" in self.blobs else None


def _decode(secret: Mapping[str, Any], name: str, namespace: str) -> StateRecord:
    meta = secret.get("metadata") or {}
    record = StateRecord(
        name,
        namespace,
        str(meta.get("resourceVersion", "")),
        annotations={k: str(v) for k, v in (meta.get("annotations") or {}).items() if k.startswith(PREFIX)},
        orphaned=(meta.get("labels") or {}).get(ORPHANED_LABEL) == "true",
    )
    for key, value in (secret.get("data") or {}).items():
        raw = gzip.decompress(base64.b64decode(value))
        if key in BINARY_KEYS:
            record.blobs[key] = raw
        elif key in JSON_KEYS:
            record.documents[key] = json.loads(raw)
    return record


def _encode(value: bytes | Any, key: str) -> str:
    raw = value if key in BINARY_KEYS else json.dumps(value, sort_keys=True).encode()
    return base64.b64encode(gzip.compress(raw, mtime=0)).decode()


async def read_record(kube: KubernetesClient, namespace: str, name: str) -> StateRecord:
    secret = await kube.get(SECRETS, name, namespace)
    if secret is None:
        return StateRecord(name, namespace)
    return _decode(secret, name, namespace)


async def write_record(
    kube: KubernetesClient,
    record: StateRecord,
    owner: Mapping[str, str],
    *,
    set_values: Mapping[str, Any] | None = None,
    remove: tuple[str, ...] = (),
    annotations: Mapping[str, str | None] | None = None,
) -> StateRecord:
    """Write changed keys (a value of None removes one); 409 from a concurrent writer propagates.

    ``owner`` is {name, uid} of the ServiceRequest. Returns the record as written.
    """
    data: dict[str, str | None] = dict.fromkeys(remove)
    for key, value in (set_values or {}).items():
        data[key] = None if value is None else _encode(value, key)
    kept = {k: v for k, v in data.items() if v is not None}
    size = sum(len(v) for v in kept.values())
    if record.exists:
        size += sum(len(_encode(v, k)) for k, v in record.blobs.items() if k not in data)
    if size > MAX_SECRET_BYTES:
        raise StateTooLarge(
            f"the Terraform record would be {size} bytes, more than a Secret holds; configure a remote backend"
        )
    if not record.exists:
        body = {
            "apiVersion": "v1",
            "kind": "Secret",
            "type": "Opaque",
            "metadata": {
                "name": record.name,
                "namespace": record.namespace,
                "labels": {STATE_LABEL: "true", REQUEST_LABEL: owner["name"]},
                "annotations": {k: v for k, v in (annotations or {}).items() if v is not None},
                "ownerReferences": [
                    {
                        "apiVersion": "orchestrator.dev/v1alpha1",
                        "kind": "ServiceRequest",
                        "name": owner["name"],
                        "uid": owner["uid"],
                        "controller": True,
                        "blockOwnerDeletion": True,
                    }
                ],
            },
            "data": kept,
        }
        written = await kube.create(SECRETS, body, record.namespace)
    else:
        patch: dict[str, Any] = {"metadata": {"resourceVersion": record.resource_version}, "data": data}
        if annotations:
            patch["metadata"]["annotations"] = dict(annotations)
        written = await kube.patch(SECRETS, record.name, patch, record.namespace)
    return _decode(written, record.name, record.namespace)


async def orphan_record(kube: KubernetesClient, record: StateRecord) -> None:
    """Keep the Secret after the request is gone: drop the owner reference and label it orphaned."""
    patch = {
        "metadata": {
            "resourceVersion": record.resource_version,
            "ownerReferences": None,
            "labels": {ORPHANED_LABEL: "true"},
        }
    }
    try:
        await kube.patch(SECRETS, record.name, patch, record.namespace)
    except KubernetesApiError as error:
        if error.status != 404:
            raise
