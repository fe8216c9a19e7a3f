"""Fulfilling one ServiceRequest: the pure decisions of ``reconcile/`` applied through the action runners.

One call drives the request as far as it can go without waiting: it resolves and validates the request, runs
actions in dependency order until one has to wait on its backend (the caller turns ``wait`` into
``kopf.TemporaryError(delay=...)``) or a person must act (``stalled``), and returns the status as a minimal merge
patch plus the events to emit. The only write made during the call is the pending marker before a
non-idempotent step, with a resourceVersion precondition so that two writers can never both act.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..actions.base import ActionContext, StepResult, utcnow
from ..api.actions import Action
from ..api.base import LocalObjectReference, dump
from ..api.conditions import Reason
from ..api.service_request import (
    ABORT_ANNOTATION,
    ESCALATE_ANNOTATION,
    RETRY_ANNOTATION,
    ActionStatus,
    CatalogItemRef,
    ServiceRequestStatus,
)
from ..clients.kubernetes import SECRETS, SERVICE_REQUESTS, KubernetesApiError
from ..reconcile.patches import merge_patch
from ..reconcile.request import (
    Blocked,
    CatalogLookup,
    RequestView,
    Resolved,
    approval,
    fulfillment_path,
    input_hash,
    parse_request,
    plan_actions,
    resolve,
    retry_failed,
    scopes,
)
from ..reconcile.status import (
    Announcement,
    Outcome,
    announcements,
    apply_outcome,
    mark_approved,
    mark_fulfilled,
    mark_validated,
)
from ..redaction import Redactor
from ..templates.analysis import uses_scope
from ..templates.engine import evaluate_condition, render
from ..templates.errors import TemplateError
from .context import EnvironmentsUnavailable, OperatorContext
from .escalation import escalate

ItemLookup = Callable[[str], CatalogLookup]


class ConcurrentChange(Exception):
    """The request changed while a pending marker was being written; run again on the fresh object."""


@dataclass
class ReconcileResult:
    status_patch: dict[str, Any]
    outcome: Outcome
    wait: float | None = None
    events: list[Announcement] = field(default_factory=list)


@dataclass
class _Run:
    """The working state of one reconcile."""

    ctx: OperatorContext
    view: RequestView
    body_version: str
    status: ServiceRequestStatus
    redactor: Redactor
    wait: float | None = None

    async def write_status(self, fields: Mapping[str, Any]) -> None:
        """Write ``fields`` of the status now, guarded by the resourceVersion this reconcile started from.

        Used for pending markers before non-idempotent calls: if anyone wrote the request meanwhile, the write
        fails (409) and the reconcile starts over on the fresh object instead of acting on a stale one.
        """
        patch = {"metadata": {"resourceVersion": self.body_version}, "status": dict(fields)}
        try:
            written = await self.ctx.kube.patch(
                SERVICE_REQUESTS, self.view.name, patch, self.view.namespace, subresource="status"
            )
        except KubernetesApiError as error:
            if error.status == 409:
                raise ConcurrentChange("the request changed while it was being processed") from None
            raise
        self.body_version = str(written.get("metadata", {}).get("resourceVersion", self.body_version))

    async def record_pending(self, action: ActionStatus) -> None:
        """Write the action's pending marker to the API server before a non-idempotent call."""
        self.status = _with_action(self.status, action)
        await self.write_status({"actions": [dump(a) for a in self.status.actions]})

    async def record_escalation(self, status: ServiceRequestStatus) -> None:
        """Write the escalation's pending marker before its ticket is created."""
        self.status = status
        await self.write_status({"escalation": dump(status.escalation) if status.escalation else None})


def _with_action(status: ServiceRequestStatus, action: ActionStatus) -> ServiceRequestStatus:
    actions = [action if a.name == action.name else a for a in status.actions]
    if all(a.name != action.name for a in status.actions):
        actions.append(action)
    return status.model_copy(update={"actions": actions})


def _finish(
    run: _Run, before: ServiceRequestStatus, outcome: Outcome, body_status: Mapping[str, Any]
) -> ReconcileResult:
    now = utcnow()
    status = apply_outcome(run.status, outcome, generation=run.view.generation, now=now)
    new = dump(status)
    patch = merge_patch(body_status, new)
    result = ReconcileResult(patch, outcome, run.wait, announcements(before, status))
    if before.phase != status.phase:
        run.ctx.metrics.transitions.labels(status.catalog_item.name if status.catalog_item else "", status.phase).inc()
    return result


