"""Conformance of the API emulator with the kube-apiserver semantics the operator relies on (over plain HTTP)."""

from __future__ import annotations

import collections
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import kmock
import kopf
import pytest

from tests.k8s import Access, ApiEmulator, jsonpath
from tests.k8s.fixtures import CRDS_DIR
from tests.k8s.rest import TABLE, RestClient

ROOT = Path(__file__).resolve().parents[2]
GROUP = "/apis/orchestrator.dev/v1alpha1"
SRS = GROUP + "/namespaces/{ns}/servicerequests"
ALL_SRS = GROUP + "/servicerequests"
ITEMS = GROUP + "/catalogitems"
CMS = "/api/v1/namespaces/{ns}/configmaps"
SECRETS = "/api/v1/namespaces/{ns}/secrets"


def sr(name: str, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "apiVersion": "orchestrator.dev/v1alpha1",
        "kind": "ServiceRequest",
        "metadata": {"name": name},
        "spec": {"catalogItem": "postgresql-standard", "environment": "dev"},
    }
    for key, value in extra.items():
        body[key] = {**body.get(key, {}), **value}
    return body


@pytest.fixture
def rest(k8s_api: ApiEmulator) -> RestClient:
    for namespace in ("team-a", "team-b"):
        k8s_api.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}})
    return RestClient(k8s_api.url)


def make(rest: RestClient, name: str = "demo", ns: str = "team-a", **extra: Any) -> dict[str, Any]:
    response = rest.post(SRS.format(ns=ns), sr(name, **extra))
    assert response.status == 201, response.body
    return dict(response.body)


def _eventually(fn: Any, timeout: float = 5.0) -> Any:
    deadline = time.monotonic() + timeout
    while not (result := fn()):
        if time.monotonic() > deadline:
            raise AssertionError(f"not true within {timeout}s: {fn}")
        time.sleep(0.02)
    return result


# 1. Stamping on create.


def test_create_stamps_uid_rv_generation_timestamp(rest: RestClient) -> None:
    obj = make(rest)
    meta = obj["metadata"]
    assert uuid.UUID(meta["uid"]).version == 4
    assert meta["resourceVersion"].isdigit()
    assert meta["generation"] == 1
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", meta["creationTimestamp"])
    assert meta["namespace"] == "team-a"
    assert (obj["apiVersion"], obj["kind"]) == ("orchestrator.dev/v1alpha1", "ServiceRequest")


def test_resource_version_is_global_and_monotonic(rest: RestClient) -> None:
    versions = [
        int(make(rest, "one")["metadata"]["resourceVersion"]),
        int(rest.post(CMS.format(ns="team-a"), {"metadata": {"name": "cm"}}).body["metadata"]["resourceVersion"]),
        int(
            rest.patch(SRS.format(ns="team-a") + "/one", {"metadata": {"labels": {"a": "b"}}}).body["metadata"][
                "resourceVersion"
            ]
        ),
        int(make(rest, "two", ns="team-b")["metadata"]["resourceVersion"]),
    ]
    assert versions == sorted(versions) and len(set(versions)) == 4
    listed = rest.get(ALL_SRS).body["metadata"]["resourceVersion"]
    assert int(listed) == versions[-1]


def test_generate_name_adds_a_random_suffix(rest: RestClient) -> None:
    body = sr("")
    body["metadata"] = {"generateName": "req-"}
    names = {rest.post(SRS.format(ns="team-a"), body).body["metadata"]["name"] for _ in range(3)}
    assert len(names) == 3
    assert all(re.fullmatch(r"req-[a-z0-9]{5}", name) for name in names)


@pytest.mark.parametrize(
    ("url_ns", "body_ns", "code", "reason"),
    [
        ("team-a", None, 201, None),
        ("team-a", "team-a", 201, None),
        ("team-a", "team-b", 400, "BadRequest"),
        ("missing", None, 404, "NotFound"),
    ],
    ids=["ns-from-url", "ns-matching", "ns-mismatch-400", "ns-missing-404"],
)
def test_create_takes_the_namespace_from_the_url(
    rest: RestClient, url_ns: str, body_ns: str | None, code: int, reason: str | None
) -> None:
    body = sr("x", metadata={"namespace": body_ns} if body_ns else {})
    response = rest.post(SRS.format(ns=url_ns), body)
    assert (response.status, response.reason) == (code, reason)
    if code == 201:
        assert response.body["metadata"]["namespace"] == url_ns


@pytest.mark.parametrize(
    ("body", "code", "reason"),
    [
        (sr("dup"), 409, "AlreadyExists"),
        (sr("Bad_Name"), 422, "Invalid"),
        ({**sr("x"), "metadata": {}}, 422, "Invalid"),
        ({**sr("x"), "kind": "CatalogItem"}, 400, "BadRequest"),
    ],
    ids=["duplicate-409", "invalid-name-422", "no-name-422", "wrong-kind-400"],
)
def test_create_rejections(rest: RestClient, body: dict[str, Any], code: int, reason: str) -> None:
    make(rest, "dup")
    response = rest.post(SRS.format(ns="team-a"), body)
    assert (response.status, response.reason) == (code, reason)
    assert response.body["kind"] == "Status" and response.body["code"] == code


def test_cluster_scoped_objects_have_no_namespace(rest: RestClient) -> None:
    body = {
        "apiVersion": "orchestrator.dev/v1alpha1",
        "kind": "CatalogItem",
        "metadata": {"name": "pg", "namespace": "x"},
    }
    response = rest.post(ITEMS, body)
    assert response.status == 201
    assert "namespace" not in response.body["metadata"]


