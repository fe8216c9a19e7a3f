"""``devctl request submit``: build a ServiceRequest from an item and field values, check it locally with the
operator's validator, create it, and optionally wait for it (with its log lines)."""

from __future__ import annotations

import getpass
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from ..clients.cluster import CATALOG_ITEMS, SERVICE_REQUESTS, Cluster, ClusterError, Kind
from .common import (
    DEFAULT_OPERATOR_NAMESPACE,
    EXIT_FAILED,
    EXIT_NOT_FOUND,
    EXIT_TIMEOUT,
    EXIT_USAGE,
    CliError,
    Globals,
    dump_yaml,
    emit,
)
from .request_fields import FieldInputError, collect_fields
from .request_logs import LogCollector, LogFollower
from .request_view import KIND_NAME
from .request_wait import DEFAULT_WAIT, WaitOutcome, make_progress, wait_for

if TYPE_CHECKING:
    from ..api.catalog import CatalogItem
    from ..api.environments import EnvironmentsConfig
    from ..catalog.diagnostics import Diagnostic

API_VERSION = "orchestrator.dev/v1alpha1"
ENVIRONMENTS_CONFIGMAP = "orchestrator-environments"
CONFIG_MAPS = Kind("", "v1", "configmaps")
GENERATED_SUFFIX = 5
"""Characters the API server appends to a generateName."""


def operator_namespace() -> str:
    """Where the operator keeps its ConfigMap and Terraform Jobs: $DEVCTL_OPERATOR_NAMESPACE, else the default."""
    return os.environ.get("DEVCTL_OPERATOR_NAMESPACE") or DEFAULT_OPERATOR_NAMESPACE


def requester(cluster: Cluster) -> str:
    """Who asks: the kubeconfig context's user, else the local user name (informational: request.requester)."""
    if cluster.user:
        return cluster.user
    try:
        return getpass.getuser()
    except (OSError, KeyError):
        return ""


def fetch_item(cluster: Cluster, name: str) -> tuple[dict[str, Any], CatalogItem]:
    """The CatalogItem from the cluster, as the object and as the model; exit 3 if missing, 1 if unreadable."""
    from ..catalog.validate import item_from_cluster

    try:
        body = cluster.get(CATALOG_ITEMS, name)
    except ClusterError as error:
        if error.status == 404:
            raise CliError(
                f"no catalog item named '{name}' in the cluster", exit_code=EXIT_NOT_FOUND, hint="devctl catalog list"
            ) from None
        raise
    model, problems = item_from_cluster(body)
    if model is None:
        detail = "; ".join(f"{d.path}: {d.message}" if d.path else d.message for d in problems[:3])
        raise CliError(f"the catalog item '{name}' in the cluster cannot be read: {detail}")
    return body, model


def read_environments(cluster: Cluster) -> EnvironmentsConfig | None:
    """The operator's environments config, when this user may read it; None (no environment check) otherwise."""
    import yaml
    from pydantic import ValidationError

    from ..api.environments import EnvironmentsConfig

    try:
        config_map = cluster.get(CONFIG_MAPS, ENVIRONMENTS_CONFIGMAP, operator_namespace())
    except ClusterError as error:
        if error.status is None:
            raise
        return None  # not there, or not ours to read: the operator checks the environment itself
    text = (config_map.get("data") or {}).get("environments.yaml")
    try:
        return EnvironmentsConfig.model_validate(yaml.safe_load(text or "") or {}) if text else None
    except (yaml.YAMLError, ValidationError):
        return None


def build_manifest(
    item: str,
    fields: Mapping[str, Any],
    *,
    namespace: str,
    name: str | None,
    environment: str | None,
    requested_by: str,
) -> dict[str, Any]:
    """The ServiceRequest to create: ``name``, else ``generateName: <item>-`` (the API server adds 5 characters)."""
    from ..api.service_request import REQUESTER_ANNOTATION

    metadata: dict[str, Any] = {"namespace": namespace}
    if name:
        metadata["name"] = name
    else:
        metadata["generateName"] = item[: 63 - GENERATED_SUFFIX - 1].rstrip("-") + "-"
    if requested_by:
        metadata["annotations"] = {REQUESTER_ANNOTATION: requested_by}
    spec: dict[str, Any] = {"catalogItem": item}
    if environment:
        spec["environment"] = environment
    spec["fields"] = dict(fields)
    return {"apiVersion": API_VERSION, "kind": "ServiceRequest", "metadata": metadata, "spec": spec}


def check_manifest(
    manifest: Mapping[str, Any],
    items: Mapping[str, CatalogItem],
    environments: EnvironmentsConfig | None,
    *,
    display: str = "request",
    positions: Mapping[Any, tuple[int, int]] | None = None,
    index: int | None = None,
) -> list[Diagnostic]:
    """The errors ``devctl validate request`` would report for this manifest, checked against ``items``."""
    from ..catalog.diagnostics import DiagnosticList
    from ..catalog.source_files import SourceDocument
    from ..catalog.validate import RequestTargets, check_request_document

    data = dict(manifest)
    metadata = dict(data.get("metadata") or {})
    if not metadata.get("name") and metadata.get("generateName"):
        # The name the server will make has this shape; the prefix is what is checked.
        metadata["name"] = str(metadata["generateName"]) + "x" * GENERATED_SUFFIX
    metadata.pop("generateName", None)
    data["metadata"] = metadata
    document = SourceDocument(display, index or 0, data, dict(positions or {}))
    report = DiagnosticList(display, document.positions, index)
    check_request_document(document, report, RequestTargets("the cluster", items), environments)
    return report.errors


