"""devctl catalog list/get/search against the API emulator holding the sample catalog (no operator needed)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.k8s import ApiEmulator
from tests.unit.test_devctl_catalog_tools import check_golden

ROOT = Path(__file__).resolve().parents[2]
Run = Callable[..., Any]
ITEMS = sorted(path.stem for path in (ROOT / "catalog").glob("*/*.yaml") if path.parent.name != "bundles")
CONDITION_TIME = "2030-01-01T00:00:00Z"


def _status(ready: bool) -> dict[str, Any]:
    reason = "Succeeded" if ready else "ValidationFailed"
    message = "" if ready else "1 problem: spec.fields: invalid"
    return {
        "observedGeneration": 1,
        "activeRequests": 2 if ready else 0,
        "conditions": [
            {
                "type": "Ready",
                "status": "True" if ready else "False",
                "reason": reason,
                "message": message,
                "lastTransitionTime": CONDITION_TIME,
                "observedGeneration": 1,
            }
        ],
    }


@pytest.fixture
def catalog_cluster(k8s_api: ApiEmulator, k8s_kubeconfig: Path) -> Callable[..., tuple[str, ...]]:
    """The sample catalog applied to the emulator; returns the kubeconfig flags for devctl."""
    for path in sorted((ROOT / "catalog").glob("*/*.yaml")):
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
        relative = str(path.relative_to(ROOT / "catalog"))
        document["metadata"]["annotations"] = {"orchestrator.dev/source-path": relative}
        if document["metadata"]["name"] != "redis-standard":
            document["status"] = _status(ready=document["metadata"]["name"] != "object-bucket")
        k8s_api.create(document)

    def flags(*more: str) -> tuple[str, ...]:
        return ("--kubeconfig", str(k8s_kubeconfig), *more)

    return flags


def test_list_table_golden(devctl: Run, catalog_cluster: Callable[..., tuple[str, ...]], monkeypatch: Any) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    result = devctl("catalog", "list", *catalog_cluster("--no-color"))
    assert result.exit_code == 0, result.output
    assert max(len(line) for line in result.output.splitlines()) <= 80
    check_golden("catalog-list.txt", result.output)


def test_list_json_yaml_and_name(devctl: Run, catalog_cluster: Callable[..., tuple[str, ...]]) -> None:
    as_json = json.loads(devctl("catalog", "list", *catalog_cluster("-o", "json")).output)
    assert as_json["kind"] == "List" and as_json["metadata"] == {}
    assert [obj["metadata"]["name"] for obj in as_json["items"]] == [*ITEMS, "web-service-stack"]
    assert {obj["kind"] for obj in as_json["items"]} == {"CatalogItem", "CatalogBundle"}
    as_yaml = yaml.safe_load(devctl("catalog", "list", *catalog_cluster("-o", "yaml")).output)
    assert as_yaml == as_json
    names = devctl("catalog", "list", *catalog_cluster("-o", "name")).output.splitlines()
    assert names == [*(f"catalogitem/{name}" for name in ITEMS), "catalogbundle/web-service-stack"]
    refused = devctl("catalog", "list", *catalog_cluster("-o", "csv"))
    assert refused.exit_code == 2


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        (("--category", "databases"), ["postgresql-standard"]),
        (("--owner", "team-developer-experience"), ["dev-workspace", "web-service-stack"]),
        (("--tag", "postgres"), ["postgresql-standard", "web-service-stack"]),
        (("--tag", "postgres", "--category", "compute"), ["web-service-stack"]),
        (("--category", "observability"), []),
    ],
    ids=["category", "owner", "tag", "tag+category", "none"],
)
def test_list_filters(
    devctl: Run, catalog_cluster: Callable[..., tuple[str, ...]], flags: tuple[str, ...], expected: list[str]
) -> None:
    result = devctl("catalog", "list", *catalog_cluster("-o", "name", *flags))
    assert result.exit_code == 0, result.output
    assert [line.split("/")[1] for line in result.output.splitlines() if "/" in line] == expected


def test_list_pages_with_limit_and_continue(devctl: Run, catalog_cluster: Callable[..., tuple[str, ...]]) -> None:
    seen: list[str] = []
    pages: list[list[str]] = []
    token: str | None = None
    while True:
        extra = ("--continue", token) if token else ()
        result = devctl("catalog", "list", *catalog_cluster("--limit", "2", "-o", "json", *extra))
        assert result.exit_code == 0, result.output
        page = json.loads(result.output)
        pages.append([obj["metadata"]["name"] for obj in page["items"]])
        seen.extend(pages[-1])
        token = page["metadata"].get("continue")
        if not token:
            break
        assert len(pages) < 10, "paging does not end"
    assert seen == [*ITEMS, "web-service-stack"]
    assert [len(page) for page in pages] == [2, 2, 2, 2]  # 7 items and the bundle: the last page spans both kinds
    table = devctl("catalog", "list", *catalog_cluster("--limit", "3"))
    lines = table.output.splitlines()
    assert [line.split()[0] for line in lines[1:4]] == ITEMS[:3]
    hint = next(line for line in lines if line.startswith("More results: "))
    assert hint.startswith("More results: devctl catalog list --limit 3 --continue ")
    second = devctl("catalog", "list", *catalog_cluster("--limit", "3", "--continue", hint.split()[-1], "-o", "name"))
    assert second.output.splitlines() == [f"catalogitem/{name}" for name in ITEMS[3:6]]
    filtered = devctl("catalog", "list", *catalog_cluster("--limit", "4", "--tag", "postgres", "-o", "json"))
    page = json.loads(filtered.output)
    assert [obj["metadata"]["name"] for obj in page["items"]] == []  # filters apply to each page, client-side
    assert page["metadata"]["continue"]
    bad = devctl("catalog", "list", *catalog_cluster("--continue", "not-a-token"))
    assert bad.exit_code == 2 and "--continue" in bad.output


def test_get_describes_an_item_with_its_status(devctl: Run, catalog_cluster: Callable[..., tuple[str, ...]]) -> None:
    result = devctl("catalog", "get", "postgresql-standard", *catalog_cluster())
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert "Source:          databases/postgresql-standard.yaml" in lines
    assert "Requests:        2" in lines
    assert any(line.split()[:3] == ["Ready", "True", "Succeeded"] for line in lines)
    assert any(line.startswith("dbName ") and "yes" in line.split() for line in lines)
    bundle = devctl("catalog", "get", "web-service-stack", *catalog_cluster())
    assert bundle.exit_code == 0 and "  app: item eks-containerapp after database" in bundle.output.splitlines()
    as_json = json.loads(devctl("catalog", "get", "dev-workspace", *catalog_cluster("-o", "json")).output)
    assert as_json["kind"] == "CatalogItem" and as_json["spec"]["version"] == "2.0.0" and "status" in as_json


def test_get_schema_and_examples_from_the_cluster(
    devctl: Run, catalog_cluster: Callable[..., tuple[str, ...]], tmp_path: Path
) -> None:
    schema = json.loads(devctl("catalog", "get", "dns-record", *catalog_cluster("--schema")).output)
    expected = yaml.safe_load((ROOT / "catalog" / "networking" / "dns-record.yaml").read_text())["spec"]["fields"]
    assert schema == expected
    for name in [*ITEMS, "web-service-stack"]:
        result = devctl("catalog", "get", name, *catalog_cluster("--examples", "-n", "team-orders"))
        assert result.exit_code == 0, result.output
        assert "NOTE" not in result.output
        manifest = tmp_path / f"{name}.yaml"
        manifest.write_text(result.output)
        assert [doc["metadata"]["namespace"] for doc in yaml.safe_load_all(result.output)] == ["team-orders"] * 2
        checked = devctl("validate", "request", str(manifest), "--catalog", "catalog")
        assert checked.exit_code == 0, checked.output


def test_get_of_a_missing_item_is_exit_3(devctl: Run, catalog_cluster: Callable[..., tuple[str, ...]]) -> None:
    result = devctl("catalog", "get", "postgresql-standart", *catalog_cluster())
    assert result.exit_code == 3
    assert "no catalog item or bundle named 'postgresql-standart'" in result.output
    assert "did you mean 'postgresql-standard'?" in result.output


def test_search_in_the_cluster(devctl: Run, catalog_cluster: Callable[..., tuple[str, ...]]) -> None:
    result = devctl("catalog", "search", "redis", "cache", *catalog_cluster("-o", "json"))
    assert result.exit_code == 0, result.output
    hits = json.loads(result.output)
    assert hits[0]["name"] == "redis-standard" and hits[0]["matched"][0] == "name"
    nothing = devctl("catalog", "search", "mainframe", *catalog_cluster())
    assert nothing.exit_code == 0 and "Nothing matches: mainframe" in nothing.output


def test_an_unreachable_cluster_is_exit_5(devctl: Run, tmp_path: Path) -> None:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "c", "cluster": {"server": f"http://127.0.0.1:{port}"}}],
                "users": [{"name": "u", "user": {"token": "t"}}],
                "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}],
                "current-context": "x",
            }
        )
    )
    for command in (("catalog", "list"), ("catalog", "get", "dns-record"), ("catalog", "search", "dns")):
        result = devctl(*command, "--kubeconfig", str(kubeconfig), "--timeout", "3s")
        assert result.exit_code == 5, result.output
        assert "cannot reach the API server" in result.output