def test_dry_run_changes_nothing(rest: RestClient) -> None:
    response = rest.post(SRS.format(ns="team-a"), sr("dry"), params={"dryRun": "All"})
    assert response.status == 201 and response.body["metadata"]["name"] == "dry"
    assert rest.get(SRS.format(ns="team-a") + "/dry").status == 404


# 2. Generation.


@pytest.mark.parametrize(
    ("path_suffix", "patch", "bumped"),
    [
        ("", {"spec": {"environment": "prod"}}, True),
        ("", {"metadata": {"labels": {"team": "a"}}}, False),
        ("", {"metadata": {"annotations": {"orchestrator.dev/retry": "1"}}}, False),
        ("/status", {"status": {"phase": "Ready"}}, False),
        ("", {"spec": {"environment": "dev"}}, False),
    ],
    ids=["spec-bumps", "labels-no-bump", "annotations-no-bump", "status-no-bump", "no-op-no-bump"],
)
def test_generation_tracks_spec_only(rest: RestClient, path_suffix: str, patch: dict[str, Any], bumped: bool) -> None:
    make(rest)
    after = rest.patch(SRS.format(ns="team-a") + "/demo" + path_suffix, patch).body
    assert after["metadata"]["generation"] == (2 if bumped else 1)


def test_generation_of_kinds_without_spec_tracks_everything_but_metadata(rest: RestClient) -> None:
    path = CMS.format(ns="team-a")
    rest.post(path, {"metadata": {"name": "cm"}, "data": {"a": "1"}})
    assert rest.patch(path + "/cm", {"metadata": {"labels": {"x": "y"}}}).body["metadata"]["generation"] == 1
    assert rest.patch(path + "/cm", {"data": {"a": "2"}}).body["metadata"]["generation"] == 2


def test_no_op_write_keeps_the_resource_version(rest: RestClient) -> None:
    obj = make(rest)
    again = rest.patch(SRS.format(ns="team-a") + "/demo", {"spec": {"environment": "dev"}}).body
    assert again["metadata"]["resourceVersion"] == obj["metadata"]["resourceVersion"]


def test_deletion_with_finalizers_bumps_generation(rest: RestClient) -> None:
    make(rest, metadata={"finalizers": ["orchestrator.dev/cleanup"]})
    deleted = rest.delete(SRS.format(ns="team-a") + "/demo").body
    assert deleted["metadata"]["generation"] == 2


# 3. Optimistic concurrency.


@pytest.mark.parametrize(
    ("method", "subresource", "stale", "code"),
    [
        ("PUT", "", True, 409),
        ("PUT", "", False, 200),
        ("PATCH", "", True, 409),
        ("PATCH", "", False, 200),
        ("PUT", "/status", True, 409),
        ("PATCH", "/status", True, 409),
        ("PATCH", "/status", False, 200),
    ],
    ids=[
        "put-stale",
        "put-fresh",
        "patch-stale",
        "patch-fresh",
        "put-status-stale",
        "patch-status-stale",
        "patch-status-fresh",
    ],
)
def test_resource_version_preconditions(
    rest: RestClient, method: str, subresource: str, stale: bool, code: int
) -> None:
    obj = make(rest)
    rv = obj["metadata"]["resourceVersion"]
    rest.patch(SRS.format(ns="team-a") + "/demo", {"metadata": {"labels": {"bump": "1"}}})  # rv moves on
    current = rest.get(SRS.format(ns="team-a") + "/demo").body
    body = {**current, "status": {"phase": "Ready"}, "metadata": {**current["metadata"]}}
    body["metadata"]["resourceVersion"] = rv if stale else current["metadata"]["resourceVersion"]
    if method == "PUT":
        response = rest.put(SRS.format(ns="team-a") + "/demo" + subresource, body)
    else:
        patch = {"metadata": {"resourceVersion": body["metadata"]["resourceVersion"]}, "status": {"phase": "Ready"}}
        response = rest.patch(SRS.format(ns="team-a") + "/demo" + subresource, patch)
    assert response.status == code, response.body
    if code == 409:
        assert response.reason == "Conflict"
        assert "the object has been modified" in response.body["message"]


# 4. Patch formats.


@pytest.mark.parametrize(
    ("patch_type", "patch", "code", "check"),
    [
        (
            "json",
            [
                {"op": "test", "path": "/metadata/resourceVersion", "value": "{rv}"},
                {"op": "add", "path": "/metadata/finalizers", "value": ["x/y"]},
            ],
            200,
            lambda o: o["metadata"]["finalizers"] == ["x/y"],
        ),
        (
            "json",
            [
                {"op": "test", "path": "/metadata/resourceVersion", "value": "1"},
                {"op": "add", "path": "/metadata/finalizers", "value": ["x/y"]},
            ],
            422,
            None,
        ),
        ("json", [{"op": "remove", "path": "/spec/nonexistent"}], 422, None),
        (
            "merge",
            {"spec": {"environment": None, "fields": {"a": 1}}},
            200,
            lambda o: "environment" not in o["spec"] and o["spec"]["fields"] == {"list": [1, 2], "a": 1},
        ),
        ("merge", {"spec": {"fields": {"list": [3]}}}, 200, lambda o: o["spec"]["fields"]["list"] == [3]),
        (
            "strategic",
            {"metadata": {"labels": {"k": "v"}}, "spec": {"environment": "prod"}},
            200,
            lambda o: o["metadata"]["labels"] == {"k": "v"} and o["spec"]["environment"] == "prod",
        ),
        ("application/xml", {"a": 1}, 415, None),
    ],
    ids=[
        "json-test-ok",
        "json-test-fails-422",
        "json-bad-path-422",
        "merge-null-deletes",
        "merge-replaces-lists",
        "strategic-as-merge",
        "unsupported-415",
    ],
)
def test_patch_formats(rest: RestClient, patch_type: str, patch: Any, code: int, check: Any) -> None:
    obj = make(rest, spec={"fields": {"list": [1, 2]}})
    if isinstance(patch, list):
        patch = [
            {**op, "value": obj["metadata"]["resourceVersion"]} if op.get("value") == "{rv}" else op for op in patch
        ]
    response = rest.patch(SRS.format(ns="team-a") + "/demo", patch, patch_type=patch_type)
    assert response.status == code, response.body
    if code == 422:
        assert response.reason == "Invalid"
    if check is not None:
        assert check(response.body)


