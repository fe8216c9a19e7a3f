"""Deleting a ServiceRequest: tear down (or leave) what its actions created, then let the finalizer go.

Cleanup uses only what the status recorded (external references, their connections, the deletion policy
snapshotted at fulfilment), so it works after the item changed or left the catalog. It never hangs silently:
past the operator's deletion deadline the request reports Stalled with the reason, and keeps trying.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..actions.base import utcnow
from ..api.base import dump
from ..api.conditions import Reason
from ..reconcile.patches import merge_patch
from ..reconcile.request import parse_request
from ..reconcile.status import Announcement, Outcome, announcements, apply_outcome
from ..redaction import Redactor
from .context import OperatorContext


@dataclass
class CleanupResult:
    done: bool
    status_patch: dict[str, Any] = field(default_factory=dict)
    wait: float | None = None
    events: list[Announcement] = field(default_factory=list)


async def cleanup_request(ctx: OperatorContext, body: Mapping[str, Any]) -> CleanupResult:
    view = parse_request(body)
    before = view.status
    now = utcnow()
    status = before.model_copy(update={"deletion_started_at": before.deletion_started_at or now})
    policy = status.deletion_policy or "Delete"

    async def no_marker(_: Any) -> None:
        raise RuntimeError("cleanup never creates external objects")

    pending: list[str] = []
    stall_reason: str | None = None
    wait: float | None = None
    actions = []
    for action in reversed(status.actions):
        runner = ctx.runners.get(action.type)
        if action.external_ref is None or runner is None:
            actions.append(action)
            continue
        context = ctx.action_context(view, {}, Redactor(), no_marker)
        result = await runner.teardown(action, context, policy)
        if result.done:
            action = action.model_copy(update={"external_ref": None, "message": result.message or action.message})
        else:
            failures = action.temporary_failures + 1
            action = action.model_copy(update={"message": result.message, "temporary_failures": failures})
            pending.append(f"action '{action.name}': {result.message}")
            stall_reason = stall_reason or result.stall_reason
            wait = min(wait, result.wait) if wait is not None and result.wait is not None else (wait or result.wait)
            if result.failure_reason:
                ctx.metrics.action_failures.labels(action.type, result.failure_reason).inc()
        actions.append(action)
    status = status.model_copy(update={"actions": list(reversed(actions))})
    if not pending:
        return CleanupResult(done=True)
    elapsed = (now - (status.deletion_started_at or now)).total_seconds()
    message = "cleanup pending: " + "; ".join(pending)
    if elapsed >= ctx.settings.deletion_deadline:
        stall_reason = Reason.DELETION_TIMEOUT
        message = f"cleanup has not finished after {int(elapsed)}s: " + "; ".join(pending)
    outcome = Outcome("Deleting", stall_reason or Reason.DELETING, message, stalled=stall_reason is not None)
    status = apply_outcome(status, outcome, generation=view.generation, now=now)
    patch = merge_patch(body.get("status") or {}, dump(status))
    return CleanupResult(False, patch, wait or 10.0, announcements(before, status))
