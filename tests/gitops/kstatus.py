"""A small reference of kstatus (sigs.k8s.io/cli-utils/pkg/kstatus/status) for custom resources.

Follows ``status.Compute`` for a kind without type-specific rules: a deletionTimestamp is Terminating; a
status.observedGeneration different from metadata.generation is InProgress; Reconciling=True is InProgress;
Stalled=True is Failed; then the Ready condition (True: Current, False or Unknown: InProgress); no known condition
at all is Current. The health checks in gitops/ are judged against this.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

KStatus = Literal["InProgress", "Failed", "Current", "Terminating"]


def _conditions(obj: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    status = obj.get("status")
    if not isinstance(status, Mapping):
        return []
    conditions = status.get("conditions")
    return [c for c in conditions if isinstance(c, Mapping)] if isinstance(conditions, list) else []


def compute(obj: Mapping[str, Any]) -> KStatus:
    """The kstatus verdict for one object (a dict as the API server returns it)."""
    metadata = obj.get("metadata") or {}
    if metadata.get("deletionTimestamp"):
        return "Terminating"
    status = obj.get("status")
    generation = metadata.get("generation")
    if isinstance(status, Mapping) and generation is not None:
        observed = status.get("observedGeneration")
        if observed is not None and observed != generation:
            return "InProgress"
    conditions = _conditions(obj)
    for condition in conditions:
        if condition.get("type") == "Reconciling" and condition.get("status") == "True":
            return "InProgress"
        if condition.get("type") == "Stalled" and condition.get("status") == "True":
            return "Failed"
    for condition in conditions:
        if condition.get("type") == "Ready":
            return "Current" if condition.get("status") == "True" else "InProgress"
    return "Current"