def test_server_side_apply_creates_then_merges(rest: RestClient) -> None:
    path = SRS.format(ns="team-a") + "/applied"
    first = rest.patch(path, sr("applied"), patch_type="apply", params={"fieldManager": "test"})
    assert first.status == 201
    second = rest.patch(
        path, sr("applied", spec={"environment": "prod"}), patch_type="apply", params={"fieldManager": "test"}
    )
    assert second.status == 200 and second.body["spec"]["environment"] == "prod"


# 5. Status subresource isolation.


def test_main_resource_writes_never_touch_status(rest: RestClient) -> None:
    created = make(rest, status={"phase": "Ready"})
    assert "status" not in created  # POST ignores status too
    path = SRS.format(ns="team-a") + "/demo"
    rest.patch(path + "/status", {"status": {"phase": "Provisioning"}})
    patched = rest.patch(path, {"spec": {"environment": "prod"}, "status": {"phase": "Failed"}}).body
    assert patched["status"] == {"phase": "Provisioning"}
    assert patched["spec"]["environment"] == "prod"
    current = rest.get(path).body
    replaced = rest.put(path, {**current, "status": {"phase": "Failed"}}).body
    assert replaced["status"] == {"phase": "Provisioning"}


def test_status_writes_change_only_status(rest: RestClient) -> None:
    make(rest)
    path = SRS.format(ns="team-a") + "/demo/status"
    patched = rest.patch(
        path, {"spec": {"environment": "prod"}, "metadata": {"labels": {"a": "b"}}, "status": {"phase": "Ready"}}
    ).body
    assert patched["spec"]["environment"] == "dev"
    assert "labels" not in patched["metadata"]
    assert patched["status"] == {"phase": "Ready"}
    current = dict(patched)
    replaced = rest.put(path, {**current, "spec": {"catalogItem": "other"}, "status": {"phase": "Failed"}}).body
    assert replaced["spec"]["catalogItem"] == "postgresql-standard"
    assert replaced["status"] == {"phase": "Failed"}


def test_core_kinds_with_a_status_subresource_isolate_it_too(rest: RestClient) -> None:
    patched = rest.patch("/api/v1/namespaces/team-a", {"status": {"phase": "Terminating"}}).body
    assert patched["status"] == {"phase": "Active"}


# 6. Deletion, finalizers and garbage collection.


def test_delete_without_finalizers_removes_immediately(rest: RestClient) -> None:
    make(rest)
    response = rest.delete(SRS.format(ns="team-a") + "/demo")
    assert response.status == 200 and response.body["metadata"]["name"] == "demo"
    assert rest.get(SRS.format(ns="team-a") + "/demo").status == 404
    assert rest.delete(SRS.format(ns="team-a") + "/demo").status == 404


def test_delete_with_finalizers_waits_for_them(rest: RestClient) -> None:
    obj = make(rest, metadata={"finalizers": ["orchestrator.dev/cleanup", "other/one"]})
    path = SRS.format(ns="team-a") + "/demo"
    response = rest.delete(path)
    assert response.status == 202
    assert response.body["metadata"]["deletionTimestamp"]
    assert response.body["metadata"]["deletionGracePeriodSeconds"] == 0
    assert rest.delete(path).body["metadata"]["resourceVersion"] == response.body["metadata"]["resourceVersion"]
    rv = response.body["metadata"]["resourceVersion"]
    rest.patch(path, [{"op": "remove", "path": "/metadata/finalizers/0"}], patch_type="json")
    assert rest.get(path).status == 200
    last = rest.patch(path, {"metadata": {"finalizers": None}}).body
    assert "finalizers" not in last["metadata"]
    assert rest.get(path).status == 404
    events = list(rest.watch(ALL_SRS, resourceVersion=rv, timeoutSeconds=0.3))
    assert [e["type"] for e in events] == ["MODIFIED", "DELETED"]
    assert events[-1]["object"]["metadata"]["uid"] == obj["metadata"]["uid"]


@pytest.mark.parametrize(
    ("patch_type", "patch"),
    [
        ("merge", {"metadata": {"finalizers": ["orchestrator.dev/cleanup", "new/one"]}}),
        ("json", [{"op": "add", "path": "/metadata/finalizers/-", "value": "new/one"}]),
    ],
    ids=["merge", "json"],
)
def test_no_new_finalizers_while_deleting(rest: RestClient, patch_type: str, patch: Any) -> None:
    make(rest, metadata={"finalizers": ["orchestrator.dev/cleanup"]})
    path = SRS.format(ns="team-a") + "/demo"
    rest.delete(path)
    response = rest.patch(path, patch, patch_type=patch_type)
    assert (response.status, response.reason) == (422, "Invalid")
    assert "no new finalizers can be added if the object is being deleted" in response.body["message"]


def _owned_secret(rest: RestClient, name: str, *owners: dict[str, Any]) -> None:
    refs = [
        {"apiVersion": o["apiVersion"], "kind": o["kind"], "name": o["metadata"]["name"], "uid": o["metadata"]["uid"]}
        for o in owners
    ]
    response = rest.post(
        SECRETS.format(ns="team-a"), {"metadata": {"name": name, "ownerReferences": refs}, "stringData": {"k": "v"}}
    )
    assert response.status == 201 and response.body["data"] == {"k": "dg=="}


