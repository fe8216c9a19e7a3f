"""The pure parts of `devctl health`, `version` and `metrics`: one check per component, versions, metric filters."""

from __future__ import annotations

from typing import Any

import pytest

from orchestrator import __version__
from orchestrator.cli.health import (
    Component,
    HealthReport,
    crd_health,
    deployment_health,
    pods_health,
    requests_health,
    source_health,
    summary,
)
from orchestrator.cli.ops import (
    OperatorTarget,
    compile_filter,
    families_to_data,
    image_tag,
    parse_metrics,
    render_text,
    select_families,
    skew_warnings,
)
from orchestrator.metrics import Metrics

TARGET = OperatorTarget(namespace="orchestrator-system")


def deployment(
    replicas: int = 2, available: int = 2, updated: int = 2, progressing: dict[str, Any] | None = None
) -> dict[str, Any]:
    status: dict[str, Any] = {"availableReplicas": available, "updatedReplicas": updated, "observedGeneration": 1}
    if progressing is not None:
        status["conditions"] = [{"type": "Progressing", **progressing}]
    return {"metadata": {"name": "op", "generation": 1}, "spec": {"replicas": replicas}, "status": status}


@pytest.mark.parametrize(
    ("obj", "status", "message"),
    [
        (deployment(), "Healthy", "2/2 replicas available"),
        (deployment(available=1), "Degraded", "1/2 replicas available"),
        (deployment(available=0), "Unhealthy", "0/2 replicas available"),
        (deployment(replicas=0, available=0), "Unhealthy", "scaled to 0 replicas"),
        (deployment(updated=1), "Healthy", "2/2 replicas available; rollout in progress (1/2 updated)"),
        (
            deployment(progressing={"status": "False", "reason": "ProgressDeadlineExceeded", "message": "too slow"}),
            "Degraded",
            "2/2 replicas available; rollout stuck: ProgressDeadlineExceeded: too slow",
        ),
    ],
    ids=["available", "partly", "none", "scaled-down", "rolling", "stuck"],
)
def test_deployment_health(obj: dict[str, Any], status: str, message: str) -> None:
    assert deployment_health([obj], TARGET) == [Component("deployment/op", status, message)]  # type: ignore[arg-type]


def test_no_deployment_is_unhealthy_and_says_where_it_looked() -> None:
    [found] = deployment_health([], TARGET)
    assert found.status == "Unhealthy"
    assert "app.kubernetes.io/name=platform-orchestrator in namespace orchestrator-system" in found.message


def pod(name: str, ready: bool, *, waiting: str | None = None, restarts: int = 0, **meta: Any) -> dict[str, Any]:
    state = {"waiting": {"reason": waiting}} if waiting else {"running": {}}
    return {
        "metadata": {"name": name, **meta},
        "status": {
            "phase": "Running",
            "conditions": [{"type": "Ready", "status": "True" if ready else "False", "reason": "ContainersNotReady"}],
            "containerStatuses": [{"name": "operator", "restartCount": restarts, "state": state}],
        },
    }


@pytest.mark.parametrize(
    ("pods", "status", "message"),
    [
        ([pod("a", True)], "Healthy", "1/1 ready"),
        ([pod("a", True, restarts=1), pod("b", False)], "Warning", "1/2 ready: b ContainersNotReady; 1 restart"),
        (
            [pod("a", False, waiting="CrashLoopBackOff", restarts=7)],
            "Unhealthy",
            "0/1 ready: a CrashLoopBackOff; 7 restarts",
        ),
        ([pod("a", True), pod("old", False, deletionTimestamp="2024-01-01T00:00:00Z")], "Healthy", "1/1 ready"),
        ([], "Unhealthy", "no running pod labelled app.kubernetes.io/name=platform-orchestrator"),
    ],
    ids=["ready", "one-not-ready", "crashing", "terminating-ignored", "none"],
)
def test_pods_health(pods: list[dict[str, Any]], status: str, message: str) -> None:
    assert pods_health(pods, TARGET) == Component("pods", status, message)  # type: ignore[arg-type]


