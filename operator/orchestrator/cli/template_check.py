"""`devctl test variables`: render every template of an item with sample scopes, offline, as the operator would.

Nothing here re-implements the operator: the request is checked and its defaults applied by
``reconcile.request.resolve`` (the validator the operator runs), the scopes come from ``reconcile.request.scopes``,
each action's input is rendered by the same pure function its runner uses (``actions.rendering``), ``when`` by
``templates.engine.evaluate_condition``, and actions are visited in the operator's order (``fulfillment_path``).

What a real request would learn from its backends is replaced by visible placeholders: earlier actions' outputs
(``<outputs.provision.endpoint>``; Terraform output names read from the module, JIRA key/url plus the action's
``outputs`` rendered over a sample ticket, the workspace's rendered namespace, HTTP status and output names),
the ``secrets`` scope (``<secret dns-api.token>``), and the environment unless an environments file is given.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from .. import __version__
from ..actions.rendering import render_action, ticket_scope
from ..api.actions import Action
from ..api.catalog import CatalogItem
from ..api.environments import EnvironmentsConfig
from ..api.service_request import REQUESTER_ANNOTATION
from ..catalog.diagnostics import DiagnosticList, FieldPath, format_path
from ..catalog.references import item_references
from ..catalog.semantic import ModuleCache
from ..catalog.terraform_modules import TerraformModule
from ..catalog.validate import CatalogEntry
from ..clients.jira_types import Ticket
from ..reconcile.request import (
    Blocked,
    CatalogLookup,
    Mode,
    SystemInfo,
    fulfillment_path,
    parse_request,
    resolve,
    scopes,
)
from ..redaction import Redactor
from ..templates.analysis import find_references
from ..templates.engine import evaluate_condition, render
from ..templates.errors import TemplateError

SAMPLE_UID = "00000000-0000-4000-8000-000000000000"
SAMPLE_NAMESPACE = "sample-team"
SAMPLE_REQUEST = "sample-request"
SAMPLE_ENVIRONMENT = "sample"


class InputProblem(Exception):
    """The fields or the environment do not pass the operator's checks; the message says why."""


@dataclass
class Problem:
    """A template that failed to render (or a ``when`` that failed to evaluate)."""

    subject: str
    """``action 'provision' (automated)`` or ``output 'endpoint' (after the automated path)``."""
    path: str
    """Where the template sits in the item: ``spec.fulfillment.automated[0].terraform.variables.name``."""
    file: str
    line: int | None
    template_line: int | None
    message: str
    skipped: bool = False
    """The action is skipped for these values (its ``when`` is false): reported, but not an error."""

    def render(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        inside = f" (template line {self.template_line})" if self.template_line else ""
        note = " [the action is skipped for these values]" if self.skipped else ""
        return f"{where}: {self.subject}: {self.path}: {self.message}{inside}{note}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "subject": self.subject,
            "path": self.path,
            "file": self.file,
            "line": self.line,
            "templateLine": self.template_line,
            "message": self.message,
            "skipped": self.skipped,
        }


