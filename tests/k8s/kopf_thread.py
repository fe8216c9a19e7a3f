"""Run a kopf operator in a background thread (its own event loop) against an :class:`ApiEmulator`."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Collection, Iterator
from typing import Any

import kopf

from .emulator import ApiEmulator

__all__ = ["OperatorThread", "operator_settings", "run_operator"]


def operator_settings() -> kopf.OperatorSettings:
    """kopf settings as the orchestrator uses them: annotation-based progress and diff-base, our finalizer."""
    settings = kopf.OperatorSettings()
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix="orchestrator.dev")
    settings.persistence.finalizer = "orchestrator.dev/cleanup"
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix="orchestrator.dev", key="last-handled-configuration"
    )
    settings.networking.error_backoffs = [0.1, 0.5, 1.0]
    return settings


class OperatorThread:
    """``kopf.operator()`` in a thread; it logs in to the emulator through an ``@kopf.on.login`` handler it adds."""

    def __init__(
        self,
        api: ApiEmulator,
        registry: kopf.OperatorRegistry,
        settings: kopf.OperatorSettings | None = None,
        *,
        clusterwide: bool = True,
        namespaces: Collection[str] = (),
        memo: Any = None,
    ) -> None:
        self.api, self.registry = api, registry
        self.settings = settings if settings is not None else operator_settings()
        self.clusterwide, self.namespaces, self.memo = clusterwide, namespaces, memo
        self.stop_flag, self.ready_flag = threading.Event(), threading.Event()
        self.exception: BaseException | None = None
        self._thread: threading.Thread | None = None

        @kopf.on.login(registry=registry, id="k8s-emulator-login")
        def login(**_: Any) -> kopf.ConnectionInfo:
            return api.connection_info()  # type: ignore[no-any-return]

    def _run(self) -> None:
        try:
            asyncio.run(
                kopf.operator(
                    registry=self.registry,
                    settings=self.settings,
                    standalone=True,
                    clusterwide=self.clusterwide,
                    namespaces=self.namespaces,
                    stop_flag=self.stop_flag,
                    ready_flag=self.ready_flag,
                    memo=self.memo,
                )
            )
        except BaseException as exc:
            self.exception = exc
            self.ready_flag.set()

    def start(self, timeout: float = 10.0) -> OperatorThread:
        self._thread = threading.Thread(target=self._run, name="kopf-operator", daemon=True)
        self._thread.start()
        if not self.ready_flag.wait(timeout) or self.exception is not None:
            self.stop()
            raise RuntimeError(f"the operator did not start: {self.exception!r}") from self.exception
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self.stop_flag.set()
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                raise RuntimeError(f"the operator did not stop in {timeout}s")
            self._thread = None


@contextlib.contextmanager
def run_operator(
    api: ApiEmulator,
    registry: kopf.OperatorRegistry,
    settings: kopf.OperatorSettings | None = None,
    **kwargs: Any,
) -> Iterator[OperatorThread]:
    """``with run_operator(api, registry) as operator: ...`` — started when ready, stopped on exit."""
    operator = OperatorThread(api, registry, settings, **kwargs).start()
    try:
        yield operator
    finally:
        operator.stop()
    if operator.exception is not None:
        raise operator.exception
