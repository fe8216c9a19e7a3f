"""The in-memory Kubernetes API of `devctl simulate`: the API-server semantics the operator's code relies on."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from orchestrator.actions.terraform_state import StateRecord, read_record, write_record
from orchestrator.clients.kubernetes_types import (
    CONFIG_MAPS,
    NAMESPACES,
    RESOURCE_QUOTAS,
    SECRETS,
    SERVICE_REQUESTS,
    KubernetesApiError,
    KubernetesClient,
    decode_secret_data,
)
from orchestrator.clients.memory import MemoryKubernetes, merge, parse_selector, without_server_fields

NS = "team-a"


def request(name: str = "db", **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "orchestrator.dev/v1alpha1",
        "kind": "ServiceRequest",
        "metadata": {"name": name, "namespace": NS},
        "spec": {"catalogItem": "postgresql-standard", **spec},
    }


def config_map(name: str, labels: dict[str, str] | None = None) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "labels": labels or {}}, "data": {}}


async def test_create_stamps_server_fields_and_refuses_a_taken_name() -> None:
    api = MemoryKubernetes()
    created = await api.create(SERVICE_REQUESTS, {**request(), "metadata": {"name": "db", "uid": "mine"}}, NS)
    meta = created["metadata"]
    assert meta["uid"] != "mine" and len(meta["uid"]) == 36
    assert meta["generation"] == 1 and meta["resourceVersion"] and meta["creationTimestamp"].endswith("Z")
    assert meta["namespace"] == NS
    with pytest.raises(KubernetesApiError) as taken:
        await api.create(SERVICE_REQUESTS, request(), NS)
    assert taken.value.status == 409 and taken.value.reason == "AlreadyExists"
    other = await api.create(SERVICE_REQUESTS, {**request(), "metadata": {"name": "db"}}, "team-b")
    assert other["metadata"]["uid"] != meta["uid"]
    with pytest.raises(KubernetesApiError) as mismatch:
        await api.create(SERVICE_REQUESTS, request(), "team-b-other")
    assert mismatch.value.status == 400


async def test_seed_keeps_a_given_uid_and_generate_name_makes_names() -> None:
    api = MemoryKubernetes()
    seeded = api.seed(SERVICE_REQUESTS, {**request(), "metadata": {"name": "db", "uid": "fixed-uid"}}, NS)
    assert seeded["metadata"]["uid"] == "fixed-uid"
    generated = await api.create(CONFIG_MAPS, {"metadata": {"generateName": "cm-"}}, NS)
    assert generated["metadata"]["name"].startswith("cm-") and len(generated["metadata"]["name"]) > 3


async def test_returned_objects_are_copies() -> None:
    api = MemoryKubernetes()
    created = await api.create(CONFIG_MAPS, config_map("a"), NS)
    created["data"]["x"] = "changed"
    fetched = await api.get(CONFIG_MAPS, "a", NS)
    assert fetched is not None and fetched["data"] == {}
    assert await api.get(CONFIG_MAPS, "a", "elsewhere") is None


async def test_merge_patch_with_resource_version_precondition() -> None:
    api = MemoryKubernetes()
    created = await api.create(SERVICE_REQUESTS, request(fields={"size": "small", "ha": True}), NS)
    version = created["metadata"]["resourceVersion"]
    patched = await api.patch(
        SERVICE_REQUESTS, "db", {"metadata": {"resourceVersion": version}, "spec": {"fields": {"ha": None}}}, NS
    )
    assert patched["spec"]["fields"] == {"size": "small"}
    assert patched["metadata"]["generation"] == 2
    assert int(patched["metadata"]["resourceVersion"]) > int(version)
    with pytest.raises(KubernetesApiError) as stale:
        await api.patch(SERVICE_REQUESTS, "db", {"metadata": {"resourceVersion": version}, "spec": {"x": 1}}, NS)
    assert stale.value.status == 409
    with pytest.raises(KubernetesApiError) as missing:
        await api.patch(SERVICE_REQUESTS, "nope", {"spec": {}}, NS)
    assert missing.value.status == 404


async def test_status_subresource_is_isolated_and_does_not_bump_generation() -> None:
    api = MemoryKubernetes()
    created = await api.create(SERVICE_REQUESTS, {**request(), "status": {"phase": "Ready"}}, NS)
    assert "status" in created  # a create keeps what it is given (the operator never creates with status)
    written = await api.patch(
        SERVICE_REQUESTS,
        "db",
        {"status": {"phase": "Provisioning"}, "spec": {"catalogItem": "x"}},
        NS,
        subresource="status",
    )
    assert written["status"]["phase"] == "Provisioning"
    assert written["spec"]["catalogItem"] == "postgresql-standard"
    assert written["metadata"]["generation"] == 1
    main = await api.patch(
        SERVICE_REQUESTS, "db", {"status": {"phase": "Failed"}, "metadata": {"labels": {"a": "b"}}}, NS
    )
    assert main["status"]["phase"] == "Provisioning"
    assert main["metadata"]["labels"] == {"a": "b"} and main["metadata"]["generation"] == 1


async def test_label_selectors() -> None:
    api = MemoryKubernetes()
    await api.create(CONFIG_MAPS, config_map("a", {"app": "web", "tier": "front"}), NS)
    await api.create(CONFIG_MAPS, config_map("b", {"app": "db"}), NS)
    await api.create(CONFIG_MAPS, config_map("c"), NS)
    await api.create(CONFIG_MAPS, config_map("d", {"app": "web"}), "other")

    async def names(selector: str | None, namespace: str | None = NS) -> list[str]:
        return [o["metadata"]["name"] for o in await api.list(CONFIG_MAPS, namespace, label_selector=selector)]

    assert await names(None) == ["a", "b", "c"]
    assert await names(None, None) == ["d", "a", "b", "c"]  # by namespace ("other" first), then name
    assert await names("app=web") == ["a"]
    assert await names("app==web,tier=front") == ["a"]
    assert await names("app!=web") == ["b", "c"]
    assert await names("app in (web, db)") == ["a", "b"]
    assert await names("app notin (web)") == ["b", "c"]
    assert await names("app") == ["a", "b"]
    assert await names("!app") == ["c"]
    with pytest.raises(KubernetesApiError) as bad:
        parse_selector("app in web")
    assert bad.value.status == 400


async def test_secret_string_data_is_folded_into_data() -> None:
    api = MemoryKubernetes()
    body = {"metadata": {"name": "s"}, "data": {"a": base64.b64encode(b"1").decode()}, "stringData": {"b": "two"}}
    created = await api.create(SECRETS, body, NS)
    assert "stringData" not in created
    assert decode_secret_data(created) == {"a": "1", "b": "two"}
    patched = await api.patch(SECRETS, "s", {"stringData": {"a": "one"}}, NS)
    assert decode_secret_data(patched) == {"a": "one", "b": "two"} and "stringData" not in patched


async def test_server_side_apply_creates_merges_and_records_the_manager() -> None:
    api = MemoryKubernetes()
    body = {
        "apiVersion": "v1",
        "kind": "ResourceQuota",
        "metadata": {"name": "q", "namespace": NS, "labels": {"a": "1"}},
        "spec": {"hard": {"pods": "10", "cpu": "2"}},
    }
    created = await api.apply(RESOURCE_QUOTAS, body, field_manager="me", force=True, namespace=NS)
    assert [m["manager"] for m in created["metadata"]["managedFields"]] == ["me"]
    assert created["metadata"]["generation"] == 1
    again = await api.apply(RESOURCE_QUOTAS, body, field_manager="me", namespace=NS)
    assert again["metadata"]["generation"] == 1 and len(again["metadata"]["managedFields"]) == 1
    changed = {**body, "spec": {"hard": {"pods": "20"}}}
    updated = await api.apply(RESOURCE_QUOTAS, changed, field_manager="you", namespace=NS)
    assert updated["spec"]["hard"] == {"pods": "20", "cpu": "2"}
    assert updated["metadata"]["generation"] == 2
    assert sorted(m["manager"] for m in updated["metadata"]["managedFields"]) == ["me", "you"]
    stale = {**body, "metadata": {**body["metadata"], "resourceVersion": created["metadata"]["resourceVersion"]}}
    with pytest.raises(KubernetesApiError) as conflict:
        await api.apply(RESOURCE_QUOTAS, stale, field_manager="me", namespace=NS)
    assert conflict.value.status == 409


async def test_delete_honours_the_uid_precondition_and_cascades_namespaces() -> None:
    api = MemoryKubernetes()
    namespace = await api.create(NAMESPACES, {"metadata": {"name": "ws"}})
    assert "namespace" not in namespace["metadata"]
    await api.create(CONFIG_MAPS, config_map("inside"), "ws")
    await api.create(CONFIG_MAPS, config_map("outside"), NS)
    with pytest.raises(KubernetesApiError) as other:
        await api.delete(NAMESPACES, "ws", uid="someone-else")
    assert other.value.status == 409
    await api.delete(NAMESPACES, "ws", uid=namespace["metadata"]["uid"])
    assert await api.get(NAMESPACES, "ws") is None
    assert await api.list(CONFIG_MAPS, "ws") == []
    assert [o["metadata"]["name"] for o in await api.list(CONFIG_MAPS, NS)] == ["outside"]
    await api.delete(NAMESPACES, "ws")  # a missing object counts as deleted, as with the real client


async def test_the_operator_state_record_round_trips_with_its_precondition() -> None:
    api: KubernetesClient = MemoryKubernetes()
    owner = {"name": "db", "uid": "u-1"}
    record = await write_record(api, StateRecord("db-tfstate-x", NS), owner, set_values={"tfstate": b"{}"})
    assert (await read_record(api, NS, "db-tfstate-x")).state == b"{}"
    updated = await write_record(
        api, record, owner, set_values={"inputs": {"a": 1}}, annotations={"orchestrator.dev/x": "y"}
    )
    assert updated.documents["inputs"] == {"a": 1} and updated.annotations["orchestrator.dev/x"] == "y"
    with pytest.raises(KubernetesApiError) as stale:
        await write_record(api, record, owner, set_values={"tfstate": b"[]"})  # written from an old read
    assert stale.value.status == 409


def test_merge_and_manifest_helpers() -> None:
    assert merge({"a": {"b": 1, "c": 2}, "d": [1]}, {"a": {"b": None, "e": 3}, "d": [2]}) == {
        "a": {"c": 2, "e": 3},
        "d": [2],
    }
    manifest = without_server_fields(
        {"kind": "X", "metadata": {"name": "n", "uid": "u", "resourceVersion": "1", "labels": {"a": "b"}}, "status": {}}
    )
    assert manifest == {"kind": "X", "metadata": {"name": "n", "labels": {"a": "b"}}}
