"""The real operator (``run_operator``: kopf, our registry, login from a kubeconfig) in a thread, for tests."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from orchestrator.api.conditions import READY, RECONCILING, STALLED
from orchestrator.config import Settings
from orchestrator.handlers.operator import run_operator
from orchestrator.handlers.probes import ProbeServer
from orchestrator.metrics import Metrics
from tests.k8s import ApiEmulator

NAMESPACE = "orchestrator-system"
BOT = "bot@example.com"
TOKEN = "canary-jira-token-7f3a9c"
EXPOSED = "canary-exposed-secret-51d2e8"


def test_settings(**overrides: Any) -> Settings:
    jira = {
        "poll_interval": 0.3,
        "call_timeout": 3.0,
        "search_grace": 1.5,
        "backoff_initial_delay": 0.2,
        "backoff_max_delay": 1.0,
        "auth_retry_interval": 1.5,
        "breaker_failure_threshold": 50,
        "breaker_reset": 1.0,
        "escalation_project": "OPS",
    }
    jira.update(overrides.pop("jira", {}))
    values: dict[str, Any] = {
        "namespace": NAMESPACE,
        "probe_host": "127.0.0.1",
        "probe_port": 0,
        "deletion_deadline": 3.0,
        "secret_cache_ttl": 0.0,
        "jira": jira,
    }
    values.update(overrides)
    return Settings.model_validate(values)


def operator_environment(**overrides: str) -> dict[str, str]:
    """The test settings as ORCHESTRATOR_* variables, for ``orchestrator run`` in a separate process."""
    environment = {
        "ORCHESTRATOR_NAMESPACE": NAMESPACE,
        "ORCHESTRATOR_PROBE_HOST": "127.0.0.1",
        "ORCHESTRATOR_PROBE_PORT": "0",
        "ORCHESTRATOR_SECRET_CACHE_TTL": "0",
        "ORCHESTRATOR_JIRA__POLL_INTERVAL": "0.3",
        "ORCHESTRATOR_JIRA__CALL_TIMEOUT": "5",
        "ORCHESTRATOR_JIRA__SEARCH_GRACE": "1.5",
    }
    environment.update(overrides)
    return environment


class OperatorUnderTest:
    """``orchestrator run`` in a background thread with its own event loop."""

    def __init__(self, kubeconfig: Path, settings: Settings) -> None:
        self.kubeconfig = kubeconfig
        self.settings = settings
        self.metrics = Metrics()
        self.probes: list[ProbeServer] = []
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._thread: threading.Thread | None = None
        self.exception: BaseException | None = None

    def start(self, timeout: float = 15.0) -> OperatorUnderTest:
        def run() -> None:
            try:
                asyncio.run(
                    run_operator(
                        self.settings,
                        kubeconfig=str(self.kubeconfig),
                        metrics=self.metrics,
                        stop_flag=self._stop,
                        ready_flag=self._ready,
                        probes=self.probes,
                    )
                )
            except BaseException as error:  # surfaced by stop()
                self.exception = error
                self._ready.set()

        self._thread = threading.Thread(target=run, name="orchestrator", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout) or self.exception is not None:
            raise RuntimeError(f"the operator did not start: {self.exception!r}")
        deadline = time.monotonic() + timeout
        while not self.probes and time.monotonic() < deadline:
            time.sleep(0.02)
        return self

    def stop(self, timeout: float = 15.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            assert not self._thread.is_alive(), "the operator did not stop"
            self._thread = None
        if self.exception is not None:
            raise self.exception

    @property
    def probe_url(self) -> str:
        return f"http://127.0.0.1:{self.probes[0].port}"

    def max_lag(self) -> float:
        return self.metrics.max_lag


def condition(obj: dict[str, Any] | None, type_: str) -> dict[str, Any] | None:
    if obj is None:
        return None
    return next((c for c in (obj.get("status") or {}).get("conditions") or [] if c["type"] == type_), None)


def is_true(obj: dict[str, Any] | None, type_: str, reason: str | None = None) -> bool:
    found = condition(obj, type_)
    return found is not None and found["status"] == "True" and (reason is None or found["reason"] == reason)


def phase(obj: dict[str, Any] | None) -> str | None:
    return None if obj is None else (obj.get("status") or {}).get("phase")


def assert_kstatus(obj: dict[str, Any]) -> None:
    """Ready/Reconciling/Stalled exclusive; Ready only when current; observedGeneration current once written."""
    status = obj.get("status") or {}
    if not status.get("conditions"):
        return
    trues = [t for t in (READY, RECONCILING, STALLED) if is_true(obj, t)]
    assert len(trues) <= 1, f"more than one of Ready/Reconciling/Stalled is True: {trues}"
    generation = obj["metadata"].get("generation")
    if is_true(obj, READY):
        assert status.get("observedGeneration") == generation
        # A hibernated request is in the state its spec asks for: Ready, with reason Hibernated.
        assert status.get("phase") in ("Ready", "Hibernated"), status.get("phase")
        if status.get("phase") == "Hibernated":
            assert is_true(obj, READY, "Hibernated")
    for entry in status["conditions"]:
        assert entry["observedGeneration"] <= generation


def wait_until(check: Callable[[], Any], timeout: float = 15.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}; last value: {last!r}")


def watch_states(api: ApiEmulator, name: str, namespace: str) -> Iterator[dict[str, Any]]:
    """Every recorded version of a request (from the emulator's history)."""
    yield from api.versions("servicerequests", name, namespace)
