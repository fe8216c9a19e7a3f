"""Catalog sync inside the running operator: its loop, git-sync's webhook, refresh, devctl and item status."""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.gitrepos import CatalogRepo, GitSyncLayout, make_catalog_item, published_layout, pushed_repo
from tests.k8s import ApiEmulator

from .conftest import TEAM
from .harness import NAMESPACE, OperatorUnderTest, condition, is_true, wait_until

SOURCE = "platform-catalog"


@pytest.fixture
def repo(tmp_path: Path) -> CatalogRepo:
    files = {f"catalog/{name}.yaml": make_catalog_item(name) for name in ("cache", "queue")}
    return pushed_repo(tmp_path / "repo", files, "two items")


@pytest.fixture
def layout(tmp_path: Path, repo: CatalogRepo) -> GitSyncLayout:
    return published_layout(tmp_path / "git", repo)


def source(layout: GitSyncLayout, interval: str = "1h") -> dict[str, Any]:
    return {
        "apiVersion": "orchestrator.dev/v1alpha1",
        "kind": "CatalogSource",
        "metadata": {"name": SOURCE, "namespace": NAMESPACE},
        "spec": {"path": str(layout.link), "directory": "catalog", "interval": interval},
    }


def get_source(api: ApiEmulator) -> dict[str, Any]:
    found = api.get("catalogsources", SOURCE, NAMESPACE)
    assert found is not None
    return found


def applied(api: ApiEmulator, revision: str) -> bool:
    return (get_source(api).get("status") or {}).get("lastAppliedRevision") == revision


def publish(repo: CatalogRepo, layout: GitSyncLayout, **files: str) -> str:
    for name, text in files.items():
        repo.write(f"catalog/{name}.yaml", text)
    sha = repo.commit("change")
    repo.push()
    layout.publish(sha)
    return sha


@pytest.fixture
def refresh(devctl: Callable[..., Any], k8s_kubeconfig: Path) -> Callable[..., Any]:
    """``devctl catalog refresh`` against the emulator (the shared devctl fixture: in-process, no traceback)."""
    return lambda *args: devctl("catalog", "refresh", "--kubeconfig", str(k8s_kubeconfig), "-n", NAMESPACE, *args)


def test_the_operator_syncs_and_items_report_status_and_use(
    cluster: ApiEmulator,
    repo: CatalogRepo,
    layout: GitSyncLayout,
    start_operator: Callable[..., OperatorUnderTest],
) -> None:
    operator = start_operator(catalog={"item_status_interval": 0.2})
    cluster.create(source(layout))
    wait_until(lambda: applied(cluster, repo.head), what="first revision applied")
    ready = wait_until(
        lambda: (item := cluster.get("catalogitems", "cache")) and is_true(item, "Ready") and item, what="item Ready"
    )
    assert is_true(ready, "Valid")
    assert ready["status"]["catalogRevision"] == repo.head
    assert ready["status"]["observedGeneration"] == ready["metadata"]["generation"]
    assert ready["status"]["activeRequests"] == 0
    events = wait_until(lambda: cluster.events(NAMESPACE, involving=get_source(cluster)), what="an event")
    time.sleep(0.5)  # a second pass (woken by the status write's own event) must announce nothing more
    assert [e["reason"] for e in cluster.events(NAMESPACE, involving=get_source(cluster))] == ["RevisionApplied"]
    assert [e["reason"] for e in events] == ["RevisionApplied"]

    cluster.create(
        {
            "apiVersion": "orchestrator.dev/v1alpha1",
            "kind": "ServiceRequest",
            "metadata": {"name": "orders-cache", "namespace": TEAM},
            "spec": {"catalogItem": "cache", "environment": "staging", "fields": {"x": "orders"}},
        }
    )
    used = wait_until(
        lambda: (
            (r := cluster.get("servicerequests", "orders-cache", TEAM))
            and (r.get("status") or {}).get("catalogItem")
            and r
        ),
        what="request resolved its item",
    )
    assert used["status"]["catalogItem"]["revision"] == repo.head
    wait_until(
        lambda: (cluster.get("catalogitems", "cache") or {}).get("status", {}).get("activeRequests") == 1,
        what="activeRequests 1",
    )
    assert cluster.get("catalogitems", "queue")["status"]["activeRequests"] == 0  # type: ignore[index]

    metrics = urllib.request.urlopen(f"{operator.probe_url}/metrics", timeout=5).read().decode()
    labels = f'revision="{repo.head}",source="{NAMESPACE}/{SOURCE}",state="applied"'
    assert f"orchestrator_catalog_revision_info{{{labels}}} 1.0" in metrics
    assert 'orchestrator_catalog_objects{kind="CatalogItem",state="Ready"} 2.0' in metrics
    assert "orchestrator_catalog_sync_duration_seconds_count" in metrics
    assert f'orchestrator_catalog_sync_writes_total{{operation="create",source="{NAMESPACE}/{SOURCE}"}} 2.0' in metrics


def test_a_hand_made_invalid_item_reports_why(
    cluster: ApiEmulator, start_operator: Callable[..., OperatorUnderTest]
) -> None:
    start_operator()
    item = yaml.safe_load(make_catalog_item("broken"))
    item["spec"]["fulfillment"]["manual"][0]["dependsOn"] = ["nowhere"]
    cluster.create(item)
    found = wait_until(
        lambda: (obj := cluster.get("catalogitems", "broken")) and condition(obj, "Valid") and obj, what="Valid"
    )
    assert condition(found, "Valid")["status"] == "False"  # type: ignore[index]
    assert "nowhere" in condition(found, "Valid")["message"]  # type: ignore[index]
    assert is_true(found, "Stalled")
    assert not is_true(found, "Ready")


