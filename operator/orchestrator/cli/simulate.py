"""The engine of `devctl simulate`: the operator's own reconcile of one ServiceRequest, nothing leaving the process.

The request, its catalog item and the environments config are checked with the validator of `devctl validate`
(simulate_inputs.py). Then ``handlers/requests.py::reconcile_request`` runs in a loop, exactly as kopf calls it,
against ``OperatorContext.offline``: an in-memory Kubernetes API (clients/memory.py) holding the request, the
environments ConfigMap, the supplied (or placeholder) Secrets, the Terraform state Secrets, workspace objects and
the outputs Secret; dry-run JIRA and HTTP backends (clients/dry_run.py); the real Terraform engine on the catalog's
modules in a scratch directory, with ``runner: job`` Jobs run in process. Each reconcile's status patch is applied
to the stored request, and the next reconcile starts at once while the last one asked to wait: the simulated
clock does not wait. Approval gates are passed through the annotations the operator reads (``approve`` for an
item, ``approve-plan`` with the saved plan's hash), unless the caller asks to stop there.
"""

from __future__ import annotations

import base64
import json
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus

from ..actions.http import check_pointer
from ..actions.jira import JiraConnections
from ..actions.terraform import InProcessEngine
from ..actions.terraform_job import JobRunner, JobSettings
from ..actions.terraform_state import STATE_LABEL, read_record
from ..actions.workspace import CHILD_RESOURCES, REQUEST_UID_LABEL, label_value
from ..api.service_request import (
    APPROVE_ANNOTATION,
    APPROVE_PLAN_ANNOTATION,
    ESCALATE_ANNOTATION,
    ServiceRequestStatus,
    idempotency_key,
)
from ..clients.dry_run import DryRunHttpPool, DryRunJiraConnections, DryRunJournal, TicketCompletion
from ..clients.http_types import connection_from_secret as http_connection
from ..clients.jira import connection_from_secret as jira_connection
from ..clients.kubernetes_types import (
    CONFIG_MAPS,
    JOBS,
    NAMESPACES,
    SECRETS,
    SERVICE_REQUESTS,
    KubernetesClient,
    decode_secret_data,
)
from ..clients.memory import MemoryKubernetes, without_server_fields
from ..clients.terraform import RunSpec
from ..config import JiraSettings, Settings, TerraformSettings
from ..handlers.context import OperatorContext, job_settings
from ..handlers.requests import ConcurrentChange, reconcile_request
from ..metrics import Metrics
from ..reconcile.request import CatalogLookup
from ..redaction import Redactor, merged
from ..templates.analysis import find_references
from ..templates.errors import TemplateError
from .simulate_document import SimulationResult, build_document
from .simulate_inputs import Inputs, SimulationInputError, load_inputs
from .terraform_run import LOCK_ID_ANNOTATION, RESULT_KEY, RESULT_LABEL

__all__ = ["Simulation", "SimulationInputError", "SimulationOptions", "SimulationResult", "simulate"]

MAX_RECONCILES = 60
"""A request still not settled after this many reconciles is reported as stuck (a loop the operator would be in)."""
APPROVER = "devctl-simulate"


@dataclass(frozen=True)
class SimulationOptions:
    request_file: Path
    catalog_dir: Path
    environments_file: Path | None = None
    secret_files: Sequence[Path] = ()
    cluster_name: str = "simulation"
    namespace: str | None = None
    stop_at_approval: bool = False
    keep_workdir: bool = False
    jira: JiraConnections | None = None
    """Connections to a real JIRA instead of the dry run (tests compare what the two send)."""


@dataclass
class _Pass:
    number: int
    phase: str
    reason: str
    message: str
    wait: float | None
    events: list[dict[str, str]] = field(default_factory=list)
    approved: str | None = None

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"reconcile": self.number, "phase": self.phase, "reason": self.reason}
        data["message"] = self.message
        if self.wait is not None:
            data["wouldWaitSeconds"] = round(self.wait, 1)
        if self.events:
            data["events"] = self.events
        if self.approved:
            data["approved"] = self.approved
        return data


@dataclass
class _JobRun:
    name: str
    action: str
    operation: str
    ok: bool


