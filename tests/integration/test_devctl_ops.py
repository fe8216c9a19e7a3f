"""`devctl health`, `devctl version` and `devctl metrics` against the emulator, with the real operator running.

The emulator has no kubelet: the objects the Helm chart would create (the operator's Deployment, its pod and its
Service, labelled app.kubernetes.io/name=platform-orchestrator) are created by the test, and the Service's proxy
is routed to the probe server of the operator running in this process — so /readyz and /metrics are the real ones.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from orchestrator import __version__
from tests.gitrepos import CatalogRepo, GitSyncLayout, make_catalog_item, published_layout, pushed_repo
from tests.k8s import ApiEmulator

from .conftest import TEAM, request
from .harness import NAMESPACE, OperatorUnderTest, condition, wait_until

LABELS = {"app.kubernetes.io/name": "platform-orchestrator", "app.kubernetes.io/version": __version__}
IMAGE = f"ghcr.io/example/platform-orchestrator:{__version__}"
SERVICE = "platform-orchestrator"
LABELS_VERSION = "app.kubernetes.io/version"
CRDS = ("catalogbundles", "catalogitems", "catalogsources", "servicerequests")
Devctl = Callable[..., Any]


def chart_objects(*, ready: bool = True) -> list[dict[str, Any]]:
    """What the Helm chart installs in the operator's namespace, with the status a kubelet would report."""
    pod_ready = "True" if ready else "False"
    return [
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "platform-orchestrator", "namespace": NAMESPACE, "labels": LABELS},
            "spec": {
                "replicas": 1,
                "selector": {"matchLabels": {"app.kubernetes.io/name": "platform-orchestrator"}},
                "template": {"metadata": {"labels": LABELS}, "spec": {"containers": [{"name": "operator"}]}},
            },
            "status": {
                "observedGeneration": 1,
                "replicas": 1,
                "updatedReplicas": 1,
                "readyReplicas": 1 if ready else 0,
                "availableReplicas": 1 if ready else 0,
            },
        },
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "platform-orchestrator-7d9f-abcde", "namespace": NAMESPACE, "labels": LABELS},
            "spec": {
                "containers": [
                    {"name": "git-sync", "image": "registry.k8s.io/git-sync/git-sync:v4.2.3"},
                    {"name": "operator", "image": IMAGE},
                ]
            },
            "status": {
                "phase": "Running",
                "conditions": [{"type": "Ready", "status": pod_ready}],
                "containerStatuses": [
                    {"name": "git-sync", "ready": True, "restartCount": 0, "state": {"running": {}}},
                    {
                        "name": "operator",
                        "ready": ready,
                        "restartCount": 0 if ready else 4,
                        "state": {"running": {}} if ready else {"waiting": {"reason": "CrashLoopBackOff"}},
                    },
                ],
            },
        },
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": SERVICE, "namespace": NAMESPACE, "labels": LABELS},
            "spec": {"ports": [{"name": "http", "port": 8080}], "selector": {"app.kubernetes.io/name": SERVICE}},
        },
    ]


def catalog_source(name: str, path: str) -> dict[str, Any]:
    return {
        "apiVersion": "orchestrator.dev/v1alpha1",
        "kind": "CatalogSource",
        "metadata": {"name": name, "namespace": NAMESPACE},
        "spec": {"path": path, "directory": "catalog", "interval": "1h"},
    }


def source_ready(api: ApiEmulator, name: str) -> str | None:
    return (condition(api.get("catalogsources", name, NAMESPACE), "Ready") or {}).get("status")


@pytest.fixture
def repo(tmp_path: Path) -> CatalogRepo:
    return pushed_repo(tmp_path / "repo", {"catalog/cache.yaml": make_catalog_item("cache")}, "one item")


@pytest.fixture
def layout(tmp_path: Path, repo: CatalogRepo) -> GitSyncLayout:
    return published_layout(tmp_path / "git", repo)


@pytest.fixture
def installed(
    cluster: ApiEmulator, start_operator: Callable[..., OperatorUnderTest], layout: GitSyncLayout
) -> OperatorUnderTest:
    """The operator running, its chart objects in place, its Service proxied to it, its catalog synced."""
    operator = start_operator()
    cluster.load(chart_objects())
    cluster.proxy_service(NAMESPACE, SERVICE, operator.probe_url)
    cluster.create(catalog_source("platform-catalog", str(layout.link)))
    wait_until(lambda: source_ready(cluster, "platform-catalog") == "True", what="the catalog synced")
    return operator