def test_git_sync_webhook_wakes_the_sync(
    cluster: ApiEmulator,
    repo: CatalogRepo,
    layout: GitSyncLayout,
    start_operator: Callable[..., OperatorUnderTest],
) -> None:
    operator = start_operator()
    cluster.create(source(layout, interval="1h"))
    wait_until(lambda: applied(cluster, repo.head), what="first revision applied")
    newer = publish(repo, layout, queue=make_catalog_item("queue", description="v2"))
    time.sleep(0.5)
    assert not applied(cluster, newer)  # an hour until the next poll

    def hook(revision: str) -> dict[str, Any]:
        post = urllib.request.Request(
            f"{operator.probe_url}/hooks/git-sync", method="POST", data=b"", headers={"Gitsync-Hash": revision}
        )
        with urllib.request.urlopen(post, timeout=5) as response:
            assert response.status == 202
            answer: dict[str, Any] = json.loads(response.read())
            return answer

    cluster.reset_access()
    assert hook(newer)["woken"] == 1
    wait_until(lambda: applied(cluster, newer), timeout=10, what="hooked revision applied")
    wait_until(
        lambda: (
            (q := cluster.get("catalogitems", "queue"))
            and q["status"].get("observedGeneration") == q["metadata"]["generation"]
        ),
        what="the item's status caught up",
    )
    time.sleep(0.3)
    # The whole cluster-side cost of a one-item change: the item, its status (new generation), the source's status,
    # and one event.
    assert cluster.write_counts() == {
        "catalogitems": 1,
        "catalogitems/status": 1,
        "catalogsources/status": 1,
        "events": 1,
    }
    assert hook(newer)["woken"] == 0  # duplicate


def test_devctl_catalog_refresh_waits_for_the_sync_and_reports_errors(
    cluster: ApiEmulator,
    repo: CatalogRepo,
    layout: GitSyncLayout,
    refresh: Callable[..., Any],
    start_operator: Callable[..., OperatorUnderTest],
) -> None:
    start_operator()
    cluster.create(source(layout, interval="1h"))
    wait_until(lambda: applied(cluster, repo.head), what="first revision applied")
    newer = publish(repo, layout, cache=make_catalog_item("cache", description="v2"))

    result = refresh("--wait", "--timeout", "20s")

    assert result.exit_code == 0, result.output
    assert f"{SOURCE}: synced revision {newer[:12]}" in result.output
    assert applied(cluster, newer)

    broken = publish(repo, layout, queue=make_catalog_item("queue").replace("version: 1.0.0", "version: one"))
    result = refresh(SOURCE, "--wait", "--timeout", "20s")

    assert result.exit_code == 1, result.output
    assert f"{SOURCE}: failed revision {broken[:12]}" in result.output
    assert "queue.yaml:" in result.output and "spec.version" in result.output
    assert applied(cluster, newer)

    as_json = refresh(SOURCE, "--wait", "-o", "json")
    assert as_json.exit_code == 1
    [entry] = json.loads(as_json.output)
    assert entry["outcome"] == "failed" and entry["errors"][0]["file"] == "queue.yaml"


def test_devctl_catalog_refresh_times_out_without_an_operator(
    cluster: ApiEmulator, layout: GitSyncLayout, refresh: Callable[..., Any]
) -> None:
    cluster.create(source(layout))
    result = refresh("--wait", "--timeout", "1s")
    assert result.exit_code == 4, result.output
    assert "did not handle the refresh within 1s" in result.output
    annotations = get_source(cluster)["metadata"]["annotations"]
    assert annotations["orchestrator.dev/refresh"].endswith("Z")


def test_devctl_catalog_refresh_names_a_missing_source(cluster: ApiEmulator, refresh: Callable[..., Any]) -> None:
    result = refresh("nope")
    assert result.exit_code == 3  # not found
    assert "nope" in result.output and "404" in result.output


def test_devctl_catalog_refresh_refuses_a_suspended_source(
    cluster: ApiEmulator, layout: GitSyncLayout, refresh: Callable[..., Any]
) -> None:
    suspended = source(layout)
    suspended["spec"]["suspend"] = True
    cluster.create(suspended)
    result = refresh("--wait", "--timeout", "1s")
    assert result.exit_code == 1, result.output
    assert "suspended" in result.output
    assert "orchestrator.dev/refresh" not in (get_source(cluster)["metadata"].get("annotations") or {})


def test_a_hand_made_bundle_reports_its_status(
    cluster: ApiEmulator, start_operator: Callable[..., OperatorUnderTest]
) -> None:
    start_operator(catalog={"item_status_interval": 0.2})
    for name in ("first", "second"):
        cluster.create(yaml.safe_load(make_catalog_item(name)))
    bundle = {
        "apiVersion": "orchestrator.dev/v1alpha1",
        "kind": "CatalogBundle",
        "metadata": {"name": "stack"},
        "spec": {
            "displayName": "Stack",
            "description": "Two items together.",
            "category": "other",
            "owner": "team-platform",
            "version": "1.0.0",
            "fields": {"type": "object", "properties": {"x": {"type": "string"}}},
            "components": [
                {"name": "one", "item": "first", "fields": {"x": "{{ fields.x }}"}},
                {"name": "two", "item": "second", "dependsOn": ["one"], "fields": {"x": "{{ fields.x }}"}},
                {"name": "three", "item": "missing"},
            ],
        },
    }
    cluster.create(bundle)
    found = wait_until(
        lambda: (obj := cluster.get("catalogbundles", "stack")) and condition(obj, "Valid") and obj, what="Valid"
    )
    assert condition(found, "Valid")["status"] == "False"  # type: ignore[index]
    assert "missing" in condition(found, "Valid")["message"]  # type: ignore[index]
    assert found["status"]["observedGeneration"] == found["metadata"]["generation"]
