"""The JIRA action: open exactly one ticket per request and attempt, then follow it until it is done.

Idempotency (DESIGN.md "Fulfillment rules"): before the create, the action's status gets a pending marker (its
idempotency key) written to the API server; the same key is a label on the ticket, next to the request label
``orchestrator-<uid>``. Whenever a create's outcome is unknown (no response, a timeout, a 5xx, or a crash before
the key was recorded), the label is searched — for a grace period, since JIRA's index lags — and a ticket found is
adopted. Only after the grace period with no ticket is the create sent again, with the same key.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from ..api.actions import Action, JiraAction
from ..api.conditions import Reason
from ..api.service_request import ActionStatus, ExternalRef, idempotency_key, request_label
from ..clients.jira_types import ConnectionUnavailable, JiraCallError, JiraConnection, JiraErrorKind, Ticket
from ..redaction import Redactor
from ..templates.analysis import uses_scope
from ..templates.engine import render, render_tree
from ..templates.errors import TemplateError
from .base import ActionContext, StepResult, TeardownPolicy, TeardownResult

_RENDERED_FIELDS = ("project", "issue_type", "summary", "description", "labels", "priority", "components", "assignee")
_ALIASES = {"issue_type": "issueType"}
_LABEL_UNSAFE = re.compile(r"\s+")
MAX_SUMMARY = 255


class JiraGateway(Protocol):
    """What the action needs from a JIRA connection (``clients.jira.JiraClient`` implements it)."""

    connection: JiraConnection

    @property
    def redactor(self) -> Redactor: ...

    async def field_ids(self) -> dict[str, str]: ...

    async def create_issue(self, fields: Mapping[str, Any]) -> Ticket: ...

    async def get_issue(self, key: str) -> Ticket: ...

    async def search_by_label(self, label: str, project: str | None = None) -> list[Ticket]: ...

    async def add_comment(self, key: str, body: str) -> None: ...

    async def transition_to(self, key: str, status: str) -> bool: ...

    async def link(self, from_key: str, to_key: str, link_type: str = "Relates") -> None: ...


JiraConnections = Callable[[str], Awaitable[JiraGateway]]


@dataclass(frozen=True)
class JiraTiming:
    poll_interval: float
    search_grace: float
    auth_retry_interval: float


def ticket_scope(ticket: Ticket) -> dict[str, Any]:
    """The ``ticket`` scope of a JIRA action's ``outputs`` templates."""
    return {
        "key": ticket.key,
        "url": ticket.url,
        "status": ticket.status,
        "statusCategory": ticket.status_category_name or ticket.status_category,
        "resolution": ticket.resolution,
        "fields": dict(ticket.fields),
    }


def _outcome(ticket: Ticket, block: JiraAction) -> tuple[str, str] | None:
    """None while open; ("Succeeded"|"Failed", message) once the ticket is finished."""
    rule = block.done_when
    categories = {c.lower() for c in rule.status_categories}
    finished = ticket.status_category == "done" or ticket.status_category_name.lower() in categories
    if not finished:
        return None
    resolution = ticket.resolution
    if resolution is not None and resolution.lower() in {r.lower() for r in rule.failed_resolutions}:
        return "Failed", f"ticket {ticket.key} was resolved as '{resolution}'"
    if resolution is not None and rule.resolutions and resolution.lower() not in {r.lower() for r in rule.resolutions}:
        return (
            "Failed",
            f"ticket {ticket.key} was resolved as '{resolution}' (done means {', '.join(rule.resolutions)})",
        )
    return "Succeeded", f"ticket {ticket.key} is {ticket.status}" + (f" ({resolution})" if resolution else "")


def render_jira(action: Action, scopes: Mapping[str, Any], redactor: Redactor) -> dict[str, Any]:
    """The ticket text and fields rendered (pure); ``secrets`` is refused in ticket text."""
    block = action.jira
    assert block is not None
    source: dict[str, Any] = {_ALIASES.get(f, f): getattr(block, f) for f in _RENDERED_FIELDS}
    source["fields"] = dict(block.fields)
    for key, value in source.items():
        if uses_scope(value, "secrets"):
            raise TemplateError("the secrets scope cannot be used in JIRA ticket text", path=("jira", key))
    try:
        rendered: dict[str, Any] = render_tree(source, scopes)
    except TemplateError as error:
        raise error.located(("jira", *error.path)) from error
    for key, value in rendered.items():
        if redactor and redactor.contains_secret(str(value)):
            raise TemplateError("rendered ticket text contains a secret value", path=("jira", key))
    return rendered


