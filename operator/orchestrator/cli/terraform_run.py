"""`orchestrator terraform-run`: the entry point of the job runner's Jobs.

Reads a RunSpec from a Secret, runs it (clients/terraform.execute) and writes the RunResult to a result Secret that
the operator reads back. Exit codes: 0 when a result was written (also when Terraform failed: the result says so),
1 on an infrastructure error (cluster unreachable, spec Secret missing or unreadable, result not writable), with one
line on stderr.
"""

from __future__ import annotations

import asyncio
import base64
import os
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from ..clients.kubernetes import KubernetesApi
    from ..clients.terraform import RunResult, RunSpec

LOCK_ID_ANNOTATION = "orchestrator.dev/lock-id"
RESULT_LABEL = "orchestrator.dev/terraform-result"
SPEC_KEY = "spec"
RESULT_KEY = "result"
JOB_NAME_ENV = "JOB_NAME"


class InfrastructureError(Exception):
    """Something around Terraform failed; the message is the one line printed on stderr."""


@click.command("terraform-run")
@click.option("--namespace", required=True, help="Namespace of the spec and result Secrets (and of the Job).")
@click.option("--spec-secret", required=True, help="Secret whose data key `spec` is the RunSpec.")
@click.option("--result-secret", default=None, help="Secret to write the RunResult to [default: <spec-secret>-result].")
@click.option(
    "--scratch",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help="Writable folder for the working directory [default: the system temp folder].",
)
@click.option("--timeout", type=float, default=None, help="Seconds the whole run may take [default: 1800].")
@click.option(
    "--plugin-cache",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help="Provider plugin cache folder (TF_PLUGIN_CACHE_DIR).",
)
@click.option("--kubeconfig", default=None, help="kubeconfig file; in-cluster service account when omitted.")
def terraform_run(
    namespace: str,
    spec_secret: str,
    result_secret: str | None,
    scratch: Path | None,
    timeout: float | None,
    plugin_cache: Path | None,
    kubeconfig: str | None,
) -> None:
    """Run one Terraform RunSpec from a Secret and write its RunResult to another Secret."""
    from ..config import TerraformSettings

    defaults = TerraformSettings()
    try:
        message = asyncio.run(
            _run(
                namespace=namespace,
                spec_secret=spec_secret,
                result_secret=result_secret or f"{spec_secret}-result",
                scratch=scratch or Path(tempfile.gettempdir()) / "orchestrator-terraform",
                timeout=defaults.run_timeout if timeout is None else timeout,
                plugin_cache=plugin_cache or defaults.plugin_cache_dir,
                interrupt_grace=defaults.interrupt_grace,
                kubeconfig=kubeconfig,
            )
        )
    except InfrastructureError as error:
        click.echo(f"error: {error}", err=True)
        sys.exit(1)
    click.echo(message)


async def _run(
    *,
    namespace: str,
    spec_secret: str,
    result_secret: str,
    scratch: Path,
    timeout: float,
    plugin_cache: Path | None,
    interrupt_grace: float,
    kubeconfig: str | None,
) -> str:
    import aiohttp

    from ..clients.kubernetes import SECRETS, ClusterAccess, KubernetesApi, KubernetesApiError
    from ..clients.terraform import execute

    try:
        access = ClusterAccess.load(kubeconfig)
    except Exception as error:  # the kubernetes config loaders raise several unrelated types
        raise InfrastructureError(f"cannot load cluster credentials: {error}") from None
    api = await KubernetesApi.connect(access)
    try:
        spec, labels = await _read_spec(api, namespace, spec_secret)
        existing = await api.get(SECRETS, result_secret, namespace)
        if existing is not None and _lock_id(existing) == spec.lock_id:
            return f"{namespace}/{result_secret} already holds the result of lock {spec.lock_id!r}; nothing to do"
        try:
            result = await asyncio.to_thread(
                execute, spec, scratch, timeout=timeout, plugin_cache=plugin_cache, interrupt_grace=interrupt_grace
            )
        except OSError as error:
            raise InfrastructureError(f"cannot use the scratch folder {scratch}: {error}") from None
        click.echo(result.log, err=True)
        owner = await _job_owner(api, namespace)
        await _write_result(api, namespace, result_secret, spec, result, labels, owner, existing)
    except KubernetesApiError as error:
        raise InfrastructureError(f"Kubernetes API: {error}") from None
    except (aiohttp.ClientError, TimeoutError, OSError) as error:
        raise InfrastructureError(
            f"cannot reach the Kubernetes API at {access.server}: {error or type(error).__name__}"
        ) from None
    finally:
        await api.close()
    outcome = "ok" if result.ok else f"failed ({result.error.kind if result.error else 'unknown'})"
    return f"{spec.operation} {spec.module_name}: {outcome}; result written to {namespace}/{result_secret}"


