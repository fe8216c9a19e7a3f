"""The user operations on a request: retry, abort, escalate, approve-plan (annotations, so that a spec that
GitOps owns is never edited) and the workspace state (``spec.state``, refused for GitOps-managed requests)."""

from __future__ import annotations

import secrets
import sys
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import click

from ..clients.cluster import CATALOG_ITEMS, SERVICE_REQUESTS, ClusterError
from .common import CliError, Globals, emit, fail
from .request_manage import get_request
from .request_submit import requester, wait_and_report
from .request_view import (
    KIND_NAME,
    exported,
    gitops_manager,
    has_workspace_action,
    item_of,
    name_of,
    phase_of,
    plan_summary,
    retriable_actions,
    select_plan,
)


def _annotated(glob: Globals, obj: Mapping[str, Any], text: str) -> None:
    """What an annotating command prints: the line, the patched object, or its name."""
    name = name_of(obj)

    def table() -> None:
        click.echo(f"{KIND_NAME}/{name} {text}")

    emit(exported(obj), table=table, names=[f"{KIND_NAME}/{name}"])


def fresh_token() -> str:
    """A retry token that was never used before: the time plus randomness (the operator acts on a new value)."""
    return f"{datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}-{secrets.token_hex(3)}"


def retry(glob: Globals, name: str, *, action: str | None) -> None:
    from ..api.service_request import ABORT_ANNOTATION, RETRY_ANNOTATION

    glob.formats("table", "json", "yaml", "name")
    cluster = glob.cluster()
    namespace = glob.request_namespace(cluster)
    obj = get_request(cluster, name, namespace)
    if ABORT_ANNOTATION in ((obj.get("metadata") or {}).get("annotations") or {}):
        fail(
            f"{name} is aborted ({ABORT_ANNOTATION} is set); a retry would be aborted again",
            hint=f"remove the abort first: kubectl annotate servicerequest {name} -n {namespace} {ABORT_ANNOTATION}-",
        )
    retriable = retriable_actions(obj)
    actions = {str(a.get("name")): a for a in (obj.get("status") or {}).get("actions") or []}
    if action is not None:
        if action not in actions:
            known = ", ".join(actions) or "none yet"
            fail(f"{name} has no action named '{action}' (actions: {known})")
        if action not in retriable:
            state = actions[action].get("state")
            fail(f"action '{action}' of {name} is {state}; only Failed or Aborted actions are retried")
        others = [a for a in retriable if a != action]
        if others:
            fail(
                f"the operator retries every failed action of a request together; {name} also has "
                f"{', '.join(others)} failed, so retrying only '{action}' is not possible",
                hint=f"devctl request retry {name} (without --action) retries {', '.join(retriable)}",
            )
    if not retriable:
        fail(f"nothing to retry: no action of {name} is Failed or Aborted (phase {phase_of(obj)})")
    token = fresh_token()
    patched = cluster.annotate(SERVICE_REQUESTS, name, namespace, {RETRY_ANNOTATION: token})
    _annotated(glob, patched, f"retry requested for {', '.join(retriable)} (token {token})")


def abort(glob: Globals, name: str, *, yes: bool, reason: str | None) -> None:
    from ..api.service_request import ABORT_ANNOTATION

    glob.formats("table", "json", "yaml", "name")
    cluster = glob.cluster()
    namespace = glob.request_namespace(cluster)
    obj = get_request(cluster, name, namespace)
    current = ((obj.get("metadata") or {}).get("annotations") or {}).get(ABORT_ANNOTATION)
    if current is not None:
        _annotated(glob, obj, f"is already aborted ({current})")
        return
    if not yes:
        if not sys.stdin.isatty():
            raise click.UsageError("aborting needs confirmation: pass --yes (stdin is not a terminal)")
        click.confirm(
            f"Abort {namespace}/{name} (phase {phase_of(obj)})? Work in progress is stopped and open tickets are "
            "commented; this cannot be undone",
            abort=True,
        )
    why = (reason or "").strip() or f"aborted with devctl by {requester(cluster) or 'a user'}"
    patched = cluster.annotate(SERVICE_REQUESTS, name, namespace, {ABORT_ANNOTATION: why})
    _annotated(glob, patched, f"abort requested: {why}")


