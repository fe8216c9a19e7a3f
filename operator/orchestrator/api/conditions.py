"""Every condition type and reason the operator writes, and the one way to change them.

Polarity follows kstatus (https://github.com/kubernetes-sigs/cli-utils/tree/master/pkg/kstatus):
``Ready`` is "normal-true" (True is good), ``Reconciling`` and ``Stalled`` are "abnormal-true" (True means
work in progress, or a person must act). Argo CD and Flux read health from these three.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Final

from .base import Condition, ConditionStatus

# --- condition types -------------------------------------------------------------------------------------------
READY: Final = "Ready"
"""Summary. True only when the object is fulfilled/applied and observedGeneration == generation."""
RECONCILING: Final = "Reconciling"
"""Abnormal-true. True only while the operator is making progress towards the desired state."""
STALLED: Final = "Stalled"
"""Abnormal-true. True only when progress needs a person: invalid input, auth failure, permanent failure."""
VALIDATED: Final = "Validated"
"""ServiceRequest: fields validated against the item's schema and every template rendered."""
APPROVED: Final = "Approved"
"""ServiceRequest: the approval gate (item approval or a manual Terraform plan) is passed."""
FULFILLED: Final = "Fulfilled"
"""ServiceRequest: every action of the selected path has succeeded."""
DRIFTED: Final = "Drifted"
"""ServiceRequest: abnormal-true. A periodic Terraform plan found changes outside the operator."""
STATE_LOCKED: Final = "StateLocked"
"""ServiceRequest: abnormal-true. Terraform state is locked by an interrupted run; carries the lock id."""
VALID: Final = "Valid"
"""CatalogItem/CatalogBundle: the definition passed schema and semantic validation."""
SOURCE_AVAILABLE: Final = "SourceAvailable"
"""CatalogSource: the last fetch of the source (link or git remote) succeeded."""

CONDITION_TYPES: Final = (
    READY,
    RECONCILING,
    STALLED,
    VALIDATED,
    APPROVED,
    FULFILLED,
    DRIFTED,
    STATE_LOCKED,
    VALID,
    SOURCE_AVAILABLE,
)
#: Types whose True value is abnormal (kstatus "abnormal-true" polarity).
ABNORMAL_TRUE: Final = frozenset({RECONCILING, STALLED, DRIFTED, STATE_LOCKED})


class Reason:
    """Machine-readable reasons (CamelCase), shared by all kinds."""

    # progress and success
    SUCCEEDED: Final = "Succeeded"
    PROGRESSING: Final = "Progressing"
    PENDING: Final = "Pending"
    VALIDATION_PASSED: Final = "ValidationPassed"
    ACTION_IN_PROGRESS: Final = "ActionInProgress"
    WAITING_FOR_BACKEND: Final = "WaitingForBackend"
    APPROVAL_NOT_REQUIRED: Final = "ApprovalNotRequired"
    AWAITING_APPROVAL: Final = "AwaitingApproval"
    PLAN_APPROVED: Final = "PlanApproved"
    HIBERNATED: Final = "Hibernated"
    FELL_BACK_TO_MANUAL: Final = "FellBackToManual"
    """A permanent automated failure opened the manual path (fallbackToManual)."""
    DELETING: Final = "Deleting"
    # request problems a person must fix
    CATALOG_ITEM_NOT_FOUND: Final = "CatalogItemNotFound"
    CATALOG_BUNDLE_NOT_FOUND: Final = "CatalogBundleNotFound"
    CATALOG_ITEM_INVALID: Final = "CatalogItemInvalid"
    ENVIRONMENT_NOT_FOUND: Final = "EnvironmentNotFound"
    INVALID_FIELDS: Final = "InvalidFields"
    TEMPLATE_ERROR: Final = "TemplateError"
    APPROVAL_REJECTED: Final = "ApprovalRejected"
    AUTH_FAILED: Final = "AuthFailed"
    """The backend rejected the operator's credentials (401/403); fix the connection Secret."""
    CONNECTION_NOT_CONFIGURED: Final = "ConnectionNotConfigured"
    ACTION_TYPE_UNAVAILABLE: Final = "ActionTypeUnavailable"
    INVALID_SPEC: Final = "InvalidSpec"
    APPROVED: Final = "Approved"
    RATE_LIMITED: Final = "RateLimited"
    BACKEND_UNAVAILABLE: Final = "BackendUnavailable"
    OUTCOME_UNKNOWN: Final = "OutcomeUnknown"
    ESCALATED: Final = "Escalated"
    ESCALATION_FAILED: Final = "EscalationFailed"
    ACTION_FAILED: Final = "ActionFailed"
    ABORTED: Final = "Aborted"
    DELETION_TIMEOUT: Final = "DeletionTimeout"
    # terraform
    DRIFT_DETECTED: Final = "DriftDetected"
    NO_DRIFT: Final = "NoDrift"
    STATE_LOCKED: Final = "StateLocked"
    # catalog and sources
    VALIDATION_FAILED: Final = "ValidationFailed"
    REVISION_APPLIED: Final = "RevisionApplied"
    INVALID_REVISION: Final = "InvalidRevision"
    EMPTY_REVISION: Final = "EmptyRevision"
    NAME_CONFLICT: Final = "NameConflict"
    SOURCE_UNAVAILABLE: Final = "SourceUnavailable"
    APPLY_FAILED: Final = "ApplyFailed"
    """The API server refused a catalog object of a valid revision (or failed while it was being applied)."""
    DRIFT_CORRECTED: Final = "DriftCorrected"
    SUSPENDED: Final = "Suspended"
    # workspace
    NAMESPACE_CONFLICT: Final = "NamespaceConflict"
    """The workspace's namespace exists and was not made for this request; it is never touched."""


def find_condition(conditions: Sequence[Condition], type_: str) -> Condition | None:
    """The condition of that type, or None."""
    return next((c for c in conditions if c.type == type_), None)


def true_condition(conditions: Sequence[Condition], type_: str) -> Condition | None:
    """The condition of that type if its status is True, else None."""
    found = find_condition(conditions, type_)
    return found if found is not None and found.status == "True" else None


def set_condition(
    conditions: Sequence[Condition],
    type_: str,
    status: ConditionStatus,
    reason: str,
    message: str,
    *,
    observed_generation: int | None,
    now: datetime,
) -> tuple[list[Condition], bool]:
    """Return the conditions with ``type_`` set, and whether anything changed.

    ``lastTransitionTime`` moves only when ``status`` changes, as Kubernetes API conventions require; an
    identical condition is a no-op (``changed`` is False), so callers can skip the status write entirely.
    """
    current = find_condition(conditions, type_)
    if (
        current is not None
        and current.status == status
        and current.reason == reason
        and current.message == message
        and current.observed_generation == observed_generation
    ):
        return list(conditions), False
    transition = now if current is None or current.status != status else current.last_transition_time
    updated = Condition(
        type=type_,
        status=status,
        reason=reason,
        message=message,
        last_transition_time=transition,
        observed_generation=observed_generation,
    )
    result = [c for c in conditions if c.type != type_]
    result.append(updated)
    result.sort(key=lambda c: CONDITION_TYPES.index(c.type) if c.type in CONDITION_TYPES else len(CONDITION_TYPES))
    return result, True


def remove_condition(conditions: Sequence[Condition], type_: str) -> tuple[list[Condition], bool]:
    """Return the conditions without ``type_``, and whether one was removed."""
    result = [c for c in conditions if c.type != type_]
    return result, len(result) != len(conditions)
