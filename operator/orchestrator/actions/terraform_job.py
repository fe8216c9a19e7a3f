"""The ``job`` runner: a Terraform run as a Kubernetes Job executing ``orchestrator terraform-run``.

The Job's name is derived from the request, action, generation, operation and attempt, so a reconcile that
finds the lock already recorded computes the same name and adopts the Job (or creates it if the crash came before
the create) instead of starting a second run. The run's input travels in a Secret of the same name (key
``spec``); the pod writes its result to ``<name>-result`` (key ``result``), owned by the Job.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from ..clients.kubernetes_types import JOBS, SECRETS, KubernetesApiError, KubernetesClient
from ..clients.terraform import RunResult, RunSpec

LOCK_ANNOTATION = "orchestrator.dev/lock-id"
JOB_LABEL = "orchestrator.dev/terraform-run"
REQUEST_UID_LABEL = "orchestrator.dev/request-uid"


def job_name(uid: str, action: str, generation: int, operation: str, attempt: int) -> str:
    digest = hashlib.sha256(f"{uid}/{action}/{generation}/{operation}/{attempt}".encode()).hexdigest()[:20]
    return f"tf-{operation.replace('-', '')}-{digest}"


@dataclass(frozen=True)
class JobSettings:
    namespace: str
    image: str
    service_account: str
    ttl_seconds: int
    timeout: float


@dataclass(frozen=True)
class JobState:
    phase: Literal["Missing", "Running", "Succeeded", "Failed"]
    result: RunResult | None = None
    message: str = ""


def job_manifest(name: str, settings: JobSettings, labels: Mapping[str, str]) -> dict[str, Any]:
    """A Job that runs the spec Secret ``name`` once (no retries: a failed Terraform run is not repeated blindly)."""
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name, "namespace": settings.namespace, "labels": dict(labels)},
        "spec": {
            "backoffLimit": 0,
            "ttlSecondsAfterFinished": settings.ttl_seconds,
            "activeDeadlineSeconds": int(settings.timeout) + 60,
            "template": {
                "metadata": {"labels": dict(labels)},
                "spec": {
                    "restartPolicy": "Never",
                    "serviceAccountName": settings.service_account,
                    "securityContext": {
                        "runAsNonRoot": True,
                        "seccompProfile": {"type": "RuntimeDefault"},
                    },
                    "containers": [
                        {
                            "name": "terraform",
                            "image": settings.image,
                            "command": ["orchestrator"],
                            "args": [
                                "terraform-run",
                                "--namespace",
                                settings.namespace,
                                "--spec-secret",
                                name,
                                "--scratch",
                                "/work",
                                "--timeout",
                                str(int(settings.timeout)),
                            ],
                            "env": [{"name": "JOB_NAME", "value": name}],
                            "securityContext": {
                                "allowPrivilegeEscalation": False,
                                "readOnlyRootFilesystem": True,
                                "capabilities": {"drop": ["ALL"]},
                            },
                            "volumeMounts": [{"name": "work", "mountPath": "/work"}],
                        }
                    ],
                    "volumes": [{"name": "work", "emptyDir": {}}],
                },
            },
        },
    }


class JobRunner:
    """Creates, adopts and reads back Terraform Jobs."""

    def __init__(self, kube: KubernetesClient, settings: JobSettings) -> None:
        self._kube = kube
        self.settings = settings

    async def start(self, name: str, spec: RunSpec, labels: Mapping[str, str]) -> None:
        """Create the spec Secret and the Job; both creates adopt what already exists (409)."""
        secret = {
            "apiVersion": "v1",
            "kind": "Secret",
            "type": "Opaque",
            "metadata": {
                "name": name,
                "namespace": self.settings.namespace,
                "labels": dict(labels),
                "annotations": {LOCK_ANNOTATION: spec.lock_id},
            },
            "data": {"spec": base64.b64encode(spec.to_bytes()).decode()},
        }
        for resource, body in ((SECRETS, secret), (JOBS, job_manifest(name, self.settings, labels))):
            try:
                await self._kube.create(resource, body, self.settings.namespace)
            except KubernetesApiError as error:
                if error.status != 409:
                    raise

    async def state(self, name: str) -> JobState:
        job = await self._kube.get(JOBS, name, self.settings.namespace)
        if job is None:
            return JobState("Missing")
        result = await self._result(name)
        status = job.get("status") or {}
        if result is not None:
            return JobState("Succeeded", result)
        failed = next(
            (c for c in status.get("conditions") or [] if c.get("type") == "Failed" and c.get("status") == "True"),
            None,
        )
        if failed is not None or int(status.get("failed") or 0) > 0:
            reason = (failed or {}).get("message") or (failed or {}).get("reason") or "the pod failed"
            return JobState("Failed", message=f"Job {self.settings.namespace}/{name} failed without a result: {reason}")
        if int(status.get("succeeded") or 0) > 0:
            return JobState("Failed", message=f"Job {self.settings.namespace}/{name} finished without writing a result")
        return JobState("Running")

    async def _result(self, name: str) -> RunResult | None:
        secret = await self._kube.get(SECRETS, f"{name}-result", self.settings.namespace)
        if secret is None:
            return None
        data = (secret.get("data") or {}).get("result")
        return RunResult.from_bytes(base64.b64decode(data)) if data else None

    async def finish(self, name: str) -> None:
        """Drop the spec Secret (it holds the inputs); the Job and its result go with the Job's TTL."""
        try:
            await self._kube.delete(SECRETS, name, self.settings.namespace)
        except KubernetesApiError as error:
            if error.status != 404:
                raise


async def read_spec(kube: KubernetesClient, namespace: str, name: str) -> RunSpec | None:
    """The RunSpec a Job was started with (from its spec Secret), or None when the Secret is gone."""
    secret = await kube.get(SECRETS, name, namespace)
    data = ((secret or {}).get("data") or {}).get("spec")
    return RunSpec.from_bytes(base64.b64decode(data)) if data else None