def escalate(glob: Globals, name: str, *, reason: str) -> None:
    from ..api.service_request import ESCALATE_ANNOTATION

    glob.formats("table", "json", "yaml", "name")
    if not reason.strip():
        raise click.BadParameter("the reason must not be empty", param_hint="--reason")
    cluster = glob.cluster()
    namespace = glob.request_namespace(cluster)
    obj = get_request(cluster, name, namespace)
    escalation = (obj.get("status") or {}).get("escalation") or {}
    if escalation.get("reason") == reason.strip():
        ticket = escalation.get("ticket") or "being created"
        _annotated(glob, obj, f"is already escalated with this reason (ticket {ticket})")
        return
    patched = cluster.annotate(SERVICE_REQUESTS, name, namespace, {ESCALATE_ANNOTATION: reason.strip()})
    _annotated(glob, patched, "escalated: the operator opens a manual-support ticket (see devctl request get)")


def approve_plan(glob: Globals, name: str, *, plan_hash: str | None) -> None:
    from ..api.service_request import APPROVE_PLAN_ANNOTATION

    glob.formats("table", "json", "yaml", "name")
    cluster = glob.cluster()
    namespace = glob.request_namespace(cluster)
    obj = get_request(cluster, name, namespace)
    try:
        action, plan = select_plan(obj, plan_hash)
    except ValueError as error:
        raise CliError(str(error)) from None
    summary = plan_summary(action, plan)
    if glob.output == "table":
        click.echo(summary)
    patched = cluster.annotate(SERVICE_REQUESTS, name, namespace, {APPROVE_PLAN_ANNOTATION: str(plan["hash"])})
    _annotated(glob, patched, f"plan {plan['hash']} approved; the operator applies exactly this plan")


# ---- workspace state ---------------------------------------------------------------------------------------------


def set_workspace_state(glob: Globals, name: str, *, state: str, force: bool, wait: bool) -> int:
    output = glob.formats("table", "json", "yaml", "name")
    cluster = glob.cluster()
    namespace = glob.request_namespace(cluster)
    obj = get_request(cluster, name, namespace)
    item_name = item_of(obj)
    item = None
    try:
        item = cluster.get(CATALOG_ITEMS, item_name) if item_name else None
    except ClusterError as error:
        if error.status is None:
            raise
    if not has_workspace_action(obj, item):
        fail(
            f"{name} has nothing to {'hibernate' if state == 'Hibernated' else 'resume'}: its item "
            f"'{item_name}' has no workspace action (only workspaces support spec.state)"
        )
    verb = "hibernate" if state == "Hibernated" else "resume"
    current = str((obj.get("spec") or {}).get("state") or "Active")
    manager = gitops_manager(obj)
    if current == state:
        if output == "table":
            click.echo(f"{KIND_NAME}/{name} already has spec.state {state}")
        patched = obj
    else:
        if manager and not force:
            fail(
                f"refusing to {verb} {name}: it is managed by {manager}, so its spec comes from git and the next "
                f"sync would set spec.state back to {current}",
                hint=f"set spec.state: {state} in git, or pass --force to change it in the cluster anyway",
            )
        if manager:
            click.echo(f"warning: {name} is managed by {manager}; the next sync from git may revert this", err=True)
        patched = cluster.patch(SERVICE_REQUESTS, name, {"spec": {"state": state}}, namespace)
        if output == "table":
            click.echo(f"{KIND_NAME}/{name} spec.state set to {state}")
    if wait:
        return wait_and_report(
            glob, cluster, name, namespace, output=output, phase="Hibernated" if state == "Hibernated" else "Ready"
        )
    if output != "table":
        emit(exported(patched), names=[f"{KIND_NAME}/{name}"])
    return 0