class InProcessJobs(JobRunner):
    """The job runner as the operator drives it (spec Secret, Job, result Secret), with the Job's work done at
    once in this process by the Terraform engine, as ``orchestrator terraform-run`` would do it in the pod."""

    def __init__(self, kube: KubernetesClient, settings: JobSettings, engine: InProcessEngine) -> None:
        super().__init__(kube, settings)
        self._api = kube
        self._engine = engine
        self.runs: list[_JobRun] = []

    async def start(self, name: str, spec: RunSpec, labels: Mapping[str, str]) -> None:
        await super().start(name, spec, labels)
        namespace = self.settings.namespace
        if await self._api.get(SECRETS, f"{name}-result", namespace) is not None:
            return  # started again after its result was written: the pod would find it and do nothing
        result = await self._engine(spec)
        secret = {
            "apiVersion": "v1",
            "kind": "Secret",
            "type": "Opaque",
            "metadata": {
                "name": f"{name}-result",
                "namespace": namespace,
                "labels": {**labels, RESULT_LABEL: "true"},
                "annotations": {LOCK_ID_ANNOTATION: spec.lock_id},
            },
            "data": {RESULT_KEY: base64.b64encode(result.to_bytes()).decode("ascii")},
        }
        await self._api.create(SECRETS, secret, namespace)
        finished = {"status": {"succeeded": 1, "conditions": [{"type": "Complete", "status": "True"}]}}
        await self._api.patch(JOBS, name, finished, namespace, subresource="status")
        self.runs.append(_JobRun(name, str(labels.get("orchestrator.dev/action", "")), spec.operation, result.ok))


def _settings(options: SimulationOptions, workdir: Path) -> Settings:
    return Settings(
        cluster_name=options.cluster_name,
        secret_cache_ttl=0.0,
        jira=JiraSettings(escalation_project=None),
        terraform=TerraformSettings(
            work_dir=workdir / "terraform",
            module_root=options.catalog_dir.resolve(),
            max_concurrent_runs=1,
        ),
    )


def response_document(inputs: Inputs) -> dict[str, Any]:
    """A JSON document in which every JSON-pointer output of the item's HTTP actions resolves to a placeholder."""
    document: dict[str, Any] = {}
    pointers = sorted({p for a in inputs.actions() if a.http is not None for p in a.http.outputs.values()})
    for pointer in pointers:
        try:
            tokens = check_pointer(pointer)
        except ValueError:
            continue  # the runner refuses it with the validator's message
        if not tokens:
            continue
        node = document
        for token in tokens[:-1]:
            child = node.get(token)
            if not isinstance(child, dict):
                child = node[token] = {}
            node = child
        node.setdefault(tokens[-1], f"<dry-run {pointer}>")
    return document


def _ticket_fields(templates: Mapping[str, str]) -> dict[str, Any]:
    """Placeholders for every ``ticket.fields.<path>`` an action's output templates read."""
    fields: dict[str, Any] = {}
    for template in templates.values():
        try:
            references = find_references(template)
        except TemplateError:
            continue
        for reference in references:
            path = reference.path
            if len(path) < 3 or path[:2] != ("ticket", "fields"):
                continue
            node = fields
            for part in path[2:-1]:
                child = node.get(part)
                if not isinstance(child, dict):
                    child = node[part] = {}
                node = child
            node.setdefault(path[-1], f"<dry-run {'.'.join(path)}>")
    return fields


class _Completions:
    """How each dry-run ticket is found done: the resolution its action accepts, the fields its outputs read."""

    def __init__(self, inputs: Inputs) -> None:
        self._inputs = inputs
        self.completed: dict[str, str] = {}

    def __call__(self, payload: Mapping[str, Any]) -> TicketCompletion:
        labels = set(payload.get("labels") or [])
        for action in self._inputs.actions():
            block = action.jira
            if block is None:
                continue
            keys = {idempotency_key(self._inputs.uid, f"action/{action.name}", n) for n in range(1, 21)}
            if labels & keys:
                accepted = block.done_when.resolutions
                resolution = "Done" if not accepted or "done" in {r.lower() for r in accepted} else accepted[0]
                self.completed[action.name] = resolution
                return TicketCompletion(resolution=resolution, fields=_ticket_fields(block.outputs))
        return TicketCompletion()


def _seed(memory: MemoryKubernetes, settings: Settings, inputs: Inputs) -> None:
    if inputs.environments_text is not None:
        config_map = {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": settings.environments_configmap},
            "data": {"environments.yaml": inputs.environments_text},
        }
        memory.seed(CONFIG_MAPS, config_map, settings.namespace)
    for secret in inputs.connection_secrets:
        memory.seed(SECRETS, secret, settings.namespace)
    for secret in inputs.exposed_secrets:
        memory.seed(SECRETS, secret, inputs.namespace)
    memory.seed(SERVICE_REQUESTS, inputs.request, inputs.namespace)


