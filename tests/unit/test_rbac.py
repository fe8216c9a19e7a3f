"""The RBAC declaration (orchestrator.api.rbac), its generated files and the coverage check's building blocks."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from tests.k8s.server import Access, Served
from tests.rbac_coverage import (
    OPERATOR_TOKEN,
    TERRAFORM_JOB,
    TERRAFORM_JOB_TOKEN,
    Call,
    RenderedRule,
    call_from,
    disallowed,
    identity,
    is_operator,
    render_rules,
    unused,
    wildcards,
)

from orchestrator.api import rbac

ROOT = Path(__file__).resolve().parents[2]
NS = "orchestrator-system"


def served(
    verb: str,
    group: str | None,
    resource: str | None,
    namespace: str | None = None,
    *,
    sub: str | None = None,
    name: str | None = None,
    data: Any = None,
    token: str | None = OPERATOR_TOKEN,
) -> Served:
    headers: Mapping[str, str] = {"Authorization": f"Bearer {token}"} if token else {}
    return Served(Access(verb, group, resource, sub, namespace, 200), name, headers, data)


def test_the_declaration_has_no_wildcards_and_every_rule_a_reason() -> None:
    assert rbac.wildcards() == []
    for rule in rbac.RULES:
        assert rule.why.strip() and rule.verbs and rule.resources
        assert rule.when is None or rule.when in rbac.CONDITIONS
        assert all(reason.strip() and verb in rule.verbs for verb, reason in rule.untested)


def test_a_wildcard_is_reported() -> None:
    bad = rbac.Rule("", ("secrets",), ("*",), "cluster", "no")
    assert rbac.wildcards([bad]) == ["/secrets: *"]
    rendered = RenderedRule("ClusterRole", None, ("*",), ("pods",), ("get",), ())
    assert wildcards([rendered]) == ["ClusterRole rule apiGroups ['*']"]


def test_generated_files_are_current() -> None:
    for path, text in rbac.generated_files().items():
        assert (ROOT / path).read_text() == text, f"{path} is out of date: run `make generate`"


def test_the_chart_renders_the_declared_rules_bound_to_the_service_account() -> None:
    rules = render_rules(NS, ROOT / "charts" / "platform-orchestrator")
    declared = {
        ("ClusterRole" if rule.scope == "cluster" else "Role", rule.group, rule.resources, rule.verbs)
        for rule in rbac.RULES
        if rule.when is None
    }
    assert {(r.kind, r.groups[0], r.resources, r.verbs) for r in rules} == declared
    assert all(r.namespace == NS for r in rules if r.kind == "Role")


def test_peering_rules_only_with_peering_and_nothing_without_rbac_create() -> None:
    import helm_python
    import yaml

    chart = helm_python.Chart.load(ROOT / "charts" / "platform-orchestrator")

    def roles(values: dict[str, Any]) -> list[dict[str, Any]]:
        text = chart.render(values, name="r", namespace=NS).get("platform-orchestrator/templates/rbac.yaml", "")
        return [d for d in yaml.safe_load_all(text) if d]

    peering = [r for d in roles({"operator": {"peering": "orchestrator"}}) for r in d.get("rules") or []]
    assert any("clusterkopfpeerings" in r["resources"] for r in peering)
    default = [r for d in roles({}) for r in d.get("rules") or []]
    assert not any("clusterkopfpeerings" in r["resources"] for r in default)
    assert [d["kind"] for d in roles({"rbac": {"create": False}})] == ["ServiceAccount"]  # the job runner's only


def test_the_markdown_table_lists_every_rule() -> None:
    table = rbac.markdown_table()
    for rule in rbac.RULES:
        assert rule.why in table


def test_only_the_operator_token_counts() -> None:
    assert is_operator(served("get", "", "secrets", NS, name="x"))
    assert not is_operator(served("get", "", "secrets", NS, name="x", token=None))
    assert not is_operator(served("get", "", "secrets", NS, name="x", token="someone-else"))


def test_calls_in_rbac_terms() -> None:
    assert call_from(served("get", None, "/apis")) == []  # discovery: allowed to every authenticated user
    assert call_from(served("patch", "orchestrator.dev", "servicerequests", "team", sub="status", name="a")) == [
        Call("patch", "orchestrator.dev", "servicerequests/status", "team", "a")
    ]
    # /api/v1/namespaces/x is cluster-scoped for our rules even though the emulator files it under namespace x.
    assert call_from(served("get", "", "namespaces", "x", name="x")) == [Call("get", "", "namespaces", None, "x")]


def test_a_rolebinding_to_a_cluster_role_needs_bind_on_it() -> None:
    body = {"roleRef": {"kind": "ClusterRole", "name": "edit"}, "metadata": {"name": "workspace-edit"}}
    calls = call_from(served("patch", rbac.RBAC, "rolebindings", "ws", name="workspace-edit", data=body))
    assert Call("bind", rbac.RBAC, "clusterroles", None, "edit") in calls
    rules = render_rules(NS, ROOT / "charts" / "platform-orchestrator")
    assert disallowed(calls, rules) == []
    assert disallowed([Call("bind", rbac.RBAC, "clusterroles", None, "cluster-admin")], rules) != []


def test_block_owner_deletion_needs_update_on_the_owners_finalizers() -> None:
    owner = {"apiVersion": "orchestrator.dev/v1alpha1", "kind": "ServiceRequest", "name": "db", "uid": "u"}
    body = {"metadata": {"name": "db-outputs", "ownerReferences": [{**owner, "blockOwnerDeletion": True}]}}
    calls = call_from(served("create", "", "secrets", "team", data=body))
    assert Call("update", "orchestrator.dev", "servicerequests/finalizers", "team", "db") in calls
    assert len(call_from(served("create", "", "secrets", "team", data={"metadata": {"ownerReferences": [owner]}}))) == 1


@pytest.mark.parametrize(
    ("call", "allowed"),
    [
        (Call("watch", "orchestrator.dev", "servicerequests", None, None), True),
        (Call("get", "", "configmaps", NS, "orchestrator-environments"), True),
        (Call("get", "", "configmaps", "team-orders", "anything"), False),  # only in the operator's namespace
        (Call("create", "batch", "jobs", "team-orders", None), False),
        (Call("delete", "orchestrator.dev", "servicerequests", "team-orders", "a"), False),
        (Call("create", "", "pods", "team-orders", None), False),
    ],
)
def test_allowed_by_the_rendered_roles(call: Call, allowed: bool) -> None:
    rules = render_rules(NS, ROOT / "charts" / "platform-orchestrator")
    assert (disallowed([call], rules) == []) is allowed


def test_unused_grants_are_listed() -> None:
    rules = [RenderedRule("Role", NS, ("",), ("configmaps",), ("get", "list"), ())]
    assert unused([Call("get", "", "configmaps", NS, "x")], rules) == [f"list configmaps (core) [Role in {NS}]"]
    # a call in another namespace does not use a Role's grant
    assert len(unused([Call("get", "", "configmaps", "elsewhere", "x")], rules)) == 2


def test_the_terraform_job_runner_has_its_own_account_and_role() -> None:
    rules = render_rules(NS, ROOT / "charts" / "platform-orchestrator", who=TERRAFORM_JOB)
    declared = {("Role", rule.group, rule.resources, rule.verbs) for rule in rbac.TERRAFORM_JOB_RULES}
    assert {(r.kind, r.groups[0], r.resources, r.verbs) for r in rules} == declared
    assert all(r.namespace == NS for r in rules)
    assert rbac.untested_grants(rbac.TERRAFORM_JOB_RULES) == set()
    for rule in rbac.TERRAFORM_JOB_RULES:
        assert rule.scope == "namespace" and rule.why in rbac.markdown_table()
    job = [
        Call("get", "", "secrets", NS, "tf-1"),
        Call("create", "", "secrets", NS, None),
        Call("patch", "", "secrets", NS, "tf-1-result"),
        Call("get", "batch", "jobs", NS, "tf-1"),
    ]
    assert disallowed(job, rules) == [] and unused(job, rules, TERRAFORM_JOB) == []
    # least privilege: nothing the operator does, nothing outside the namespace
    for call in (
        Call("delete", "", "secrets", NS, "tf-1"),
        Call("create", "batch", "jobs", NS, None),
        Call("get", "", "secrets", "team-orders", "x"),
        Call("list", "", "secrets", NS, None),
    ):
        assert disallowed([call], rules) == [call]


def test_the_job_account_name_is_the_one_in_the_operator_settings() -> None:
    import helm_python
    import yaml

    chart = helm_python.Chart.load(ROOT / "charts" / "platform-orchestrator")

    def objects(values: dict[str, Any]) -> tuple[list[dict[str, Any]], str]:
        rendered = chart.render(values, name="r", namespace=NS)
        docs = [d for d in yaml.safe_load_all(rendered["platform-orchestrator/templates/rbac.yaml"]) if d]
        config = yaml.safe_load(rendered["platform-orchestrator/templates/configmap.yaml"])["data"]["config.yaml"]
        return docs, yaml.safe_load(config)["terraform"]["jobServiceAccount"]

    docs, setting = objects({})
    assert setting == "r-platform-orchestrator-terraform"
    assert ("ServiceAccount", setting) in {(d["kind"], d["metadata"]["name"]) for d in docs}
    binding = next(d for d in docs if d["kind"] == "RoleBinding" and d["metadata"]["name"] == setting)
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": setting, "namespace": NS}]
    assert binding["roleRef"] == {"apiGroup": rbac.RBAC, "kind": "Role", "name": setting}

    annotations = {"eks.amazonaws.com/role-arn": "arn:aws:iam::1:role/tf"}
    named = {"terraform": {"jobServiceAccount": {"name": "tf-runner", "annotations": annotations}}}
    docs, setting = objects(named)
    account = next(d for d in docs if d["kind"] == "ServiceAccount")
    assert setting == "tf-runner" and account["metadata"]["name"] == "tf-runner"
    assert account["metadata"]["annotations"] == annotations

    # bring your own account: no ServiceAccount, the Role still binds it; without rbac.create only the account
    docs, setting = objects({"terraform": {"jobServiceAccount": {"create": False, "name": "byo"}}})
    assert setting == "byo" and "ServiceAccount" not in {d["kind"] for d in docs}
    assert any(d["kind"] == "RoleBinding" and d["subjects"][0]["name"] == "byo" for d in docs)
    docs, _ = objects({"rbac": {"create": False}})
    assert [d["kind"] for d in docs] == ["ServiceAccount"]


def test_the_job_runner_token_is_its_own_identity() -> None:
    assert identity(served("get", "", "secrets", NS, name="x", token=TERRAFORM_JOB_TOKEN)) == TERRAFORM_JOB
    assert not is_operator(served("get", "", "secrets", NS, name="x", token=TERRAFORM_JOB_TOKEN))
    assert identity(served("get", "", "secrets", NS, name="x", token=None)) is None