def crd(established: str = "True", served: tuple[str, ...] = ("v1alpha1",)) -> dict[str, Any]:
    return {
        "spec": {"versions": [{"name": v, "served": True, "storage": i == 0} for i, v in enumerate(served)]},
        "status": {"conditions": [{"type": "Established", "status": established, "message": "names conflict"}]},
    }


@pytest.mark.parametrize(
    ("obj", "status", "message"),
    [
        (crd(), "Healthy", "established; serves v1alpha1 (storage v1alpha1)"),
        (crd(established="False"), "Unhealthy", "not established: names conflict"),
        (crd(served=("v1beta1",)), "Unhealthy", "does not serve v1alpha1 (serves v1beta1)"),
        (None, "Unhealthy", "not installed (kubectl apply -f crds/, or install the Helm chart)"),
    ],
    ids=["established", "not-established", "wrong-version", "missing"],
)
def test_crd_health(obj: dict[str, Any] | None, status: str, message: str) -> None:
    expected = Component("crd/x.orchestrator.dev", status, message)  # type: ignore[arg-type]
    assert crd_health("x.orchestrator.dev", obj) == expected


def source(ready: dict[str, Any] | None, *, suspend: bool = False, revision: str | None = None) -> dict[str, Any]:
    status: dict[str, Any] = {"conditions": [{"type": "Ready", **ready}] if ready else []}
    if revision:
        status["lastAppliedRevision"] = revision
    return {"metadata": {"name": "main"}, "spec": {"suspend": suspend}, "status": status}


@pytest.mark.parametrize(
    ("obj", "status", "message"),
    [
        (source({"status": "True"}, revision="0123456789abcdef"), "Healthy", "synced revision 0123456789ab"),
        (
            source({"status": "False", "reason": "InvalidRevision", "message": "2 errors"}, revision="0123456789abc"),
            "Degraded",
            "InvalidRevision: 2 errors (still serving revision 0123456789ab)",
        ),
        (source(None), "Degraded", "not synced yet (no Ready condition)"),
        (source({"status": "False"}, suspend=True), "Warning", "suspended (spec.suspend: true)"),
    ],
    ids=["ready", "invalid-revision", "never-synced", "suspended"],
)
def test_source_health(obj: dict[str, Any], status: str, message: str) -> None:
    assert source_health([obj], TARGET) == [Component("catalogsource/main", status, message)]  # type: ignore[arg-type]


def test_no_catalog_source_is_a_warning() -> None:
    assert [c.status for c in source_health([], TARGET)] == ["Warning"]


def stalled(reason: str | None) -> dict[str, Any]:
    conditions = [{"type": "Stalled", "status": "True", "reason": reason}] if reason else []
    return {"metadata": {"name": "r"}, "status": {"conditions": conditions}}


@pytest.mark.parametrize(
    ("reasons", "status", "message"),
    [
        ([None, None], "Healthy", "2 ServiceRequests, none stalled"),
        (["InvalidFields", "InvalidFields", None], "Warning", "2 of 3 stalled (InvalidFields 2)"),
        (["InvalidFields", "AuthFailed"], "Degraded", "2 of 2 stalled (AuthFailed 1, InvalidFields 1)"),
        (["DeletionTimeout"], "Degraded", "1 of 1 stalled (DeletionTimeout 1)"),
    ],
    ids=["none", "requester-errors", "platform-error", "deletion-timeout"],
)
def test_stalled_requests(reasons: list[str | None], status: str, message: str) -> None:
    expected = Component("servicerequests", status, message)  # type: ignore[arg-type]
    assert requests_health([stalled(r) for r in reasons]) == expected


