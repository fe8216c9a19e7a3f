"""`devctl catalog refresh`: request a sync through the orchestrator.dev/refresh annotation, and wait for it."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from rich.console import Console
from rich.markup import escape

from ..api.catalog_source import REFRESH_ANNOTATION
from ..clients.cluster import Cluster, ClusterError
from .output import OutputFormat

POLL_INTERVAL = 0.5
Outcome = Literal["requested", "applied", "failed", "timeout"]


@dataclass
class RefreshResult:
    source: str
    token: str
    outcome: Outcome
    revision: str | None = None
    message: str = ""
    errors: list[dict[str, Any]] = field(default_factory=list)


def _condition(obj: dict[str, Any], type_: str) -> dict[str, Any]:
    for condition in (obj.get("status") or {}).get("conditions") or []:
        if condition.get("type") == type_:
            return dict(condition)
    return {}


def _verdict(source: str, token: str, obj: dict[str, Any]) -> RefreshResult:
    status = obj.get("status") or {}
    ready = _condition(obj, "Ready")
    if ready.get("status") == "True":
        return RefreshResult(source, token, "applied", status.get("lastAppliedRevision"), str(ready.get("message", "")))
    return RefreshResult(
        source,
        token,
        "failed",
        status.get("lastAttemptedRevision"),
        str(ready.get("message") or "the sync did not succeed"),
        list(status.get("errors") or []),
    )


def refresh_sources(
    cluster: Cluster,
    namespace: str,
    names: Sequence[str],
    *,
    wait: bool,
    timeout: float,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> list[RefreshResult]:
    """Annotate each source with a fresh token; with ``wait``, poll until its status names that token."""
    if not names:
        names = sorted(str(obj["metadata"]["name"]) for obj in cluster.list("catalogsources", namespace))
        if not names:
            raise ClusterError(
                f"no CatalogSource in namespace {namespace} (is that the operator's namespace? use -n)", status=404
            )
    token = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    results: dict[str, RefreshResult] = {}
    for name in names:
        obj = cluster.get("catalogsources", name, namespace)
        if (obj.get("spec") or {}).get("suspend"):
            results[name] = RefreshResult(
                name, token, "failed", message="the source is suspended (spec.suspend: true): resume it to sync"
            )
            continue
        cluster.annotate("catalogsources", name, namespace, {REFRESH_ANNOTATION: token})
    pending = {name: RefreshResult(name, token, "requested") for name in names if name not in results}
    if not wait:
        results.update(pending)
        return [results[name] for name in names]
    deadline = clock() + timeout
    while pending:
        for name in list(pending):
            try:
                obj = cluster.get("catalogsources", name, namespace)
            except ClusterError as error:
                if error.status != 404:
                    raise
                results[name] = RefreshResult(name, token, "failed", message="the CatalogSource was deleted")
                del pending[name]
                continue
            if (obj.get("status") or {}).get("lastHandledRefreshAt") == token:
                results[name] = _verdict(name, token, obj)
                del pending[name]
        if not pending:
            break
        if clock() >= deadline:
            for name, result in pending.items():
                result.outcome = "timeout"
                result.message = (
                    f"the operator did not handle the refresh within {timeout:g}s "
                    f"(is it running? kubectl -n {namespace} get pods)"
                )
                results[name] = result
            break
        sleep(POLL_INTERVAL)
    return [results[name] for name in names]


def print_refresh(results: Sequence[RefreshResult], *, output: OutputFormat, console: Console) -> None:
    if output in ("json", "yaml"):
        from .common import dump_json, dump_yaml

        data = [asdict(result) for result in results]
        console.out(dump_json(data) if output == "json" else dump_yaml(data).rstrip("\n"), highlight=False)
        return
    for result in results:
        revision = f" revision {result.revision[:12]}" if result.revision else ""
        if result.outcome == "requested":
            console.print(f"{escape(result.source)}: refresh requested ({result.token})")
        elif result.outcome == "applied":
            console.print(f"{escape(result.source)}: synced{revision}: {escape(result.message)}")
        else:
            console.print(f"{escape(result.source)}: {result.outcome}{revision}: {escape(result.message)}")
        for error in result.errors:
            where = str(error.get("file", ""))
            if error.get("line"):
                where += f":{error['line']}"
            path = f" {error['path']}" if error.get("path") else ""
            console.print(f"  {escape(where)}:{escape(path)} {escape(str(error.get('message', '')))}")
