"""JIRA connections by name, read from labelled Secrets in the operator namespace and cached briefly.

A connection's circuit breaker outlives Secret changes (a rotated token must not reset a breaker that protects
a failing JIRA), while the library client is rebuilt whenever the Secret's content changes.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from ..config import Settings
from ..metrics import Metrics
from .circuit import CircuitBreakers
from .jira import JiraClient, connection_from_secret
from .jira_types import ConnectionUnavailable
from .kubernetes import SECRETS, KubernetesClient, decode_secret_data


class JiraConnectionPool:
    def __init__(
        self,
        kube: KubernetesClient,
        settings: Settings,
        metrics: Metrics,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._kube = kube
        self._settings = settings
        self._metrics = metrics
        self._clock = clock
        self._executor = ThreadPoolExecutor(max_workers=settings.jira.max_workers, thread_name_prefix="jira")
        self._slots = asyncio.Semaphore(settings.jira.max_workers)  # calls wait for a worker outside their timeout
        self._clients: dict[str, tuple[float, str, JiraClient]] = {}
        self._breakers = CircuitBreakers(
            failure_threshold=settings.jira.breaker_failure_threshold,
            reset_after=settings.jira.breaker_reset,
            on_change=lambda name, state: metrics.set_breaker("jira", name, state),
        )
        self._lock = asyncio.Lock()

    def breaker_states(self) -> dict[str, str]:
        return self._breakers.states()

    async def get(self, name: str) -> JiraClient:
        """The client for connection ``name``; ``ConnectionUnavailable`` says why there is none."""
        cached = self._clients.get(name)
        if cached is not None and self._clock() - cached[0] < self._settings.secret_cache_ttl:
            return cached[2]
        async with self._lock:
            cached = self._clients.get(name)  # again: the caller this one waited for may have just read it
            if cached is not None and self._clock() - cached[0] < self._settings.secret_cache_ttl:
                return cached[2]
            label = self._settings.jira.connection_label
            secrets = await self._kube.list(SECRETS, self._settings.namespace, label_selector=f"{label}={name}")
            if not secrets:
                self._clients.pop(name, None)
                raise ConnectionUnavailable(
                    f"no Secret labelled {label}={name} in namespace {self._settings.namespace}"
                )
            secret = sorted(secrets, key=lambda s: str(s.get("metadata", {}).get("name", "")))[0]
            version = str(secret.get("metadata", {}).get("resourceVersion", ""))
            if cached is not None and cached[1] == version:
                self._clients[name] = (self._clock(), version, cached[2])
                return cached[2]
            try:
                connection = connection_from_secret(name, decode_secret_data(secret))
            except ValueError as error:
                raise ConnectionUnavailable(str(error)) from None
            client = JiraClient(
                connection,
                timeout=self._settings.jira.call_timeout,
                executor=self._executor,
                breaker=self._breakers.get(name),
                slots=self._slots,
                record_call=lambda operation, code: self._metrics.jira_calls.labels(name, operation, code).inc(),
            )
            self._clients[name] = (self._clock(), version, client)
            return client

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