@pytest.mark.parametrize(
    ("policy", "second_owner", "survives"),
    [("Background", False, False), ("Orphan", False, True), ("Background", True, True)],
    ids=["background-cascade", "orphan", "other-owner-alive"],
)
def test_garbage_collection_of_owned_objects(rest: RestClient, policy: str, second_owner: bool, survives: bool) -> None:
    owner, other = make(rest, "owner"), make(rest, "other")
    _owned_secret(rest, "owned", *([owner, other] if second_owner else [owner]))
    rest.delete(SRS.format(ns="team-a") + "/owner", {"propagationPolicy": policy})
    secret = rest.get(SECRETS.format(ns="team-a") + "/owned")
    assert (secret.status == 200) == survives
    if survives:
        refs = secret.body["metadata"].get("ownerReferences", [])
        assert owner["metadata"]["uid"] not in [r["uid"] for r in refs]


def test_garbage_collection_waits_for_the_owner_finalizers(rest: RestClient) -> None:
    owner = make(rest, "owner", metadata={"finalizers": ["orchestrator.dev/cleanup"]})
    _owned_secret(rest, "owned", owner)
    rest.delete(SRS.format(ns="team-a") + "/owner")
    assert rest.get(SECRETS.format(ns="team-a") + "/owned").status == 200
    rest.patch(SRS.format(ns="team-a") + "/owner", {"metadata": {"finalizers": []}})
    assert rest.get(SECRETS.format(ns="team-a") + "/owned").status == 404


def test_namespace_deletion_removes_its_content(rest: RestClient) -> None:
    make(rest, "plain")
    make(rest, "held", metadata={"finalizers": ["orchestrator.dev/cleanup"]})
    assert rest.delete("/api/v1/namespaces/team-a").body["status"]["phase"] == "Terminating"
    assert rest.get(SRS.format(ns="team-a") + "/plain").status == 404
    assert rest.post(SRS.format(ns="team-a"), sr("late")).status == 403
    rest.patch(SRS.format(ns="team-a") + "/held", {"metadata": {"finalizers": None}})
    assert rest.get("/api/v1/namespaces/team-a").status == 404


def test_delete_preconditions(rest: RestClient) -> None:
    make(rest)
    response = rest.delete(SRS.format(ns="team-a") + "/demo", {"preconditions": {"uid": str(uuid.uuid4())}})
    assert (response.status, response.reason) == (409, "Conflict")


# 7. Watch.


def test_watch_without_resource_version_starts_with_the_current_state(rest: RestClient) -> None:
    make(rest, "a")
    make(rest, "b", ns="team-b")
    events = list(rest.watch(ALL_SRS, timeoutSeconds=0.3, allowWatchBookmarks="true"))
    assert [(e["type"], e["object"]["metadata"].get("name")) for e in events] == [
        ("ADDED", "a"),
        ("ADDED", "b"),
        ("BOOKMARK", None),
    ]
    assert events[-1]["object"]["metadata"]["resourceVersion"] == rest.get(ALL_SRS).body["metadata"]["resourceVersion"]
    namespaced = list(rest.watch(SRS.format(ns="team-b"), timeoutSeconds=0.3, resourceVersion="0"))
    assert [e["object"]["metadata"]["name"] for e in namespaced] == ["b"]


def test_watch_from_a_resource_version_sends_only_newer_events(rest: RestClient) -> None:
    make(rest, "old")
    rv = rest.get(ALL_SRS).body["metadata"]["resourceVersion"]  # list, then changes, then watch: nothing is lost
    make(rest, "new")
    rest.patch(SRS.format(ns="team-a") + "/old", {"spec": {"environment": "prod"}})
    events = list(rest.watch(ALL_SRS, resourceVersion=rv, timeoutSeconds=0.3))
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in events] == [("ADDED", "new"), ("MODIFIED", "old")]


def test_watch_streams_live_events_until_the_timeout(rest: RestClient) -> None:
    rv = rest.get(ALL_SRS).body["metadata"]["resourceVersion"]
    received: list[dict[str, Any]] = []
    started = time.monotonic()
    thread = threading.Thread(target=lambda: received.extend(rest.watch(ALL_SRS, resourceVersion=rv, timeoutSeconds=1)))
    thread.start()
    time.sleep(0.3)
    make(rest, "live")
    rest.delete(SRS.format(ns="team-a") + "/live")
    thread.join(5)
    assert 0.9 < time.monotonic() - started < 5
    assert [e["type"] for e in received] == ["ADDED", "DELETED"]
    assert received[0]["object"]["spec"]["catalogItem"] == "postgresql-standard"


def test_watch_with_a_label_selector_sees_objects_enter_and_leave(rest: RestClient) -> None:
    make(rest)
    rv = rest.get(ALL_SRS).body["metadata"]["resourceVersion"]
    path = SRS.format(ns="team-a") + "/demo"
    rest.patch(path, {"metadata": {"labels": {"tier": "gold"}}})
    rest.patch(path, {"spec": {"environment": "prod"}})
    rest.patch(path, {"metadata": {"labels": {"tier": None}}})
    events = list(rest.watch(ALL_SRS, resourceVersion=rv, timeoutSeconds=0.3, labelSelector="tier=gold"))
    assert [e["type"] for e in events] == ["ADDED", "MODIFIED", "DELETED"]


