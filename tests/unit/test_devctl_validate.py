"""devctl validate as people use it: the sample catalog, examples, exit codes, output formats, no tracebacks."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft7Validator, Draft202012Validator
from referencing import Registry, Resource

from orchestrator.api.schema import SCHEMA_BASE_URL

ROOT = Path(__file__).resolve().parents[2]
Run = Callable[..., Any]

SAMPLE_ITEMS = {
    "eks-containerapp",
    "postgresql-standard",
    "parameterstore-standard",
    "redis-standard",
    "object-bucket",
    "dns-record",
    "dev-workspace",
}
EXAMPLE_REQUESTS = (
    sorted(
        p.name
        for p in (ROOT / "examples").glob("*.yaml")
        if yaml.safe_load(p.read_text()).get("kind") == "ServiceRequest"
    )
    if (ROOT / "examples").is_dir()
    else []
)


def test_sample_catalog_is_valid_and_complete(devctl: Run) -> None:
    result = devctl("validate", "catalog-item", "catalog/", "--strict", "-o", "json")
    report = json.loads(result.output)
    assert result.exit_code == 0, result.output
    assert report["errors"] == 0 and report["warnings"] == 0
    kinds = {(d["kind"], d["name"]) for d in report["documents"]}
    assert {("CatalogItem", name) for name in SAMPLE_ITEMS} <= kinds
    assert ("CatalogBundle", "web-service-stack") in kinds
    assert all(d["valid"] for d in report["documents"])


def test_single_file_finds_its_catalog_root_upwards(devctl: Run) -> None:
    result = devctl(
        "validate",
        "catalog-item",
        "catalog/bundles/web-service-stack.yaml",
        "catalog/databases/postgresql-standard.yaml",
    )
    assert result.exit_code == 0, result.output
    assert "2 document(s): valid; 0 error(s), 0 warning(s)" in result.output


def test_valid_fixtures_pass_strict(devctl: Run) -> None:
    result = devctl("validate", "catalog-item", "tests/valid", "--strict")
    assert result.exit_code == 0, result.output


def test_table_output_is_one_line_per_problem(devctl: Run) -> None:
    result = devctl("validate", "catalog-item", "tests/invalid/unknown-template-variable.yaml")
    assert result.exit_code == 1
    assert result.output.splitlines()[0] == (
        "tests/invalid/unknown-template-variable.yaml:26:13: error: spec.fulfillment.automated[0].terraform.variables"
        ".name: template references fields.dbNmae: fields has no field 'dbNmae' (did you mean 'dbName'?)"
    )
    assert "1 document(s): invalid; 1 error(s), 0 warning(s)" in result.output


@pytest.fixture
def undocumented_catalog(tmp_path: Path) -> Path:
    (tmp_path / "modules").mkdir()
    item = yaml.safe_load((ROOT / "tests/valid/sample-db.yaml").read_text())
    item["metadata"]["name"] = "old-db"
    item["spec"]["lifecycle"] = "deprecated"
    del item["spec"]["description"]
    item["spec"]["fulfillment"] = {
        "mode": "manual",
        "manual": [{"name": "ticket", "type": "jira", "jira": {"project": "DBA", "summary": "DB {{ fields.dbName }}"}}],
    }
    item["spec"]["outputs"] = [{"name": "key", "value": "{{ outputs.ticket.key }}"}]
    del item["spec"]["fields"]["properties"]["size"]["description"]
    (tmp_path / "old-db.yaml").write_text(yaml.safe_dump(item))
    bundle = {
        "apiVersion": "orchestrator.dev/v1alpha1",
        "kind": "CatalogBundle",
        "metadata": {"name": "legacy"},
        "spec": {
            "displayName": "Legacy",
            "description": "Still uses the old database.",
            "category": "other",
            "owner": "team-platform",
            "version": "1.0.0",
            "components": [{"name": "db", "item": "old-db", "fields": {"dbName": "legacy"}}],
        },
    }
    (tmp_path / "legacy.yaml").write_text(yaml.safe_dump(bundle))
    return tmp_path


def test_strict_warns_and_fails_only_with_strict(devctl: Run, undocumented_catalog: Path) -> None:
    relaxed = devctl("validate", "catalog-item", str(undocumented_catalog))
    assert relaxed.exit_code == 0, relaxed.output
    strict = devctl("validate", "catalog-item", str(undocumented_catalog), "--strict", "-o", "json")
    assert strict.exit_code == 1
    warnings = {(Path(d["file"]).name, d["path"], d["message"]) for d in json.loads(strict.output)["diagnostics"]}
    assert warnings == {
        ("old-db.yaml", "spec", "item has no description"),
        ("old-db.yaml", "spec.fields.properties.size", "field has no description"),
        ("old-db.yaml", "spec.outputs[0]", "output 'key' has no description"),
        ("legacy.yaml", "spec.components[0].item", "item 'old-db' is deprecated"),
    }


@pytest.mark.parametrize(
    "args",
    [
        (),
        ("catalog-item",),
        ("catalog-item", "no/such/dir"),
        ("catalog-item", "catalog/", "-o", "xml"),
        ("request", "examples/nothing.yaml"),
    ],
    ids=["no-command", "no-path", "missing-path", "bad-format", "request-without-catalog"],
)
def test_usage_errors_exit_2(devctl: Run, args: tuple[str, ...]) -> None:
    assert devctl("validate", *args).exit_code == 2


@pytest.mark.parametrize("name", EXAMPLE_REQUESTS, ids=EXAMPLE_REQUESTS)
def test_example_request_validates_against_its_item(devctl: Run, name: str) -> None:
    result = devctl(
        "validate",
        "request",
        f"examples/{name}",
        "--catalog",
        "catalog/",
        "--environments",
        "examples/environments.yaml",
    )
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize("name", EXAMPLE_REQUESTS, ids=EXAMPLE_REQUESTS)
def test_example_request_validates_against_the_crd_schema(name: str) -> None:
    crd = yaml.safe_load((ROOT / "crds/servicerequests.orchestrator.dev.yaml").read_text())
    schema = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    document = yaml.safe_load((ROOT / "examples" / name).read_text())
    assert list(Draft7Validator(schema).iter_errors(document)) == []


def test_examples_include_every_sample_item_and_the_bundle() -> None:
    targets = set()
    for name in EXAMPLE_REQUESTS:
        spec = yaml.safe_load((ROOT / "examples" / name).read_text())["spec"]
        targets.add(spec.get("catalogItem") or spec.get("bundle"))
    assert targets >= SAMPLE_ITEMS | {"web-service-stack"}


def test_published_schema_files_validate_catalog_files_on_their_own() -> None:
    """Editors use schema/*.json directly (yaml-language-server); they must work without our code."""
    resources = [
        (SCHEMA_BASE_URL + p.name, Resource.from_contents(json.loads(p.read_text())))
        for p in (ROOT / "schema").glob("*.json")
    ]
    registry: Registry[Any] = Registry().with_resources(resources)
    item_schema = json.loads((ROOT / "schema/catalog-item-v2.json").read_text())
    validator = Draft202012Validator(item_schema, registry=registry)
    good = yaml.safe_load((ROOT / "tests/valid/every-action-type.yaml").read_text())
    assert list(validator.iter_errors(good)) == []
    bad = yaml.safe_load((ROOT / "tests/invalid/action-block-mismatch.yaml").read_text())
    assert list(validator.iter_errors(bad)) != []


def test_console_script_never_prints_a_traceback() -> None:
    """The installed entry point, in a real process, over every invalid input at once."""
    devctl = Path(sys.executable).parent / "devctl"
    files = sorted(str(p) for p in (ROOT / "tests/invalid").glob("*.yaml"))
    result = subprocess.run(
        [str(devctl), "validate", "catalog-item", *files],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
        check=False,
    )
    assert result.returncode == 1
    assert "Traceback" not in result.stdout + result.stderr
    assert f"{len(files) + 2} document(s): invalid" in result.stdout  # multi-document file holds 3
    for request in sorted((ROOT / "tests/invalid/requests").glob("*.yaml")):
        if request.stem == "environments":
            continue
        result = subprocess.run(
            [
                str(devctl),
                "validate",
                "request",
                str(request),
                "--catalog",
                "tests/valid",
                "--environments",
                "tests/invalid/requests/environments.yaml",
            ],
            capture_output=True,
            text=True,
            cwd=ROOT,
            timeout=60,
            check=False,
        )
        assert result.returncode == 1 and "Traceback" not in result.stdout + result.stderr
