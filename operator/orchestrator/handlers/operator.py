"""Running the operator: kopf with our registry, settings, login, probes and metrics."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Mapping
from typing import Any

import kopf

from ..clients.kubernetes import ClusterAccess, KubernetesApi
from ..config import Settings
from ..metrics import Metrics
from .context import OperatorContext
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
    return {key: len(index[key]) for key in list(index)}


def operator_registry(
    settings: Settings,
    *,
    access: ClusterAccess,
    metrics: Metrics,
    probes: list[ProbeServer] | None = None,
) -> kopf.OperatorRegistry:
    """Our handlers plus login, startup and cleanup bound to these settings (no module-level state)."""
    registry = build_registry()
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
        requests_by_phase: kopf.Index[Any, Any] = kwargs["requests_by_phase"]
        configure_kopf(settings)
        kube = await KubernetesApi.connect(access)
        memo.orchestrator = OperatorContext.build(operator_settings, metrics, kube)
        metrics.count_requests_with(lambda: _counts(requests_by_phase))
        probe = ProbeServer(metrics, operator_settings.probe_host, operator_settings.probe_port, lambda: state["ready"])
        await probe.start()
        memo.probes = probe
        if probes is not None:
            probes.append(probe)
        state["ready"] = True

    @kopf.on.cleanup(registry=registry)
    async def cleanup(memo: Any, **_: Any) -> None:
        state["ready"] = False
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
            namespaces=settings.watch_namespaces,
            standalone=settings.peering is None,
            peering_name=settings.peering,
            stop_flag=stop_flag,
            ready_flag=ready_flag,
        )
    finally:
        logging.getLogger("kopf.objects").removeFilter(waiting_filter)
