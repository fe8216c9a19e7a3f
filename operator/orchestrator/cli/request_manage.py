"""Looking at requests: ``devctl request list``, ``get``, ``status`` and ``export``."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import click

from ..clients.cluster import SERVICE_REQUESTS, Cluster, ClusterError
from .common import (
    EXIT_FAILED,
    EXIT_TIMEOUT,
    CliError,
    Globals,
    dump_json,
    dump_yaml,
    emit,
    print_table,
    table_lines,
)
from .request_view import (
    KIND_NAME,
    PHASE_NAMES,
    age,
    canonical_phase,
    export_csv,
    exported,
    filter_requests,
    fit_rows,
    human_age,
    item_of,
    list_rows,
    message_of,
    name_of,
    parse_time,
    phase_of,
    ready_of,
    settlement,
    status_summary,
)


def _names(objects: Sequence[Mapping[str, Any]]) -> list[str]:
    return [f"{KIND_NAME}/{name_of(o)}" for o in objects]


def parse_phases(values: Sequence[str]) -> list[str]:
    """``--phase ready,failed --phase Pending`` -> the canonical phase names; a usage error names a wrong one."""
    phases = []
    for value in values:
        for part in filter(None, (p.strip() for p in value.split(","))):
            phase = canonical_phase(part)
            if phase is None:
                raise click.BadParameter(
                    f"unknown phase '{part}' (one of: {', '.join(PHASE_NAMES)})", param_hint="--phase"
                )
            phases.append(phase)
    return phases


def parse_since(value: str | None, flag: str = "--since") -> float | None:
    """Seconds of ``30s``, ``5m``, ``2h`` (the operator's duration format) or ``7d``; a usage error otherwise."""
    if value is None:
        return None
    from ..config import parse_duration

    text = value.strip()
    try:
        if text.endswith("d") and text[:-1].replace(".", "", 1).isdigit():
            return float(text[:-1]) * 86400
        return parse_duration(text)
    except ValueError as error:
        raise click.BadParameter(f"{error}; or days, e.g. 7d", param_hint=flag) from None


def get_request(cluster: Cluster, name: str, namespace: str) -> dict[str, Any]:
    return cluster.get(SERVICE_REQUESTS, name, namespace)


def _listed(glob: Globals, all_namespaces: bool) -> tuple[Cluster, str | None, list[dict[str, Any]]]:
    cluster = glob.cluster()
    namespace = None if all_namespaces else glob.request_namespace(cluster)
    return cluster, namespace, cluster.list(SERVICE_REQUESTS, namespace)


def _as_list(objects: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "List", "metadata": {}, "items": [exported(o) for o in objects]}


# ---- list, get, status, export ----------------------------------------------------------------------------------


def list_requests(
    glob: Globals, *, all_namespaces: bool, phases: Sequence[str], item: str | None, since: str | None
) -> None:
    glob.formats("table", "json", "yaml", "name")
    wanted, window = parse_phases(phases), parse_since(since)
    _, namespace, objects = _listed(glob, all_namespaces)
    now = datetime.now(UTC)
    found = filter_requests(objects, phases=wanted, item=item, since=window, now=now)

    def table() -> None:
        headers, rows = list_rows(found, now=now, all_namespaces=all_namespaces)
        if sys.stdout.isatty():  # a terminal gets 80 columns; the message gives way first
            rows = fit_rows(headers, rows, 80)
        where = "any namespace" if namespace is None else f"{namespace} namespace"
        print_table(headers, rows, empty=f"No service requests found in {where}.")

    emit(_as_list(found), table=table, names=_names(found))


def _indent(lines: Sequence[str], by: str = "  ") -> list[str]:
    return [by + line for line in lines]


def _time(value: Any) -> str:
    return str(value) if value else "-"


def describe(obj: Mapping[str, Any], events: Sequence[Mapping[str, Any]] | None, *, actions: bool) -> list[str]:
    """``devctl request get``: the request at a glance, kubectl-describe style."""
    now = datetime.now(UTC)
    meta, spec, status = obj.get("metadata") or {}, obj.get("spec") or {}, obj.get("status") or {}
    ref = status.get("catalogItem") or {}
    version = f" {ref['version']}" if ref.get("version") else ""
    revision = f" (revision {ref['revision']})" if ref.get("revision") else ""
    ready: dict[str, Any] = next((c for c in status.get("conditions") or [] if c.get("type") == "Ready"), {})
    lines = [
        f"Name:          {meta.get('name')}",
        f"Namespace:     {meta.get('namespace')}",
        f"Item:          {item_of(obj)}{version}{revision}",
        f"Environment:   {spec.get('environment') or '(operator default)'}",
        f"State:         {spec.get('state') or 'Active'}",
        f"Phase:         {phase_of(obj)}",
        f"Ready:         {ready_of(obj)}" + (f" ({ready.get('reason')})" if ready.get("reason") else ""),
        f"Message:       {message_of(obj) or '-'}",
        f"Created:       {meta.get('creationTimestamp')} ({age(obj, now)} ago)",
        f"Generation:    {meta.get('generation')} (observed {status.get('observedGeneration', '-')})",
    ]
    requested_by = (meta.get("annotations") or {}).get("orchestrator.dev/requester")
    if requested_by:
        lines.append(f"Requester:     {requested_by}")
    if spec.get("fields"):
        lines.append("Fields:")
        lines += _indent([f"{k}: {json.dumps(v)}" for k, v in sorted(spec["fields"].items())])
    if status.get("outputs"):
        lines.append("Outputs:")
        lines += _indent([f"{k}: {v}" for k, v in sorted(status["outputs"].items())])
    if status.get("outputsSecretRef"):
        lines.append(f"Outputs Secret: {status['outputsSecretRef'].get('name')} (sensitive outputs)")
    escalation = status.get("escalation") or {}
    if escalation:
        lines.append(f"Escalation:    {escalation.get('ticket') or 'pending'}: {escalation.get('reason')}")
    fulfillment = status.get("fulfillment") or {}
    if fulfillment.get("fallbackReason"):
        lines.append(f"Fallback:      manual path opened: {fulfillment['fallbackReason']}")
    conditions = status.get("conditions") or []
    if conditions:
        lines.append("Conditions:")
        rows = [[c.get("type"), c.get("status"), c.get("reason"), c.get("message") or ""] for c in conditions]
        lines += _indent(table_lines(("TYPE", "STATUS", "REASON", "MESSAGE"), rows))
    entries = status.get("actions") or []
    if entries and actions:
        lines.append("Actions:")
        rows = []
        for action in entries:
            ref = action.get("externalRef") or {}
            rows.append(
                [
                    action.get("name"),
                    action.get("type"),
                    action.get("state"),
                    action.get("attempts", 0),
                    _time(action.get("startedAt")),
                    _time(action.get("finishedAt")),
                    " ".join(str(ref[k]) for k in ("id", "url") if ref.get(k)) or "-",
                    action.get("message") or "",
                ]
            )
        headers = ("NAME", "TYPE", "STATE", "ATTEMPTS", "STARTED", "FINISHED", "REF", "MESSAGE")
        lines += _indent(table_lines(headers, rows))
    elif entries:
        summary = ", ".join(f"{a.get('name')} ({a.get('type')}) {a.get('state')}" for a in entries)
        lines.append(f"Actions:       {summary}  (--actions for details)")
    if events is not None:
        lines.append("Events:")
        dated = sorted(((_event_time(e), e) for e in events), key=lambda pair: pair[0])
        rows = [
            [
                human_age(now - moment) if moment.year > 1 else "<unknown>",
                e.get("type"),
                e.get("reason"),
                " ".join(str(e.get("message") or "").split())
                + (f" (x{e['count']})" if (e.get("count") or 1) > 1 else ""),
            ]
            for moment, e in dated
        ]
        lines += _indent(table_lines(("LAST SEEN", "TYPE", "REASON", "MESSAGE"), rows) or ["<none>"])
    return lines


def _event_time(event: Mapping[str, Any]) -> datetime:
    for key in ("lastTimestamp", "eventTime", "firstTimestamp"):
        moment = parse_time(event.get(key))
        if moment is not None:
            return moment
    return datetime.min.replace(tzinfo=UTC)


def get(glob: Globals, name: str, *, actions: bool, events: bool) -> None:
    glob.formats("table", "json", "yaml", "name")
    cluster = glob.cluster()
    namespace = glob.request_namespace(cluster)
    obj = get_request(cluster, name, namespace)
    found_events = None
    if events:
        uid = (obj.get("metadata") or {}).get("uid")
        found_events = cluster.events_for("ServiceRequest", name, namespace, uid)
    data: dict[str, Any] = exported(obj)
    if found_events is not None:
        data = {"apiVersion": "v1", "kind": "List", "metadata": {}, "items": [data, *found_events]}

    def table() -> None:
        for line in describe(obj, found_events, actions=actions):
            click.echo(line.rstrip())

    emit(data, table=table, names=[f"{KIND_NAME}/{name}"])


def status_lines(obj: Mapping[str, Any]) -> list[str]:
    summary = status_summary(obj)
    conditions = summary["conditions"]
    flags = "  ".join(f"{t}={conditions.get(t, {}).get('status', '-')}" for t in ("Ready", "Reconciling", "Stalled"))
    lines = [f"{summary['name']}   {summary['phase']}   {flags}"]
    if summary["message"]:
        lines.append(f"  message: {summary['message']}")
    for action in summary["actions"]:
        ref = action.get("externalRef") or {}
        where = f" [{ref.get('system')} {ref.get('id')}]" if ref else ""
        message = f": {action['message']}" if action.get("message") else ""
        lines.append(f"  {action['name']} ({action['type']}): {action.get('state')}{where}{message}")
    return lines


def status(glob: Globals, name: str, *, watch: bool, interval: str) -> int:
    output = glob.formats("table", "json", "yaml")
    every = parse_since(interval, "--interval") or 2.0
    cluster = glob.cluster()
    namespace = glob.request_namespace(cluster)

    def show(obj: Mapping[str, Any]) -> None:
        if output == "json":
            summary = status_summary(obj)
            click.echo(json.dumps(summary, sort_keys=True) if watch else dump_json(summary))
        elif output == "yaml":
            click.echo(("---\n" if watch else "") + dump_yaml(status_summary(obj)), nl=False)
        else:
            for line in status_lines(obj):
                click.echo(line)

    obj = get_request(cluster, name, namespace)
    show(obj)
    if not watch:
        return 0
    deadline = time.monotonic() + glob.timeout if glob.timeout is not None else None
    last = status_summary(obj)
    while True:
        settled = settlement(obj)
        if settled.state != "pending":
            return 0 if settled.state == "ready" else EXIT_FAILED
        if deadline is not None and time.monotonic() >= deadline:
            raise CliError(f"timed out watching {name} (phase {settled.phase})", exit_code=EXIT_TIMEOUT)
        time.sleep(every if deadline is None else max(0.0, min(every, deadline - time.monotonic())))
        try:
            obj = get_request(cluster, name, namespace)
        except ClusterError as error:
            if error.status == 404:
                click.echo(f"{name} was deleted", err=True)
                return 0
            raise
        summary = status_summary(obj)
        if summary != last:
            last = summary
            show(obj)


def export(glob: Globals, *, all_namespaces: bool, phases: Sequence[str]) -> None:
    output = glob.formats("json", "yaml", "csv") if glob.output_given else "yaml"
    wanted = parse_phases(phases)
    _, _, objects = _listed(glob, all_namespaces)
    now = datetime.now(UTC)
    found = filter_requests(objects, phases=wanted, now=now)
    if output == "csv":
        click.echo(export_csv(found, now=now), nl=False)
    elif output == "json":
        click.echo(dump_json(_as_list(found)))
    else:
        click.echo(dump_yaml(_as_list(found)), nl=False)