@pytest.mark.parametrize(
    ("statuses", "verdict"),
    [
        (["Healthy", "Warning"], "Healthy"),
        (["Healthy", "Degraded"], "Degraded"),
        (["Healthy", "Unknown"], "Degraded"),
        (["Degraded", "Unhealthy", "Warning"], "Unhealthy"),
    ],
    ids=["warnings-pass", "degraded", "unknown-counts-as-degraded", "unhealthy-wins"],
)
def test_verdict(statuses: list[str], verdict: str) -> None:
    report = HealthReport("ns", [Component(f"c{i}", s, "") for i, s in enumerate(statuses)])  # type: ignore[arg-type]
    assert report.verdict == verdict
    assert summary(report).startswith(f"{verdict}: operator in namespace ns")


@pytest.mark.parametrize(
    ("image", "tag"),
    [
        ("ghcr.io/org/op:1.2.3", "1.2.3"),
        ("registry:5000/org/op:0.9", "0.9"),
        ("registry:5000/org/op", None),
        ("op@sha256:abc", None),
        ("op:1.0@sha256:abc", "1.0"),
    ],
)
def test_image_tag(image: str, tag: str | None) -> None:
    assert image_tag(image) == tag


def test_metric_filter_selects_whole_families_and_renders_them_back() -> None:
    metrics = Metrics()
    metrics.action_failures.labels("jira", "RateLimited").inc()
    families = parse_metrics(metrics.exposition().decode(), source="test")
    counter = select_families(families, compile_filter("^orchestrator_action_failures_total$"))
    assert [f.name for f in counter] == ["orchestrator_action_failures"]  # matched by its exposition name
    text = render_text(counter)
    assert text.splitlines() == [
        "# HELP orchestrator_action_failures_total Action failures by action type and reason (temporary ones included)",
        "# TYPE orchestrator_action_failures_total counter",
        'orchestrator_action_failures_total{reason="RateLimited",type="jira"} 1.0',
    ]
    assert render_text(select_families(families, None)) == metrics.exposition().decode()
    assert [f.name for f in select_families(families, compile_filter("build_info"))] == ["orchestrator_build_info"]


def test_metric_data_is_json_safe() -> None:
    text = "# TYPE x gauge\nx NaN\n# TYPE y gauge\ny +Inf\n# TYPE z gauge\nz 1.5 1700000000000\n"
    data = families_to_data(parse_metrics(text, source="test"))
    assert [s["value"] for family in data for s in family["samples"]] == ["NaN", "+Inf", 1.5]
    assert data[2]["samples"][0]["timestamp"] == 1700000000.0


def test_bad_filter_and_bad_exposition_are_value_errors() -> None:
    with pytest.raises(ValueError, match="not a regular expression"):
        compile_filter("(")
    with pytest.raises(ValueError, match="the operator's /metrics is not Prometheus text"):
        parse_metrics("x{ 1\n", source="the operator's /metrics")


def version_report(
    operator: str | None, bundles: list[str | None], versions: list[str] | None = None
) -> dict[str, Any]:
    return {
        "client": {"version": __version__},
        "operator": {
            "version": operator,
            "versions": versions if versions is not None else [operator] if operator else [],
        },
        "crds": [{"name": f"c{i}", "installed": b is not None, "bundleVersion": b} for i, b in enumerate(bundles)],
    }


@pytest.mark.parametrize(
    ("report", "warnings"),
    [
        (version_report(__version__, [__version__]), []),
        (version_report("9.0.0", ["9.0.0"]), [f"devctl is {__version__} but the operator runs 9.0.0"]),
        (
            version_report(__version__, ["0.0.1", __version__]),
            [f"the CRDs are from bundle 0.0.1, {__version__} but the operator is {__version__}"],
        ),
        (version_report(None, [__version__, None]), ["CRDs not installed: c1"]),
        (
            version_report(None, [__version__], versions=["1.0.0", "1.1.0"]),
            ["the operator's pods run different versions: 1.0.0, 1.1.0"],
        ),
    ],
    ids=["all-equal", "operator-newer", "old-crds", "missing-crd", "mixed-pods"],
)
def test_skew_warnings(report: dict[str, Any], warnings: list[str]) -> None:
    assert skew_warnings(report) == warnings
