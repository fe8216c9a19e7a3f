"""CatalogSource status from what one sync found: the revision, its problems, and what was written.

In the style of Flux sources: ``lastAppliedRevision`` moves only when a whole revision is in the cluster;
``lastAttemptedRevision`` is the last one read. An invalid revision is Stalled (a person must fix the catalog),
an unreadable source is Reconciling (retried), and a sync that changed nothing changes no status field, so a
no-op resync costs no write.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from ..api.catalog_source import MAX_REPORTED_ERRORS, CatalogSourceStatus, SyncCounts, SyncError
from ..api.conditions import READY, SOURCE_AVAILABLE, STALLED, Reason, find_condition, true_condition
from .status import Announcement, mark, summarize

SyncResult = Literal["applied", "invalid", "clash", "empty", "unavailable", "failed"]


@dataclass(frozen=True)
class SyncOutcome:
    """Where one sync attempt of a source ended."""

    result: SyncResult
    revision: str | None
    message: str
    """For failures: what went wrong, one line. For applied: a summary of the writes."""
    errors: list[SyncError] = field(default_factory=list)
    counts: SyncCounts | None = None
    """Set when the sync wrote something (or applied a new revision); None keeps the previous counts."""
    permanent: bool = False
    """For unavailable/failed: retrying will not help until someone changes something (Stalled)."""
    reason: str | None = None
    """For failed: the condition reason (default BackendUnavailable)."""


def short(revision: str | None) -> str:
    return (revision or "?")[:12]


def _failure_message(outcome: SyncOutcome) -> str:
    if outcome.result == "invalid":
        count = len(outcome.errors)
        first = outcome.errors[0] if outcome.errors else None
        where = ""
        if first is not None:
            where = f"{first.file}:{first.line}" if first.line else first.file
            where = f"; first: {where}{' ' + first.path if first.path else ''}: {first.message}"
        more = f" (showing the first {MAX_REPORTED_ERRORS})" if count > MAX_REPORTED_ERRORS else ""
        noun = "error" if count == 1 else "errors"
        return f"revision {short(outcome.revision)} is invalid, nothing applied: {count} {noun}{more}{where}"
    return outcome.message


_STALLED_REASONS = {
    "invalid": Reason.INVALID_REVISION,
    "clash": Reason.NAME_CONFLICT,
    "empty": Reason.EMPTY_REVISION,
}


def source_status(
    status: CatalogSourceStatus,
    outcome: SyncOutcome,
    *,
    generation: int,
    now: datetime,
    refresh: str | None,
) -> CatalogSourceStatus:
    """The status after ``outcome``; equal to ``status`` (field for field) when nothing new happened."""
    update: dict[str, object] = {}
    if refresh is not None:
        update["last_handled_refresh_at"] = refresh
    available = outcome.result != "unavailable"
    if outcome.revision is not None:
        update["last_attempted_revision"] = outcome.revision
    if outcome.result == "applied":
        update["last_applied_revision"] = outcome.revision
        update["errors"] = []
        if outcome.counts is not None:
            update["counts"] = outcome.counts
    elif outcome.result in _STALLED_REASONS:
        update["errors"] = outcome.errors[:MAX_REPORTED_ERRORS]
    new = status.model_copy(update=update)
    new = mark(
        new,
        SOURCE_AVAILABLE,
        "True" if available else "False",
        Reason.SUCCEEDED if available else Reason.SOURCE_UNAVAILABLE,
        "" if available else outcome.message,
        generation=generation,
        now=now,
    )
    if outcome.result == "applied":
        new = summarize(
            new,
            ready=True,
            stalled=False,
            progressing=False,
            reason=Reason.REVISION_APPLIED,
            message=outcome.message,
            generation=generation,
            now=now,
        )
    else:
        reason = (
            _STALLED_REASONS.get(outcome.result)
            or outcome.reason
            or (Reason.SOURCE_UNAVAILABLE if outcome.result == "unavailable" else Reason.BACKEND_UNAVAILABLE)
        )
        stalled = outcome.result in _STALLED_REASONS or outcome.permanent
        new = summarize(
            new,
            ready=False,
            stalled=stalled,
            progressing=True,
            reason=reason,
            message=_failure_message(outcome),
            generation=generation,
            now=now,
        )
    if new != status or outcome.counts is not None:
        new = new.model_copy(update={"last_sync_time": now})
    return new


def source_announcements(before: CatalogSourceStatus, after: CatalogSourceStatus) -> list[Announcement]:
    """Events for a newly applied revision, a new problem, and the source becoming unavailable."""
    result: list[Announcement] = []
    ready = true_condition(after.conditions, READY)
    if after.last_applied_revision != before.last_applied_revision and ready is not None:
        result.append(Announcement("Normal", Reason.REVISION_APPLIED, ready.message))
    stalled_before = true_condition(before.conditions, STALLED)
    stalled_after = true_condition(after.conditions, STALLED)
    if stalled_after is not None and (stalled_before is None or stalled_before.message != stalled_after.message):
        result.append(Announcement("Warning", stalled_after.reason, stalled_after.message))
    available_before = find_condition(before.conditions, SOURCE_AVAILABLE)
    available_after = find_condition(after.conditions, SOURCE_AVAILABLE)
    if (
        available_after is not None
        and available_after.status == "False"
        and (available_before is None or available_before.status != "False")
    ):
        result.append(Announcement("Warning", Reason.SOURCE_UNAVAILABLE, available_after.message))
    return result