async def reconcile_request(ctx: OperatorContext, body: Mapping[str, Any], items: ItemLookup) -> ReconcileResult:
    """Drive one ServiceRequest as far as it can go now. Never raises for backend failures."""
    started = time.perf_counter()
    try:
        return await _reconcile(ctx, body, items)
    finally:
        ctx.metrics.reconcile_duration.labels("ServiceRequest").observe(time.perf_counter() - started)


async def _reconcile(ctx: OperatorContext, body: Mapping[str, Any], items: ItemLookup) -> ReconcileResult:
    view = parse_request(body)
    body_status: Mapping[str, Any] = body.get("status") or {}
    before = view.status
    now = utcnow()
    generation = view.generation
    run = _Run(ctx, view, str(body.get("metadata", {}).get("resourceVersion", "")), before, Redactor())

    def finish(outcome: Outcome) -> ReconcileResult:
        run.status = run.status.model_copy(update={"actions": [_redacted(a, run.redactor) for a in run.status.actions]})
        return _finish(run, before, _redacted_outcome(outcome, run.redactor), body_status)

    def blocked(block: Blocked) -> ReconcileResult:
        if block.condition == "Approved":
            run.status = mark_approved(run.status, False, block.reason, block.message, generation=generation, now=now)
            return finish(Outcome(block.phase, block.reason, block.message, stalled=False, progressing=False))
        run.status = mark_validated(run.status, False, block.reason, block.message, generation=generation, now=now)
        return finish(Outcome(block.phase, block.reason, block.message, stalled=True))

    name = view.spec.catalog_item if view.spec is not None else None
    lookup = items(name) if name else CatalogLookup(None)
    try:
        environments = await ctx.environments()
    except EnvironmentsUnavailable as error:
        return blocked(Blocked("Failed", Reason.ENVIRONMENT_NOT_FOUND, f"operator configuration: {error}"))
    resolved = resolve(view, lookup, environments)
    if isinstance(resolved, Blocked):
        return blocked(resolved)
    item = resolved.item
    run.status = run.status.model_copy(
        update={
            "catalog_item": CatalogItemRef(
                name=item.metadata.name, version=item.spec.version, revision=resolved.revision
            ),
            "deletion_policy": item.spec.deletion_policy,
        }
    )
    gate = approval(view, item)
    if isinstance(gate, Blocked):
        run.status = mark_validated(
            run.status, True, Reason.VALIDATION_PASSED, "fields are valid", generation=generation, now=now
        )
        return blocked(gate)
    run.status = run.status.model_copy(update={"approved_by": gate})
    run.status = mark_approved(
        run.status,
        True,
        Reason.APPROVED if gate else Reason.APPROVAL_NOT_REQUIRED,
        f"approved by {gate}" if gate else "the item needs no approval",
        generation=generation,
        now=now,
    )

    mode, actions = fulfillment_path(item)
    known = {a.name for a in run.status.actions}
    for action in actions:
        if action.name not in known:
            run.status = _with_action(run.status, ActionStatus(name=action.name, type=action.type, path=mode))

    retry_token = view.annotations.get(RETRY_ANNOTATION)
    if retry_token and retry_token != run.status.last_handled_retry:
        run.status = run.status.model_copy(
            update={"actions": retry_failed(run.status.actions, now=now), "last_handled_retry": retry_token}
        )

    secrets: dict[str, dict[str, str]] = {}
    if lookup.reads_secrets:
        secrets = await ctx.exposed_secrets(view.namespace)
        run.redactor.add(v for values in secrets.values() for v in values.values())

    abort_reason = view.annotations.get(ABORT_ANNOTATION)
    if abort_reason is not None:
        return finish(await _abort(run, abort_reason.strip() or "no reason given"))

    escalation_reason = view.annotations.get(ESCALATE_ANNOTATION)
    escalation_events: list[Announcement] = []
    current = run.status.escalation
    if escalation_reason and (
        current is None
        or current.reason != escalation_reason
        or (current.ticket is None and current.idempotency_key is not None)
    ):
        step = await escalate(ctx, view, run.status, escalation_reason, run.record_escalation)
        run.status = step.status
        escalation_events = step.events
        if step.wait is not None:
            run.wait = step.wait

    outcome = await _drive(run, resolved, actions, secrets)
    result = finish(outcome)
    result.events = escalation_events + result.events
    return result