@pytest.fixture
def ops(devctl: Devctl, k8s_kubeconfig: Path) -> Devctl:
    """devctl against the emulator; the kubeconfig's namespace is `default`, the operator's comes from -n or not."""
    return lambda *args: devctl(*args, "--kubeconfig", str(k8s_kubeconfig))


@pytest.fixture
def unreachable_kubeconfig(tmp_path: Path) -> Path:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again when the block ends: nothing listens there
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "gone", "cluster": {"server": f"http://127.0.0.1:{port}"}}],
        "users": [{"name": "gone", "user": {}}],
        "contexts": [{"name": "gone", "context": {"cluster": "gone", "user": "gone"}}],
        "current-context": "gone",
    }
    path = tmp_path / "unreachable"
    path.write_text(yaml.safe_dump(config))
    return path


# ---- health ---------------------------------------------------------------------------------------------------


def test_health_of_a_running_operator_is_healthy(installed: OperatorUnderTest, ops: Devctl) -> None:
    result = ops("health")  # no -n: the operator's namespace defaults to orchestrator-system, not the context's
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[0].startswith(f"Healthy: operator in namespace {NAMESPACE}")

    table = ops("health", "--components", "-n", NAMESPACE)
    assert table.exit_code == 0, table.output
    rows = {line.split()[0]: line.split()[1] for line in table.output.splitlines()[2:]}
    assert rows == {
        "deployment/platform-orchestrator": "Healthy",
        "pods": "Healthy",
        "readyz": "Healthy",
        "healthz": "Healthy",
        **{f"crd/{plural}.orchestrator.dev": "Healthy" for plural in CRDS},
        "catalogsource/platform-catalog": "Healthy",
        "servicerequests": "Healthy",
    }
    assert table.output.splitlines()[1].split() == ["COMPONENT", "STATUS", "MESSAGE"]

    data = json.loads(ops("health", "-o", "json").output)
    assert data["status"] == "Healthy"
    assert data["namespace"] == NAMESPACE
    readyz = next(c for c in data["components"] if c["component"] == "readyz")
    assert readyz["message"] == f"ok (service {SERVICE}:http)"


def test_health_with_a_broken_catalog_source_is_degraded(
    installed: OperatorUnderTest, cluster: ApiEmulator, ops: Devctl, tmp_path: Path
) -> None:
    cluster.create(catalog_source("broken", str(tmp_path / "no-such-link")))
    wait_until(lambda: source_ready(cluster, "broken") == "False", what="the broken source reported")

    result = ops("health", "-n", NAMESPACE)
    assert result.exit_code == 1, result.output
    lines = result.output.splitlines()
    assert lines[0] == f"Degraded: operator in namespace {NAMESPACE}: 1 of 11 checks failed"
    assert lines[2].split()[:3] == ["catalogsource/broken", "Degraded", "SourceUnavailable:"]
    assert len(lines) == 3  # only what failed, without --components

    data = json.loads(ops("health", "-n", NAMESPACE, "-o", "json").output)
    states = {c["component"]: c["status"] for c in data["components"]}
    assert states["catalogsource/broken"] == "Degraded"
    assert states["catalogsource/platform-catalog"] == "Healthy"


def test_health_without_endpoints_or_ready_pods_is_unhealthy(
    installed: OperatorUnderTest, cluster: ApiEmulator, ops: Devctl
) -> None:
    cluster.proxy_service(NAMESPACE, SERVICE, None)
    for obj in chart_objects(ready=False)[:2]:
        cluster.replace(obj, status=True)

    result = ops("health", "--components", "-o", "yaml", "-n", NAMESPACE)
    assert result.exit_code == 1, result.output
    data = yaml.safe_load(result.output)
    assert data["status"] == "Unhealthy"
    found = {c["component"]: (c["status"], c["message"]) for c in data["components"]}
    assert found["deployment/platform-orchestrator"] == ("Unhealthy", "0/1 replicas available")
    assert found["pods"] == ("Unhealthy", "0/1 ready: platform-orchestrator-7d9f-abcde CrashLoopBackOff; 4 restarts")
    assert found["readyz"][0] == "Unhealthy"
    assert 'no endpoints available for service "platform-orchestrator"' in found["readyz"][1]


