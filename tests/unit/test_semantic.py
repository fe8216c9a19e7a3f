"""Semantic rules that the fixture files do not show one by one: when, bundles, scopes, HTTP, CLI extras."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from orchestrator.catalog.validate import validate_catalog_paths
from orchestrator.cli.operator_main import cli as orchestrator_cli

ROOT = Path(__file__).resolve().parents[2]
VALID = ROOT / "tests/valid"
Mutation = Callable[[dict[str, Any]], None]


def _load(name: str) -> dict[str, Any]:
    document = yaml.safe_load((VALID / name).read_text())
    assert isinstance(document, dict)
    return document


def _errors(tmp_path: Path, documents: dict[str, dict[str, Any]]) -> list[tuple[str, str]]:
    (tmp_path / "modules").symlink_to(VALID / "modules")
    for name, document in documents.items():
        (tmp_path / name).write_text(yaml.safe_dump(document, sort_keys=False))
    report = validate_catalog_paths([tmp_path])
    return [(d.path, d.message) for d in report.errors]


def _onboarding(mutate: Mutation) -> dict[str, Any]:
    document = copy.deepcopy(_load("every-action-type.yaml"))
    mutate(document)
    return document


def _set(path: str, value: Any) -> Mutation:
    def mutate(document: dict[str, Any]) -> None:
        node: Any = document
        parts = [int(p) if p.isdigit() else p for p in path.split(".")]
        for part in parts[:-1]:
            node = node[part]
        node[parts[-1]] = value

    return mutate


ITEM_CASES: list[tuple[str, Mutation, list[tuple[str, str]]]] = [
    (
        "when-references-unknown-field",
        _set("spec.fulfillment.automated.1.when", "fields.database.enabeld"),
        [
            (
                "spec.fulfillment.automated[1].when",
                "template references fields.database.enabeld: fields.database has no "
                "field 'enabeld' (did you mean 'enabled'?)",
            )
        ],
    ),
    (
        "when-syntax-error",
        _set("spec.fulfillment.automated[1].when".replace("[1]", ".1"), "fields.database.enabled ==="),
        [("spec.fulfillment.automated[1].when", "template syntax error: unexpected '='")],
    ),
    (
        "ticket-scope-outside-jira-outputs",
        _set("spec.outputs.0.value", "{{ ticket.key }}"),
        [
            (
                "spec.outputs[0].value",
                "template references ticket.key: unknown variable 'ticket'; templates can use "
                "environment, fields, metadata, outputs, request, secrets, system",
            )
        ],
    ),
    (
        "request-scope-unknown-key",
        _set("spec.fulfillment.manual.0.jira.summary", "{{ request.user }}"),
        [
            (
                "spec.fulfillment.manual[0].jira.summary",
                "template references request.user: request has no field 'user' (did you mean 'requester'?) "
                "(it offers: createdAt, environment, generation, name, namespace, requester, uid)",
            )
        ],
    ),
    (
        "manual-action-cannot-read-automated-outputs",
        _set("spec.fulfillment.manual.0.jira.summary", "{{ outputs.dns.fqdn }}"),
        [
            (
                "spec.fulfillment.manual[0].jira.summary",
                "template references outputs.dns.fqdn: action 'dns' belongs to the "
                "automated path; actions of the manual path can read only manual actions' outputs",
            )
        ],
    ),
    (
        "relative-url-without-connection",
        _set("spec.fulfillment.automated.2.http.url", "/api/v1/records"),
        [
            (
                "spec.fulfillment.automated[2].http.url",
                "'/api/v1/records' is not an absolute http(s) URL; set 'connection' for a relative path",
            )
        ],
    ),
    (
        "output-is-not-a-json-pointer",
        _set("spec.fulfillment.automated.2.http.outputs", {"fqdn": "record.fqdn"}),
        [
            (
                "spec.fulfillment.automated[2].http.outputs.fqdn",
                "'record.fqdn' is not a JSON pointer (it must start with '/')",
            )
        ],
    ),
    (
        "fallback-without-manual-actions",
        _set("spec.fulfillment.manual", []),
        [("spec.fulfillment.fallbackToManual", "fallbackToManual needs manual actions to fall back to")],
    ),
    (
        "self-dependency",
        _set("spec.fulfillment.automated.0.dependsOn", ["workspace"]),
        [("spec.fulfillment.automated[0].dependsOn[0]", "action 'workspace' depends on itself")],
    ),
]


@pytest.mark.parametrize(("name", "mutate", "expected"), ITEM_CASES, ids=[c[0] for c in ITEM_CASES])
def test_item_rule(tmp_path: Path, name: str, mutate: Mutation, expected: list[tuple[str, str]]) -> None:
    assert _errors(tmp_path, {"item.yaml": _onboarding(mutate)}) == expected


def test_loop_variables_and_filters_are_not_references(tmp_path: Path) -> None:
    loop = "{% for g in fields.owners %}{% set n = g | slug %}{{ n }}-{{ loop.index }}{% endfor %}"
    document = _onboarding(_set("spec.fulfillment.manual.0.jira.description", loop))
    assert _errors(tmp_path, {"item.yaml": document}) == []


def _bundle(mutate: Mutation) -> dict[str, Any]:
    document = copy.deepcopy(_load("sample-stack.yaml"))
    mutate(document)
    return document


BUNDLE_CASES: list[tuple[str, Mutation, list[tuple[str, str]]]] = [
    (
        "literal-field-fails-item-schema",
        _set("spec.components.1.fields.size", "huge"),
        [("spec.components[1].fields.size", "item 'sample-db': expected one of small, medium, large; got 'huge'")],
    ),
    (
        "required-item-field-not-set",
        _set("spec.components.1.fields", {"size": "small"}),
        [("spec.components[1].fields.dbName", "item 'sample-db': missing required field 'dbName'")],
    ),
    (
        "output-of-a-later-component",
        _set("spec.components.0.fields.team", "{{ outputs.db.endpoint }}"),
        [
            (
                "spec.components[0].fields.team",
                "template references outputs.db.endpoint: component 'db' does not run "
                "before this one; add it to dependsOn",
            )
        ],
    ),
    (
        "output-the-item-does-not-publish",
        _set("spec.components.1.fields.dbName", "{{ outputs.onboarding.fqdn2 }}"),
        [
            (
                "spec.components[1].fields.dbName",
                "template references outputs.onboarding.fqdn2: component 'onboarding' "
                "has no output 'fqdn2' (did you mean 'fqdn'?) (it offers: database, fqdn, namespace)",
            )
        ],
    ),
    (
        "component-cycle",
        _set("spec.components.0.dependsOn", ["db"]),
        [("spec.components[0].dependsOn", "dependency cycle: onboarding -> db -> onboarding")],
    ),
]


@pytest.mark.parametrize(("name", "mutate", "expected"), BUNDLE_CASES, ids=[c[0] for c in BUNDLE_CASES])
def test_bundle_rule(tmp_path: Path, name: str, mutate: Mutation, expected: list[tuple[str, str]]) -> None:
    documents = {
        "onboarding.yaml": _load("every-action-type.yaml"),
        "db.yaml": _load("sample-db.yaml"),
        "bundle.yaml": _bundle(mutate),
    }
    assert _errors(tmp_path, documents) == expected


def test_duplicate_item_names_across_files(tmp_path: Path, in_root: Path) -> None:
    """Files outside the working directory (tmp_path, while running in the repository) are named absolutely."""
    errors = _errors(tmp_path, {"a.yaml": _load("sample-db.yaml"), "b.yaml": _load("sample-db.yaml")})
    assert errors == [
        ("metadata.name", f"duplicate CatalogItem name 'sample-db' (first defined in {tmp_path}/a.yaml:4)")
    ]


def test_orchestrator_crds_prints_every_crd() -> None:
    result = CliRunner().invoke(orchestrator_cli, ["crds"])
    assert result.exit_code == 0
    documents = list(yaml.safe_load_all(result.output))
    assert sorted(d["metadata"]["name"] for d in documents) == [
        "catalogbundles.orchestrator.dev",
        "catalogitems.orchestrator.dev",
        "catalogsources.orchestrator.dev",
        "servicerequests.orchestrator.dev",
    ]