def _redacted(action: ActionStatus, redactor: Redactor) -> ActionStatus:
    if not redactor or action.message is None:
        return action
    return action.model_copy(update={"message": redactor(action.message)})


def _redacted_outcome(outcome: Outcome, redactor: Redactor) -> Outcome:
    if not redactor:
        return outcome
    return Outcome(outcome.phase, outcome.reason, redactor(outcome.message), outcome.stalled, outcome.progressing)


async def _abort(run: _Run, reason: str) -> Outcome:
    problems = []
    actions = []
    for status in run.status.actions:
        runner = run.ctx.runners.get(status.type)
        if status.state in ("Pending", "Running", "Waiting"):
            if runner is not None:
                problem = await runner.abort(status, _action_context(run, {}), reason)
                if problem:
                    problems.append(problem)
            status = status.model_copy(
                update={"state": "Aborted", "message": f"aborted: {reason}", "finished_at": utcnow()}
            )
        actions.append(status)
    run.status = run.status.model_copy(update={"actions": actions})
    message = f"aborted: {reason}" + (f" ({'; '.join(problems)})" if problems else "")
    return Outcome("Aborted", Reason.ABORTED, message, stalled=True)


def _action_context(run: _Run, template_scopes: Mapping[str, Any]) -> ActionContext:
    return run.ctx.action_context(run.view, template_scopes, run.redactor, run.record_pending)


def _template_failure(run: _Run, action_name: str, error: TemplateError) -> Outcome:
    where = ".".join(str(p) for p in error.path) or "when"
    line = f" (line {error.line})" if error.line else ""
    message = f"action '{action_name}', template {where}{line}: {error.message}"
    now = utcnow()
    run.status = mark_validated(
        run.status, False, Reason.TEMPLATE_ERROR, message, generation=run.view.generation, now=now
    )
    return Outcome("Failed", Reason.TEMPLATE_ERROR, message, stalled=True)


async def _drive(
    run: _Run, resolved: Resolved, actions: list[Action], secrets: Mapping[str, Mapping[str, str]]
) -> Outcome:
    generation = run.view.generation
    now = utcnow()
    run.status = mark_validated(
        run.status,
        True,
        Reason.VALIDATION_PASSED,
        "fields are valid and templates render",
        generation=generation,
        now=now,
    )
    while True:
        statuses = {a.name: a for a in run.status.actions}
        plan = plan_actions(actions, statuses)
        template_scopes = scopes(
            run.view, resolved, run.ctx.system, now=utcnow(), outputs=plan.completed_outputs, secrets=secrets
        )
        if plan.failed is not None:
            failed = plan.failed
            message = f"action '{failed.name}' {failed.state.lower()}: {failed.message or ''}".rstrip(": ")
            run.status = mark_fulfilled(
                run.status, False, Reason.ACTION_FAILED, message, generation=generation, now=now
            )
            return Outcome("Failed", Reason.ACTION_FAILED, message, stalled=True)
        if plan.all_done:
            return await _complete(run, resolved, template_scopes)
        action = plan.next
        assert action is not None
        status = statuses[action.name]
        if action.when is not None:
            try:
                wanted = evaluate_condition(action.when, template_scopes)
            except TemplateError as error:
                return _template_failure(run, action.name, error.located(("when",)))
            if not wanted:
                skipped = status.model_copy(
                    update={"state": "Skipped", "message": "'when' is false", "finished_at": utcnow()}
                )
                run.status = _with_action(run.status, skipped)
                continue
        runner = run.ctx.runners.get(action.type)
        if runner is None:
            message = f"action '{action.name}': this operator has no runner for '{action.type}' actions"
            run.status = _with_action(run.status, status.model_copy(update={"message": message}))
            return Outcome("Failed", Reason.ACTION_TYPE_UNAVAILABLE, message, stalled=True)
        try:
            rendered = runner.render(action, template_scopes, run.redactor)
        except TemplateError as error:
            return _template_failure(run, action.name, error)
        digest = input_hash(rendered)
        context = _action_context(run, template_scopes)
        step: StepResult | None = None
        if status.input_hash not in (None, digest) and status.state != "Pending":
            changed = await runner.changed(action, rendered, status, context)
            if changed.wait is not None or changed.stall_reason is not None:
                step = changed  # the change was not passed on: keep the old hash so it is tried again
            status = changed.status
        started = status.started_at
        if step is None:
            step = await runner.run(action, rendered, status, context)
            status = step.status.model_copy(update={"input_hash": digest})
        else:
            status = step.status
        run.status = _with_action(run.status, status)
        _observe(run, action.type, step, started)
        if step.stall_reason is not None:
            run.wait = step.wait
            message = f"action '{action.name}': {status.message or step.stall_reason}"
            if status.state == "Failed":
                run.status = mark_fulfilled(
                    run.status, False, step.stall_reason, message, generation=generation, now=now
                )
                return Outcome("Failed", step.stall_reason, message, stalled=True)
            return Outcome("Provisioning", step.stall_reason, message, stalled=True)
        if step.wait is not None:
            run.wait = step.wait if run.wait is None else min(run.wait, step.wait)
            message = f"action '{action.name}': {status.message or 'in progress'}"
            run.status = mark_fulfilled(
                run.status, False, Reason.ACTION_IN_PROGRESS, message, generation=generation, now=now
            )
            return Outcome("Provisioning", step.reason or Reason.ACTION_IN_PROGRESS, message)


