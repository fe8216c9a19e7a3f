"""``JobKubelet``: plays kubelet and job controller for batch/v1 Jobs in the API emulator.

The emulator stores Jobs but nothing runs them. This fixture polls for Jobs (optionally only those matching a label
selector), runs each new Job's first container ``command + args`` as a local subprocess and writes the Job's status
as the job controller does::

    with JobKubelet(k8s_api, kubeconfig, selector="app=x") as kubelet:
        ...                                   # create Jobs (or let the operator create them)
        kubelet.wait_for_runs(1)
        assert kubelet.ran == 1

argv[0] ``orchestrator`` becomes ``python -m orchestrator.cli.operator_main`` (the image's entrypoint). The process
gets this process's environment, emptyDir volume mounts as fresh folders under ``workdir`` (arguments naming a
mount path are rewritten to them), the container's ``env`` entries with a literal ``value`` (``valueFrom`` is not
resolved), ``JOB_NAME`` and ``KUBECONFIG`` pointing at the emulator. Status: ``startTime`` and ``active: 1`` when it
starts, then ``succeeded: 1`` with condition ``Complete`` (exit 0) or ``failed: 1`` with ``Failed`` (non-zero exit,
or still running after ``job_timeout``). ``pause()`` stops Jobs from starting — those created meanwhile wait, with no
status, until ``resume()`` (a node that is down), which is what adoption tests need.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Self

from .emulator import ApiEmulator

JOBS = "batch/v1/jobs"
FIELD_MANAGER = "kube-controller-manager"
ORCHESTRATOR = [sys.executable, "-m", "orchestrator.cli.operator_main"]


@dataclass(frozen=True)
class JobRun:
    """One Job the fixture ran, with what its process printed."""

    namespace: str
    name: str
    argv: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class JobKubelet:
    def __init__(
        self,
        api: ApiEmulator,
        kubeconfig: Path,
        *,
        selector: str | None = None,
        namespace: str | None = None,
        poll_interval: float = 0.05,
        job_timeout: float = 120.0,
        workdir: Path | None = None,
    ) -> None:
        self.api = api
        self.kubeconfig = Path(kubeconfig)
        self.selector = selector
        self.namespace = namespace
        self.poll_interval = poll_interval
        self.job_timeout = job_timeout
        self.workdir = workdir
        self.runs: list[JobRun] = []
        self.errors: list[BaseException] = []
        self._started: set[str] = set()
        self._paused = threading.Event()
        self._stopping = threading.Event()
        self._lock = threading.Condition()
        self._poller: threading.Thread | None = None
        self._workers: list[threading.Thread] = []
        self._processes: dict[str, subprocess.Popen[str]] = {}

    # Lifecycle.

    def start(self) -> Self:
        self._poller = threading.Thread(target=self._poll, name="job-kubelet", daemon=True)
        self._poller.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Stop polling, kill Jobs still running (they are marked Failed), and wait for the worker threads."""
        self._stopping.set()
        if self._poller is not None:
            self._poller.join(timeout)
        with self._lock:
            processes = list(self._processes.values())
        for process in processes:
            process.kill()
        for worker in list(self._workers):
            worker.join(timeout)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    def pause(self) -> None:
        """Start no Job until resume(); running Jobs go on."""
        self._paused.set()

    def resume(self) -> None:
        self._paused.clear()

    @property
    def ran(self) -> int:
        """How many Jobs were started (including those still running)."""
        with self._lock:
            return len(self._started)

    def wait_for_runs(self, count: int, timeout: float = 60.0) -> list[JobRun]:
        """Block until ``count`` Jobs have finished; return their runs."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while len(self.runs) < count:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self.errors:
                    raise TimeoutError(
                        f"{len(self.runs)} of {count} Jobs finished in {timeout}s; errors: {self.errors}"
                    )
                self._lock.wait(min(remaining, 0.5))
            return list(self.runs)

    # The kubelet.

    def _poll(self) -> None:
        while not self._stopping.wait(self.poll_interval):
            if self._paused.is_set():
                continue
            try:
                jobs = self.api.list(JOBS, self.namespace, labels=self.selector)
            except Exception as error:  # the emulator is shutting down, or broke: report, never hang a test
                self.errors.append(error)
                return
            for job in jobs:
                key = job["metadata"]["uid"]
                with self._lock:
                    if key in self._started or job.get("status", {}).get("startTime"):
                        continue
                    self._started.add(key)
                worker = threading.Thread(target=self._run_job, args=(job,), name=f"job-{job['metadata']['name']}")
                self._workers.append(worker)
                worker.start()

    def _run_job(self, job: Mapping[str, Any]) -> None:
        namespace, name = job["metadata"]["namespace"], job["metadata"]["name"]
        try:
            container = job["spec"]["template"]["spec"]["containers"][0]
            command = list(container.get("command", []))
            if command and command[0] == "orchestrator":
                command = [*ORCHESTRATOR, *command[1:]]
            argv = [*command, *self._mounted(job, container, list(container.get("args", [])))]
            env = {**os.environ, "KUBECONFIG": str(self.kubeconfig), "JOB_NAME": name}
            env.update({e["name"]: str(e["value"]) for e in container.get("env", []) if "value" in e})
            self._status(namespace, name, {"startTime": _now(), "active": 1, "ready": 0})
            process = subprocess.Popen(
                argv, env=env, cwd=self.workdir, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
            )
            with self._lock:
                self._processes[name] = process
            try:
                stdout, stderr = process.communicate(timeout=self.job_timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                stdout, stderr = process.communicate()
            with self._lock:
                self._processes.pop(name, None)
            succeeded = process.returncode == 0
            condition = {
                "type": "Complete" if succeeded else "Failed",
                "status": "True",
                "lastProbeTime": _now(),
                "lastTransitionTime": _now(),
                **(
                    {}
                    if succeeded
                    else {"reason": "BackoffLimitExceeded", "message": "Job has reached the backoff limit"}
                ),
            }
            status = {"active": None, "ready": 0, "conditions": [condition]}
            status.update({"succeeded": 1, "completionTime": _now()} if succeeded else {"failed": 1})
            self._status(namespace, name, status)
            run = JobRun(namespace, name, tuple(argv), process.returncode, stdout, stderr)
        except Exception as error:  # surfaced by wait_for_runs instead of dying silently in a thread
            with self._lock:
                self.errors.append(error)
                self._lock.notify_all()
            return
        with self._lock:
            self.runs.append(run)
            self._lock.notify_all()

    def _mounted(self, job: Mapping[str, Any], container: Mapping[str, Any], argv: list[str]) -> list[str]:
        """emptyDir volumes become fresh local folders: container args naming a mount path are pointed at them."""
        volumes = {v["name"]: v for v in job["spec"]["template"]["spec"].get("volumes") or []}
        base = Path(self.workdir) if self.workdir is not None else Path.cwd()
        for mount in container.get("volumeMounts") or []:
            if "emptyDir" not in volumes.get(mount["name"], {}):
                continue
            local = base / f"{job['metadata']['name']}-{mount['name']}"
            local.mkdir(parents=True, exist_ok=True)
            path = str(mount["mountPath"]).rstrip("/")
            argv = [str(local) + arg[len(path) :] if arg == path or arg.startswith(path + "/") else arg for arg in argv]
        return argv

    def _status(self, namespace: str, name: str, status: Mapping[str, Any]) -> None:
        self.api.patch(JOBS, name, {"status": dict(status)}, namespace, status=True, field_manager=FIELD_MANAGER)
