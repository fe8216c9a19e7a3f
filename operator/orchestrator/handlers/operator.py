"""Running the operator: kopf with our registry, settings, login, probes and metrics."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Mapping
from typing import Any

import kopf

from ..catalog.sync_plan import Kind
from ..clients.kubernetes import ClusterAccess, KubernetesApi
from ..config import Settings
from ..metrics import Metrics
from .catalog_items import ready_state
from .context import BY_PHASE, OperatorContext, active_requests
from .probes import ProbeServer
from .registry import build_registry, configure_kopf

Flag = asyncio.Event | asyncio.Future[Any] | threading.Event


class WaitingIsNotAnError(logging.Filter):
    """kopf logs every ``TemporaryError`` at ERROR; ours mostly mean "waiting on a backend", so they are INFO."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno == logging.ERROR and "failed temporarily" in record.getMessage():
            record.levelno, record.levelname = logging.INFO, "INFO"
        return True


def _counts(index: Any) -> Mapping[tuple[str, str], int]:
    """Requests per (item, phase), from the ``(BY_PHASE, item, phase)`` keys of the ``requests`` index."""
    return {(key[1], key[2]): len(index[key]) for key in list(index) if key[0] == BY_PHASE}


def _catalog_states(items: Any, bundles: Any) -> Mapping[tuple[str, str], int]:
    counts: dict[tuple[str, str], int] = {}
    for kind, index in (("CatalogItem", items), ("CatalogBundle", bundles)):
        for name in list(index):
            for body in index[name]:
                key = (kind, ready_state(body))
                counts[key] = counts.get(key, 0) + 1
    return counts


async def keep_request_counts(ctx: OperatorContext, indexes: Mapping[str, Any]) -> None:
    """Every few seconds, write status.activeRequests of the catalog objects whose count moved (forever)."""
    kinds: tuple[tuple[Kind, Any], ...] = (
        ("CatalogItem", indexes["catalog_items"]),
        ("CatalogBundle", indexes["catalog_bundles"]),
    )
    while True:
        await asyncio.sleep(ctx.settings.catalog.item_status_interval)
        for kind, index in kinds:
            for name in list(index):
                body = next(iter(index.get(name, [])), None)
                counted = active_requests(indexes, kind, name)
                if body is None or (body.get("status") or {}).get("activeRequests", 0) == counted:
                    continue
                try:
                    await ctx.refresh_catalog_status(kind, body, indexes)
                except Exception:  # keep counting the others; the next period retries this one
                    logging.getLogger(__name__).exception("cannot update the status of %s %s", kind, name)


def operator_registry(
    settings: Settings,
    *,
    access: ClusterAccess,
    metrics: Metrics,
    probes: list[ProbeServer] | None = None,
) -> kopf.OperatorRegistry:
    """Our handlers plus login, startup and cleanup bound to these settings (no module-level state)."""
    registry = build_registry(settings.observe_interval)
    state = {"ready": False}
    operator_settings = settings  # kopf hands its own `settings` to the startup handler

    @kopf.on.login(registry=registry)
    def login(**_: Any) -> kopf.ConnectionInfo:
        return kopf.ConnectionInfo(
            server=access.server,
            ca_path=access.ca_path,
            insecure=access.insecure,
            scheme="Bearer" if access.token else None,
            token=access.token,
            certificate_path=access.certificate_path,
            private_key_path=access.private_key_path,
            default_namespace=settings.namespace,
        )

    @kopf.on.startup(registry=registry)
    async def startup(settings: kopf.OperatorSettings, memo: Any, **kwargs: Any) -> None:
        requests: kopf.Index[Any, Any] = kwargs["requests"]
        configure_kopf(settings)
        kube = await KubernetesApi.connect(access)
        context = OperatorContext.build(operator_settings, metrics, kube)
        memo.orchestrator = context
        metrics.count_requests_with(lambda: _counts(requests))
        metrics.count_catalog_objects_with(lambda: _catalog_states(kwargs["catalog_items"], kwargs["catalog_bundles"]))
        memo.request_counts = asyncio.create_task(keep_request_counts(context, kwargs), name="catalog-request-counts")
        probe = ProbeServer(
            metrics,
            operator_settings.probe_host,
            operator_settings.probe_port,
            lambda: state["ready"],
            hook=context.catalog_sync.hook,
        )
        await probe.start()
        memo.probes = probe
        if probes is not None:
            probes.append(probe)
        state["ready"] = True

    @kopf.on.cleanup(registry=registry)
    async def cleanup(memo: Any, **_: Any) -> None:
        state["ready"] = False
        counting = getattr(memo, "request_counts", None)
        if counting is not None:
            counting.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await counting
        probe = getattr(memo, "probes", None)
        if probe is not None:
            await probe.stop()
        context = getattr(memo, "orchestrator", None)
        if context is not None:
            await context.close()

    return registry


async def run_operator(
    settings: Settings,
    *,
    kubeconfig: str | None = None,
    context: str | None = None,
    metrics: Metrics | None = None,
    stop_flag: Flag | None = None,
    ready_flag: Flag | None = None,
    probes: list[ProbeServer] | None = None,
) -> None:
    """Run until ``stop_flag`` is set (or a signal arrives, when run from the command line)."""
    waiting_filter = WaitingIsNotAnError()
    logging.getLogger("kopf.objects").addFilter(waiting_filter)
    access = ClusterAccess.load(kubeconfig, context)
    registry = operator_registry(settings, access=access, metrics=metrics or Metrics(), probes=probes)
    kopf_settings = kopf.OperatorSettings()
    configure_kopf(kopf_settings)
    try:
        await kopf.operator(
            registry=registry,
            settings=kopf_settings,
            memo=kopf.Memo(),
            clusterwide=not settings.watch_namespaces,
            # CatalogSources live in the operator's own namespace, which is watched whatever else is.
            namespaces=sorted({*settings.watch_namespaces, settings.namespace}) if settings.watch_namespaces else [],
            standalone=settings.peering is None,
            peering_name=settings.peering,
            stop_flag=stop_flag,
            ready_flag=ready_flag,
        )
    finally:
        logging.getLogger("kopf.objects").removeFilter(waiting_filter)