def test_watch_from_a_too_old_resource_version_is_gone() -> None:
    with ApiEmulator.running(crds_dir=CRDS_DIR, history_limit=3) as api:
        rest = RestClient(api.url)
        for i in range(5):
            api.create(
                {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": f"cm{i}", "namespace": "default"}}
            )
        events = list(rest.watch("/api/v1/configmaps", resourceVersion="1", timeoutSeconds=0.3))
        assert [(e["type"], e["object"]["code"], e["object"]["reason"]) for e in events] == [("ERROR", 410, "Expired")]


def test_watch_sends_periodic_bookmarks() -> None:
    with ApiEmulator.running(bookmark_interval=0.05) as api:
        events = list(RestClient(api.url).watch("/api/v1/configmaps", timeoutSeconds=0.3, allowWatchBookmarks="true"))
        assert len(events) >= 3 and {e["type"] for e in events} == {"BOOKMARK"}


def test_watch_initial_events_end_with_an_annotated_bookmark(rest: RestClient) -> None:
    make(rest)
    params: dict[str, Any] = {
        "sendInitialEvents": "true",
        "resourceVersionMatch": "NotOlderThan",
        "allowWatchBookmarks": "true",
    }
    events = list(rest.watch(ALL_SRS, timeoutSeconds=0.3, **params))
    assert [e["type"] for e in events] == ["ADDED", "BOOKMARK"]
    assert events[-1]["object"]["metadata"]["annotations"] == {"k8s.io/initial-events-end": "true"}


# 8. Lists and selectors.


@pytest.mark.parametrize(
    ("selector", "expected"),
    [
        ("app=db", ["a", "b"]),
        ("app==db", ["a", "b"]),
        ("app!=db", ["c", "d"]),
        ("tier", ["a", "c"]),
        ("!tier", ["b", "d"]),
        ("app=db,tier=gold", ["a"]),
        ("tier in (gold,silver)", ["a", "c"]),
        ("tier notin (gold)", ["b", "c", "d"]),
        ("app in (db, web),!tier", ["b"]),
    ],
    ids=["eq", "eqeq", "neq", "exists", "not-exists", "and", "in", "notin", "in-and-not-exists"],
)
def test_list_label_selectors(rest: RestClient, selector: str, expected: list[str]) -> None:
    for name, labels in {
        "a": {"app": "db", "tier": "gold"},
        "b": {"app": "db"},
        "c": {"app": "web", "tier": "silver"},
        "d": {},
    }.items():
        make(rest, name, metadata={"labels": labels})
    listed = rest.get(ALL_SRS, params={"labelSelector": selector}).body
    assert [item["metadata"]["name"] for item in listed["items"]] == expected


@pytest.mark.parametrize(
    ("path", "selector", "expected", "code"),
    [
        (ALL_SRS, "metadata.name=a", ["team-a/a"], 200),
        (ALL_SRS, "metadata.namespace=team-b", ["team-b/b"], 200),
        (ALL_SRS, "metadata.namespace!=team-b", ["team-a/a"], 200),
        (ALL_SRS, "spec.environment=dev", [], 400),
    ],
    ids=["name", "namespace", "namespace-neq", "unsupported-400"],
)
def test_list_field_selectors(rest: RestClient, path: str, selector: str, expected: list[str], code: int) -> None:
    make(rest, "a")
    make(rest, "b", ns="team-b")
    response = rest.get(path, params={"fieldSelector": selector})
    assert response.status == code
    if code == 200:
        assert [f"{i['metadata']['namespace']}/{i['metadata']['name']}" for i in response.body["items"]] == expected


def test_list_shape_and_cluster_wide_listing(rest: RestClient) -> None:
    make(rest, "a")
    make(rest, "b", ns="team-b")
    listed = rest.get(ALL_SRS).body
    assert listed["kind"] == "ServiceRequestList" and listed["apiVersion"] == "orchestrator.dev/v1alpha1"
    assert listed["metadata"]["resourceVersion"].isdigit()
    assert [i["metadata"]["namespace"] for i in listed["items"]] == ["team-a", "team-b"]
    assert [i["metadata"]["name"] for i in rest.get(SRS.format(ns="team-b")).body["items"]] == ["b"]


def test_list_pagination(rest: RestClient) -> None:
    for i in range(5):
        make(rest, f"r{i}")
    first = rest.get(ALL_SRS, params={"limit": 2}).body
    names = [i["metadata"]["name"] for i in first["items"]]
    token = first["metadata"]["continue"]
    while token:
        page = rest.get(ALL_SRS, params={"limit": 2, "continue": token}).body
        names += [i["metadata"]["name"] for i in page["items"]]
        token = page["metadata"].get("continue")
    assert names == [f"r{i}" for i in range(5)]


# 9. Discovery.


def test_discovery_documents(rest: RestClient) -> None:
    assert rest.get("/api").body["versions"] == ["v1"]
    groups = {g["name"]: g for g in rest.get("/apis").body["groups"]}
    assert groups["orchestrator.dev"]["preferredVersion"]["version"] == "v1alpha1"
    assert groups["autoscaling"]["preferredVersion"]["version"] == "v2"
    resources = {r["name"]: r for r in rest.get(GROUP).body["resources"]}
    assert resources["servicerequests"] | {"verbs": None} == {
        "name": "servicerequests",
        "singularName": "servicerequest",
        "namespaced": True,
        "kind": "ServiceRequest",
        "verbs": None,
        "shortNames": ["sr"],
        "categories": ["orchestrator"],
    }
    assert resources["catalogitems"]["namespaced"] is False
    assert "servicerequests/status" in resources
    core = rest.get("/api/v1").body
    assert core["groupVersion"] == "v1"
    assert {"secrets", "configmaps", "events", "namespaces"} <= {r["name"] for r in core["resources"]}
    assert rest.get("/apis/coordination.k8s.io/v1").status == 200
    assert rest.get("/version").body["major"] == "1"


def test_creating_a_crd_through_the_api_serves_it(rest: RestClient) -> None:
    crd = {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.example.com"},
        "spec": {
            "group": "example.com",
            "scope": "Namespaced",
            "names": {"plural": "widgets", "singular": "widget", "kind": "Widget", "shortNames": ["wd"]},
            "versions": [{"name": "v1", "served": True, "storage": True, "subresources": {"status": {}}}],
        },
    }
    created = rest.post("/apis/apiextensions.k8s.io/v1/customresourcedefinitions", crd)
    assert created.status == 201
    assert {c["type"] for c in created.body["status"]["conditions"]} == {"Established", "NamesAccepted"}
    assert "widgets" in {r["name"] for r in rest.get("/apis/example.com/v1").body["resources"]}
    widget = {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}}
    assert rest.post("/apis/example.com/v1/namespaces/team-a/widgets", widget).status == 201
    rest.delete("/apis/apiextensions.k8s.io/v1/customresourcedefinitions/widgets.example.com")
    assert rest.get("/apis/example.com/v1").status == 404
    assert rest.get("/apis/example.com/v1/namespaces/team-a/widgets").status == 404


