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
from datetime import datetime
from typing import Any

from ..actions.base import (
    ActionContext,
    CatalogRef,
    HasSecretOutputs,
    Hibernates,
    Observes,
    RequestedState,
    StepResult,
    utcnow,
)
from ..api.actions import Action
from ..api.base import LocalObjectReference, dump, duration_seconds
from ..api.conditions import DRIFTED, STATE_LOCKED, Reason, true_condition
from ..api.service_request import (
    ABORT_ANNOTATION,
    ESCALATE_ANNOTATION,
    RETRY_ANNOTATION,
    ActionStatus,
    CatalogItemRef,
    FulfillmentRecord,
    Hibernation,
    ServiceRequestStatus,
)
from ..clients.kubernetes import SECRETS, SERVICE_REQUESTS, KubernetesApiError, decode_secret_data
from ..reconcile.patches import merge_patch
from ..reconcile.request import (
    Blocked,
    CatalogLookup,
    Mode,
    RequestView,
    Resolved,
    approval,
    can_fall_back,
    fulfillment_path,
    input_hash,
    parse_request,
    plan_actions,
    resolve,
    retry_failed,
    scopes,
    select_mode,
)
from ..reconcile.status import (
    Announcement,
    Outcome,
    announcements,
    apply_outcome,
    mark,
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
    catalog: CatalogRef | None = None
    secret_outputs: dict[str, dict[str, Any]] = field(default_factory=dict)
    fallback_events: list[Announcement] = field(default_factory=list)

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


def _add_actions(run: _Run, mode: Mode, actions: list[Action]) -> None:
    """Status entries for the path's actions not seen yet (an action of the other path with that name is replaced).

    Unfinished actions of the other path (a ticket opened before the item's mode changed) are never cancelled:
    they stay in status on their path, with a message saying they are left as they are and no longer followed.
    """
    known = {a.name: a.path for a in run.status.actions}
    for action in actions:
        if known.get(action.name) != mode:
            run.status = _with_action(run.status, ActionStatus(name=action.name, type=action.type, path=mode))
    for status in run.status.actions:
        if status.path != mode and status.state in ("Pending", "Running", "Waiting"):
            ref = status.external_ref
            switched = f"the request switched to {mode} fulfillment"
            message = f"left as it is: {switched}"
            if ref is not None:
                message = f"{ref.system} {ref.id} left open (not cancelled, no longer followed): {switched}"
            if status.message != message:
                run.status = _with_action(run.status, status.model_copy(update={"message": message}))


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
    run.catalog = CatalogRef(item.metadata.name, resolved.revision, lookup.source)
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

    record = select_mode(run.status, item)
    run.status = run.status.model_copy(update={"fulfillment": record})
    mode, actions = fulfillment_path(item, record.mode)
    _add_actions(run, mode, actions)

    retry_token = view.annotations.get(RETRY_ANNOTATION)
    if retry_token and retry_token != run.status.last_handled_retry:
        run.status = run.status.model_copy(
            update={"actions": retry_failed(run.status.actions, now=now), "last_handled_retry": retry_token}
        )

    secrets = await _exposed_secrets(run, lookup)

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
    result.events = escalation_events + run.fallback_events + result.events
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
    return run.ctx.action_context(run.view, template_scopes, run.redactor, run.record_pending, run.catalog)


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
    if run.view.generation != run.status.observed_generation:
        failure = await _revisit_succeeded(run, resolved, actions, secrets)
        if failure is not None:
            return failure
    while True:
        statuses = {a.name: a for a in run.status.actions}
        plan = plan_actions(actions, statuses)
        template_scopes = await _template_scopes(run, resolved, plan.completed_outputs, secrets)
        if plan.failed is not None:
            failed = plan.failed
            message = f"action '{failed.name}' {failed.state.lower()}: {failed.message or ''}".rstrip(": ")
            record = run.status.fulfillment
            if record is not None and failed.state == "Failed" and can_fall_back(resolved.item, record):
                actions = _fall_back(run, resolved, message)
                continue
            run.status = mark_fulfilled(
                run.status, False, Reason.ACTION_FAILED, message, generation=generation, now=now
            )
            return Outcome("Failed", Reason.ACTION_FAILED, message, stalled=True)
        if plan.all_done:
            outcome = await _complete(run, resolved, template_scopes)
            if outcome.phase == "Ready":
                return await _settle_state(run, actions, template_scopes) or outcome
            return outcome
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
        rendered = _with_fallback_context(run, action, rendered)
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
        _mark_state_lock(run, step)
        if step.awaiting_approval:
            message = f"action '{action.name}': {status.message or 'awaiting approval'}"
            run.status = mark_approved(
                run.status, False, Reason.AWAITING_APPROVAL, message, generation=generation, now=now
            )
            return Outcome("AwaitingApproval", Reason.AWAITING_APPROVAL, message, stalled=False, progressing=False)
        if step.stall_reason is not None:
            fulfillment = run.status.fulfillment
            if status.state == "Failed" and fulfillment is not None and can_fall_back(resolved.item, fulfillment):
                continue  # the plan.failed branch opens the manual path now, not on some later reconcile
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


async def _revisit_succeeded(
    run: _Run, resolved: Resolved, actions: list[Action], secrets: Mapping[str, Mapping[str, str]]
) -> Outcome | None:
    """After a spec change, hand succeeded actions whose rendered input changed to their runner's ``changed``
    (a workspace re-applies, Terraform plans again, a PUT is re-sent); the first one that must run again stops
    the walk, and the main loop takes it from there."""
    completed: dict[str, dict[str, Any]] = {}
    for action in actions:
        status = next((a for a in run.status.actions if a.name == action.name), None)
        if status is None or status.state not in ("Succeeded", "Skipped"):
            return None
        runner = run.ctx.runners.get(action.type)
        if status.state == "Skipped" or runner is None or not runner.supports_update:
            if status.state == "Succeeded":
                completed[action.name] = dict(status.outputs)
            continue
        template_scopes = await _template_scopes(run, resolved, completed, secrets)
        try:
            rendered = runner.render(action, template_scopes, run.redactor)
        except TemplateError as error:
            return _template_failure(run, action.name, error)
        digest = input_hash(rendered)
        if status.input_hash in (None, digest):
            completed[action.name] = dict(status.outputs)
            continue
        step = await runner.changed(action, rendered, status, _action_context(run, template_scopes))
        if step.status.state == "Succeeded" and (step.wait is not None or step.stall_reason is not None):
            # The change was not passed on (a refused rename, an unreachable backend): the action is no longer
            # done, so the main loop hands it to ``changed`` again, now and on every retry, keeping the old hash.
            run.status = _with_action(run.status, step.status.model_copy(update={"state": "Waiting"}))
            return None
        if step.status.state != "Succeeded":
            run.status = _with_action(run.status, step.status)
            return None
        run.status = _with_action(run.status, step.status.model_copy(update={"input_hash": digest}))
        completed[action.name] = dict(step.status.outputs)
    return None


def _mark_state_lock(run: _Run, step: StepResult) -> None:
    """StateLocked=True with the lock id while a dead run's lock stops an action; False once it is gone."""
    now = utcnow()
    if step.stall_reason == Reason.STATE_LOCKED:
        message = step.status.message or "state locked"
        run.status = mark(
            run.status, STATE_LOCKED, "True", Reason.STATE_LOCKED, message, generation=run.view.generation, now=now
        )
    elif true_condition(run.status.conditions, STATE_LOCKED) is not None and step.status.lock is None:
        run.status = mark(
            run.status, STATE_LOCKED, "False", Reason.SUCCEEDED, "no lock held", generation=run.view.generation, now=now
        )


async def _exposed_secrets(run: _Run, lookup: CatalogLookup) -> dict[str, dict[str, str]]:
    """The ``secrets`` scope, read only when the item's templates use it; every value goes to the redactor."""
    if not lookup.reads_secrets:
        return {}
    secrets = await run.ctx.exposed_secrets(run.view.namespace)
    run.redactor.add(v for values in secrets.values() for v in values.values())
    return secrets


async def _template_scopes(
    run: _Run,
    resolved: Resolved,
    completed: Mapping[str, Mapping[str, Any]],
    secrets: Mapping[str, Mapping[str, str]],
) -> dict[str, Any]:
    """The template scopes with the outputs of the completed actions (sensitive ones included)."""
    outputs = await _with_secret_outputs(run, completed)
    return scopes(run.view, resolved, run.ctx.system, now=utcnow(), outputs=outputs, secrets=secrets)


async def _with_secret_outputs(run: _Run, completed: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """Completed actions' outputs for templates, with the sensitive ones their runners keep outside the status."""
    result = {name: dict(values) for name, values in completed.items()}
    for status in run.status.actions:
        if status.name not in result or status.state != "Succeeded":
            continue
        runner = run.ctx.runners.get(status.type)
        if not isinstance(runner, HasSecretOutputs):
            continue
        if status.name not in run.secret_outputs:
            context = _action_context(run, {})
            run.secret_outputs[status.name] = await runner.sensitive_outputs(status, context)
        result[status.name].update(run.secret_outputs[status.name])
    return result


def _fall_back(run: _Run, resolved: Resolved, message: str) -> list[Action]:
    """Open the manual path after a permanent automated failure; the automated actions stay in status."""
    now = utcnow()
    reason = run.redactor(message)
    record = FulfillmentRecord(mode="manual", fallback_reason=reason, fallback_at=now)
    run.status = run.status.model_copy(update={"fulfillment": record})
    mode, actions = fulfillment_path(resolved.item, "manual")
    _add_actions(run, mode, actions)
    run.fallback_events.append(
        Announcement(
            "Warning", Reason.FELL_BACK_TO_MANUAL, f"automated fulfillment failed, manual path opened: {reason}"
        )
    )
    return actions


def _with_fallback_context(run: _Run, action: Action, rendered: dict[str, Any]) -> dict[str, Any]:
    """A JIRA ticket of a manual path opened by a fallback carries why the automated path failed."""
    record = run.status.fulfillment
    if action.type != "jira" or record is None or record.fallback_reason is None:
        return rendered
    failed = [a for a in run.status.actions if a.path == "automated" and a.state == "Failed"]
    lines = [f"- {a.name} ({a.type}): {run.redactor(a.message or 'failed')}" for a in failed]
    context = "Automated fulfillment failed; this ticket was opened instead.\n" + "\n".join(lines)
    description = str(rendered.get("description") or "")
    return {**rendered, "description": f"{description}\n\n{context}" if description else context}


async def _settle_state(run: _Run, actions: list[Action], template_scopes: Mapping[str, Any]) -> Outcome | None:
    """spec.state: hibernate (or resume) the effects of actions that support it; None keeps the Ready outcome."""
    spec = run.view.spec
    wanted = spec.state if spec is not None else "Active"
    current = run.status.hibernation
    if wanted == "Active" and (current is None or current.reason == "Idle"):
        if current is not None:  # hibernated for idleness: stays so until activity wakes it (the observe timer)
            since = current.since.isoformat()
            return Outcome("Hibernated", Reason.HIBERNATED, f"hibernated while idle since {since}", progressing=False)
        return None
    if wanted == "Hibernated" and current is not None and current.reason == "Requested":
        return Outcome("Hibernated", Reason.HIBERNATED, "hibernated (spec.state)", progressing=False)
    outcome = await _set_state(run, actions, template_scopes, wanted)
    if outcome is not None:
        return outcome
    if wanted == "Hibernated":
        run.status = run.status.model_copy(update={"hibernation": Hibernation(reason="Requested", since=utcnow())})
        return Outcome("Hibernated", Reason.HIBERNATED, "hibernated (spec.state)", progressing=False)
    run.status = run.status.model_copy(update={"hibernation": None})
    return None


async def _set_state(
    run: _Run, actions: list[Action], template_scopes: Mapping[str, Any], wanted: RequestedState
) -> Outcome | None:
    """Drive every hibernatable action to ``wanted``; an Outcome while one is not there yet."""
    statuses = {a.name: a for a in run.status.actions}
    for action in actions:
        runner = run.ctx.runners.get(action.type)
        status = statuses.get(action.name)
        if not isinstance(runner, Hibernates) or status is None or status.state != "Succeeded":
            continue
        try:
            rendered = run.ctx.runners[action.type].render(action, template_scopes, run.redactor)
        except TemplateError as error:
            return _template_failure(run, action.name, error)
        step = await runner.set_state(action, rendered, status, _action_context(run, template_scopes), wanted)
        run.status = _with_action(run.status, step.status)
        if step.stall_reason is not None or step.wait is not None:
            run.wait = step.wait
            verb = "hibernating" if wanted == "Hibernated" else "resuming"
            message = f"action '{action.name}': {verb}: {step.status.message or 'in progress'}"
            return Outcome(
                "Provisioning",
                step.stall_reason or Reason.ACTION_IN_PROGRESS,
                message,
                stalled=step.stall_reason is not None,
            )
    return None


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
            return _template_failure(run, f"outputs.{output.name}", error.located(("value",)))
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
    elif {k: v for k, v in decode_secret_data(existing).items() if k in values} != dict(values):
        # Written only when a value changed: a re-reconcile of a Ready request must not write anything.
        await run.ctx.kube.patch(SECRETS, name, {"stringData": dict(values)}, run.view.namespace)
    return name


@dataclass
class ObserveResult:
    status_patch: dict[str, Any]
    events: list[Announcement] = field(default_factory=list)


async def observe_request(ctx: OperatorContext, body: Mapping[str, Any], items: ItemLookup) -> ObserveResult:
    """The periodic look at a fulfilled request: Terraform drift, workspace idleness (hibernate or wake up)."""
    view = parse_request(body)
    body_status: Mapping[str, Any] = body.get("status") or {}
    before = view.status
    if (
        view.deleting
        or view.spec is None
        or before.phase not in ("Ready", "Hibernated")
        or view.spec.catalog_item is None
        or before.observed_generation != view.generation  # a spec change the fulfil handler has yet to apply
    ):
        return ObserveResult({})
    lookup = items(view.spec.catalog_item)
    try:
        environments = await ctx.environments()
    except EnvironmentsUnavailable:
        return ObserveResult({})
    resolved = resolve(view, lookup, environments)
    if isinstance(resolved, Blocked):
        return ObserveResult({})
    run = _Run(ctx, view, str(body.get("metadata", {}).get("resourceVersion", "")), before, Redactor())
    run.catalog = CatalogRef(resolved.item.metadata.name, resolved.revision, lookup.source)
    record = before.fulfillment or FulfillmentRecord(mode=resolved.item.spec.fulfillment.mode)
    _, actions = fulfillment_path(resolved.item, record.mode)
    secrets = await _exposed_secrets(run, lookup)
    statuses = {a.name: a for a in run.status.actions}
    plan = plan_actions(actions, statuses)
    template_scopes = await _template_scopes(run, resolved, plan.completed_outputs, secrets)
    now = utcnow()
    drift: list[str] = []
    looked = drift_checked = False
    idle_since: datetime | None = None
    idle_limit: float | None = None
    for action in actions:
        runner = ctx.runners.get(action.type)
        status = statuses.get(action.name)
        if not isinstance(runner, Observes) or status is None or status.state != "Succeeded":
            continue
        interval = runner.observation_interval(action)
        if interval is None:
            continue
        if status.observed_at is not None and (now - status.observed_at).total_seconds() < interval:
            if status.drift is not None:
                drift.append(f"action '{action.name}': {_drift_text(status)}")
            continue
        try:
            rendered = ctx.runners[action.type].render(action, template_scopes, run.redactor)
        except TemplateError:
            continue  # the next fulfil reconcile reports it
        seen = await runner.observe(action, rendered, status, _action_context(run, template_scopes))
        looked = True
        drift_checked = drift_checked or action.type == "terraform"
        run.status = _with_action(run.status, seen.status)
        if seen.drift is not None:
            drift.append(f"action '{action.name}': {seen.drift}")
        if seen.idle_since is not None:
            limit = _hibernate_after(action)
            if limit is not None:
                idle_since = seen.idle_since if idle_since is None else max(idle_since, seen.idle_since)
                idle_limit = limit if idle_limit is None else min(idle_limit, limit)
    events: list[Announcement] = []
    if looked:
        generation = view.generation
        if drift:
            message = "; ".join(drift)
            run.status = mark(
                run.status, DRIFTED, "True", Reason.DRIFT_DETECTED, message, generation=generation, now=now
            )
        elif drift_checked:
            message = "no changes outside the operator"
            run.status = mark(run.status, DRIFTED, "False", Reason.NO_DRIFT, message, generation=generation, now=now)
        if drift and not _was_drifted(before):
            events.append(Announcement("Warning", Reason.DRIFT_DETECTED, "; ".join(drift)))
    hibernation = run.status.hibernation
    if idle_since is not None and idle_limit is not None:
        if hibernation is None and before.phase == "Ready" and view.spec.state == "Active":
            if (now - idle_since).total_seconds() >= idle_limit:
                outcome = await _set_state(run, actions, template_scopes, "Hibernated")
                if outcome is None:
                    run.status = run.status.model_copy(update={"hibernation": Hibernation(reason="Idle", since=now)})
                    message = f"hibernated: no activity since {idle_since.isoformat()}"
                    run.status = apply_outcome(
                        run.status,
                        Outcome("Hibernated", Reason.HIBERNATED, message, progressing=False),
                        generation=view.generation,
                        now=now,
                    )
        elif (
            hibernation is not None
            and hibernation.reason == "Idle"
            and view.spec.state == "Active"
            and idle_since > hibernation.since
        ):
            outcome = await _set_state(run, actions, template_scopes, "Active")
            if outcome is None:
                run.status = run.status.model_copy(update={"hibernation": None})
                run.status = apply_outcome(
                    run.status,
                    Outcome("Ready", Reason.SUCCEEDED, "fulfilled", progressing=False),
                    generation=view.generation,
                    now=now,
                )
    run.status = run.status.model_copy(update={"actions": [_redacted(a, run.redactor) for a in run.status.actions]})
    events += announcements(before, run.status)
    return ObserveResult(merge_patch(body_status, dump(run.status)), events)


def _drift_text(status: ActionStatus) -> str:
    plan = status.drift
    assert plan is not None
    return f"+{plan.add} ~{plan.change} -{plan.destroy} outside the operator"


def _was_drifted(status: ServiceRequestStatus) -> bool:
    return true_condition(status.conditions, DRIFTED) is not None


def _hibernate_after(action: Action) -> float | None:
    block = action.workspace
    if block is None or block.hibernate_after is None:
        return None
    return duration_seconds(block.hibernate_after)