def test_health_counts_stalled_requests_and_warns_on_requester_errors(
    installed: OperatorUnderTest, cluster: ApiEmulator, ops: Devctl, ticket_item: dict[str, Any]
) -> None:
    cluster.create(ticket_item)
    cluster.create(request("bad-host", fields={"host": "Not A Host!"}))
    wait_until(
        lambda: (condition(cluster.get("servicerequests", "bad-host", TEAM), "Stalled") or {}).get("status") == "True",
        what="the request stalled",
    )
    result = ops("health", "-n", NAMESPACE)
    assert result.exit_code == 0, result.output  # a requester's typo is not the operator's health
    assert "(1 with warnings)" in result.output.splitlines()[0]
    assert result.output.splitlines()[2].split() == [
        "servicerequests",
        "Warning",
        "1",
        "of",
        "1",
        "stalled",
        "(InvalidFields",
        "1)",
    ]


def test_health_of_an_unreachable_cluster_exits_5(devctl: Devctl, unreachable_kubeconfig: Path) -> None:
    result = devctl("health", "--kubeconfig", str(unreachable_kubeconfig))
    assert result.exit_code == 5, result.output
    assert "cannot reach the API server" in result.output


def test_health_names_a_missing_operator(cluster: ApiEmulator, ops: Devctl) -> None:
    result = ops("health", "-n", "elsewhere")
    assert result.exit_code == 1
    data = json.loads(ops("health", "-n", "elsewhere", "-o", "json").output)
    found = {c["component"]: (c["status"], c["message"]) for c in data["components"]}
    label = "app.kubernetes.io/name=platform-orchestrator"
    assert found["deployment"] == (
        "Unhealthy",
        f"no Deployment labelled {label} in namespace elsewhere (is it installed?)",
    )
    assert found["service"][0] == "Unhealthy"
    assert found["catalogsources"][0] == "Warning"


# ---- version --------------------------------------------------------------------------------------------------


def test_version_reports_client_operator_and_crds(
    installed: OperatorUnderTest, ops: Devctl, k8s_api: ApiEmulator
) -> None:
    result = ops("version", "--full")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].split() == ["Client", "Version:", __version__]
    assert lines[1] == (
        f"Operator Version:  {__version__} (from the orchestrator_build_info metric; 1 pod in {NAMESPACE})"
    )
    assert [line.split() for line in lines[3:8]] == [
        ["NAME", "SERVED", "STORAGE", "BUNDLE"],
        *([f"{plural}.orchestrator.dev", "v1alpha1", "v1alpha1", __version__] for plural in CRDS),
    ]
    assert lines[8].startswith("Server Version:    v1.31.0")
    assert lines[9].split() == ["Context:", "emulator"]
    assert lines[10].split() == ["API", "Server:", k8s_api.url]
    assert "warning" not in result.output

    data = json.loads(ops("version", "-o", "json").output)
    assert data["client"] == {"version": __version__}
    assert data["operator"]["source"] == "metrics"
    assert data["operator"]["pods"] == [
        {
            "name": "platform-orchestrator-7d9f-abcde",
            "image": IMAGE,
            "imageTag": __version__,
            "versionLabel": __version__,
        }
    ]
    assert "server" not in data


def test_version_falls_back_to_the_pod_label_and_warns_about_skew(
    installed: OperatorUnderTest, cluster: ApiEmulator, ops: Devctl
) -> None:
    cluster.proxy_service(NAMESPACE, SERVICE, None)  # no metrics: the pods must tell
    cluster.patch(
        "pods", "platform-orchestrator-7d9f-abcde", {"metadata": {"labels": {LABELS_VERSION: "9.9.9"}}}, NAMESPACE
    )
    result = ops("version", "-n", NAMESPACE)
    assert result.exit_code == 0, result.output
    assert f"Operator Version:  9.9.9 (from the pod label; 1 pod in {NAMESPACE})" in result.output
    assert "  note: metrics: " in result.output
    assert f"warning: devctl is {__version__} but the operator runs 9.9.9" in result.output
    assert f"warning: the CRDs are from bundle {__version__} but the operator is 9.9.9" in result.output