def test_our_crds_are_loaded_as_objects(k8s_api: ApiEmulator) -> None:
    names = {crd["metadata"]["name"] for crd in k8s_api.list("crd")}
    assert {"servicerequests.orchestrator.dev", "catalogitems.orchestrator.dev"} <= names
    resource = k8s_api.resource("sr")
    assert (resource.kind, resource.namespaced, resource.isolates_status) == ("ServiceRequest", True, True)
    assert [c["name"] for c in resource.printer_columns][:2] == ["Item", "Bundle"]


@pytest.mark.parametrize(
    ("method", "path", "code"),
    [
        ("GET", SRS.format(ns="team-a") + "/demo/status", 200),
        ("PATCH", CMS.format(ns="team-a") + "/cm/status", 404),
        ("PATCH", SRS.format(ns="team-a") + "/demo/scale", 404),
        ("GET", GROUP + "/namespaces/team-a/nonexistents", 404),
        ("GET", "/apis/orchestrator.dev/v9/servicerequests", 404),
        ("GET", ITEMS.replace("/catalogitems", "/namespaces/team-a/catalogitems"), 404),
    ],
    ids=[
        "get-status",
        "no-status-subresource",
        "unknown-subresource",
        "unknown-resource",
        "unknown-version",
        "cluster-kind-in-namespace",
    ],
)
def test_unknown_urls(rest: RestClient, method: str, path: str, code: int) -> None:
    make(rest)
    rest.post(CMS.format(ns="team-a"), {"metadata": {"name": "cm"}})
    response = rest.request(
        method, path, {"status": {}} if method == "PATCH" else None, content_type="application/merge-patch+json"
    )
    assert response.status == code
    assert response.body["kind"] == ("ServiceRequest" if code == 200 else "Status")


# 10. Tables.


def test_table_for_a_crd_uses_its_printer_columns(rest: RestClient, k8s_api: ApiEmulator) -> None:
    k8s_api.create(
        {
            **sr("ok", metadata={"namespace": "team-a"}),
            "status": {
                "phase": "Ready",
                "conditions": [
                    {"type": "Stalled", "status": "False"},
                    {"type": "Ready", "status": "True", "message": "done"},
                ],
            },
        }
    )
    table = rest.get(ALL_SRS, accept=TABLE).body
    assert (table["kind"], table["apiVersion"]) == ("Table", "meta.k8s.io/v1")
    columns = [(c["name"], c["priority"]) for c in table["columnDefinitions"]]
    assert columns == [
        ("Name", 0),
        ("Item", 0),
        ("Bundle", 1),
        ("Environment", 1),
        ("Phase", 0),
        ("Ready", 0),
        ("Message", 1),
        ("Age", 0),
    ]
    [row] = table["rows"]
    assert row["cells"][:7] == ["ok", "postgresql-standard", None, "dev", "Ready", "True", "done"]
    assert re.fullmatch(r"\d+s", row["cells"][7])
    assert row["object"]["kind"] == "PartialObjectMetadata" and row["object"]["metadata"]["namespace"] == "team-a"
    single = rest.get(SRS.format(ns="team-a") + "/ok", accept=TABLE).body
    assert single["rows"][0]["cells"][0] == "ok"


def test_table_for_other_kinds_has_name_and_age(rest: RestClient) -> None:
    rest.post("/apis/coordination.k8s.io/v1/namespaces/team-a/leases", {"metadata": {"name": "lock"}})
    table = rest.get("/apis/coordination.k8s.io/v1/namespaces/team-a/leases", accept=TABLE).body
    assert [c["name"] for c in table["columnDefinitions"]] == ["Name", "Age"]
    assert table["rows"][0]["cells"][0] == "lock"


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        (".status.phase", ["Ready"]),
        ("{.spec.catalogItem}", ["pg"]),
        ('.status.conditions[?(@.type=="Ready")].status', ["True"]),
        (".status.conditions[?(@.type=='Stalled')].reason", ["Ok"]),
        (".status.conditions[*].type", ["Stalled", "Ready"]),
        (".status.conditions[1].type", ["Ready"]),
        (".metadata.labels['app.kubernetes.io/name']", ["x"]),
        (".status.missing", []),
    ],
    ids=["field", "braces", "filter", "filter-single-quotes", "star", "index", "quoted-key", "missing"],
)
def test_jsonpath_subset(path: str, expected: list[Any]) -> None:
    obj = {
        "metadata": {"labels": {"app.kubernetes.io/name": "x"}},
        "spec": {"catalogItem": "pg"},
        "status": {
            "phase": "Ready",
            "conditions": [{"type": "Stalled", "reason": "Ok"}, {"type": "Ready", "status": "True"}],
        },
    }
    assert jsonpath(obj, path) == expected


