"""The readable (``-o table``) form of a simulation report; it prints the already redacted document only."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import click

from .common import dump_yaml, print_table

INDENT = "      "


def _indented(text: str, prefix: str = INDENT) -> str:
    return "\n".join(prefix + line if line else line for line in text.rstrip("\n").splitlines())


def _json(value: Any) -> str:
    return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False)


def _seconds(value: float) -> str:
    if value >= 3600:
        return f"{value / 3600:.1f}h"
    if value >= 60:
        return f"{value / 60:.1f}m"
    return f"{value:g}s"


def _header(document: Mapping[str, Any]) -> None:
    request = document["request"]
    item = document.get("item")
    click.echo(f"Simulation of ServiceRequest {request['namespace']}/{request['name']} ({request['file']})")
    if item is not None:
        version = f" {item['version']}" if item.get("version") else ""
        click.echo(f"  {item['kind']:<13} {item['name']}{version} ({item.get('file')})")
    else:
        wanted = request.get("catalogItem") or request.get("bundle")
        click.echo(f"  {'catalog':<13} {wanted} (not in {request['catalog']})")
    source = f" ({request['environmentsFile']})" if request.get("environmentsFile") else " (no environments config)"
    click.echo(f"  {'environment':<13} {request.get('environment') or '-'}{source}")
    click.echo(f"  {'cluster':<13} {request['clusterName']}, request uid {request['uid']}")
    for note in document.get("notes") or []:
        click.echo(f"  note: {note}")


def _terraform(step: Mapping[str, Any]) -> None:
    click.echo(f"{INDENT}module {step['module']}, runner {step['runner']}, approvePlan {step['approvePlan']}")
    if step.get("runnerNote"):
        jobs = ", ".join(f"{j['name']} ({j['operation']}: {j['result']})" for j in step.get("jobs") or [])
        click.echo(f"{INDENT}{step['runnerNote']}" + (f": {jobs}" if jobs else ""))
    plan = step.get("plan")
    if plan:
        counts = f"+{plan.get('add', 0)} ~{plan.get('change', 0)} -{plan.get('destroy', 0)}"
        click.echo(f"{INDENT}plan {plan['hash']}: {counts}" + (", applied" if step.get("applied") else ", not applied"))
    if step.get("approval"):
        click.echo(f"{INDENT}plan approval: {step['approval']}")
    if step.get("howToApprove"):
        click.echo(f"{INDENT}to approve: {step['howToApprove']}")
    if step.get("stateSecret"):
        click.echo(f"{INDENT}state kept in Secret {step['stateSecret']}")
    if step.get("sensitiveOutputs"):
        click.echo(f"{INDENT}sensitive module outputs (values hidden): {', '.join(step['sensitiveOutputs'])}")


def _jira(step: Mapping[str, Any]) -> None:
    ticket = step.get("ticket")
    if not ticket:
        return
    dry = " (dry run: not created)" if ticket.get("dryRun") else ""
    click.echo(f"{INDENT}ticket {ticket['key']}{dry} {ticket.get('url') or ''}".rstrip())
    if step.get("completion"):
        click.echo(f"{INDENT}{step['completion']}")
    if "createPayload" in step:
        click.echo(f"{INDENT}create payload (POST /rest/api/2/issue, the fields object):")
        click.echo(_indented(_json(step["createPayload"]), INDENT + "  "))
    for call in step.get("otherCalls") or []:
        click.echo(f"{INDENT}also: {_json(call)}")


def _http(step: Mapping[str, Any]) -> None:
    calls = step.get("http")
    for call in [calls] if isinstance(calls, Mapping) else calls or []:
        request, response = call["request"], call["response"]
        via = f" (connection {call['connection']})" if call.get("connection") else ""
        click.echo(f"{INDENT}{request['method']} {request['url']}{via}")
        for name, value in sorted(request["headers"].items()):
            click.echo(f"{INDENT}  {name}: {value}")
        if request.get("body") is not None:
            body = request["body"]
            click.echo(_indented(body if isinstance(body, str) else _json(body), INDENT + "  "))
        click.echo(f"{INDENT}answered {response['status']} (dry run) with:")
        click.echo(_indented(_json(response["body"]), INDENT + "  "))


def _workspace(step: Mapping[str, Any]) -> None:
    manifests = step.get("manifests") or []
    if not manifests:
        return
    click.echo(f"{INDENT}manifests written ({len(manifests)}):")
    for manifest in manifests:
        click.echo(f"{INDENT}  ---")
        click.echo(_indented(dump_yaml(manifest), INDENT + "  "))


def _steps(steps: Sequence[Mapping[str, Any]]) -> None:
    click.echo("\nSTEPS")
    for number, step in enumerate(steps, 1):
        kind = step["step"]
        if kind == "validation":
            detail = f": {step['message']}" if step.get("message") else ""
            click.echo(f"{number:>3}. validation: {step['result']}{detail}")
        elif kind == "approval":
            risk = f" (risk class {step['riskClass']})" if step.get("riskClass") else ""
            click.echo(f"{number:>3}. approval{risk}: {step['result']}")
            if step.get("howToApprove"):
                click.echo(f"{INDENT}to approve: {step['howToApprove']}")
        elif kind == "action":
            path = "" if step["path"] == "automated" else f", {step['path']} path"
            click.echo(f"{number:>3}. action {step['name']} ({step['type']}{path}): {step['state']}")
            if step.get("message"):
                click.echo(f"{INDENT}{step['message']}")
            {"terraform": _terraform, "jira": _jira, "http": _http, "workspace": _workspace}[step["type"]](step)
            if step.get("outputs"):
                shown = ", ".join(
                    f"{k}={_json(v) if not isinstance(v, str) else v}" for k, v in step["outputs"].items()
                )
                click.echo(f"{INDENT}outputs: {shown}")
        else:
            click.echo(f"{number:>3}. {kind}")
            _http(step)


def _timeline(document: Mapping[str, Any]) -> None:
    result = document["result"]
    skipped = result.get("skippedWaitSeconds") or 0
    extra = f"; the simulated clock skipped {_seconds(skipped)} of waiting" if skipped else ""
    click.echo(f"\nRECONCILES ({result['reconciles']}{extra})")
    rows = []
    for entry in document["timeline"]:
        wait = _seconds(entry["wouldWaitSeconds"]) if "wouldWaitSeconds" in entry else "-"
        message = entry["message"] + (f" [approved: {entry['approved']}]" if entry.get("approved") else "")
        rows.append((entry["reconcile"], entry["phase"], entry["reason"], wait, message))
    print_table(("#", "PHASE", "REASON", "RETRY IN", "MESSAGE"), rows, max_width=120)


def _outputs(document: Mapping[str, Any]) -> None:
    click.echo("\nOUTPUTS")
    rows: list[tuple[str, str]] = []
    for name, value in sorted((document.get("outputs") or {}).items()):
        rows.append((name, value if isinstance(value, str) else _json(value)))
    secret = document.get("outputsSecret")
    rows += [(name, f"<sensitive: in Secret {secret}>") for name in document.get("sensitiveOutputs") or []]
    if not rows:
        click.echo("  (none: the request did not become Ready)")
        return
    print_table(("NAME", "VALUE"), sorted(rows), max_width=120)


def print_report(document: Mapping[str, Any]) -> None:
    """The report: header and notes, steps, reconciles, the status as the operator wrote it, outputs, result."""
    _header(document)
    _steps(document["steps"])
    _timeline(document)
    click.echo("\nSTATUS (as the operator would write it)")
    click.echo(_indented(dump_yaml(document["status"]), "  "))
    _outputs(document)
    result = document["result"]
    click.echo(f"\nRESULT: {result['verdict']} (exit {result['exitCode']})")
