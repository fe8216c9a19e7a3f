"""Conformance of the API emulator's field management and server-side apply with kube-apiserver's, over plain HTTP.

The expectations follow https://kubernetes.io/docs/reference/using-api/server-side-apply/ and the apiserver's field
manager (k8s.io/apimachinery/pkg/util/managedfields, sigs.k8s.io/structured-merge-diff)."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.k8s import Access, ApiEmulator
from tests.k8s.rest import Response, RestClient

SRS = "/apis/orchestrator.dev/v1alpha1/namespaces/team-a/servicerequests"
SR = SRS + "/demo"
CMS = "/api/v1/namespaces/team-a/configmaps"


@pytest.fixture
def rest(k8s_api: ApiEmulator) -> RestClient:
    k8s_api.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team-a"}})
    return RestClient(k8s_api.url)


def config(spec: dict[str, Any] | None = None, **metadata: Any) -> dict[str, Any]:
    """An applied configuration of the ServiceRequest ``demo``: only what the applier has an opinion about."""
    body: dict[str, Any] = {
        "apiVersion": "orchestrator.dev/v1alpha1",
        "kind": "ServiceRequest",
        "metadata": {"name": "demo", **metadata},
    }
    if spec is not None:
        body["spec"] = spec
    return body


def apply(rest: RestClient, body: dict[str, Any], manager: str, path: str = SR, **params: Any) -> Response:
    return rest.patch(path, body, patch_type="apply", params={"fieldManager": manager, **params})


def applied(rest: RestClient, body: dict[str, Any], manager: str, path: str = SR, **params: Any) -> dict[str, Any]:
    response = apply(rest, body, manager, path, **params)
    assert response.status in (200, 201), response.body
    return dict(response.body)


def entries(obj: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    """The managedFields entries by (manager, operation), with their FieldsV1."""
    return {(e["manager"], e["operation"]): e["fieldsV1"] for e in obj["metadata"].get("managedFields", [])}


BASE = {"catalogItem": "postgresql-standard", "environment": "dev"}


# The request: fieldManager and force.


def test_apply_requires_a_field_manager(rest: RestClient) -> None:
    response = rest.patch(SR, config(BASE), patch_type="apply")
    assert (response.status, response.reason) == (422, "Invalid")
    assert response.body["message"] == (
        'PatchOptions.meta.k8s.io "" is invalid: fieldManager: Required value: is required for apply patch'
    )
    assert response.body["details"]["causes"] == [
        {
            "reason": "FieldValueRequired",
            "message": "Required value: is required for apply patch",
            "field": "fieldManager",
        }
    ]
    assert rest.get(SR).status == 404


def test_force_is_for_apply_only(rest: RestClient) -> None:
    applied(rest, config(BASE), "m")
    response = rest.patch(SR, {"spec": {"environment": "prod"}}, params={"force": "true"})
    assert (response.status, response.reason) == (422, "Invalid")
    assert "force: Forbidden: may not be specified for non-apply patch" in response.body["message"]


@pytest.mark.parametrize(
    ("user_agent", "manager"),
    [
        (None, "Python-urllib"),  # urllib's "Python-urllib/3.11"
        ("kopf/1.37.2", "kopf"),
        ("Python/3.11 aiohttp/3.9.5", "Python"),
        ("kubectl/v1.32.4 (linux/amd64) kubernetes/abc", "kubectl"),  # (kubectl names its manager itself)
        ("", "unknown"),
    ],
)
def test_non_apply_writes_default_to_the_user_agent_product(
    rest: RestClient, user_agent: str | None, manager: str
) -> None:
    headers = {} if user_agent is None else {"User-Agent": user_agent}
    response = rest.request("POST", SRS, config(BASE), headers=headers)
    assert response.status == 201
    assert list(entries(response.body)) == [(manager, "Update")]


# managedFields.


def test_managed_fields_of_a_create_and_an_apply(rest: RestClient) -> None:
    body = config({**BASE, "fields": {"size": 10}}, labels={"app": "db"})
    created = rest.post(SRS, body, params={"fieldManager": "kubectl-create"}).body
    [entry] = created["metadata"]["managedFields"]
    assert list(entry) == ["manager", "operation", "apiVersion", "time", "fieldsType", "fieldsV1"]
    assert entry["manager"] == "kubectl-create" and entry["operation"] == "Update"
    assert entry["apiVersion"] == "orchestrator.dev/v1alpha1" and entry["fieldsType"] == "FieldsV1"
    # An update owns what it added, the maps it created included (".": {}); name, uid, etc. are nobody's.
    assert entry["fieldsV1"] == {
        "f:metadata": {"f:labels": {".": {}, "f:app": {}}},
        "f:spec": {
            ".": {},
            "f:catalogItem": {},
            "f:environment": {},
            "f:fields": {".": {}, "f:size": {}},
        },
    }
    obj = applied(
        rest, config({"catalogItem": "postgresql-standard", "fields": {"size": 10}}, labels={"app": "db"}), "m"
    )
    # An apply owns exactly its configuration; struct fields are not owned themselves, map keys are.
    assert entries(obj)[("m", "Apply")] == {
        "f:metadata": {"f:labels": {"f:app": {}}},
        "f:spec": {"f:catalogItem": {}, "f:fields": {"f:size": {}}},
    }
    assert [e["operation"] for e in obj["metadata"]["managedFields"]] == ["Apply", "Update"]


def test_status_writes_have_their_own_entries(rest: RestClient) -> None:
    applied(rest, config(BASE), "m")
    response = rest.patch(SR + "/status", {"status": {"phase": "Ready"}}, params={"fieldManager": "operator"})
    [status_entry] = [e for e in response.body["metadata"]["managedFields"] if e["manager"] == "operator"]
    assert status_entry["subresource"] == "status" and status_entry["operation"] == "Update"
    assert status_entry["fieldsV1"] == {"f:status": {".": {}, "f:phase": {}}}


def test_a_merge_patch_takes_ownership_of_what_it_changes(rest: RestClient) -> None:
    applied(rest, config(BASE, labels={"app": "db"}), "m")
    patch = {"metadata": {"labels": {"app": "db", "team": "a"}}, "spec": {"environment": "prod"}}
    obj = rest.patch(SR, patch, params={"fieldManager": "editor"}).body  # never a conflict for an update
    assert obj["spec"]["environment"] == "prod"
    assert entries(obj) == {
        ("m", "Apply"): {"f:metadata": {"f:labels": {"f:app": {}}}, "f:spec": {"f:catalogItem": {}}},
        ("editor", "Update"): {"f:metadata": {"f:labels": {"f:team": {}}}, "f:spec": {"f:environment": {}}},
    }
    # m applying its old value again now conflicts with editor.
    response = apply(rest, config(BASE, labels={"app": "db"}), "m")
    assert response.status == 409
    assert response.body["message"] == (
        'Apply failed with 1 conflict: conflict with "editor" using orchestrator.dev/v1alpha1: .spec.environment'
    )


def test_managed_fields_can_be_cleared_but_not_dropped_by_accident(rest: RestClient) -> None:
    applied(rest, config(BASE), "m")
    kept = rest.patch(SR, {"metadata": {"labels": {"a": "b"}}}, params={"fieldManager": "x"}).body
    assert {m for m, _ in entries(kept)} == {"m", "x"}
    replaced = rest.put(SR, {**kept, "metadata": {**kept["metadata"], "managedFields": None}}).body
    assert replaced["metadata"]["managedFields"] == kept["metadata"]["managedFields"]  # absent: the live ones stay
    cleared = rest.patch(SR, {"metadata": {"managedFields": [{}]}}).body
    assert "managedFields" not in cleared["metadata"]


def test_update_entries_are_capped_at_ten(rest: RestClient) -> None:
    applied(rest, config(BASE), "m")
    for i in range(12):
        rest.patch(SR, {"metadata": {"labels": {f"l{i}": "x"}}}, params={"fieldManager": f"writer-{i:02}"})
    managers = [e["manager"] for e in rest.get(SR).body["metadata"]["managedFields"] if e["operation"] == "Update"]
    assert len(managers) == 10 and "ancient-changes" in managers


# Apply semantics.


def test_apply_creates_a_missing_object(rest: RestClient) -> None:
    response = apply(rest, config(BASE), "m")
    assert response.status == 201
    assert list(entries(response.body)) == [("m", "Apply")]
    assert response.body["metadata"]["generation"] == 1


def test_apply_removes_what_it_no_longer_applies(rest: RestClient) -> None:
    applied(rest, config({**BASE, "fields": {"size": 10, "tier": "gold"}}, labels={"app": "db", "tmp": "1"}), "m")
    obj = applied(
        rest, config({"catalogItem": "postgresql-standard", "fields": {"size": 10}}, labels={"app": "db"}), "m"
    )
    assert obj["spec"] == {"catalogItem": "postgresql-standard", "fields": {"size": 10}}
    assert obj["metadata"]["labels"] == {"app": "db"}
    emptied = applied(rest, config({"catalogItem": "postgresql-standard"}), "m")
    assert emptied["spec"] == {"catalogItem": "postgresql-standard"} and "labels" not in emptied["metadata"]


def test_apply_keeps_what_it_drops_if_another_manager_owns_it(rest: RestClient) -> None:
    applied(rest, config(BASE), "m")
    rest.patch(SR, {"spec": {"fields": {"size": 1}}}, params={"fieldManager": "editor"})
    applied(rest, config({**BASE, "fields": {"size": 1}}), "m")  # the same value: shared with editor
    obj = applied(rest, config({"catalogItem": "postgresql-standard"}), "m")
    assert obj["spec"] == {"catalogItem": "postgresql-standard", "fields": {"size": 1}}  # environment went, size not
    assert entries(obj)[("m", "Apply")] == {"f:spec": {"f:catalogItem": {}}}
    assert entries(obj)[("editor", "Update")] == {"f:spec": {"f:fields": {".": {}, "f:size": {}}}}


def test_apply_conflicts_with_another_managers_fields(rest: RestClient) -> None:
    first = rest.post(SRS, config({**BASE, "fields": {"size": 1}}), params={"fieldManager": "kubectl-create"}).body
    response = apply(rest, config({**BASE, "environment": "prod", "fields": {"size": 2}}), "m")
    assert (response.status, response.reason) == (409, "Conflict")
    manager = '"kubectl-create" using orchestrator.dev/v1alpha1'
    assert response.body["message"] == (
        f"Apply failed with 2 conflicts: conflicts with {manager}:\n- .spec.environment\n- .spec.fields.size"
    )
    assert response.body["details"] == {
        "causes": [
            {"reason": "FieldManagerConflict", "message": f"conflict with {manager}", "field": ".spec.environment"},
            {"reason": "FieldManagerConflict", "message": f"conflict with {manager}", "field": ".spec.fields.size"},
        ]
    }
    assert rest.get(SR).body == first  # nothing changed


def test_conflicts_between_appliers_name_them_without_version(rest: RestClient) -> None:
    applied(rest, config(BASE), "a")
    response = apply(rest, config({"environment": "prod"}), "b")
    assert response.body["message"] == 'Apply failed with 1 conflict: conflict with "a": .spec.environment'


def test_forced_apply_takes_the_fields_over(rest: RestClient) -> None:
    rest.post(SRS, config({**BASE, "fields": {"size": 1}}), params={"fieldManager": "kubectl-create"})
    obj = applied(rest, config({"environment": "prod"}), "m", force="true")
    assert obj["spec"] == {**BASE, "environment": "prod", "fields": {"size": 1}}
    assert entries(obj)[("m", "Apply")] == {"f:spec": {"f:environment": {}}}
    assert entries(obj)[("kubectl-create", "Update")] == {
        "f:spec": {".": {}, "f:catalogItem": {}, "f:fields": {".": {}, "f:size": {}}}
    }
    assert apply(rest, config({"environment": "dev"}), "m").status == 200  # m's now: no conflict


def test_equal_values_share_ownership(rest: RestClient) -> None:
    first = applied(rest, config(BASE), "a")
    second = applied(rest, config({"environment": "dev"}), "b")
    assert second["spec"] == first["spec"]
    # Only the ownership changed: a new resourceVersion all the same, as managedFields are part of the object.
    assert second["metadata"]["resourceVersion"] != first["metadata"]["resourceVersion"]
    assert entries(second)[("b", "Apply")] == {"f:spec": {"f:environment": {}}}
    assert apply(rest, config({**BASE, "environment": "prod"}), "a").status == 409  # shared: b objects
    applied(rest, config({"catalogItem": "postgresql-standard"}), "a")  # a gives it up; b keeps it, and the value
    assert rest.get(SR).body["spec"]["environment"] == "dev"


def test_a_no_op_apply_changes_nothing(rest: RestClient, k8s_api: ApiEmulator) -> None:
    first = applied(rest, config({**BASE, "fields": {"size": 1}}, labels={"app": "db"}), "m")
    rv = first["metadata"]["resourceVersion"]
    k8s_api.reset_access()
    again = applied(rest, config({**BASE, "fields": {"size": 1}}, labels={"app": "db"}), "m")
    assert again == first  # the same resourceVersion, managedFields and their time
    events = list(rest.watch(SRS, timeout=0.5, resourceVersion=rv, timeoutSeconds=1))
    assert events == []
    patches = Access("patch", "orchestrator.dev", "servicerequests", None, "team-a", 200)
    assert k8s_api.access_counts()[patches] == 1  # still an API request


def test_apply_bumps_generation_only_for_spec_changes(rest: RestClient) -> None:
    applied(rest, config(BASE), "m")
    assert applied(rest, config(BASE, labels={"a": "b"}), "m")["metadata"]["generation"] == 1
    assert applied(rest, config({**BASE, "environment": "prod"}), "m")["metadata"]["generation"] == 2


def test_apply_with_a_stale_resource_version_conflicts(rest: RestClient) -> None:
    obj = applied(rest, config(BASE), "m")
    stale = obj["metadata"]["resourceVersion"]
    applied(rest, config(BASE, labels={"a": "b"}), "m")
    response = apply(rest, config({**BASE, "environment": "prod"}, resourceVersion=stale), "m")
    assert (response.status, response.reason) == (409, "Conflict")
    assert "the object has been modified" in response.body["message"]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({**config(BASE), "kind": "CatalogItem"}, "invalid object type: orchestrator.dev/v1alpha1, Kind=CatalogItem"),
        ({"metadata": {"name": "demo"}, "spec": BASE}, "invalid object type: /, Kind="),
        (config(BASE, managedFields=[{"manager": "x"}]), "metadata.managedFields must be nil"),
        (config(BASE, name="other"), "the name of the object (other) does not match the name on the URL (demo)"),
        (
            config(BASE, namespace="team-b"),
            "the namespace of the provided object does not match the namespace sent on the request",
        ),
    ],
    ids=["wrong-kind", "no-type", "managed-fields", "other-name", "other-namespace"],
)
def test_apply_rejects_bad_configurations(rest: RestClient, body: dict[str, Any], message: str) -> None:
    response = apply(rest, body, "m")
    assert (response.status, response.reason, response.body["message"]) == (400, "BadRequest", message)


def test_dry_run_apply_changes_nothing(rest: RestClient) -> None:
    applied(rest, config(BASE), "m")
    dry = applied(rest, config({**BASE, "environment": "prod"}), "m", dryRun="All")
    assert dry["spec"]["environment"] == "prod"
    assert rest.get(SR).body["spec"]["environment"] == "dev"


def test_lists_are_atomic_without_a_list_type(rest: RestClient) -> None:
    applied(rest, config({**BASE, "fields": {"zones": ["a", "b"]}}), "m")
    obj = applied(rest, config({**BASE, "fields": {"zones": ["a"]}}), "m")
    assert obj["spec"]["fields"]["zones"] == ["a"]
    assert entries(obj)[("m", "Apply")]["f:spec"]["f:fields"] == {"f:zones": {}}
    response = apply(rest, config({"fields": {"zones": ["a", "c"]}}), "other")
    assert response.body["message"] == 'Apply failed with 1 conflict: conflict with "m": .spec.fields.zones'


# The status subresource and associative lists.


def condition(kind: str, status: str = "True") -> dict[str, Any]:
    return {"type": kind, "status": status, "reason": "Tested", "lastTransitionTime": "2024-01-01T00:00:00Z"}


def test_status_apply_touches_only_status(rest: RestClient) -> None:
    applied(rest, config(BASE), "m")
    status = {**config(), "spec": {"environment": "ignored"}, "status": {"phase": "Ready"}}
    obj = applied(rest, status, "operator", path=SR + "/status")
    assert obj["status"] == {"phase": "Ready"} and obj["spec"] == BASE
    [entry] = [e for e in obj["metadata"]["managedFields"] if e["manager"] == "operator"]
    assert (entry["operation"], entry["subresource"]) == ("Apply", "status")
    assert entry["fieldsV1"] == {"f:status": {"f:phase": {}}}
    # The main resource ignores .status, and its appliers never conflict with the status ones.
    obj = applied(rest, {**config(BASE), "status": {"phase": "Failed"}}, "m")
    assert obj["status"] == {"phase": "Ready"}
    assert "status" not in applied(rest, config(), "operator", path=SR + "/status")  # phase dropped, status empty


def test_list_map_items_are_owned_one_by_one(rest: RestClient) -> None:
    """``status.conditions`` is ``x-kubernetes-list-type: map`` keyed by ``type``: appliers own their items."""
    applied(rest, config(BASE), "m")
    status = SR + "/status"
    applied(rest, {**config(), "status": {"conditions": [condition("Ready")]}}, "a", path=status)
    obj = applied(rest, {**config(), "status": {"conditions": [condition("Synced")]}}, "b", path=status)
    assert [c["type"] for c in obj["status"]["conditions"]] == ["Ready", "Synced"]
    assert entries(obj)[("b", "Apply")] == {
        "f:status": {
            "f:conditions": {
                'k:{"type":"Synced"}': {
                    ".": {},
                    "f:lastTransitionTime": {},
                    "f:reason": {},
                    "f:status": {},
                    "f:type": {},
                }
            }
        }
    }
    response = apply(rest, {**config(), "status": {"conditions": [condition("Ready", "False")]}}, "b", path=status)
    assert response.body["details"]["causes"] == [
        {
            "reason": "FieldManagerConflict",
            "message": 'conflict with "a" with subresource "status"',
            "field": '.status.conditions[type="Ready"].status',
        }
    ]
    obj = applied(rest, {**config(), "status": {"conditions": []}}, "a", path=status)  # a drops its item only
    assert [c["type"] for c in obj["status"]["conditions"]] == ["Synced"]


def test_finalizers_are_a_set(rest: RestClient) -> None:
    applied(rest, config(BASE, finalizers=["a.example/x"]), "a")
    obj = applied(rest, config(finalizers=["b.example/y"]), "b")
    assert obj["metadata"]["finalizers"] == ["a.example/x", "b.example/y"]
    assert entries(obj)[("b", "Apply")] == {"f:metadata": {"f:finalizers": {'v:"b.example/y"': {}}}}
    obj = applied(rest, config(BASE), "a")
    assert obj["metadata"]["finalizers"] == ["b.example/y"]


def test_configmap_data_keys_are_fields(rest: RestClient) -> None:
    body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cm"}, "data": {"a": "1", "b": "2"}}
    created = rest.post(CMS, body, params={"fieldManager": "kubectl-create"}).body
    assert entries(created)[("kubectl-create", "Update")] == {"f:data": {".": {}, "f:a": {}, "f:b": {}}}
    obj = applied(rest, {**body, "data": {"b": "3"}}, "m", path=CMS + "/cm", force="true")
    assert obj["data"] == {"a": "1", "b": "3"}
    assert entries(obj)[("m", "Apply")] == {"f:data": {"f:b": {}}}


# The helpers and kubectl.


def test_helpers_write_as_the_emulator(k8s_api: ApiEmulator, rest: RestClient) -> None:
    k8s_api.create({**config(BASE), "metadata": {"name": "demo", "namespace": "team-a"}})
    response = apply(rest, config({"environment": "prod"}), "m")
    assert response.body["message"].startswith('Apply failed with 1 conflict: conflict with "emulator" using')
    obj = k8s_api.patch(
        "sr", "demo", config({"environment": "prod"}), "team-a", patch_type="apply", field_manager="m", force=True
    )
    assert obj["spec"]["environment"] == "prod" and ("m", "Apply") in entries(obj)


def test_kubectl_server_side_apply(k8s_api: ApiEmulator, kubectl: Any, tmp_path: Path) -> None:
    k8s_api.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team-a"}})
    manifest = {**config({**BASE, "fields": {"size": 1}}, namespace="team-a", labels={"app": "db"})}
    path = tmp_path / "sr.yaml"
    path.write_text(yaml.safe_dump(manifest), encoding="utf-8")
    args = ("apply", "--server-side", "--field-manager=x", "--validate=false", "-f", str(path))
    assert "serverside-applied" in kubectl(*args).stdout
    dropped = copy.deepcopy(manifest)
    del dropped["spec"]["fields"], dropped["metadata"]["labels"]
    path.write_text(yaml.safe_dump(dropped), encoding="utf-8")
    kubectl(*args)
    obj = k8s_api.get("sr", "demo", "team-a")
    assert obj is not None and obj["spec"] == BASE and "labels" not in obj["metadata"]
    assert entries(obj) == {("x", "Apply"): {"f:spec": {"f:catalogItem": {}, "f:environment": {}}}}
    # Another manager changing x's field needs --force-conflicts.
    path.write_text(yaml.safe_dump(config({**BASE, "environment": "prod"}, namespace="team-a")), encoding="utf-8")
    other = ("apply", "--server-side", "--field-manager=y", "--validate=false", "-f", str(path))
    failed = kubectl(*other, check=False)
    assert failed.returncode != 0 and 'conflict with "x": .spec.environment' in failed.stderr
    kubectl(*other, "--force-conflicts")
    obj = k8s_api.get("sr", "demo", "team-a")
    assert obj is not None and obj["spec"]["environment"] == "prod"


def test_applying_null_takes_a_declared_field_and_drops_it(rest: RestClient) -> None:
    rest.post(SRS, config({**BASE, "fields": {"size": 1}}), params={"fieldManager": "kubectl-create"})
    response = apply(rest, config({"environment": None}), "m")
    assert response.body["message"].endswith(": .spec.environment")  # changing another manager's field
    obj = applied(rest, config({"environment": None, "fields": {"size": None}}), "m", force="true")
    # A declared field's null is dropped; in x-kubernetes-preserve-unknown-fields it is kept, as kube-apiserver does.
    assert obj["spec"] == {"catalogItem": "postgresql-standard", "fields": {"size": None}}
    assert entries(obj)[("m", "Apply")] == {"f:spec": {"f:environment": {}, "f:fields": {"f:size": {}}}}
