"""The report of a finished simulation, as one stable document (what ``-o json|yaml`` prints and the table shows).

``{request, item, steps[], timeline[], notes[], status, outputs, sensitiveOutputs, outputsSecret, result}``: the
steps in order (validation, approval, each action with what it sent and got: the JIRA create payload, the
Terraform plan and apply, the HTTP request and answer, the workspace manifests), the status exactly as the
operator wrote it, the public outputs, and only the names of the sensitive ones. Every string of the document is
passed through a redactor that knows every Secret value of the simulation, so no secret is ever shown.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..actions.http import IDEMPOTENCY_HEADER
from ..actions.terraform_state import read_record, state_secret_name
from ..api.actions import Action
from ..api.base import dump
from ..api.conditions import APPROVED, VALIDATED, find_condition
from ..api.service_request import APPROVE_ANNOTATION, APPROVE_PLAN_ANNOTATION, ActionStatus, ServiceRequestStatus
from ..clients.dry_run import HttpExchange
from ..clients.kubernetes_types import SECRETS
from ..redaction import MASK, Redactor

if TYPE_CHECKING:
    from .simulate import Simulation

ACCEPTED_PHASES = ("Ready", "Hibernated")
APPROVED_FOR_SIMULATION = "approved for simulation"
JIRA_COMPLETION = "assumed completed by a person"
_CREDENTIAL_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie", "x-api-key"})


@dataclass
class SimulationResult:
    document: dict[str, Any]
    """The stable, redacted report: request, item, steps, timeline, notes, status, outputs, sensitiveOutputs,
    outputsSecret, result."""
    exit_code: int
    verdict: str
    redactor: Redactor
    workdir: Path | None = None


async def build_document(sim: Simulation, stop: str) -> SimulationResult:
    """The redacted report, the exit code and the one-line verdict of a finished simulation."""
    body = await sim.body()
    raw_status: dict[str, Any] = dict(body.get("status") or {})
    status = ServiceRequestStatus.model_validate(raw_status)
    inputs = sim.inputs
    definitions = {a.name: a for a in inputs.actions()}
    steps: list[dict[str, Any]] = [_validation_step(status)]
    approval = _approval_step(sim, status, stop)
    if approval is not None:
        steps.append(approval)
    exchanges, unclaimed = _http_exchanges(status, definitions, sim.journal.http)
    for action in status.actions:
        definition = definitions.get(action.name)
        step = _action_step(action)
        if action.type == "jira":
            step.update(_jira_details(sim, action))
        elif action.type == "http":
            step.update(_http_details(exchanges.get(action.name, [])))
        elif action.type == "terraform" and definition is not None:
            step.update(await _terraform_details(sim, action, definition, stop))
        elif action.type == "workspace":
            step.update(_workspace_details(sim, action))
        steps.append(step)
    for leftover in unclaimed:  # a call no action status claims (not expected): shown, not hidden
        steps.append({"step": "http call", **_http_details([leftover])})
    outputs_secret = raw_status.get("outputsSecretRef", {}).get("name")
    sensitive: list[str] = []
    if outputs_secret:
        secret = await sim.memory.get(SECRETS, outputs_secret, inputs.namespace)
        sensitive = sorted((secret or {}).get("data", {}).keys())
    last = sim.passes[-1]
    stalled = any(c.type == "Stalled" and c.status == "True" for c in status.conditions)
    exit_code, verdict = _verdict(stop, status.phase, last.reason, last.message, stalled, len(sim.passes))
    notes = [*inputs.warnings, *sim.journal.notes, *sim.notes]
    document: dict[str, Any] = {
        "request": _request_summary(sim),
        "item": _item_summary(sim),
        "steps": steps,
        "timeline": [p.to_dict() for p in sim.passes],
        "notes": notes,
        "status": raw_status,
        "outputs": dict(raw_status.get("outputs") or {}),
        "sensitiveOutputs": sensitive,
        "outputsSecret": outputs_secret,
        "result": {
            "phase": status.phase,
            "stalled": stalled,
            "reason": last.reason,
            "message": last.message,
            "stoppedAt": stop,
            "reconciles": len(sim.passes),
            "skippedWaitSeconds": round(sum(p.wait or 0.0 for p in sim.passes), 1),
            "exitCode": exit_code,
            "verdict": verdict,
        },
    }
    redactor = await sim.redactor()
    return SimulationResult(redact_tree(document, redactor), exit_code, redactor(verdict), redactor)


def _verdict(stop: str, phase: str, reason: str, message: str, stalled: bool, limit: int) -> tuple[int, str]:
    if stop == "approval":
        return 0, f"stopped at an approval gate (--stop-at-approval): {message}"
    if stop == "stuck":
        return 1, f"the request did not settle in {limit} reconciles; last: {phase} ({reason}): {message}"
    if stop == "settled" and phase in ACCEPTED_PHASES and not stalled:
        return 0, f"{phase}: {message}"
    return 1, f"{'Stalled' if stalled else phase} ({reason}): {message}"


def redact_tree(value: Any, redactor: Redactor) -> Any:
    """Every string in ``value`` (recursively) with the secret values masked."""
    if isinstance(value, str):
        return redactor(value) if redactor else value
    if isinstance(value, Mapping):
        return {k: redact_tree(v, redactor) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact_tree(v, redactor) for v in value]
    return value


def _request_summary(sim: Simulation) -> dict[str, Any]:
    request = sim.inputs.request
    spec = request.get("spec") or {}
    summary: dict[str, Any] = {
        "file": str(sim.options.request_file),
        "name": sim.inputs.name,
        "namespace": sim.inputs.namespace,
        "uid": sim.inputs.uid,
        "environment": spec.get("environment"),
        "environmentsFile": str(sim.inputs.environments_file) if sim.inputs.environments_file else None,
        "catalog": str(sim.options.catalog_dir),
        "clusterName": sim.options.cluster_name,
        "fields": dict(spec.get("fields") or {}),
    }
    summary["catalogItem" if spec.get("catalogItem") else "bundle"] = spec.get("catalogItem") or spec.get("bundle")
    return summary


def _item_summary(sim: Simulation) -> dict[str, Any] | None:
    item = sim.inputs.item
    if item is not None:
        return {
            "kind": "CatalogItem",
            "name": item.metadata.name,
            "version": item.spec.version,
            "file": sim.inputs.item_file,
            "fulfillment": item.spec.fulfillment.mode,
        }
    bundle = sim.inputs.catalog.bundle(str((sim.inputs.request.get("spec") or {}).get("bundle")))
    if bundle is None:
        return None
    return {
        "kind": "CatalogBundle",
        "name": bundle.metadata.name,
        "version": bundle.spec.version,
        "file": sim.inputs.item_file,
    }


def _validation_step(status: ServiceRequestStatus) -> dict[str, Any]:
    condition = find_condition(status.conditions, VALIDATED)
    step: dict[str, Any] = {
        "step": "validation",
        "check": "the validator of `devctl validate request`, then the operator",
    }
    if condition is None:
        return {**step, "result": "not reached"}
    return {
        **step,
        "result": "passed" if condition.status == "True" else "failed",
        "reason": condition.reason,
        "message": condition.message,
    }


def _approval_step(sim: Simulation, status: ServiceRequestStatus, stop: str) -> dict[str, Any] | None:
    item = sim.inputs.item
    if item is None:
        return None
    gate = item.spec.approval
    if not gate.required:
        return {"step": "approval", "required": False, "result": "not required"}
    step: dict[str, Any] = {"step": "approval", "required": True, "riskClass": gate.risk_class}
    if gate.approvers:
        step["approvers"] = list(gate.approvers)
    condition = find_condition(status.conditions, APPROVED)
    if sim.item_approval is not None:
        step["result"] = f"{APPROVED_FOR_SIMULATION} ({sim.item_approval})"
    elif status.approved_by:
        step["result"] = f"approved by {status.approved_by} (annotation in the request)"
    elif stop == "approval" and condition is not None:
        step["result"] = "awaiting approval: stopped here (--stop-at-approval)"
        command = f"kubectl annotate servicerequest {sim.inputs.name} -n {sim.inputs.namespace}"
        step["howToApprove"] = f"{condition.message}: {command} {APPROVE_ANNOTATION}=<approver>"
    else:
        step["result"] = "not reached"
    return step


def _action_step(action: ActionStatus) -> dict[str, Any]:
    step: dict[str, Any] = {
        "step": "action",
        "name": action.name,
        "type": action.type,
        "path": action.path,
        "state": action.state,
        "attempts": action.attempts,
        "message": action.message or "",
    }
    if action.outputs:
        step["outputs"] = dict(action.outputs)
    return step


def _jira_details(sim: Simulation, action: ActionStatus) -> dict[str, Any]:
    ref = action.external_ref
    if ref is None:
        return {}
    details: dict[str, Any] = {"ticket": {"key": ref.id, "url": ref.url, "connection": ref.connection}}
    calls = [c for c in sim.journal.jira if c.key == ref.id]
    if sim.options.jira is not None:
        details["ticket"]["dryRun"] = False
        return details
    details["ticket"]["dryRun"] = True
    create = next((c for c in calls if c.operation == "create"), None)
    if create is not None:
        details["createPayload"] = create.payload
    others = [{"operation": c.operation, **c.payload} for c in calls if c.operation != "create"]
    if others:
        details["otherCalls"] = others
    resolution = sim.completions.completed.get(action.name)
    if resolution is not None:
        details["completion"] = f"{JIRA_COMPLETION} (resolution {resolution})"
    return details


def _header(exchange: HttpExchange, name: str) -> str | None:
    return next((v for k, v in exchange.headers.items() if k.lower() == name.lower()), None)


def _http_exchanges(
    status: ServiceRequestStatus, definitions: Mapping[str, Action], exchanges: list[HttpExchange]
) -> tuple[dict[str, list[HttpExchange]], list[HttpExchange]]:
    """The calls of each HTTP action (by its Idempotency-Key; GETs, which carry none, in the order they were made),
    and the calls no action claims."""
    claimed: dict[str, list[HttpExchange]] = {}
    left = list(exchanges)
    for action in status.actions:
        if action.type == "http" and action.idempotency_key is not None:
            claimed[action.name] = [e for e in left if _header(e, IDEMPOTENCY_HEADER) == action.idempotency_key]
            left = [e for e in left if e not in claimed[action.name]]
    gets = [e for e in left if e.method == "GET"]
    for action in status.actions:
        definition = definitions.get(action.name)
        block = definition.http if definition is not None else None
        if block is not None and block.method == "GET" and action.attempts and gets:
            claimed[action.name] = [gets.pop(0)]
    return claimed, [e for e in left if e.method != "GET"] + gets


def _http_details(exchanges: list[HttpExchange]) -> dict[str, Any]:
    if not exchanges:
        return {}
    calls = []
    for exchange in exchanges:
        headers = {}
        for name, value in exchange.headers.items():
            secret = name.lower() in _CREDENTIAL_HEADERS or name.lower() in exchange.secret_headers
            headers[name] = MASK if secret else value
        body: Any = None
        if exchange.body is not None:
            text = exchange.body.decode("utf-8", errors="replace")
            try:
                body = json.loads(text)
            except ValueError:
                body = text
        calls.append(
            {
                "request": {"method": exchange.method, "url": exchange.url, "headers": headers, "body": body},
                "response": {"status": exchange.status, "body": exchange.response, "dryRun": True},
                "connection": exchange.connection,
            }
        )
    return {"http": calls if len(calls) > 1 else calls[0]}


async def _terraform_details(sim: Simulation, action: ActionStatus, definition: Action, stop: str) -> dict[str, Any]:
    block = definition.terraform
    assert block is not None
    details: dict[str, Any] = {"module": block.module, "runner": block.runner, "approvePlan": block.approve_plan}
    if block.runner == "job":
        details["runnerNote"] = (
            "the operator runs this in a Kubernetes Job; the simulation ran the Job's work in process"
        )
        label = action.name.lower()[:63]
        details["jobs"] = [
            {"name": r.name, "operation": r.operation, "result": "succeeded" if r.ok else "failed"}
            for r in sim.jobs.runs
            if r.action == label
        ]
    if action.plan is not None:
        plan = {k: v for k, v in dump(action.plan).items() if k != "createdAt"}
        details["plan"] = plan
    details["applied"] = action.state == "Succeeded"
    record_name = action.external_ref.id if action.external_ref else state_secret_name(sim.inputs.name, action.name)
    record = await read_record(sim.memory, sim.inputs.namespace, record_name)
    if record.exists:
        details["stateSecret"] = record_name
        details["sensitiveOutputs"] = sorted((record.documents.get("sensitive-outputs") or {}).keys())
    plan_hash = sim.plan_approvals.get(action.name)
    if plan_hash is not None:
        details["approval"] = f"{APPROVED_FOR_SIMULATION} ({APPROVE_PLAN_ANNOTATION}={plan_hash})"
    elif stop == "approval" and action.state == "Waiting" and action.plan is not None:
        details["approval"] = "awaiting approval: stopped here (--stop-at-approval)"
        details["howToApprove"] = action.message or ""
    return details


def _workspace_details(sim: Simulation, action: ActionStatus) -> dict[str, Any]:
    namespace = action.external_ref.id if action.external_ref else action.outputs.get("namespace")
    if namespace is None:
        return {}
    manifests = [
        m
        for m in sim.workspace_manifests()
        if (m["kind"] == "Namespace" and m["metadata"]["name"] == namespace)
        or m["metadata"].get("namespace") == namespace
    ]
    return {"namespace": namespace, "manifests": manifests}