def _observe(run: _Run, action_type: str, step: StepResult, started: Any) -> None:
    metrics = run.ctx.metrics
    if step.failure_reason is not None:
        metrics.action_failures.labels(action_type, step.failure_reason).inc()
    status = step.status
    if status.state in ("Succeeded", "Failed") and status.started_at is not None and status.finished_at is not None:
        seconds = (status.finished_at - status.started_at).total_seconds()
        metrics.action_duration.labels(action_type, status.state).observe(max(seconds, 0.0))


async def _complete(run: _Run, resolved: Resolved, template_scopes: Mapping[str, Any]) -> Outcome:
    """Every action is done: publish the item's outputs (sensitive ones to the outputs Secret) and go Ready."""
    generation = run.view.generation
    now = utcnow()
    public: dict[str, Any] = {}
    sensitive: dict[str, str] = {}
    for output in resolved.item.spec.outputs:
        try:
            value = render(output.value, template_scopes)
        except TemplateError as error:
            return _template_failure(run, f"outputs.{output.name}", error)
        if output.sensitive:
            sensitive[output.name] = value if isinstance(value, str) else str(value)
            continue
        if uses_scope(output.value, "secrets") or (run.redactor and run.redactor.contains_secret(str(value))):
            message = f"output '{output.name}' carries a secret value but is not marked sensitive: true"
            return Outcome("Failed", Reason.TEMPLATE_ERROR, message, stalled=True)
        public[output.name] = value
    secret_ref = None
    if sensitive:
        secret_ref = LocalObjectReference(name=await _write_outputs_secret(run, sensitive))
    run.status = run.status.model_copy(update={"outputs": public, "outputs_secret_ref": secret_ref})
    run.status = mark_fulfilled(
        run.status, True, Reason.SUCCEEDED, "every action succeeded", generation=generation, now=now
    )
    return Outcome("Ready", Reason.SUCCEEDED, "fulfilled", progressing=False)


async def _write_outputs_secret(run: _Run, values: Mapping[str, str]) -> str:
    name = f"{run.view.name}-outputs"
    body = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": name,
            "namespace": run.view.namespace,
            "labels": {"orchestrator.dev/request": run.view.name},
            "ownerReferences": [
                {
                    "apiVersion": "orchestrator.dev/v1alpha1",
                    "kind": "ServiceRequest",
                    "name": run.view.name,
                    "uid": run.view.uid,
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
        },
        "type": "Opaque",
        "stringData": dict(values),
    }
    existing = await run.ctx.kube.get(SECRETS, name, run.view.namespace)
    if existing is None:
        await run.ctx.kube.create(SECRETS, body, run.view.namespace)
    else:
        await run.ctx.kube.patch(SECRETS, name, {"stringData": dict(values)}, run.view.namespace)
    return name
