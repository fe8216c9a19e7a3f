"""crds/ and schema/ are generated from the API models: no drift, valid for Kubernetes, structural."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from jsonschema import Draft202012Validator

from orchestrator.api.kinds import KINDS
from orchestrator.api.render import generated_files
from orchestrator.api.schema import catalog_schemas, crds

ROOT = Path(__file__).resolve().parents[2]
GENERATED = generated_files()


@pytest.mark.parametrize("name", sorted(GENERATED), ids=sorted(GENERATED))
def test_checked_in_file_matches_generator(name: str) -> None:
    path = ROOT / name
    assert path.is_file(), f"{name} is missing: run `make generate`"
    assert path.read_text() == GENERATED[name], f"{name} is out of date: run `make generate`"


def test_no_stale_generated_files() -> None:
    present = {str(p.relative_to(ROOT)) for d in ("crds", "schema") for p in (ROOT / d).glob("*") if p.is_file()}
    assert present == set(GENERATED)


@pytest.mark.parametrize("name", sorted(crds()), ids=sorted(crds()))
def test_crd_passes_kubernetes_validate_strict(name: str) -> None:
    document = yaml.safe_load((ROOT / "crds" / name).read_text())
    kubernetes_validate.validate(document, "1.31.0", strict=True)


def _walk(node: Any, path: str) -> list[str]:
    """Violations of the structural-schema rules the API server enforces for apiextensions.k8s.io/v1."""
    problems: list[str] = []
    if not isinstance(node, dict):
        return [f"{path}: not a schema object"]
    for forbidden in ("$ref", "$defs", "definitions", "const", "if", "then", "examples", "title", "nullable"):
        if forbidden in node:
            problems.append(f"{path}: uses {forbidden}")
    free = node.get("x-kubernetes-preserve-unknown-fields") is True or node.get("x-kubernetes-int-or-string") is True
    if "type" not in node and not free:
        problems.append(f"{path}: has no type")
    if "properties" in node and "additionalProperties" in node:
        problems.append(f"{path}: properties and additionalProperties together")
    for key in ("anyOf", "oneOf", "allOf"):
        for sub in node.get(key, []):
            if "type" in sub:
                problems.append(f"{path}.{key}: a type inside a junctor")
    for name, sub in node.get("properties", {}).items():
        problems += _walk(sub, f"{path}.{name}")
    if isinstance(node.get("items"), dict):
        problems += _walk(node["items"], f"{path}[]")
    if isinstance(node.get("additionalProperties"), dict):
        problems += _walk(node["additionalProperties"], f"{path}{{}}")
    return problems


@pytest.mark.parametrize("info", KINDS, ids=[k.kind for k in KINDS])
def test_crd_schema_is_structural(info: Any) -> None:
    schema = crds()[f"{info.crd_name}.yaml"]["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    assert _walk(schema, info.kind) == []


@pytest.mark.parametrize(
    ("kind", "free_form"),
    [
        ("ServiceRequest", ["spec.fields", "status.outputs", "status.actions[].outputs"]),
        (
            "CatalogItem",
            [
                "spec.fields",
                "spec.fulfillment.automated[].jira.fields",
                "spec.fulfillment.automated[].terraform.variables",
                "spec.fulfillment.automated[].terraform.backend.config",
                "spec.fulfillment.automated[].http.body",
            ],
        ),
        ("CatalogBundle", ["spec.fields", "spec.components[].fields"]),
        ("CatalogSource", []),
    ],
    ids=["ServiceRequest", "CatalogItem", "CatalogBundle", "CatalogSource"],
)
def test_preserve_unknown_fields_only_where_content_is_free_form(kind: str, free_form: list[str]) -> None:
    info = next(k for k in KINDS if k.kind == kind)
    schema = crds()[f"{info.crd_name}.yaml"]["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    found: list[str] = []

    def visit(node: dict[str, Any], path: str) -> None:
        if node.get("x-kubernetes-preserve-unknown-fields"):
            found.append(path)
        for name, sub in node.get("properties", {}).items():
            visit(sub, f"{path}.{name}" if path else name)
        if isinstance(node.get("items"), dict):
            visit(node["items"], f"{path}[]")

    visit(schema, "")
    expected = set(free_form)
    if kind == "CatalogItem":  # manual actions share the action schema
        expected |= {p.replace("automated", "manual") for p in free_form if "automated" in p}
    assert set(found) == expected


def test_service_request_printer_columns_tell_the_story() -> None:
    version = crds()["servicerequests.orchestrator.dev.yaml"]["spec"]["versions"][0]
    columns = [(c["name"], c["jsonPath"]) for c in version["additionalPrinterColumns"] if "priority" not in c]
    assert columns == [
        ("Item", ".spec.catalogItem"),
        ("Phase", ".status.phase"),
        ("Ready", '.status.conditions[?(@.type=="Ready")].status'),
        ("Age", ".metadata.creationTimestamp"),
    ]
    assert version["subresources"] == {"status": {}}


@pytest.mark.parametrize("info", KINDS, ids=[k.kind for k in KINDS])
def test_names_short_names_and_category(info: Any) -> None:
    names = crds()[f"{info.crd_name}.yaml"]["spec"]["names"]
    assert names["categories"] == ["orchestrator"]
    assert names["shortNames"] == list(info.short_names)
    assert names["kind"] == info.kind


def test_conditions_are_a_map_keyed_by_type() -> None:
    status = crds()["servicerequests.orchestrator.dev.yaml"]["spec"]["versions"][0]["schema"]["openAPIV3Schema"][
        "properties"
    ]["status"]
    conditions = status["properties"]["conditions"]
    assert conditions["x-kubernetes-list-type"] == "map"
    assert conditions["x-kubernetes-list-map-keys"] == ["type"]
    assert set(conditions["items"]["required"]) == {"type", "status", "reason", "lastTransitionTime"}


def test_catalog_schemas_are_valid_2020_12_and_share_common_types() -> None:
    schemas = catalog_schemas()
    for name, schema in schemas.items():
        Draft202012Validator.check_schema(schema)
        assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema", name
    item_text = json.dumps(schemas["catalog-item-v2.json"])
    bundle_text = json.dumps(schemas["catalog-bundle-v2.json"])
    assert '"common-types.json#/$defs/Fulfillment"' in item_text
    assert '"common-types.json#/$defs/ObjectMeta"' in bundle_text
    assert "Action" in schemas["common-types.json"]["$defs"]
