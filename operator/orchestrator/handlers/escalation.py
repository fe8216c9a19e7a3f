"""The escalate annotation: one manual-support ticket per reason, linked to the request's tickets.

It follows the same record-before-create rule as the JIRA action: the escalation's idempotency key is written to
``status.escalation`` before the create, stamped as a label on the ticket, and searched for after an unknown outcome.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from ..actions.base import utcnow
from ..api.conditions import READY, Reason, find_condition
from ..api.service_request import Escalation, ServiceRequestStatus, idempotency_key, request_label
from ..clients.jira import JiraClient
from ..clients.jira_types import ConnectionUnavailable, JiraCallError, JiraErrorKind
from ..reconcile.request import RequestView
from ..reconcile.status import Announcement
from .context import OperatorContext

ESCALATION_LABEL = "orchestrator-escalation"


@dataclass
class EscalationStep:
    status: ServiceRequestStatus
    events: list[Announcement] = field(default_factory=list)
    wait: float | None = None


def _description(view: RequestView, status: ServiceRequestStatus, reason: str) -> str:
    lines = [
        f"ServiceRequest {view.namespace}/{view.name} (uid {view.uid}) was escalated.",
        f"Reason given: {reason}",
        "",
        f"Catalog item: {status.catalog_item.name if status.catalog_item else 'unknown'}"
        + (f" {status.catalog_item.version}" if status.catalog_item and status.catalog_item.version else ""),
        f"Phase: {status.phase}",
    ]
    ready = find_condition(status.conditions, READY)
    if ready is not None and ready.message:
        lines.append(f"Status: {ready.reason}: {ready.message}")
    if status.actions:
        lines += ["", "Actions:"]
        for action in status.actions:
            ref = f" [{action.external_ref.id}]" if action.external_ref else ""
            lines.append(f"- {action.name} ({action.type}): {action.state}{ref} {action.message or ''}".rstrip())
    return "\n".join(lines)


async def escalate(
    ctx: OperatorContext,
    view: RequestView,
    status: ServiceRequestStatus,
    reason: str,
    write: Callable[[ServiceRequestStatus], Awaitable[None]],
) -> EscalationStep:
    """Open (or adopt) the escalation ticket for ``reason``; never raises for JIRA failures."""
    settings = ctx.settings.jira
    now = utcnow()
    current = status.escalation if status.escalation is not None and status.escalation.reason == reason else None
    if settings.escalation_project is None:
        escalation = Escalation(reason=reason, at=now)
        message = "escalation requested but the operator has no jira.escalationProject configured"
        return EscalationStep(
            status.model_copy(update={"escalation": escalation}),
            [Announcement("Warning", Reason.ESCALATION_FAILED, message)],
        )
    try:
        client = await ctx.jira.get(settings.escalation_connection)
    except ConnectionUnavailable as error:
        message = f"escalation: JIRA connection '{settings.escalation_connection}': {error}"
        escalation = Escalation(reason=reason, at=now)
        return EscalationStep(
            status.model_copy(update={"escalation": escalation}),
            [Announcement("Warning", Reason.ESCALATION_FAILED, message)],
        )
    try:
        if current is not None and current.idempotency_key and current.ticket is None:
            found = await client.search_by_label(current.idempotency_key)
            if found:
                return await _opened(client, status, current, found[0].key, found[0].url)
            if (now - current.at).total_seconds() < settings.search_grace:
                return EscalationStep(status, wait=5.0)
            escalation = current
        else:
            key = idempotency_key(view.uid, f"escalation/{reason}", 1)
            escalation = Escalation(reason=reason, at=now, idempotency_key=key)
            status = status.model_copy(update={"escalation": escalation})
            await write(status)
        assert escalation.idempotency_key is not None
        summary = f"Escalation: ServiceRequest {view.namespace}/{view.name}"
        if status.catalog_item is not None:
            summary += f" ({status.catalog_item.name})"
        ticket = await client.create_issue(
            {
                "project": {"key": settings.escalation_project},
                "issuetype": {"name": settings.escalation_issue_type},
                "summary": summary,
                "description": client.redactor(_description(view, status, reason)),
                "labels": [request_label(view.uid), escalation.idempotency_key, ESCALATION_LABEL],
            }
        )
        return await _opened(client, status, escalation, ticket.key, ticket.url)
    except JiraCallError as error:
        wait = None if error.kind in (JiraErrorKind.AUTH, JiraErrorKind.INVALID) else max(error.retry_after or 0, 10.0)
        if error.kind in (JiraErrorKind.AUTH, JiraErrorKind.INVALID) and status.escalation is not None:
            # Permanent: keep the reason (so it is not retried in a loop) but drop the pending marker.
            failed = status.escalation.model_copy(update={"idempotency_key": None})
            status = status.model_copy(update={"escalation": failed})
        return EscalationStep(
            status, [Announcement("Warning", Reason.ESCALATION_FAILED, f"escalation: {error.message}")], wait
        )


async def _opened(
    client: JiraClient, status: ServiceRequestStatus, escalation: Escalation, key: str, url: str
) -> EscalationStep:
    events = [Announcement("Normal", Reason.ESCALATED, f"escalation ticket {key} opened")]
    for action in status.actions:
        ref = action.external_ref
        if ref is None or ref.system != "jira":
            continue
        try:
            await client.link(key, ref.id)
        except JiraCallError as error:
            events.append(
                Announcement("Warning", Reason.ESCALATION_FAILED, f"could not link {key} to {ref.id}: {error.message}")
            )
    done = escalation.model_copy(update={"ticket": key, "url": url})
    return EscalationStep(status.model_copy(update={"escalation": done}), events)