# 11. The access record and the bounded request log.


def test_access_record_counts_requests(rest: RestClient, k8s_api: ApiEmulator) -> None:
    k8s_api.reset_access()
    make(rest)
    rest.patch(SRS.format(ns="team-a") + "/demo/status", {"status": {"phase": "Ready"}})
    rest.get(SRS.format(ns="team-a") + "/missing")
    rest.get("/api/v1/namespaces/team-a")
    counts = k8s_api.access_counts()
    assert counts[Access("create", "orchestrator.dev", "servicerequests", None, "team-a", 201)] == 1
    assert counts[Access("patch", "orchestrator.dev", "servicerequests", "status", "team-a", 200)] == 1
    assert counts[Access("get", "orchestrator.dev", "servicerequests", None, "team-a", 404)] == 1
    assert counts[Access("get", "", "namespaces", None, "team-a", 200)] == 1
    assert k8s_api.write_counts() == {"servicerequests": 1, "servicerequests/status": 1}
    k8s_api.reset_access()
    assert not k8s_api.access_counts()


def test_request_log_is_bounded() -> None:
    with ApiEmulator.running(request_log_limit=10) as api:
        rest = RestClient(api.url)
        for _ in range(50):
            rest.get("/api/v1/namespaces/default")
        assert 10 <= len(api.requests) <= 20
        assert sum(api.access_counts().values()) == 50


def test_kmock_reactions_take_precedence(rest: RestClient, k8s_api: ApiEmulator) -> None:
    make(rest)
    k8s_api.kmock[kmock.method.PATCH, kmock.resource("orchestrator.dev/v1alpha1/servicerequests")] << 503
    assert rest.patch(SRS.format(ns="team-a") + "/demo", {"spec": {"environment": "prod"}}).status == 503
    unchanged = k8s_api.get("sr", "demo", "team-a")
    assert unchanged is not None and unchanged["spec"]["environment"] == "dev"  # a failed write changes nothing


def test_access_record_counts_watches_when_they_start(rest: RestClient, k8s_api: ApiEmulator) -> None:
    k8s_api.reset_access()
    received: list[dict[str, Any]] = []
    thread = threading.Thread(target=lambda: received.extend(rest.watch(ALL_SRS, timeoutSeconds=1)))
    thread.start()
    watch = Access("watch", "orchestrator.dev", "servicerequests", None, None, 200)
    _eventually(lambda: k8s_api.access_counts()[watch] == 1)
    thread.join(5)
    assert k8s_api.access_counts()[watch] == 1


# 12. Events are stored objects.


@pytest.mark.parametrize(
    ("path", "body"),
    [
        (
            "/api/v1/namespaces/team-a/events",
            {"metadata": {"generateName": "kopf-event-"}, "reason": "Created", "type": "Normal", "message": "hi"},
        ),
        (
            "/apis/events.k8s.io/v1/namespaces/team-a/events",
            {
                "metadata": {"generateName": "kopf-event-"},
                "reason": "Created",
                "type": "Normal",
                "note": "hi",
                "eventTime": "2024-01-01T00:00:00.000000Z",
                "action": "Create",
                "reportingController": "x",
                "reportingInstance": "y",
            },
        ),
    ],
    ids=["core-v1", "events.k8s.io"],
)
def test_events_are_stored(rest: RestClient, k8s_api: ApiEmulator, path: str, body: dict[str, Any]) -> None:
    obj = make(rest)
    ref = {
        "apiVersion": obj["apiVersion"],
        "kind": obj["kind"],
        "name": "demo",
        "namespace": "team-a",
        "uid": obj["metadata"]["uid"],
    }
    ref_key = "involvedObject" if path.startswith("/api/") else "regarding"
    assert rest.post(path, {**body, ref_key: ref}).status == 201
    [event] = k8s_api.events("team-a", involving=obj)
    assert event["reason"] == "Created" and event["metadata"]["name"].startswith("kopf-event-")
    listed = rest.get(path, params={"fieldSelector": f"{ref_key}.name=demo"}).body["items"]
    assert len(listed) == 1


# The official Python client against the emulator, through a kubeconfig.


def test_kubernetes_client_through_a_kubeconfig(k8s_kubeconfig: Any, k8s_api: ApiEmulator) -> None:
    kubernetes = pytest.importorskip("kubernetes")
    client = kubernetes.config.new_client_from_config(config_file=str(k8s_kubeconfig))
    core = kubernetes.client.CoreV1Api(client)
    custom = kubernetes.client.CustomObjectsApi(client)
    core.create_namespace({"metadata": {"name": "team-c"}})
    custom.create_namespaced_custom_object("orchestrator.dev", "v1alpha1", "team-c", "servicerequests", sr("c"))
    custom.patch_namespaced_custom_object_status(
        "orchestrator.dev", "v1alpha1", "team-c", "servicerequests", "c", {"status": {"phase": "Ready"}}
    )
    got = custom.get_namespaced_custom_object("orchestrator.dev", "v1alpha1", "team-c", "servicerequests", "c")
    assert got["status"] == {"phase": "Ready"}
    watch = kubernetes.watch.Watch()
    events = list(
        watch.stream(
            custom.list_cluster_custom_object, "orchestrator.dev", "v1alpha1", "servicerequests", timeout_seconds=1
        )
    )
    assert [e["type"] for e in events] == ["ADDED"]
    with pytest.raises(kubernetes.client.ApiException) as raised:
        core.create_namespace({"metadata": {"name": "team-c"}})
    assert raised.value.status == 409


# A real kopf operator against the emulator.


