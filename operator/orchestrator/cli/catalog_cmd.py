"""`devctl catalog ...`: the catalog in the cluster (list, get, search, refresh) and offline diffs."""

from __future__ import annotations

import sys

import click

from .common import (
    DEFAULT_OPERATOR_NAMESPACE,
    EXIT_FAILED,
    EXIT_OK,
    EXIT_TIMEOUT,
    cluster_errors,
    get_globals,
    global_options,
)
from .completion import complete_names


@click.group()
def catalog() -> None:
    """The catalog: browse the items in the cluster, sync its sources, compare two catalog folders."""


@catalog.command("refresh")
@click.argument("sources", nargs=-1, shell_complete=complete_names("catalogsources", operator_namespace=True))
@click.option("--wait", is_flag=True, help="Wait until the sync has run; exit 1 with its errors if it failed.")
@global_options
@cluster_errors
def catalog_refresh(sources: tuple[str, ...], wait: bool) -> None:
    """Ask the operator to sync CatalogSources now (all of the namespace's unless SOURCES are named).

    Sets the annotation orchestrator.dev/refresh; the operator reads the source again, even a revision it found
    invalid before, and records the request in status.lastHandledRefreshAt. CatalogSources live in the
    operator's namespace: -n, else $DEVCTL_OPERATOR_NAMESPACE, else orchestrator-system. With --wait, gives up
    after --timeout (default 2m, exit 4).
    """
    import os

    from .catalog_refresh import print_refresh, refresh_sources

    glob = get_globals()
    output = glob.formats("table", "json", "yaml")
    namespace = glob.namespace or os.environ.get("DEVCTL_OPERATOR_NAMESPACE") or DEFAULT_OPERATOR_NAMESPACE
    cluster = glob.cluster()
    results = refresh_sources(cluster, namespace, list(sources), wait=wait, timeout=glob.wait_timeout(120.0))
    print_refresh(results, output=output, console=glob.console())
    if any(result.outcome == "timeout" for result in results):
        sys.exit(EXIT_TIMEOUT)
    sys.exit(EXIT_OK if all(result.outcome in ("applied", "requested") for result in results) else EXIT_FAILED)
