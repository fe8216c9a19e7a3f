"""`devctl workspace hibernate|resume`: put a workspace request to sleep (workloads scaled to zero) and wake it."""

from __future__ import annotations

import sys

import click

from .common import cluster_errors, get_globals, global_options

_force = click.option(
    "--force",
    is_flag=True,
    help="Change spec.state even when Argo CD or Flux manages the request (git would revert it).",
)
_wait = click.option("--wait", is_flag=True, help="Wait until the operator has done it (exit 4 at --timeout, 10m).")


@click.group(short_help="Hibernate and resume workspaces.")
def workspace() -> None:
    """Workspaces (namespaces made by the operator's workspace action): hibernate and resume them."""


@workspace.command("hibernate", short_help="Scale a workspace to zero (spec.state: Hibernated).")
@click.argument("request")
@_force
@_wait
@global_options
@cluster_errors
def workspace_hibernate(request: str, force: bool, wait: bool) -> None:
    """Hibernate the workspace of REQUEST: sets spec.state: Hibernated; the operator scales its workloads to zero
    and remembers their replicas.

    Refused for requests that Argo CD or Flux syncs from git (labels such as argocd.argoproj.io/instance,
    kustomize.toolkit.fluxcd.io/name, helm.toolkit.fluxcd.io/name): change spec.state in git instead, or --force.

    \b
    devctl workspace hibernate checkout-redesign -n team-orders --wait
    """
    from .request_operations import set_workspace_state

    sys.exit(set_workspace_state(get_globals(), request, state="Hibernated", force=force, wait=wait))


@workspace.command("resume", short_help="Wake a hibernated workspace (spec.state: Active).")
@click.argument("request")
@_force
@_wait
@global_options
@cluster_errors
def workspace_resume(request: str, force: bool, wait: bool) -> None:
    """Resume the workspace of REQUEST: sets spec.state: Active; the operator restores the workloads' replicas.

    The same GitOps rule as hibernate applies.

    \b
    devctl workspace resume checkout-redesign -n team-orders --wait
    """
    from .request_operations import set_workspace_state

    sys.exit(set_workspace_state(get_globals(), request, state="Active", force=force, wait=wait))
