"""The main scenarios on a real kind cluster with the chart installed by hack/kind-up.sh: catalog sync through the
git-sync sidecar, a JIRA request to Ready, a Terraform request with its outputs Secret, workspace hibernate/resume,
and deletion. Run with hack/kind-e2e.sh; skipped unless E2E_KUBECONTEXT names a kind context."""

from __future__ import annotations

import base64
import json
import re
import uuid
from typing import Any

import pytest

from .conftest import CATALOG_DIR, E2E_ITEMS, refresh
from .kube import CatalogRepo, Kube, condition, phase, wait_until

pytestmark = pytest.mark.e2e


def _submit(kube: Kube, item: str, namespace: str, name: str, *fields: str) -> dict[str, Any]:
    args = ["request", "submit", item, "-n", namespace, "--name", name, "--wait", "--timeout", "8m", "-o", "json"]
    for field in fields:
        args += ["--field", field]
    result = kube.devctl(*args)
    assert result.returncode == 0, f"devctl request submit {item} exited {result.returncode}:\n{result.stderr}"
    obj: dict[str, Any] = json.loads(result.stdout)
    assert phase(obj) == "Ready", obj.get("status")
    ready = condition(obj, "Ready")
    assert ready is not None and ready["status"] == "True", obj.get("status")
    return obj


def _delete_request(kube: Kube, namespace: str, name: str) -> None:
    kube.kubectl("delete", "servicerequest", name, "-n", namespace, "--wait=false")
    wait_until(lambda: kube.get("servicerequest", name, namespace) is None, f"{namespace}/{name} to be deleted")


def test_operator_is_healthy(kube: Kube) -> None:
    result = kube.devctl("health", "--components", "-o", "json")
    report = json.loads(result.stdout)
    unhealthy = [c for c in report["components"] if c["status"] not in ("Healthy", "Warning")]
    assert result.returncode == 0 and report["status"] == "Healthy", unhealthy


def test_catalog_sync_applies_and_prunes(kube: Kube, catalog_repo: CatalogRepo, catalog_source: str) -> None:
    probe = f"e2e-sync-{uuid.uuid4().hex[:6]}"
    text = (E2E_ITEMS / "e2e-ticket.yaml").read_text(encoding="utf-8").replace("name: e2e-ticket", f"name: {probe}")
    path = f"{CATALOG_DIR}/e2e-sync/{probe}.yaml"

    revision = catalog_repo.put(path, text)
    refresh(kube, catalog_source, revision)
    item = kube.get("catalogitem", probe)
    assert item is not None, f"CatalogItem {probe} was not applied from revision {revision}"
    listed = kube.devctl("catalog", "get", probe, "-o", "json")
    assert listed.returncode == 0, listed.stderr
    assert json.loads(listed.stdout)["metadata"]["name"] == probe
    source = kube.get("catalogsource", catalog_source, kube.operator_namespace)
    assert revision in str((source or {})["status"].get("lastAppliedRevision")), source

    revision = catalog_repo.remove(f"{CATALOG_DIR}/e2e-sync")
    refresh(kube, catalog_source, revision)
    wait_until(lambda: kube.get("catalogitem", probe) is None, f"CatalogItem {probe} to be pruned", timeout=120)


def test_jira_request_becomes_ready_and_is_deleted(kube: Kube, e2e_items: list[str], team: str) -> None:
    obj = _submit(kube, "e2e-ticket", team, "ticket", "topic=rollout")
    outputs = obj["status"]["outputs"]
    assert re.fullmatch(r"OPS-\d+", outputs["ticket"]), outputs
    assert outputs["resolution"] == "Done", outputs
    _delete_request(kube, team, "ticket")


def test_terraform_request_writes_outputs_secret(kube: Kube, e2e_items: list[str], team: str) -> None:
    obj = _submit(kube, "e2e-bucket", team, "bucket", "name=assets")
    status = obj["status"]
    assert status["outputs"]["bucketName"].startswith("assets-"), status["outputs"]
    assert "bucketArn" not in status["outputs"], "a sensitive output must not be in status"
    secret_name = status["outputsSecretRef"]["name"]
    secret = kube.get("secret", secret_name, team)
    assert secret is not None, f"outputs Secret {team}/{secret_name} missing"
    arn = base64.b64decode(secret["data"]["bucketArn"]).decode()
    assert arn == f"arn:aws:s3:::{status['outputs']['bucketName']}", arn
    owners = [ref["kind"] for ref in secret["metadata"].get("ownerReferences", [])]
    assert "ServiceRequest" in owners, secret["metadata"]

    _delete_request(kube, team, "bucket")
    wait_until(lambda: kube.get("secret", secret_name, team) is None, f"outputs Secret {secret_name} to go")


def test_workspace_hibernates_resumes_and_is_deleted(kube: Kube, team: str) -> None:
    short = f"ws{uuid.uuid4().hex[:6]}"
    obj = _submit(kube, "dev-workspace", team, "workspace", f"name={short}", "owners=e2e-developers", "size=small")
    workspace = obj["status"]["outputs"]["namespace"]
    assert kube.get("namespace", workspace) is not None
    kube.apply(
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "app", "namespace": workspace},
            "spec": {
                "replicas": 2,
                "selector": {"matchLabels": {"app": "app"}},
                "template": {
                    "metadata": {"labels": {"app": "app"}},
                    "spec": {
                        "containers": [
                            {
                                "name": "pause",
                                "image": "registry.k8s.io/pause:3.9",
                                "resources": {
                                    "requests": {"cpu": "10m", "memory": "16Mi"},
                                    "limits": {"memory": "16Mi"},
                                },
                                "securityContext": {
                                    "runAsNonRoot": True,
                                    "runAsUser": 65535,
                                    "allowPrivilegeEscalation": False,
                                    "capabilities": {"drop": ["ALL"]},
                                    "seccompProfile": {"type": "RuntimeDefault"},
                                },
                            }
                        ]
                    },
                },
            },
        }
    )

    def replicas() -> int:
        deployment = kube.get("deployment", "app", workspace)
        return int((deployment or {}).get("spec", {}).get("replicas", -1))

    hibernate = kube.devctl("workspace", "hibernate", "workspace", "-n", team, "--wait", "--timeout", "5m")
    assert hibernate.returncode == 0, hibernate.stdout + hibernate.stderr
    assert phase(kube.get("servicerequest", "workspace", team)) == "Hibernated"
    wait_until(lambda: replicas() == 0, "the workspace's Deployment to be scaled to 0", timeout=120)

    resume = kube.devctl("workspace", "resume", "workspace", "-n", team, "--wait", "--timeout", "5m")
    assert resume.returncode == 0, resume.stdout + resume.stderr
    assert phase(kube.get("servicerequest", "workspace", team)) == "Ready"
    wait_until(lambda: replicas() == 2, "the workspace's Deployment to get its 2 replicas back", timeout=120)

    _delete_request(kube, team, "workspace")
    wait_until(lambda: kube.get("namespace", workspace) is None, f"workspace namespace {workspace} to go", timeout=600)
