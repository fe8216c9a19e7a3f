"""What every action type offers the reconciler, and what the reconciler offers it."""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, Protocol, runtime_checkable

from ..api.actions import Action
from ..api.service_request import ActionStatus
from ..redaction import Redactor


def utcnow() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


@dataclass(frozen=True)
class CatalogRef:
    """Where the request's catalog item came from: enough to find its files (Terraform modules) again."""

    item: str
    revision: str | None = None
    source: tuple[str, str] | None = None
    """(namespace, name) of the CatalogSource that applied the item; None for an item applied by hand."""


@dataclass
class ActionContext:
    """The request an action works for, and the services the handler lends it."""

    uid: str
    name: str
    namespace: str
    scopes: Mapping[str, Any]
    redactor: Redactor
    record_pending: Callable[[ActionStatus], Awaitable[None]]
    """Persist a pending marker (the action's status with its idempotency key) before a non-idempotent call."""
    now: Callable[[], datetime] = utcnow
    jitter: Callable[[], float] = random.random
    backoff_initial: float = 5.0
    backoff_max: float = 300.0
    annotations: Mapping[str, str] = field(default_factory=dict)
    """The request's annotations (user operations such as approve-plan and force-unlock)."""
    generation: int = 1
    catalog: CatalogRef | None = None

    def backoff(self, failures: int, retry_after: float | None = None) -> float:
        """Exponential backoff with full jitter in [50%, 100%]; a server's Retry-After wins when larger."""
        base = min(self.backoff_max, self.backoff_initial * 2 ** max(failures - 1, 0))
        delay = base * (0.5 + self.jitter() / 2)
        return float(max(delay, retry_after or 0.0))


@dataclass
class StepResult:
    """What one drive of an action achieved."""

    status: ActionStatus
    wait: float | None = None
    """Come back after this many seconds (the action is waiting on its backend)."""
    stall_reason: str | None = None
    """Set when a person must act; the action's message says what."""
    reason: str | None = None
    """The condition reason while waiting (e.g. WaitingForBackend, RateLimited)."""
    failure_reason: str | None = None
    """For metrics: why this drive failed (temporary or permanent), if it did."""
    awaiting_approval: bool = False
    """The action waits for a person's approval (a Terraform plan); the message says how to give it."""


TeardownPolicy = Literal["Delete", "Orphan"]


@dataclass
class TeardownResult:
    done: bool
    message: str = ""
    wait: float | None = None
    stall_reason: str | None = None
    failure_reason: str | None = None


class ActionRunner(Protocol):
    """One action type. Rendering is pure; ``run`` drives the action one step further."""

    type: str
    supports_update: bool
    """Whether a changed rendered input re-runs a Succeeded action."""

    def render(self, action: Action, scopes: Mapping[str, Any], redactor: Redactor) -> dict[str, Any]:
        """The action's rendered input. Raises ``TemplateError`` located at the failing field."""
        ...

    async def run(
        self, action: Action, rendered: Mapping[str, Any], status: ActionStatus, ctx: ActionContext
    ) -> StepResult:
        """Create, adopt or poll; never blocks the event loop; never raises for backend failures."""
        ...

    async def changed(
        self, action: Action, rendered: Mapping[str, Any], status: ActionStatus, ctx: ActionContext
    ) -> StepResult:
        """The rendered input of a started or finished action changed (a spec change)."""
        ...

    async def abort(self, status: ActionStatus, ctx: ActionContext, reason: str) -> str | None:
        """Stop an unfinished action (best effort); returns a problem message or None."""
        ...

    async def teardown(self, status: ActionStatus, ctx: ActionContext, policy: TeardownPolicy) -> TeardownResult:
        """Undo or leave the action's effect when its request is deleted."""
        ...


RequestedState = Literal["Active", "Hibernated"]


@dataclass
class Observation:
    """What a periodic look at a finished (Succeeded) action found; see ``Observes``."""

    status: ActionStatus
    """The action's status, updated with what the look recorded (e.g. the drift plan summary)."""
    drift: str | None = None
    """One-line summary of changes made outside the operator (Terraform drift); None when there are none."""
    idle_since: datetime | None = None
    """When the action's backend was last active (workspace idleness); None when the action does not judge it."""
    problem: str | None = None
    """The look itself failed (temporarily); reported, never fatal."""


@runtime_checkable
class Observes(Protocol):
    """Action types that are looked at periodically after they succeeded (drift detection, idleness)."""

    def observation_interval(self, action: Action) -> float | None:
        """Seconds between looks for this action, or None when it needs none."""
        ...

    async def observe(
        self, action: Action, rendered: Mapping[str, Any], status: ActionStatus, ctx: ActionContext
    ) -> Observation: ...


@runtime_checkable
class HasSecretOutputs(Protocol):
    """Action types with sensitive outputs, kept outside the request's status (Terraform)."""

    async def sensitive_outputs(self, status: ActionStatus, ctx: ActionContext) -> dict[str, Any]:
        """The action's sensitive outputs by name (for templates only: never written to status)."""
        ...


@runtime_checkable
class Hibernates(Protocol):
    """Action types whose effect can be hibernated (``spec.state: Hibernated``) and resumed."""

    async def set_state(
        self,
        action: Action,
        rendered: Mapping[str, Any],
        status: ActionStatus,
        ctx: ActionContext,
        state: RequestedState,
    ) -> StepResult:
        """Bring the action's effect to ``state``; idempotent; ``wait`` while it is not there yet."""
        ...
