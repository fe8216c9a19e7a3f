"""The Helm chart: lint, render, validate every object, restricted Pod Security, git-sync flags, schema, monitoring."""

from __future__ import annotations

import json
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import helm_python
import jsonschema
import kubernetes_validate
import pytest
import yaml

from orchestrator import __version__
from orchestrator.api.environments import EnvironmentsConfig
from orchestrator.config import load_settings, parse_duration
from orchestrator.metrics import Metrics

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "charts" / "platform-orchestrator"
FULL_VALUES = yaml.safe_load((Path(__file__).parent / "values-full.yaml").read_text())
NAMESPACE = "orchestrator-system"
RELEASE = "po"
KUBE_VERSIONS = ("1.29", "1.33")
# Default values plus a repository, so the sidecar and the default CatalogSource render.
WITH_REPO: dict[str, Any] = {"gitSync": {"repo": "https://git.example.com/platform/catalog.git"}}
VALUE_SETS = {"default": {}, "default-with-repo": WITH_REPO, "full": FULL_VALUES}


def render(values: dict[str, Any]) -> list[dict[str, Any]]:
    chart = helm_python.Chart.load(str(CHART))
    manifests = chart.render(values, name=RELEASE, namespace=NAMESPACE, is_install=True)
    objects: list[dict[str, Any]] = []
    for path, text in sorted(manifests.items()):
        if path.endswith("NOTES.txt"):
            continue
        objects.extend(doc for doc in yaml.safe_load_all(text) if doc)
    return objects


