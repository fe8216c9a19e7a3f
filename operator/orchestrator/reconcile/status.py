"""The status contract: phase and kstatus conditions from what the reconciler found, and what to announce.

Ready, Reconciling and Stalled are mutually exclusive: at most one of them is True. Ready is True only in
phase Ready for the current generation; Reconciling is True only while the operator is making progress; Stalled
is True only when a person must act (invalid input, authentication failure, permanent action failure, abort).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal, TypeVar

from ..api.base import ConditionStatus, StatusBase
from ..api.conditions import (
    APPROVED,
    FULFILLED,
    READY,
    RECONCILING,
    STALLED,
    VALIDATED,
    Reason,
    find_condition,
    set_condition,
    true_condition,
)
from ..api.service_request import ActionStatus, Phase, ServiceRequestStatus

EventType = Literal["Normal", "Warning"]
S = TypeVar("S", bound=StatusBase)


@dataclass(frozen=True)
class Outcome:
    """Where one reconcile left the request."""

    phase: Phase
    reason: str
    message: str
    stalled: bool = False
    """A person must act (Stalled=True)."""
    progressing: bool = True
    """The operator is still working or waiting on a backend (Reconciling=True), when not stalled."""


def mark(
    status: S,
    type_: str,
    value: ConditionStatus,
    reason: str,
    message: str,
    *,
    generation: int,
    now: datetime,
) -> S:
    """A copy of ``status`` with one condition set (no-op changes keep the existing condition untouched)."""
    conditions, changed = set_condition(
        status.conditions, type_, value, reason, message, observed_generation=generation, now=now
    )
    return status.model_copy(update={"conditions": conditions}) if changed else status


def summarize(
    status: S,
    *,
    ready: bool,
    stalled: bool,
    progressing: bool,
    reason: str,
    message: str,
    generation: int,
    now: datetime,
) -> S:
    """observedGeneration and the three kstatus conditions (at most one of them True), for any kind's status."""
    reconciling = not ready and not stalled and progressing
    status = status.model_copy(update={"observed_generation": generation})
    status = mark(status, READY, "True" if ready else "False", reason, message, generation=generation, now=now)
    status = mark(
        status,
        RECONCILING,
        "True" if reconciling else "False",
        reason if reconciling else (Reason.SUCCEEDED if ready else reason),
        message if reconciling else "",
        generation=generation,
        now=now,
    )
    return mark(
        status,
        STALLED,
        "True" if stalled else "False",
        reason if stalled else (Reason.SUCCEEDED if ready else Reason.PROGRESSING),
        message if stalled else "",
        generation=generation,
        now=now,
    )


def apply_outcome(
    status: ServiceRequestStatus, outcome: Outcome, *, generation: int, now: datetime
) -> ServiceRequestStatus:
    """Phase, observedGeneration and the three kstatus conditions for ``outcome``."""
    # A hibernated request is in the state its spec asks for: Ready, with the reason saying it sleeps.
    ready = outcome.phase in ("Ready", "Hibernated") and not outcome.stalled
    status = status.model_copy(update={"phase": outcome.phase})
    return summarize(
        status,
        ready=ready,
        stalled=outcome.stalled,
        progressing=outcome.progressing,
        reason=Reason.SUCCEEDED if outcome.phase == "Ready" and ready else outcome.reason,
        message=outcome.message,
        generation=generation,
        now=now,
    )


def mark_validated(
    status: ServiceRequestStatus, ok: bool, reason: str, message: str, *, generation: int, now: datetime
) -> ServiceRequestStatus:
    return mark(status, VALIDATED, "True" if ok else "False", reason, message, generation=generation, now=now)


def mark_approved(
    status: ServiceRequestStatus, ok: bool, reason: str, message: str, *, generation: int, now: datetime
) -> ServiceRequestStatus:
    return mark(status, APPROVED, "True" if ok else "False", reason, message, generation=generation, now=now)


def mark_fulfilled(
    status: ServiceRequestStatus, ok: bool, reason: str, message: str, *, generation: int, now: datetime
) -> ServiceRequestStatus:
    return mark(status, FULFILLED, "True" if ok else "False", reason, message, generation=generation, now=now)


@dataclass(frozen=True)
class Announcement:
    """A Kubernetes Event to emit for a transition."""

    type: EventType
    reason: str
    message: str


def _action_announcement(before: ActionStatus | None, after: ActionStatus) -> Announcement | None:
    if before is not None and before.state == after.state and before.attempts == after.attempts:
        return None
    detail = f": {after.message}" if after.message else ""
    warning = after.state in ("Failed", "Aborted")
    return Announcement("Warning" if warning else "Normal", f"Action{after.state}", _action_summary(after) + detail)


def _action_summary(action: ActionStatus) -> str:
    ref = f" ({action.external_ref.id})" if action.external_ref else ""
    return f"action '{action.name}' {action.state.lower()}{ref}"


def announcements(before: ServiceRequestStatus, after: ServiceRequestStatus) -> list[Announcement]:
    """One event per transition of the request (the message carries the reason).

    A phase change is one event, which also names the actions that changed with it; an action's change has an
    event of its own only when the phase stays (a step of a longer fulfillment) or when it is a failure (Warning).
    Every event is a write to the API server: a one-ticket request reads Provisioning, then Ready, not four events.
    """
    previous = {action.name: action for action in before.actions}
    changed = [
        (action, announcement)
        for action in after.actions
        if (announcement := _action_announcement(previous.get(action.name), action)) is not None
    ]
    stalled_before = _stalled_message(before)
    stalled_after = _stalled_message(after)
    if before.phase == after.phase and not (stalled_after and stalled_after != stalled_before):
        return [announcement for _, announcement in changed]
    ready = find_condition(after.conditions, READY)
    message = f"{after.phase}: {ready.message if ready is not None and ready.message else after.phase}"
    warning = after.phase in ("Failed", "Aborted") or bool(stalled_after)
    reason = ready.reason if ready is not None else after.phase
    result = [announcement for _, announcement in changed if announcement.type == "Warning"]
    folded = [
        _action_summary(action)
        for action, announcement in changed
        if announcement.type == "Normal" and f"action '{action.name}'" not in message
    ]
    if folded:
        message = f"{message} ({'; '.join(folded)})"
    result.append(Announcement("Warning" if warning else "Normal", reason, message))
    return result


def _stalled_message(status: ServiceRequestStatus) -> str | None:
    stalled = true_condition(status.conditions, STALLED)
    return stalled.message if stalled is not None else None