async def simulate(options: SimulationOptions) -> SimulationResult:
    """Run the simulation; ``SimulationInputError`` when the inputs cannot be simulated (nothing ran)."""
    workdir = Path(tempfile.mkdtemp(prefix="devctl-simulate-"))
    try:
        settings = _settings(options, workdir)
        inputs = load_inputs(
            options.request_file,
            options.catalog_dir,
            environments_file=options.environments_file,
            secret_files=options.secret_files,
            namespace=options.namespace,
            settings=settings,
        )
        return await Simulation(options, inputs, settings, workdir).run()
    finally:
        if not options.keep_workdir:
            shutil.rmtree(workdir, ignore_errors=True)


class Simulation:
    """One simulation: its inputs, the in-memory API and dry-run journal, and what each reconcile did."""

    def __init__(self, options: SimulationOptions, inputs: Inputs, settings: Settings, workdir: Path) -> None:
        self.options = options
        self.inputs = inputs
        self.settings = settings
        self.workdir = workdir
        self.memory = MemoryKubernetes()
        self.journal = DryRunJournal()
        self.completions = _Completions(inputs)
        self.passes: list[_Pass] = []
        self.plan_approvals: dict[str, str] = {}
        self.item_approval: str | None = None
        """The annotation that passed the item's approval gate, when the simulation gave it."""
        self.notes: list[str] = []
        tf = settings.terraform
        engine = InProcessEngine(tf.work_dir, 1, tf.run_timeout, interrupt_grace=tf.interrupt_grace)
        self.jobs = InProcessJobs(self.memory, job_settings(settings), engine)

    def _lookup(self, name: str) -> CatalogLookup:
        item = self.inputs.catalog.item(name)
        return CatalogLookup.found(item, None) if item is not None else CatalogLookup(None)

    async def run(self) -> SimulationResult:
        _seed(self.memory, self.settings, self.inputs)
        metrics = Metrics()
        custom_fields = [name for a in self.inputs.actions() if a.jira is not None for name in a.jira.fields]
        jira = self.options.jira or DryRunJiraConnections(
            self.memory, self.settings, self.journal, self.completions, custom_fields
        )
        http = DryRunHttpPool(self.memory, self.settings, metrics, self.journal, response_document(self.inputs))
        ctx = OperatorContext.offline(self.settings, metrics, self.memory, jira=jira, http_pool=http, jobs=self.jobs)
        try:
            stop = await self._drive(ctx)
        finally:
            await ctx.close()
        if (self.inputs.request["metadata"].get("annotations") or {}).get(ESCALATE_ANNOTATION):
            self.notes.append("the escalate annotation is not simulated: no escalation ticket is opened")
        result = await build_document(self, stop)
        if self.options.keep_workdir:
            await self._keep()
            result.workdir = self.workdir
        return result

    async def body(self) -> dict[str, Any]:
        body = await self.memory.get(SERVICE_REQUESTS, self.inputs.name, self.inputs.namespace)
        assert body is not None  # nothing deletes it
        return body

    async def _drive(self, ctx: OperatorContext) -> str:
        """Reconcile until the request settles; returns why it stopped: settled, stalled, approval or stuck."""
        for number in range(1, MAX_RECONCILES + 1):
            body = await self.body()
            try:
                result = await reconcile_request(ctx, body, self._lookup)
            except ConcurrentChange as error:
                self.passes.append(_Pass(number, "", "ConcurrentChange", str(error), 1.0))
                continue
            if result.status_patch:
                await self.memory.patch(
                    SERVICE_REQUESTS,
                    self.inputs.name,
                    {"status": result.status_patch},
                    self.inputs.namespace,
                    subresource="status",
                )
            outcome = result.outcome
            events = [{"type": e.type, "reason": e.reason, "message": e.message} for e in result.events]
            current = _Pass(number, outcome.phase, outcome.reason, outcome.message, result.wait, events)
            self.passes.append(current)
            if outcome.phase == "AwaitingApproval" and result.wait is None and not outcome.stalled:
                if self.options.stop_at_approval:
                    return "approval"
                current.approved = await self._approve()
                if current.approved is None:
                    return "stalled"
                continue
            if outcome.stalled:
                return "stalled"
            if result.wait is None:
                return "settled"
        return "stuck"

    async def _approve(self) -> str | None:
        """Give the approval the request waits for, through the annotation the operator reads; None when the same
        approval was given already (the operator refused it: a person must look)."""
        body = await self.body()
        status = ServiceRequestStatus.model_validate(body.get("status") or {})
        annotations = (body.get("metadata") or {}).get("annotations") or {}
        waiting = next((a for a in status.actions if a.state == "Waiting" and a.plan is not None), None)
        if waiting is not None and waiting.plan is not None:
            key, value = APPROVE_PLAN_ANNOTATION, waiting.plan.hash
            self.plan_approvals[waiting.name] = value
        else:
            key, value = APPROVE_ANNOTATION, APPROVER
            self.item_approval = f"{key}={value}"
        if annotations.get(key) == value:
            return None
        patch = {"metadata": {"annotations": {key: value}}}
        await self.memory.patch(SERVICE_REQUESTS, self.inputs.name, patch, self.inputs.namespace)
        return f"{key}={value}"

    # --- what the report reads back ------------------------------------------------------------------------------
    def workspace_manifests(self) -> list[dict[str, Any]]:
        """The Namespace and the objects in it that the workspace runner wrote for this request."""
        uid = label_value(self.inputs.uid)
        namespaces = [
            n
            for n in self.memory.objects(NAMESPACES)
            if (n["metadata"].get("labels") or {}).get(REQUEST_UID_LABEL) == uid
        ]
        manifests = []
        for namespace in namespaces:
            manifests.append(without_server_fields(namespace))
            for resource in CHILD_RESOURCES:
                for obj in self.memory.objects(resource, namespace["metadata"]["name"]):
                    if (obj["metadata"].get("labels") or {}).get(REQUEST_UID_LABEL) == uid:
                        manifests.append(without_server_fields(obj))
        return manifests

    async def redactor(self) -> Redactor:
        """Masks every value that must never be shown: supplied and placeholder Secrets, the credentials of
        connection Secrets (as the connection itself masks them), the outputs Secret, and the sensitive outputs
        kept in Terraform state records."""
        values: list[str] = []
        redactors: list[Redactor] = []
        jira_label, http_label = self.settings.jira.connection_label, self.settings.http.connection_label
        for secret in self.memory.objects(SECRETS):
            meta = secret["metadata"]
            labels = meta.get("labels") or {}
            data = decode_secret_data(secret)
            if labels.get(STATE_LABEL) == "true":
                record = await read_record(self.memory, meta["namespace"], meta["name"])
                values += _strings(record.documents.get("sensitive-outputs") or {})
            elif RESULT_LABEL in labels or LOCK_ID_ANNOTATION in (meta.get("annotations") or {}):
                continue  # a Job's spec and result: inputs and state, read back through the state record
            elif jira_label in labels or http_label in labels:
                try:
                    connection = (
                        jira_connection(labels[jira_label], data).redactor()
                        if jira_label in labels
                        else http_connection(labels[http_label], data).redactor()
                    )
                except ValueError:  # unusable: the runner stalls on it; mask all of it
                    values += list(data.values())
                else:
                    redactors.append(connection)
            else:  # an exposed Secret (a template may put its values into a URL: their encoded forms too)
                values += [form for v in data.values() for form in (v, quote(v, safe=""), quote(v), quote_plus(v))]
        return merged(Redactor(values), *redactors)

    async def _keep(self) -> None:
        """--keep-workdir: each Terraform action's state and inputs, for `terraform show`, in the work directory."""
        for secret in self.memory.objects(SECRETS, self.inputs.namespace):
            if (secret["metadata"].get("labels") or {}).get(STATE_LABEL) != "true":
                continue
            record = await read_record(self.memory, self.inputs.namespace, secret["metadata"]["name"])
            folder = self.workdir / "state" / record.name
            folder.mkdir(parents=True, exist_ok=True)
            if record.state is not None:
                (folder / "terraform.tfstate").write_bytes(record.state)
            inputs = record.documents.get("inputs") or record.documents.get("plan-inputs")
            if inputs is not None:
                (folder / "inputs.json").write_text(json.dumps(inputs, indent=2, sort_keys=True), encoding="utf-8")


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, Mapping):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    if value is None or isinstance(value, bool):
        return []
    return [json.dumps(value)]