def test_kopf_operator_runs_handlers_once_and_releases_the_finalizer(k8s_api: ApiEmulator, kopf_operator: Any) -> None:
    registry = kopf.OperatorRegistry()
    calls: collections.Counter[str] = collections.Counter()
    resource = ("orchestrator.dev", "v1alpha1", "servicerequests")

    @kopf.on.create(*resource, registry=registry, id="created")
    def created(body: Any, **_: Any) -> dict[str, Any]:
        calls["created"] += 1
        kopf.info(body, reason="Created", message="seen by the test operator")
        return {"ok": True}

    @kopf.on.create(*resource, registry=registry, id="provisioned")
    def provisioned(retry: int, **_: Any) -> None:
        calls["provisioned"] += 1
        if retry == 0:
            raise kopf.TemporaryError("not yet", delay=0.1)

    @kopf.on.delete(*resource, registry=registry, id="deleted")
    def deleted(**_: Any) -> None:
        calls["deleted"] += 1

    kopf_operator(registry)
    k8s_api.create(sr("demo", metadata={"namespace": "team-a"}))
    diffbase = "orchestrator.dev/last-handled-configuration"
    obj = k8s_api.wait_for(
        "sr", "demo", "team-a", condition=lambda o: diffbase in (o or {}).get("metadata", {}).get("annotations", {})
    )
    assert obj is not None
    assert obj["metadata"]["finalizers"] == ["orchestrator.dev/cleanup"]
    assert obj["status"]["created"] == {"ok": True}
    progress = [v["metadata"].get("annotations", {}) for v in k8s_api.versions("sr", "demo", "team-a")]
    assert any("orchestrator.dev/created" in a and "orchestrator.dev/provisioned" in a for a in progress)
    assert not {"orchestrator.dev/created", "orchestrator.dev/provisioned"} & set(obj["metadata"]["annotations"])
    [event] = _eventually(lambda: k8s_api.events("team-a", involving=obj))
    assert (event["reason"], event["message"]) == ("Created", "seen by the test operator")

    k8s_api.delete("sr", "demo", "team-a")
    k8s_api.wait_for("sr", "demo", "team-a", condition=lambda o: o is None)
    writes = k8s_api.write_counts()
    time.sleep(0.5)  # nothing loops after the object is gone
    assert k8s_api.write_counts() == writes
    assert calls == {"created": 1, "provisioned": 2, "deleted": 1}
    assert writes["servicerequests"] + writes["servicerequests/status"] <= 8  # kopf 1.45 needs 7 here
    assert writes["events"] == 1


# kubectl against the emulator (skipped where kubectl is not installed).


def _table(output: str) -> list[dict[str, str]]:
    lines = output.strip().splitlines()
    starts = [m.start() for m in re.finditer(r"\S+", lines[0])]
    headers = lines[0].split()
    bounds = [*starts[1:], None]
    return [{h: line[s:e].strip() for h, s, e in zip(headers, starts, bounds, strict=True)} for line in lines[1:]]


def test_kubectl_get_shows_the_printer_columns(k8s_api: ApiEmulator, kubectl: Any) -> None:
    phases = {"orders-db": ("Ready", "True"), "cache": ("Provisioning", "False"), "bucket": ("Failed", "False")}
    for name, (phase, ready) in phases.items():
        condition = {"type": "Ready", "status": ready, "reason": phase, "message": f"{name} is {phase.lower()}"}
        body = sr(name, metadata={"namespace": f"team-{name}"}, spec={"catalogItem": f"{name}-item"})
        k8s_api.create({**body, "status": {"phase": phase, "conditions": [condition]}})
    rows = _table(kubectl("get", "sr", "-A").stdout)
    assert rows[0].keys() == {"NAMESPACE", "NAME", "ITEM", "PHASE", "READY", "AGE"}
    assert {r["NAME"]: (r["NAMESPACE"], r["ITEM"], r["PHASE"], r["READY"]) for r in rows} == {
        name: (f"team-{name}", f"{name}-item", phase, ready) for name, (phase, ready) in phases.items()
    }
    wide = _table(kubectl("get", "servicerequests.orchestrator.dev", "-n", "team-cache", "-o", "wide").stdout)
    assert [(r["ENVIRONMENT"], r["MESSAGE"]) for r in wide] == [("dev", "cache is provisioning")]


def test_kubectl_apply_and_delete(k8s_api: ApiEmulator, kubectl: Any) -> None:
    k8s_api.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team-orders"}})
    example = str(ROOT / "examples" / "redis-standard.yaml")
    assert "created" in kubectl("apply", "--validate=false", "-f", example).stdout
    assert "unchanged" in kubectl("apply", "--validate=false", "-f", example).stdout
    obj = k8s_api.get("sr", "orders-sessions", "team-orders")
    assert obj is not None and obj["spec"]["catalogItem"] == "redis-standard"
    assert "kubectl.kubernetes.io/last-applied-configuration" in obj["metadata"]["annotations"]
    kubectl("delete", "-f", example)
    assert k8s_api.get("sr", "orders-sessions", "team-orders") is None


# The standalone server.


def test_standalone_server_serves_loaded_objects() -> None:
    command = [sys.executable, "-m", "tests.k8s", "--port", "0", "--load", "examples/redis-standard.yaml"]
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        url = None
        for line in process.stdout:
            if match := re.search(r"serving at (http://\S+)", line):
                url = match[1]
                break
        assert url is not None, process.stderr.read() if process.stderr else ""
        listed = RestClient(url).get(ALL_SRS).body
        assert [i["metadata"]["name"] for i in listed["items"]] == ["orders-sessions"]
    finally:
        process.send_signal(signal.SIGINT)
        assert process.wait(10) == 0
