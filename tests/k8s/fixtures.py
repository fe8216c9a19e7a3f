"""Pytest fixtures for the Kubernetes API emulator; registered via ``pytest_plugins`` in tests/conftest.py."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import kopf
import pytest

from .emulator import ApiEmulator
from .kopf_thread import OperatorThread, operator_settings

__all__ = ["CRDS_DIR", "find_kubectl", "k8s_api", "k8s_kubeconfig", "kopf_operator", "kubectl"]

CRDS_DIR = Path(__file__).resolve().parents[2] / "crds"
Kubectl = Callable[..., subprocess.CompletedProcess[str]]


def find_kubectl() -> str | None:
    found = shutil.which("kubectl")
    if found is None and Path("/usr/local/bin/kubectl").exists():
        found = "/usr/local/bin/kubectl"
    return found


@pytest.fixture
def k8s_api() -> Iterator[ApiEmulator]:
    """A fresh API emulator serving our CRDs, in its own thread; fails the test if the emulator itself broke."""
    with ApiEmulator.running(crds_dir=CRDS_DIR) as api:
        yield api
    if api.internal_errors:
        pytest.fail(f"the API emulator failed internally: {api.internal_errors!r}")


@pytest.fixture
def k8s_kubeconfig(k8s_api: ApiEmulator, tmp_path: Path) -> Path:
    """A kubeconfig file pointing at ``k8s_api`` (namespace ``default``)."""
    return k8s_api.write_kubeconfig(tmp_path / "kubeconfig")


@pytest.fixture
def kubectl(k8s_api: ApiEmulator, tmp_path: Path) -> Kubectl:
    """``kubectl(*args, check=True, input=None)`` against ``k8s_api``; skips the test if kubectl is not installed."""
    executable = find_kubectl()
    if executable is None:
        pytest.skip("kubectl is not installed (neither on PATH nor at /usr/local/bin/kubectl)")
    cache = tmp_path / "kubectl-cache"

    def run(*args: str, check: bool = True, input: str | None = None) -> subprocess.CompletedProcess[str]:
        command = [executable, "--server", k8s_api.url, "--cache-dir", str(cache), *args]
        result = subprocess.run(command, capture_output=True, text=True, timeout=60, input=input, check=False)
        if check and result.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed ({result.returncode}): {result.stderr}")
        return result

    return run


@pytest.fixture
def kopf_operator(k8s_api: ApiEmulator) -> Iterator[Callable[..., OperatorThread]]:
    """A factory: ``kopf_operator(registry, settings=None, **kwargs)`` starts kopf in a thread (stopped at teardown).

    The settings default to :func:`operator_settings` (the orchestrator's annotations, finalizer, diff-base)."""
    started: list[OperatorThread] = []

    def start(
        registry: kopf.OperatorRegistry, settings: kopf.OperatorSettings | None = None, **kwargs: Any
    ) -> OperatorThread:
        operator = OperatorThread(k8s_api, registry, settings or operator_settings(), **kwargs).start()
        started.append(operator)
        return operator

    yield start
    for operator in reversed(started):
        operator.stop()