@dataclass
class ActionCheck:
    lane: Mode
    name: str
    type: str
    when: str | None
    when_value: bool | None
    rendered: dict[str, Any] | None
    offers: dict[str, Any]
    """The sample outputs later templates see as ``outputs.<name>``."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.lane,
            "name": self.name,
            "type": self.type,
            "when": self.when,
            "whenResult": self.when_value,
            "skipped": self.when_value is False,
            "rendered": self.rendered,
            "outputs": self.offers,
        }


@dataclass
class OutputsCheck:
    lane: Mode
    values: dict[str, Any]
    sensitive: list[str]


@dataclass
class VariablesReport:
    item: CatalogItem
    file: str
    fields: dict[str, Any]
    environment: str | None
    environment_source: str
    request: dict[str, Any]
    actions: list[ActionCheck] = field(default_factory=list)
    outputs: list[OutputsCheck] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def errors(self) -> list[Problem]:
        return [problem for problem in self.problems if not problem.skipped]

    def to_dict(self) -> dict[str, Any]:
        return {
            "item": {"name": self.item.metadata.name, "version": self.item.spec.version, "file": self.file},
            "request": self.request,
            "environment": {"name": self.environment, "source": self.environment_source},
            "fields": self.fields,
            "actions": [action.to_dict() for action in self.actions],
            "outputs": [
                {"path": check.lane, "values": check.values, "sensitive": check.sensitive} for check in self.outputs
            ],
            "errors": [problem.to_dict() for problem in self.errors],
            "warnings": [problem.to_dict() for problem in self.problems if problem.skipped],
            "notes": self.notes,
        }


# ---- placeholders --------------------------------------------------------------------------------------------------


def placeholders(paths: Sequence[tuple[str, ...]], label: str) -> dict[str, Any]:
    """Nested sample values for the paths (below their root): each leaf is ``<label.path>``."""
    tree: dict[str, Any] = {}
    for path in sorted(set(paths), key=len):
        parts = path[1:]
        if not parts:
            continue
        node = tree
        for part in parts[:-1]:
            child = node.get(part)
            if not isinstance(child, dict):
                child = node[part] = {}
            node = child
        if not isinstance(node.get(parts[-1]), dict):
            node[parts[-1]] = f"<{label}.{'.'.join(parts)}>"
    return tree


def sample_outputs(
    action: Action, rendered: Mapping[str, Any] | None, modules: ModuleCache, notes: list[str]
) -> dict[str, Any]:
    """What the action would expose to later templates, as placeholders (before JIRA ``outputs`` templates)."""
    block = action.block()
    prefix = f"outputs.{action.name}"
    if action.type == "terraform":
        module = modules.get(str(getattr(block, "module", "")))
        if not isinstance(module, TerraformModule):
            notes.append(f"action '{action.name}': {module}; its outputs are unknown here")
            return {}
        return {
            name: f"<sensitive {prefix}.{name}>" if output.sensitive else f"<{prefix}.{name}>"
            for name, output in sorted(module.outputs.items())
        }
    if action.type == "jira":
        return {"key": f"<{prefix}.key>", "url": f"<{prefix}.url>"}
    if action.type == "workspace":
        namespace = (rendered or {}).get("namespace")
        return {"namespace": namespace if isinstance(namespace, str) else f"<{prefix}.namespace>"}
    codes = list(getattr(block, "success_codes", None) or [200])
    result: dict[str, Any] = {"status": codes[0]}
    result.update({name: f"<{prefix}.{name}>" for name in sorted(getattr(block, "outputs", {}) or {})})
    return result


def _sample_ticket(action: Action) -> dict[str, Any]:
    block = action.jira
    assert block is not None
    paths: list[tuple[str, ...]] = []
    for template in block.outputs.values():
        try:
            paths.extend(ref.path[1:] for ref in find_references(template) if ref.path[:2] == ("ticket", "fields"))
        except TemplateError:
            continue
    prefix = f"outputs.{action.name}"
    ticket = Ticket(
        key=f"<{prefix}.key>",
        url=f"<{prefix}.url>",
        status="Done",
        status_category="done",
        status_category_name="Done",
        resolution="Done",
        fields=placeholders(paths, "ticket.fields"),
    )
    return ticket_scope(ticket)


# ---- the run -------------------------------------------------------------------------------------------------------


@dataclass
class Inputs:
    fields: dict[str, Any]
    environment: str | None = None
    environments: EnvironmentsConfig | None = None
    environments_source: str | None = None
    namespace: str | None = None
    only_action: str | None = None


def _environments(item: CatalogItem, inputs: Inputs) -> tuple[EnvironmentsConfig, str]:
    if inputs.environments is not None:
        return inputs.environments, f"from {inputs.environments_source}"
    name = inputs.environment or SAMPLE_ENVIRONMENT
    settings = placeholders(item_references(item, "environment"), "environment")
    try:
        config = EnvironmentsConfig.model_validate({"default": name, "environments": {name: settings}})
    except ValueError as error:
        raise InputProblem(f"--environment {name}: not a valid environment name ({error})") from None
    return config, "sample placeholders (give --environments FILE for real settings)"


def check_variables(entry: CatalogEntry, modules: ModuleCache, inputs: Inputs) -> VariablesReport:
    """Validate the fields like the operator, then render every template of the item with sample scopes."""
    item = entry.model
    assert isinstance(item, CatalogItem)
    environments, environment_source = _environments(item, inputs)
    now = datetime.now(UTC).replace(microsecond=0)
    body = {
        "metadata": {
            "name": SAMPLE_REQUEST,
            "namespace": inputs.namespace or SAMPLE_NAMESPACE,
            "uid": SAMPLE_UID,
            "generation": 1,
            "creationTimestamp": now.isoformat().replace("+00:00", "Z"),
            "annotations": {REQUESTER_ANNOTATION: "sample-user"},
        },
        "spec": {"catalogItem": item.metadata.name, "environment": inputs.environment, "fields": inputs.fields},
    }
    view = parse_request(body)
    resolved = resolve(view, CatalogLookup.found(item, "<catalog revision>"), environments)
    if isinstance(resolved, Blocked):
        raise InputProblem(resolved.message)
    system = SystemInfo(cluster_name="sample-cluster", operator_version=__version__)
    secrets = placeholders(item_references(item, "secrets"), "secret")
    base = scopes(view, resolved, system, now=now, outputs={}, secrets=secrets)
    report = VariablesReport(
        item, entry.document.file, resolved.fields, resolved.environment, environment_source, base["request"]
    )
    if secrets:
        report.notes.append("secrets are placeholders: " + ", ".join(sorted(secrets)))
    locator = DiagnosticList(entry.document.file, entry.document.positions, entry.document.index)
    mode = item.spec.fulfillment.mode
    lanes: list[Mode] = [mode, "manual" if mode == "automated" else "automated"]
    for lane in lanes:
        actions = item.spec.fulfillment.automated if lane == "automated" else item.spec.fulfillment.manual
        if not actions:
            continue
        outputs = _check_lane(report, entry, locator, modules, lane, actions, resolved, view, system, now, secrets)
        completes = lane == mode or (lane == "manual" and item.spec.fulfillment.fallback_to_manual)
        if completes and inputs.only_action is None:
            final = scopes(view, resolved, system, now=now, outputs=outputs, secrets=secrets)
            _check_outputs(report, entry, locator, lane, final)
    if inputs.only_action is not None:
        report.actions = [a for a in report.actions if a.name == inputs.only_action]
        report.problems = [p for p in report.problems if p.subject.startswith(f"action '{inputs.only_action}'")]
    return report


def _check_lane(
    report: VariablesReport,
    entry: CatalogEntry,
    locator: DiagnosticList,
    modules: ModuleCache,
    lane: Mode,
    declared: Sequence[Action],
    resolved: Any,
    view: Any,
    system: SystemInfo,
    now: datetime,
    secrets: Mapping[str, Mapping[str, str]],
) -> dict[str, dict[str, Any]]:
    item = entry.model
    assert isinstance(item, CatalogItem)
    _, ordered_actions = fulfillment_path(item, lane)
    index_of = {action.name: index for index, action in enumerate(declared)}
    outputs: dict[str, dict[str, Any]] = {}
    for action in ordered_actions:
        where: FieldPath = ("spec", "fulfillment", lane, index_of[action.name])
        subject = f"action '{action.name}' ({lane})"
        template_scopes = scopes(view, resolved, system, now=now, outputs=outputs, secrets=secrets)
        when_value: bool | None = None
        if action.when is not None:
            try:
                when_value = evaluate_condition(action.when, template_scopes)
            except TemplateError as error:
                report.problems.append(_problem(locator, entry, subject, (*where, "when"), action.when, error))
        skipped = when_value is False
        rendered: dict[str, Any] | None = None
        try:
            rendered = render_action(action, template_scopes, Redactor())
        except TemplateError as error:
            source = _source_at(entry.document.data, (*where, *error.path))
            problem = _problem(locator, entry, subject, (*where, *error.path), source, error)
            problem.skipped = skipped
            report.problems.append(problem)
        offers = sample_outputs(action, rendered, modules, report.notes)
        if action.type == "jira" and action.jira is not None and action.jira.outputs:
            ticket_scopes = {**template_scopes, "ticket": _sample_ticket(action)}
            for key, template in action.jira.outputs.items():
                try:
                    offers[key] = render(template, ticket_scopes)
                except TemplateError as error:
                    path = (*where, "jira", "outputs", key)
                    problem = _problem(locator, entry, subject, path, template, error)
                    problem.skipped = skipped
                    report.problems.append(problem)
        report.actions.append(ActionCheck(lane, action.name, action.type, action.when, when_value, rendered, offers))
        if not skipped:
            outputs[action.name] = offers
    return outputs


def _check_outputs(
    report: VariablesReport, entry: CatalogEntry, locator: DiagnosticList, lane: Mode, template_scopes: dict[str, Any]
) -> None:
    item = entry.model
    assert isinstance(item, CatalogItem)
    check = OutputsCheck(lane, {}, [])
    for index, output in enumerate(item.spec.outputs):
        try:
            value = render(output.value, template_scopes)
        except TemplateError as error:
            subject = f"output '{output.name}' (after the {lane} path)"
            report.problems.append(
                _problem(locator, entry, subject, ("spec", "outputs", index, "value"), output.value, error)
            )
            continue
        if output.sensitive:
            check.sensitive.append(output.name)
            value = f"<sensitive: in the Secret {SAMPLE_REQUEST}-outputs>"
        check.values[output.name] = value
    report.outputs.append(check)


def _source_at(data: Any, path: FieldPath) -> str | None:
    node = data
    for part in path:
        found = (isinstance(node, Mapping) and part in node) or (
            isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node)
        )
        if not found:
            return None
        node = node[part]
    return node if isinstance(node, str) else None


def _problem(
    locator: DiagnosticList,
    entry: CatalogEntry,
    subject: str,
    path: FieldPath,
    source: str | None,
    error: TemplateError,
) -> Problem:
    line, _ = locator.locate(path)
    if line is not None and error.line and source is not None:
        # A block scalar's first template line is the one after its key; a one-line template is on the key's line.
        line += error.line if "\n" in source.strip("\n") or source.startswith("\n") else error.line - 1
    return Problem(subject, format_path(path), entry.document.file, line, error.line, error.message)