def created_name(obj: Mapping[str, Any]) -> str:
    return str((obj.get("metadata") or {}).get("name", ""))


def submit(
    glob: Globals,
    item: str,
    *,
    field_flags: Sequence[str],
    values_files: Sequence[Path],
    name: str | None,
    environment: str | None,
    dry_run: bool,
    wait: bool,
    follow_logs: bool,
) -> int:
    output = glob.formats("table", "json", "yaml", "name")
    try:
        fields = collect_fields(values_files, field_flags)
    except FieldInputError as error:
        raise CliError(str(error), exit_code=EXIT_USAGE if str(error).startswith("--field") else EXIT_FAILED) from None
    cluster = glob.cluster()
    namespace = glob.request_namespace(cluster)
    _, model = fetch_item(cluster, item)
    manifest = build_manifest(
        item, fields, namespace=namespace, name=name, environment=environment, requested_by=requester(cluster)
    )
    problems = check_manifest(manifest, {item: model}, read_environments(cluster))
    if problems:
        for problem in problems:
            click.echo(problem.render(), err=True)
        raise CliError(
            f"the request is invalid ({len(problems)} problem{'s' if len(problems) != 1 else ''}); nothing was created",
            hint=f"devctl catalog get {item} shows the item's fields",
        )
    if dry_run:
        result = cluster.create(SERVICE_REQUESTS, manifest, namespace, dry_run=True)
        if output == "table":
            click.echo(dump_yaml(manifest), nl=False)
            click.echo(f"{KIND_NAME}/{created_name(result)} created (server dry run: nothing was stored)")
        else:
            emit(result, names=[f"{KIND_NAME}/{created_name(result)}"], allowed=("json", "yaml"))
        return 0
    created = cluster.create(SERVICE_REQUESTS, manifest, namespace)
    request_name = created_name(created)
    if not (wait or follow_logs):
        if output == "table":
            click.echo(f"{KIND_NAME}/{request_name} created in namespace {namespace}")
        else:
            emit(created, names=[f"{KIND_NAME}/{request_name}"], allowed=("json", "yaml"))
        return 0
    if output == "table":
        click.echo(f"{KIND_NAME}/{request_name} created in namespace {namespace}; waiting for it to be Ready")
    outcome = wait_and_report(glob, cluster, request_name, namespace, output=output, follow_logs=follow_logs)
    return outcome


def wait_and_report(
    glob: Globals,
    cluster: Cluster,
    name: str,
    namespace: str,
    *,
    output: str,
    follow_logs: bool = False,
    phase: str | None = None,
) -> int:
    """Wait for the request to settle and say how it ended: 0 settled as wanted; CliError 1 failed, 4 timeout."""
    machine = output != "table"
    progress = make_progress(glob.console, machine_output=machine)
    follower = LogFollower(LogCollector(cluster, operator_namespace()), progress.log) if follow_logs else None
    timeout = glob.wait_timeout(DEFAULT_WAIT)
    outcome = wait_for(cluster, name, namespace, timeout=timeout, progress=progress, phase=phase, follower=follower)
    return report_outcome(outcome, name, output=output, timeout=timeout, phase=phase or "Ready")


def report_outcome(outcome: WaitOutcome, name: str, *, output: str, timeout: float, phase: str) -> int:
    if outcome.obj is not None and output != "table":
        emit(outcome.obj, names=[f"{KIND_NAME}/{name}"], allowed=("json", "yaml"))
    settled = outcome.settled
    if outcome.outcome == "ready":
        if output == "table":
            click.echo(f"{KIND_NAME}/{name} is {phase}")
            for key, value in sorted(((outcome.obj or {}).get("status") or {}).get("outputs", {}).items()):
                click.echo(f"  {key}: {value}")
        return 0
    if outcome.outcome == "deleted":
        raise CliError(f"{name} was deleted while waiting for it")
    where = f"phase {settled.phase}" if settled else "no status yet"
    if outcome.outcome == "timeout":
        detail = f" ({settled.message})" if settled and settled.message else ""
        raise CliError(
            f"timed out after {timeout:g}s waiting for {name} to be {phase}: {where}{detail}",
            exit_code=EXIT_TIMEOUT,
            hint=f"devctl request status {name} --watch",
        )
    assert settled is not None
    reason = f"{settled.reason}: " if settled.reason else ""
    raise CliError(
        f"{name} is {settled.phase}: {reason}{settled.message or 'no message'}",
        exit_code=EXIT_FAILED,
        hint=f"devctl request logs {name}; fix the cause, then devctl request retry {name} (or escalate)",
    )