def by_kind(objects: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [obj for obj in objects if obj["kind"] == kind]


def only(objects: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    found = by_kind(objects, kind)
    assert len(found) == 1, f"expected one {kind}, got {len(found)}"
    return found[0]


def containers(deployment: dict[str, Any]) -> dict[str, dict[str, Any]]:
    spec = deployment["spec"]["template"]["spec"]
    return {c["name"]: c for c in [*spec.get("initContainers", []), *spec["containers"]]}


def git_sync_flags(deployment: dict[str, Any]) -> dict[str, str]:
    flags: dict[str, str] = {}
    for arg in containers(deployment)["git-sync"]["args"]:
        name, _, value = arg.partition("=")
        flags[name] = value
    return flags


def crd_schemas() -> dict[tuple[str, str], dict[str, Any]]:
    schemas = {}
    for path in sorted((ROOT / "crds").glob("*.yaml")):
        crd = yaml.safe_load(path.read_text())
        for version in crd["spec"]["versions"]:
            api_version = f"{crd['spec']['group']}/{version['name']}"
            schemas[(api_version, crd["spec"]["names"]["kind"])] = version["schema"]["openAPIV3Schema"]
    return schemas


@pytest.fixture(scope="module", params=sorted(VALUE_SETS))
def rendered(request: pytest.FixtureRequest) -> Iterator[tuple[str, list[dict[str, Any]]]]:
    yield request.param, render(VALUE_SETS[request.param])


# --- chart metadata and lint ---------------------------------------------------------------------------------------


def test_app_version_is_the_package_version() -> None:
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    assert chart["name"] == "platform-orchestrator"
    assert chart["appVersion"] == __version__


@pytest.mark.parametrize("values_name", ["default", "full"])
def test_lint_strict_is_clean(values_name: str) -> None:
    report = helm_python.lint(str(CHART), VALUE_SETS[values_name], strict=True, namespace=NAMESPACE)
    problems = [m for m in report["messages"] if m["severity"] >= 2]
    assert not report["errors"], report["errors"]
    assert not problems, problems


def test_chart_crds_equal_the_repository_crds() -> None:
    repo = {p.name: p.read_text() for p in (ROOT / "crds").glob("*.yaml")}
    chart = {p.name: p.read_text() for p in (CHART / "crds").glob("*")}
    assert repo, "crds/ is empty"
    assert chart == repo


# --- every rendered object is valid --------------------------------------------------------------------------------


@pytest.mark.parametrize("kube_version", KUBE_VERSIONS)
def test_every_rendered_object_validates(rendered: tuple[str, list[dict[str, Any]]], kube_version: str) -> None:
    _, objects = rendered
    custom = crd_schemas()
    monitoring = {"ServiceMonitor", "PrometheusRule"}  # no offline schema; checked in test_monitoring_objects
    for obj in objects:
        where = f"{obj['kind']}/{obj['metadata']['name']}"
        if (obj["apiVersion"], obj["kind"]) in custom:
            jsonschema.validate(obj.get("spec", {}), custom[(obj["apiVersion"], obj["kind"])]["properties"]["spec"])
            continue
        if obj["kind"] in monitoring:
            continue
        try:
            kubernetes_validate.validate(obj, kube_version, strict=True)
        except kubernetes_validate.ValidationError as error:
            pytest.fail(f"{where} is invalid for Kubernetes {kube_version}: {error.message} at {list(error.path)}")
        assert obj["metadata"].get("namespace") in (None, NAMESPACE), where


@pytest.mark.parametrize("kube_version", KUBE_VERSIONS)
def test_chart_crds_validate(kube_version: str) -> None:
    for path in sorted((CHART / "crds").glob("*.yaml")):
        kubernetes_validate.validate(yaml.safe_load(path.read_text()), kube_version, strict=True)


def test_full_values_render_every_kind() -> None:
    kinds = {obj["kind"] for obj in render(FULL_VALUES)}
    expected = {
        "Deployment", "ServiceAccount", "ConfigMap", "Service", "CatalogSource", "ServiceMonitor",
        "PrometheusRule", "PodDisruptionBudget", "NetworkPolicy",
    }  # fmt: skip
    assert expected <= kinds, expected - kinds


def test_owned_objects_carry_the_chart_labels(rendered: tuple[str, list[dict[str, Any]]]) -> None:
    _, objects = rendered
    for obj in objects:
        labels = obj["metadata"].get("labels", {})
        assert labels.get("app.kubernetes.io/name") == "platform-orchestrator", obj["metadata"]["name"]
        assert labels.get("app.kubernetes.io/instance") == RELEASE


# --- the Deployment ------------------------------------------------------------------------------------------------


def test_pod_security_is_restricted(rendered: tuple[str, list[dict[str, Any]]]) -> None:
    _, objects = rendered
    deployment = only(objects, "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert not pod.get("hostNetwork") and not pod.get("hostPID") and not pod.get("hostIPC")
    assert all("hostPath" not in volume for volume in pod["volumes"])
    for name, container in containers(deployment).items():
        context = container["securityContext"]
        assert context["runAsNonRoot"] is True, name
        assert context["runAsUser"] > 0, name
        assert context["readOnlyRootFilesystem"] is True, name
        assert context["allowPrivilegeEscalation"] is False, name
        assert context.get("privileged", False) is False, name
        assert context["capabilities"] == {"drop": ["ALL"]}, name
        assert context["seccompProfile"] == {"type": "RuntimeDefault"}, name
        assert container["resources"]["requests"] and container["resources"]["limits"]["memory"], name


def test_writable_paths_are_emptydirs(rendered: tuple[str, list[dict[str, Any]]]) -> None:
    _, objects = rendered
    deployment = only(objects, "Deployment")
    volumes = {v["name"]: v for v in deployment["spec"]["template"]["spec"]["volumes"]}
    for name, container in containers(deployment).items():
        for mount in container["volumeMounts"]:
            if not mount.get("readOnly"):
                assert "emptyDir" in volumes[mount["name"]], f"{name} writes to {mount['mountPath']}, not an emptyDir"
    settings = operator_settings(objects)
    writable = {m["mountPath"] for m in containers(deployment)["operator"]["volumeMounts"] if not m.get("readOnly")}
    assert {"/tmp", str(settings.terraform.work_dir), str(settings.catalog.cache_dir)} <= writable
    assert settings.terraform.plugin_cache_dir is not None
    assert any(settings.terraform.plugin_cache_dir.is_relative_to(path) for path in writable)


def test_operator_runs_with_the_rendered_settings(rendered: tuple[str, list[dict[str, Any]]]) -> None:
    values_name, objects = rendered
    operator = containers(only(objects, "Deployment"))["operator"]
    assert operator["command"] == ["orchestrator"]
    assert operator["args"][:2] == ["run", "--config=/etc/orchestrator/config.yaml"]
    settings = operator_settings(objects)
    assert settings.namespace == NAMESPACE
    port = {p["name"]: p["containerPort"] for p in operator["ports"]}["http"]
    assert settings.probe_port == port
    assert operator["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert operator["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    if values_name == "full":
        assert settings.terraform.work_dir == Path("/var/lib/orchestrator/tf-runs")  # a settings override moves...
        mounts = {m["mountPath"] for m in operator["volumeMounts"]}
        assert "/var/lib/orchestrator/tf-runs" in mounts  # ...the emptyDir with it
        assert settings.peering == "platform-orchestrator" and settings.watch_namespaces == ["team-a", "team-b"]
        assert settings.jira.escalation_project == "OPS"


def operator_settings(objects: list[dict[str, Any]]) -> Any:
    config = next(o for o in by_kind(objects, "ConfigMap") if o["metadata"]["name"].endswith("-config"))
    return load_settings_from_text(config["data"]["config.yaml"])


def load_settings_from_text(text: str) -> Any:
    with tempfile.NamedTemporaryFile("w", suffix=".yaml") as handle:
        handle.write(text)
        handle.flush()
        return load_settings(Path(handle.name), environ={})


def test_single_active_replica_and_recreate() -> None:
    default = only(render({}), "Deployment")
    assert default["spec"]["replicas"] == 1
    assert default["spec"]["strategy"] == {"type": "Recreate"}
    with pytest.raises(helm_python.HelmError, match=re.escape("operator.peering")):
        render({"replicaCount": 2})
    assert only(render(FULL_VALUES), "Deployment")["spec"]["replicas"] == 2


def test_without_a_repository_there_is_no_sidecar() -> None:
    objects = render({})
    assert set(containers(only(objects, "Deployment"))) == {"operator"}
    assert not by_kind(objects, "CatalogSource")


@pytest.mark.parametrize("values_name", ["default-with-repo", "full"])
def test_git_sync_sidecar_flags(values_name: str) -> None:
    objects = render(VALUE_SETS[values_name])
    deployment = only(objects, "Deployment")
    sidecar = containers(deployment)["git-sync"]
    assert re.fullmatch(r"registry\.k8s\.io/git-sync/git-sync:v4\.\d+\.\d+", sidecar["image"])
    flags = git_sync_flags(deployment)
    assert flags["--repo"] and flags["--ref"]
    assert flags["--root"] == "/git" and flags["--link"] == "catalog"
    assert parse_duration(flags["--period"]) > 0
    assert int(flags["--max-failures"]) > 0
    assert parse_duration(flags["--stale-worktree-timeout"]) > 0
    # The webhook reaches the operator's hook on its probe port, and accepts the hook's 202 answer.
    operator_port = {p["name"]: p["containerPort"] for p in containers(deployment)["operator"]["ports"]}["http"]
    assert flags["--webhook-url"] == f"http://127.0.0.1:{operator_port}/hooks/git-sync"
    assert flags["--webhook-success-status"] == "202"
    probes = (ROOT / "operator/orchestrator/handlers/probes.py").read_text()
    assert 'add_post("/hooks/git-sync"' in probes and "status=202" in probes
    # Both containers share the /git emptyDir; the operator reads it only.
    git_mounts = {
        name: m for name, c in containers(deployment).items() for m in c["volumeMounts"] if m["mountPath"] == "/git"
    }
    assert git_mounts["operator"]["readOnly"] is True and not git_mounts["git-sync"].get("readOnly")
    assert git_mounts["operator"]["name"] == git_mounts["git-sync"]["name"]
    source = only(objects, "CatalogSource")
    assert source["spec"]["path"] == f"{flags['--root']}/{flags['--link']}"
    assert source["metadata"]["namespace"] == NAMESPACE


def test_git_sync_https_credentials_come_from_a_secret() -> None:
    deployment = only(render(FULL_VALUES), "Deployment")
    sidecar = containers(deployment)["git-sync"]
    env = {e["name"]: e for e in sidecar["env"]}
    assert env["GITSYNC_USERNAME"]["valueFrom"]["secretKeyRef"] == {"name": "platform-config-token", "key": "username"}
    assert git_sync_flags(deployment)["--password-file"] == "/etc/git-secret/password"
    volume = next(v for v in deployment["spec"]["template"]["spec"]["volumes"] if v["name"] == "git-secret")
    assert volume["secret"]["secretName"] == "platform-config-token"
    assert volume["secret"]["items"] == [{"key": "password", "path": "password"}]
    assert not any(arg.startswith("--password=") for arg in sidecar["args"])  # never on the command line
    assert all("value" not in e for e in sidecar["env"] if e["name"].startswith("GITSYNC_"))


def test_git_sync_ssh_credentials_come_from_a_secret() -> None:
    auth = {"type": "ssh", "secretName": "deploy-key"}
    values = {"gitSync": {"repo": "git@git.example.com:platform/catalog.git", "auth": auth}}
    deployment = only(render(values), "Deployment")
    flags = git_sync_flags(deployment)
    assert "--ssh" in flags
    assert flags["--ssh-key-file"] == "/etc/git-secret/ssh"
    assert flags["--ssh-known-hosts"] == "true"
    assert flags["--ssh-known-hosts-file"] == "/etc/git-secret/known_hosts"
    volume = next(v for v in deployment["spec"]["template"]["spec"]["volumes"] if v["name"] == "git-secret")
    assert {i["path"] for i in volume["secret"]["items"]} == {"ssh", "known_hosts"}
    with pytest.raises(helm_python.HelmError, match=re.escape("gitSync.auth.secretName")):
        render({"gitSync": {"repo": "git@git.example.com:x.git", "auth": {"type": "ssh"}}})


# --- configuration objects -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("values_name", ["default", "full"])
def test_environments_configmap(values_name: str) -> None:
    objects = render(VALUE_SETS[values_name])
    configmap = next(o for o in by_kind(objects, "ConfigMap") if o["metadata"]["name"] == "orchestrator-environments")
    config = EnvironmentsConfig.model_validate(yaml.safe_load(configmap["data"]["environments.yaml"]))
    values = helm_python.Chart.load(str(CHART)).merge_values(VALUE_SETS[values_name])["environments"]
    assert config.default == values["default"]
    assert set(config.environments) == set(values["environments"])


def test_connection_secrets_are_referenced_not_owned() -> None:
    chart = helm_python.Chart.load(str(CHART))
    manifests = chart.render(FULL_VALUES, name=RELEASE, namespace=NAMESPACE, is_install=True)
    objects = render(FULL_VALUES)
    assert not by_kind(objects, "Secret")  # the chart creates and labels no Secret
    notes = next(text for path, text in manifests.items() if path.endswith("NOTES.txt"))
    for name in FULL_VALUES["jira"]["connectionSecrets"]:
        assert f"label secret {name} orchestrator.dev/jira-connection=" in notes
    for name in FULL_VALUES["http"]["connectionSecrets"]:
        assert f"label secret {name} orchestrator.dev/http-connection=" in notes


def test_service_exposes_the_http_port() -> None:
    objects = render({})
    service = only(objects, "Service")
    assert [p["name"] for p in service["spec"]["ports"]] == ["http"]
    assert service["spec"]["selector"]["app.kubernetes.io/name"] == "platform-orchestrator"
    pod_labels = only(objects, "Deployment")["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= pod_labels.items()


def test_network_policy_allows_only_the_configured_peers() -> None:
    policy = only(render(FULL_VALUES), "NetworkPolicy")["spec"]
    assert policy["policyTypes"] == ["Ingress", "Egress"]
    assert policy["ingress"] == [
        {
            "ports": [{"port": "http", "protocol": "TCP"}],
            "from": FULL_VALUES["networkPolicy"]["metricsFrom"],
        }
    ]
    cidrs = [b["ipBlock"]["cidr"] for rule in policy["egress"] for b in rule["to"] if "ipBlock" in b]
    net = FULL_VALUES["networkPolicy"]
    expected = [
        *net["apiServer"]["cidrs"],
        *net["git"]["cidrs"],
        *(c for host in net["jira"] for c in host["cidrs"]),
        *(c for host in net["http"] for c in host["cidrs"]),
    ]
    assert sorted(cidrs) == sorted(expected)
    dns = [rule for rule in policy["egress"] if any("namespaceSelector" in peer for peer in rule["to"])]
    assert len(dns) == 1 and {p["port"] for p in dns[0]["ports"]} == {53}
    with pytest.raises(helm_python.HelmError, match=re.escape("networkPolicy.apiServer.cidrs")):
        render({"networkPolicy": {"enabled": True}})


# --- values.schema.json --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "named"),
    [
        ({"gitSync": {"repoo": "https://x"}}, "repoo"),
        ({"unknownTopLevel": True}, "unknownTopLevel"),
        ({"replicaCount": "two"}, "replicaCount"),
        ({"gitSync": {"maxFailures": 0}}, "maxFailures"),
        ({"gitSync": {"staleWorktreeTimeout": "0s"}}, "staleWorktreeTimeout"),
        ({"networkPolicy": {"jira": [{"cidrs": ["not-a-cidr"], "ports": [443]}]}}, "cidrs"),
    ],
)
def test_schema_rejects_bad_values(values: dict[str, Any], named: str) -> None:
    report = helm_python.lint(str(CHART), values, strict=True, namespace=NAMESPACE)
    assert any(named in str(message) for message in [*report["errors"], *report["messages"]]), report
    with pytest.raises(helm_python.HelmError, match=named):
        render(values)


def test_schema_is_strict_at_every_level() -> None:
    schema = json.loads((CHART / "values.schema.json").read_text())

    def walk(node: dict[str, Any], path: str) -> Iterator[str]:
        if "properties" in node and node.get("additionalProperties") is not False:
            yield path
        for key, child in node.get("properties", {}).items():
            yield from walk(child, f"{path}.{key}")
        if isinstance(node.get("items"), dict):
            yield from walk(node["items"], f"{path}[]")

    assert list(walk(schema, "values")) == []
    # every key of values.yaml is described by the schema, and the defaults pass it
    defaults = yaml.safe_load((CHART / "values.yaml").read_text())
    jsonschema.validate(defaults, schema)
    jsonschema.validate(FULL_VALUES, schema)


# --- monitoring ----------------------------------------------------------------------------------------------------


def exported_metric_names() -> set[str]:
    """Series names the operator's registry can expose (counters get _total, histograms _bucket/_sum/_count)."""
    names: set[str] = set()
    for family in Metrics().registry.collect():
        suffixes = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count")}.get(family.type, ("",))
        names.update(family.name + suffix for suffix in suffixes)
    return names


def queried_metrics(expression: str) -> set[str]:
    return set(re.findall(r"\b(orchestrator_[a-z_]+)\b", expression))


def test_monitoring_objects() -> None:
    objects = render(FULL_VALUES)
    service = only(objects, "Service")
    monitor = only(objects, "ServiceMonitor")
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    assert monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    assert [e["port"] for e in monitor["spec"]["endpoints"]] == ["http"]
    assert monitor["spec"]["endpoints"][0]["path"] == "/metrics"
    assert monitor["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    rule = only(objects, "PrometheusRule")
    alerts = {r["alert"]: r for group in rule["spec"]["groups"] for r in group["rules"]}
    assert {"OrchestratorRequestsStalled", "OrchestratorCatalogSyncFailing", "OrchestratorCircuitBreakerOpen"} <= set(
        alerts
    )
    known = exported_metric_names()
    for name, alert in alerts.items():
        used = queried_metrics(alert["expr"])
        assert used, name
        assert used <= known, f"{name} queries unknown metrics {used - known}"
        assert re.fullmatch(r"\d+[smhd]", alert["for"]), name
        assert alert["labels"]["severity"] == "critical"
        assert alert["annotations"]["summary"] and alert["annotations"]["runbook_url"].endswith(name.lower())
        assert f"## {name}" in (ROOT / "docs" / "operations.md").read_text(), f"no runbook section for {name}"


def test_dashboard_queries_existing_metrics() -> None:
    dashboard = json.loads((CHART / "dashboards" / "orchestrator.json").read_text())
    known = exported_metric_names()
    expressions = [t["expr"] for panel in dashboard["panels"] for t in panel.get("targets", [])]
    assert len(expressions) >= 10
    used = set().union(*(queried_metrics(e) for e in expressions))
    assert used <= known, f"the dashboard queries unknown metrics {used - known}"
    families = {re.sub(r"_(total|bucket|sum|count)$", "", name) for name in used}
    assert len(families) >= 12  # nearly every metric family has a panel
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))


def test_dashboard_configmap_ships_the_json() -> None:
    objects = render(FULL_VALUES)
    configmap = next(o for o in by_kind(objects, "ConfigMap") if o["metadata"]["name"].endswith("-dashboard"))
    assert configmap["metadata"]["labels"]["grafana_dashboard"] == "1"
    shipped = json.loads(configmap["data"]["orchestrator.json"])
    assert shipped == json.loads((CHART / "dashboards" / "orchestrator.json").read_text())
