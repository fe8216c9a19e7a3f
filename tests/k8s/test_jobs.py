"""JobKubelet runs Jobs of the emulator like kubelet + job controller would."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .emulator import ApiEmulator
from .jobs import JobKubelet

NAMESPACE = "runners"


def job(name: str, command: list[str], *, labels: dict[str, str] | None = None, **container: Any) -> dict[str, Any]:
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name, "namespace": NAMESPACE, "labels": labels or {"app": "runner"}},
        "spec": {
            "backoffLimit": 0,
            "template": {
                "spec": {
                    "restartPolicy": "Never",
                    "containers": [{"name": "main", "image": "runner:1", "command": command, **container}],
                }
            },
        },
    }


@pytest.fixture
def kubelet(k8s_api: ApiEmulator, k8s_kubeconfig: Path, tmp_path: Path) -> Iterator[JobKubelet]:
    with JobKubelet(k8s_api, k8s_kubeconfig, selector="app=runner", workdir=tmp_path) as running:
        yield running
    assert not running.errors


def _condition(obj: dict[str, Any] | None, kind: str) -> bool:
    return any(c["type"] == kind and c["status"] == "True" for c in (obj or {}).get("status", {}).get("conditions", []))


def test_a_job_runs_with_its_env_and_completes(kubelet: JobKubelet, k8s_api: ApiEmulator, tmp_path: Path) -> None:
    script = "import json, os; print(json.dumps({k: os.environ.get(k) for k in ('JOB_NAME', 'KUBECONFIG', 'MODE')}))"
    k8s_api.create(job("env", [sys.executable, "-c"], args=[script], env=[{"name": "MODE", "value": "plan"}]))

    [run] = kubelet.wait_for_runs(1, timeout=20)

    done = k8s_api.wait_for("batch/v1/jobs", "env", NAMESPACE, condition=lambda o: _condition(o, "Complete"))
    assert done is not None
    status = done["status"]
    assert status["succeeded"] == 1 and "active" not in status
    assert status["startTime"] <= status["completionTime"]
    assert json.loads(run.stdout) == {"JOB_NAME": "env", "KUBECONFIG": str(kubelet.kubeconfig), "MODE": "plan"}
    assert kubelet.ran == 1


def test_a_failing_job_is_failed(kubelet: JobKubelet, k8s_api: ApiEmulator) -> None:
    k8s_api.create(job("boom", [sys.executable, "-c", "raise SystemExit(3)"]))

    [run] = kubelet.wait_for_runs(1, timeout=20)

    failed = k8s_api.get("batch/v1/jobs", "boom", NAMESPACE)
    assert run.returncode == 3
    assert failed is not None and failed["status"]["failed"] == 1 and _condition(failed, "Failed")
    assert not _condition(failed, "Complete")


def test_orchestrator_maps_to_the_operator_entry_point(kubelet: JobKubelet, k8s_api: ApiEmulator) -> None:
    k8s_api.create(job("version", ["orchestrator"], args=["--version"]))

    [run] = kubelet.wait_for_runs(1, timeout=30)

    assert run.argv[:3] == (sys.executable, "-m", "orchestrator.cli.operator_main")
    assert run.returncode == 0 and run.stdout.startswith("orchestrator")


def test_jobs_outside_the_selector_and_while_paused_wait(kubelet: JobKubelet, k8s_api: ApiEmulator) -> None:
    k8s_api.create(job("other", [sys.executable, "-c", "pass"], labels={"app": "other"}))
    kubelet.pause()
    k8s_api.create(job("later", [sys.executable, "-c", "pass"]))
    with pytest.raises(TimeoutError):
        kubelet.wait_for_runs(1, timeout=0.5)  # ten poll intervals
    assert kubelet.ran == 0
    later = k8s_api.get("batch/v1/jobs", "later", NAMESPACE)
    assert later is not None and not later.get("status", {}).get("startTime")

    kubelet.resume()
    [run] = kubelet.wait_for_runs(1, timeout=20)

    assert run.name == "later" and kubelet.ran == 1
    other = k8s_api.get("batch/v1/jobs", "other", NAMESPACE)
    assert other is not None and not other.get("status", {}).get("startTime")