async def _read_spec(api: KubernetesApi, namespace: str, name: str) -> tuple[RunSpec, dict[str, str]]:
    from ..clients.kubernetes import SECRETS
    from ..clients.terraform import RunSpec

    secret = await api.get(SECRETS, name, namespace)
    if secret is None:
        raise InfrastructureError(f"spec Secret {namespace}/{name} not found")
    encoded = (secret.get("data") or {}).get(SPEC_KEY)
    if not encoded:
        raise InfrastructureError(f"spec Secret {namespace}/{name} has no data key {SPEC_KEY!r}")
    try:
        spec = RunSpec.from_bytes(base64.b64decode(encoded, validate=True))
    except ValueError as error:
        raise InfrastructureError(f"spec Secret {namespace}/{name}: {error}") from None
    labels = {str(k): str(v) for k, v in ((secret.get("metadata") or {}).get("labels") or {}).items()}
    return spec, labels


def _lock_id(secret: Mapping[str, Any]) -> str | None:
    annotations = (secret.get("metadata") or {}).get("annotations") or {}
    value = annotations.get(LOCK_ID_ANNOTATION)
    return None if value is None else str(value)


async def _job_owner(api: KubernetesApi, namespace: str) -> list[dict[str, Any]]:
    """An ownerReference to the Job named by $JOB_NAME (so the result goes with the Job); none without it."""
    from ..clients.kubernetes import JOBS

    job_name = os.environ.get(JOB_NAME_ENV)
    if not job_name:
        return []
    job = await api.get(JOBS, job_name, namespace)
    if job is None:
        # The result matters more than its garbage collection: write it unowned rather than lose an apply.
        click.echo(f"warning: Job {namespace}/{job_name} not found; the result Secret has no owner", err=True)
        return []
    uid = job["metadata"]["uid"]
    return [{"apiVersion": "batch/v1", "kind": "Job", "name": job_name, "uid": uid, "blockOwnerDeletion": False}]


async def _write_result(
    api: KubernetesApi,
    namespace: str,
    name: str,
    spec: RunSpec,
    result: RunResult,
    labels: Mapping[str, str],
    owner: list[dict[str, Any]],
    existing: Mapping[str, Any] | None,
) -> None:
    from ..clients.kubernetes import SECRETS, KubernetesApiError

    metadata: dict[str, Any] = {
        "name": name,
        "namespace": namespace,
        "labels": {**labels, RESULT_LABEL: "true"},
        "annotations": {LOCK_ID_ANNOTATION: spec.lock_id},
    }
    if owner:
        metadata["ownerReferences"] = owner
    data = {RESULT_KEY: base64.b64encode(result.to_bytes()).decode("ascii")}
    if existing is not None:  # the result of another lock: replaced
        await api.patch(SECRETS, name, {"metadata": metadata, "data": data}, namespace)
        return
    body = {"apiVersion": "v1", "kind": "Secret", "type": "Opaque", "metadata": metadata, "data": data}
    try:
        await api.create(SECRETS, body, namespace)
    except KubernetesApiError as error:
        if error.status != 409:
            raise
        current = await api.get(SECRETS, name, namespace)
        if current is None or _lock_id(current) != spec.lock_id:
            raise