def test_version_of_an_unreachable_cluster_prints_the_client_and_exits_5(
    devctl: Devctl, unreachable_kubeconfig: Path
) -> None:
    result = devctl("version", "--kubeconfig", str(unreachable_kubeconfig))
    assert result.exit_code == 5, result.output
    assert result.output.splitlines()[0].split() == ["Client", "Version:", __version__]
    assert "devctl: the cluster is unreachable: " in result.output

    as_json = devctl("version", "--kubeconfig", str(unreachable_kubeconfig), "-o", "json")
    assert as_json.exit_code == 5
    document = as_json.output[: as_json.output.index("\ndevctl:")]
    assert json.loads(document)["client"] == {"version": __version__}


# ---- metrics --------------------------------------------------------------------------------------------------


def test_metrics_filter_keeps_whole_families(installed: OperatorUnderTest, ops: Devctl) -> None:
    result = ops("metrics", "--filter", "^orchestrator_(build_info|catalog_objects)$")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[:5] == [
        "# HELP orchestrator_build_info The running operator's version (value 1); devctl version reads it",
        "# TYPE orchestrator_build_info gauge",
        f'orchestrator_build_info{{version="{__version__}"}} 1.0',
        "# HELP orchestrator_catalog_objects CatalogItems and CatalogBundles in the cluster by kind and state "
        "(Ready, NotReady)",
        "# TYPE orchestrator_catalog_objects gauge",
    ]
    assert lines[5:] and all(line.startswith("orchestrator_catalog_objects{kind=") for line in lines[5:])

    histogram = ops("metrics", "--filter", "event_loop_lag_seconds")
    lines = histogram.output.splitlines()
    assert lines[:2] == [
        "# HELP orchestrator_event_loop_lag_seconds How late the operator's event loop ran a timer scheduled for now",
        "# TYPE orchestrator_event_loop_lag_seconds histogram",
    ]
    assert all("orchestrator_event_loop_lag_seconds" in line for line in lines)
    assert 'orchestrator_event_loop_lag_seconds_bucket{le="+Inf"}' in histogram.output
    assert "orchestrator_event_loop_lag_seconds_count " in histogram.output
    assert "# TYPE orchestrator_event_loop_lag_seconds_created gauge" in lines


def test_metrics_as_json_are_parsed_samples(installed: OperatorUnderTest, ops: Devctl) -> None:
    result = ops("metrics", "--filter", "build_info|event_loop_lag_seconds", "-o", "json")
    assert result.exit_code == 0, result.output
    families = {family["name"]: family for family in json.loads(result.output)}
    assert set(families) == {
        "orchestrator_build_info",
        "orchestrator_event_loop_lag_seconds",
        "orchestrator_event_loop_lag_seconds_created",
    }
    assert families["orchestrator_build_info"]["samples"] == [
        {"name": "orchestrator_build_info", "labels": {"version": __version__}, "value": 1.0}
    ]
    lag = families["orchestrator_event_loop_lag_seconds"]
    assert lag["type"] == "histogram"
    buckets = [s for s in lag["samples"] if s["name"].endswith("_bucket")]
    assert buckets[-1]["labels"] == {"le": "+Inf"}
    assert all(isinstance(s["value"], float) for s in lag["samples"])

    names = ops("metrics", "--filter", "build_info", "-o", "name")
    assert names.output.split() == ["orchestrator_build_info"]


def test_metrics_filter_mistakes(installed: OperatorUnderTest, ops: Devctl) -> None:
    bad = ops("metrics", "--filter", "(unclosed")
    assert bad.exit_code == 2
    assert "--filter" in bad.output and "not a regular expression" in bad.output
    none = ops("metrics", "--filter", "^no_such_metric$")
    assert none.exit_code == 0
    assert none.output.strip() == "No metric family matches --filter '^no_such_metric$'."


def test_metrics_names_a_missing_service(cluster: ApiEmulator, ops: Devctl) -> None:
    result = ops("metrics", "-n", NAMESPACE)
    assert result.exit_code == 3, result.output
    assert "no Service labelled app.kubernetes.io/name=platform-orchestrator in namespace" in result.output
    named = ops("metrics", "-n", NAMESPACE, "--service", "nope")
    assert named.exit_code == 3, named.output
    assert 'services "nope" not found' in named.output