class JiraRunner:
    """Drives JIRA actions. Holds no per-request state: everything lives in the request's status."""

    type = "jira"
    supports_update = False

    def __init__(self, connections: JiraConnections, timing: JiraTiming) -> None:
        self._connections = connections
        self._timing = timing

    # --- rendering ---------------------------------------------------------------------------------------------
    def render(self, action: Action, scopes: Mapping[str, Any], redactor: Redactor) -> dict[str, Any]:
        return render_jira(action, scopes, redactor)

    # --- create / adopt / poll ----------------------------------------------------------------------------------
    async def run(
        self, action: Action, rendered: Mapping[str, Any], status: ActionStatus, ctx: ActionContext
    ) -> StepResult:
        block = action.jira
        assert block is not None
        try:
            client = await self._connections(block.connection)
        except ConnectionUnavailable as error:
            message = f"JIRA connection '{block.connection}': {error}"
            status = status.model_copy(update={"message": message})
            return StepResult(
                status, wait=self._timing.auth_retry_interval, stall_reason=Reason.CONNECTION_NOT_CONFIGURED
            )
        try:
            if status.external_ref is not None:
                return await self._poll(block, client, status, ctx)
            if status.idempotency_key is not None:
                return await self._adopt_or_recreate(block, client, rendered, status, ctx)
            return await self._create(block, client, rendered, status, ctx)
        except JiraCallError as error:
            return self._failed_call(error, status, ctx)

    async def changed(
        self, action: Action, rendered: Mapping[str, Any], status: ActionStatus, ctx: ActionContext
    ) -> StepResult:
        """A ticket is not re-created when the request changes; an open one gets a comment with the new text."""
        block = action.jira
        assert block is not None
        updates: dict[str, Any] = {"input_hash": None}
        if status.external_ref is not None and status.state in ("Running", "Waiting"):
            try:
                client = await self._connections(block.connection)
                await client.add_comment(
                    status.external_ref.id,
                    f"The request {ctx.namespace}/{ctx.name} changed.\n"
                    f"Summary: {rendered.get('summary', '')}\n\n{rendered.get('description', '')}",
                )
            except ConnectionUnavailable as error:
                message = f"JIRA connection '{block.connection}': {error}"
                return StepResult(
                    status.model_copy(update={"message": message}),
                    wait=self._timing.auth_retry_interval,
                    stall_reason=Reason.CONNECTION_NOT_CONFIGURED,
                )
            except JiraCallError as error:
                return self._failed_call(error, status, ctx)
            updates["message"] = f"request changed; commented on {status.external_ref.id}"
        return StepResult(status.model_copy(update=updates))

    def _failed_call(self, error: JiraCallError, status: ActionStatus, ctx: ActionContext) -> StepResult:
        if error.kind == JiraErrorKind.AUTH:
            status = status.model_copy(update={"message": error.message})
            return StepResult(
                status,
                wait=self._timing.auth_retry_interval,
                stall_reason=Reason.AUTH_FAILED,
                failure_reason=Reason.AUTH_FAILED,
            )
        if error.kind.temporary:
            failures = status.temporary_failures + 1
            delay = ctx.backoff(failures, error.retry_after)
            reason = Reason.RATE_LIMITED if error.kind == JiraErrorKind.RATE_LIMITED else Reason.BACKEND_UNAVAILABLE
            status = status.model_copy(
                update={"temporary_failures": failures, "message": f"{error.message}; retrying in {delay:.0f}s"}
            )
            return StepResult(status, wait=delay, reason=reason, failure_reason=error.kind.value)
        # Invalid request or a ticket that no longer exists: a person must act.
        status = status.model_copy(
            update={"state": "Failed", "message": error.message, "finished_at": ctx.now(), "temporary_failures": 0}
        )
        return StepResult(status, stall_reason=Reason.ACTION_FAILED, failure_reason=error.kind.value)

    async def _payload(
        self, block: JiraAction, client: JiraGateway, rendered: Mapping[str, Any], key: str, uid: str
    ) -> dict[str, Any]:
        labels = [_LABEL_UNSAFE.sub("-", str(label)) for label in rendered.get("labels") or [] if str(label).strip()]
        payload: dict[str, Any] = {
            "project": {"key": str(rendered["project"])},
            "issuetype": {"name": str(rendered["issueType"])},
            "summary": " ".join(str(rendered["summary"]).split())[:MAX_SUMMARY],
            "description": str(rendered.get("description") or ""),
            "labels": [*dict.fromkeys([*labels, request_label(uid), key])],
        }
        if rendered.get("priority"):
            payload["priority"] = {"name": str(rendered["priority"])}
        if rendered.get("components"):
            payload["components"] = [{"name": str(c)} for c in rendered["components"]]
        if rendered.get("assignee"):
            payload["assignee"] = {"name": str(rendered["assignee"])}
        custom = rendered.get("fields") or {}
        if custom:
            ids = await client.field_ids()
            for name, value in custom.items():
                field_id = ids.get(str(name).lower())
                if field_id is None:
                    raise JiraCallError(JiraErrorKind.INVALID, f"JIRA has no field named '{name}' (jira.fields.{name})")
                payload[field_id] = value
        return payload

    async def _create(
        self,
        block: JiraAction,
        client: JiraGateway,
        rendered: Mapping[str, Any],
        status: ActionStatus,
        ctx: ActionContext,
    ) -> StepResult:
        attempt = status.attempts + 1
        key = idempotency_key(ctx.uid, f"action/{status.name}", attempt)
        payload = await self._payload(block, client, rendered, key, ctx.uid)
        pending = status.model_copy(
            update={
                "state": "Running",
                "attempts": attempt,
                "idempotency_key": key,
                "started_at": ctx.now(),
                "finished_at": None,
                "message": "creating the ticket",
            }
        )
        # Record before acting: once this is stored, no path creates a ticket without searching for the key first.
        await ctx.record_pending(pending)
        return await self._send_create(block, client, payload, pending, ctx)

    async def _send_create(
        self,
        block: JiraAction,
        client: JiraGateway,
        payload: Mapping[str, Any],
        pending: ActionStatus,
        ctx: ActionContext,
    ) -> StepResult:
        try:
            ticket = await client.create_issue(payload)
        except JiraCallError as error:
            if error.outcome_unknown:
                # The search grace runs from now, when the outcome became unknown: a create that was still in
                # flight when the call timed out gets the whole grace period to land and be indexed.
                status = pending.model_copy(
                    update={
                        "message": f"{error.message}; the ticket may exist, looking it up before creating again",
                        "temporary_failures": pending.temporary_failures + 1,
                        "started_at": ctx.now(),
                    }
                )
                return StepResult(
                    status,
                    wait=ctx.backoff(1, error.retry_after),
                    reason=Reason.OUTCOME_UNKNOWN,
                    failure_reason=error.kind.value,
                )
            # The create certainly did not happen: drop the marker so the next attempt starts clean.
            cleared = pending.model_copy(
                update={"idempotency_key": None, "state": "Pending", "attempts": pending.attempts - 1}
            )
            return self._failed_call(error, cleared, ctx)
        return self._created(ticket, pending, ctx, adopted=False, connection=block.connection)

    def _created(
        self, ticket: Ticket, status: ActionStatus, ctx: ActionContext, *, adopted: bool, connection: str
    ) -> StepResult:
        verb = "adopted" if adopted else "created"
        status = status.model_copy(
            update={
                "state": "Waiting",
                "external_ref": ExternalRef(system="jira", id=ticket.key, url=ticket.url, connection=connection),
                "outputs": {"key": ticket.key, "url": ticket.url},
                "message": f"ticket {ticket.key} {verb}; waiting for it to be done",
                "temporary_failures": 0,
            }
        )
        return StepResult(status, wait=self._timing.poll_interval, reason=Reason.WAITING_FOR_BACKEND)

    async def _adopt_or_recreate(
        self,
        block: JiraAction,
        client: JiraGateway,
        rendered: Mapping[str, Any],
        status: ActionStatus,
        ctx: ActionContext,
    ) -> StepResult:
        key = status.idempotency_key
        assert key is not None
        found = await client.search_by_label(key)
        if found:
            return self._created(found[0], status, ctx, adopted=True, connection=block.connection)
        started = status.started_at or ctx.now()
        waited = (ctx.now() - started).total_seconds()
        if waited < self._timing.search_grace:
            remaining = self._timing.search_grace - waited
            status = status.model_copy(
                update={"message": f"create outcome unknown; no ticket labelled {key} found yet, searching again"}
            )
            return StepResult(status, wait=max(min(remaining, 5.0), 1.0), reason=Reason.OUTCOME_UNKNOWN)
        # Past the grace period, the search is trusted: the ticket was not created. Send the create again,
        # with the same key, so a late-indexed duplicate would still be found by the same search.
        payload = await self._payload(block, client, rendered, key, ctx.uid)
        pending = status.model_copy(update={"started_at": ctx.now(), "message": "creating the ticket again"})
        await ctx.record_pending(pending)
        return await self._send_create(block, client, payload, pending, ctx)

    async def _poll(
        self, block: JiraAction, client: JiraGateway, status: ActionStatus, ctx: ActionContext
    ) -> StepResult:
        assert status.external_ref is not None
        try:
            ticket = await client.get_issue(status.external_ref.id)
        except JiraCallError as error:
            if error.kind == JiraErrorKind.NOT_FOUND:
                error = JiraCallError(
                    JiraErrorKind.NOT_FOUND, f"ticket {status.external_ref.id} no longer exists in JIRA", status=404
                )
            raise error from None
        outcome = _outcome(ticket, block)
        if outcome is None:
            message = f"ticket {ticket.key} is {ticket.status or 'open'}; waiting for it to be done"
            status = status.model_copy(update={"state": "Waiting", "message": message, "temporary_failures": 0})
            return StepResult(status, wait=self._timing.poll_interval, reason=Reason.WAITING_FOR_BACKEND)
        state, message = outcome
        if state == "Failed":
            status = status.model_copy(
                update={"state": "Failed", "message": message, "finished_at": ctx.now(), "temporary_failures": 0}
            )
            return StepResult(status, stall_reason=Reason.ACTION_FAILED, failure_reason="TicketRejected")
        outputs: dict[str, Any] = {"key": ticket.key, "url": ticket.url}
        scope = {**ctx.scopes, "ticket": ticket_scope(ticket)}
        for name, template in block.outputs.items():
            try:
                value = render(template, scope)
            except TemplateError as error:
                text = f"template jira.outputs.{name}: {error}"
                status = status.model_copy(update={"state": "Failed", "message": text, "finished_at": ctx.now()})
                return StepResult(status, stall_reason=Reason.TEMPLATE_ERROR, failure_reason=Reason.TEMPLATE_ERROR)
            outputs[name] = ctx.redactor(value) if isinstance(value, str) else value
        status = status.model_copy(
            update={
                "state": "Succeeded",
                "message": message,
                "finished_at": ctx.now(),
                "outputs": outputs,
                "temporary_failures": 0,
            }
        )
        return StepResult(status)

    # --- abort and deletion -------------------------------------------------------------------------------------
    async def abort(self, status: ActionStatus, ctx: ActionContext, reason: str) -> str | None:
        ref = status.external_ref
        if ref is None or status.state not in ("Running", "Waiting"):
            return None
        try:
            client = await self._connections(ref.connection or "default")
            await client.add_comment(
                ref.id,
                f"The request {ctx.namespace}/{ctx.name} was aborted: {reason}. No further work is needed on it.",
            )
        except (JiraCallError, ConnectionUnavailable) as error:
            return f"could not comment on {ref.id}: {error}"
        return None

    async def teardown(self, status: ActionStatus, ctx: ActionContext, policy: TeardownPolicy) -> TeardownResult:
        ref = status.external_ref
        if ref is None:
            return TeardownResult(done=True)
        key, connection = ref.id, ref.connection or "default"
        try:
            client = await self._connections(connection)
        except ConnectionUnavailable as error:
            return TeardownResult(
                done=False,
                message=f"JIRA connection '{connection}': {error}",
                wait=self._timing.auth_retry_interval,
                stall_reason=Reason.CONNECTION_NOT_CONFIGURED,
            )
        try:
            if policy == "Orphan":
                await client.add_comment(
                    key, f"The request {ctx.namespace}/{ctx.name} was deleted; this ticket is left as it is."
                )
                return TeardownResult(done=True, message=f"ticket {key} left in place (deletionPolicy Orphan)")
            close = client.connection.close_status
            await client.add_comment(key, f"The request {ctx.namespace}/{ctx.name} was deleted.")
            if close and status.state != "Succeeded":
                moved = await client.transition_to(key, close)
                if not moved:
                    return TeardownResult(done=True, message=f"ticket {key}: no transition to '{close}'; left open")
                return TeardownResult(done=True, message=f"ticket {key} moved to '{close}'")
            return TeardownResult(done=True, message=f"ticket {key} commented")
        except JiraCallError as error:
            if error.kind == JiraErrorKind.NOT_FOUND:
                return TeardownResult(done=True, message=f"ticket {key} is already gone")
            if error.kind == JiraErrorKind.AUTH:
                return TeardownResult(
                    done=False,
                    message=error.message,
                    wait=self._timing.auth_retry_interval,
                    stall_reason=Reason.AUTH_FAILED,
                    failure_reason=Reason.AUTH_FAILED,
                )
            failures = status.temporary_failures + 1
            return TeardownResult(
                done=False,
                message=error.message,
                wait=ctx.backoff(failures, error.retry_after),
                failure_reason=error.kind.value,
            )
