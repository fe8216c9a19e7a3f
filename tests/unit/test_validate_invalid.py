"""Every case in tests/invalid fails with exactly the diagnostics a person needs: line, field path, message."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator.catalog.validate import load_environments, validate_catalog_paths, validate_request_file

INVALID = Path("tests/invalid")
Expected = list[tuple[int | None, str, str]]

CASES: list[tuple[str, Expected]] = [
    (
        "action-block-mismatch",
        [
            (21, "spec.fulfillment.automated[0].jira", "an action of type 'jira' needs a 'jira' block"),
            (23, "spec.fulfillment.automated[0].terraform", "an action of type 'jira' takes no 'terraform' block"),
        ],
    ),
    (
        "bad-name",
        [
            (
                4,
                "metadata.name",
                "'Sample_DB' must be an RFC 1123 label: lower-case letters, digits and '-', "
                "starting and ending with a letter or digit",
            )
        ],
    ),
    (
        "bad-quantity",
        [
            (
                32,
                "spec.fulfillment.automated[1].workspace.quota.memory",
                "'16GB' is not a Kubernetes quantity (for example 500m, 2, 512Mi, 2Gi)",
            ),
            (32, "spec.fulfillment.automated[1].workspace.quota.pods", "'2.5' must be a whole number of objects"),
        ],
    ),
    ("bad-semver", [(10, "spec.version", "'1.0' must be a semantic version such as 1.4.0 or 2.0.0-rc.1")]),
    ("binary-garbage", [(None, "", "not a text file (NUL byte at offset 297)")]),
    ("bundle-unknown-item", [(16, "spec.components[1].item", "no catalog item named 'redis-premium'")]),
    ("comments-only", [(None, "", "file is empty: expected at least one YAML document")]),
    ("dependency-cycle", [(30, "spec.fulfillment.automated[1].dependsOn", "dependency cycle: dns -> register -> dns")]),
    ("depends-on-unknown", [(23, "spec.fulfillment.automated[0].dependsOn[0]", "no action named 'network'")]),
    (
        "duplicate-action-names",
        [
            (
                28,
                "spec.fulfillment.automated[1].name",
                "duplicate action name 'provision' (also spec.fulfillment.automated[0])",
            )
        ],
    ),
    ("duplicate-key", [(9, "spec.category", "duplicate key 'category' (first set on line 8)")]),
    ("empty", [(None, "", "file is empty: expected at least one YAML document")]),
    (
        "fields-default-invalid",
        [
            (
                17,
                "spec.fields.properties.size.default",
                "default 'tiny' does not satisfy its own schema: expected one of small, medium, large; got 'tiny'",
            )
        ],
    ),
    (
        "fields-schema-invalid",
        [
            (
                16,
                "spec.fields.properties.dbName.type",
                "'strng' is not a JSON Schema type (use array, boolean, integer, null, number, object, string)",
            )
        ],
    ),
    ("huge-5mb", [(None, "", "file is 4.9 MiB; a catalog file may be at most 1.0 MiB")]),
    (
        "missing-required-fields",
        [
            (5, "spec.fulfillment", "missing required field 'fulfillment'"),
            (5, "spec.owner", "missing required field 'owner'"),
        ],
    ),
    ("mode-without-actions", [(18, "spec.fulfillment.manual", "mode is 'manual' but no manual actions are listed")]),
    (
        "module-missing",
        [
            (
                24,
                "spec.fulfillment.automated[0].terraform.module",
                "module 'modules/postgres' not found in the catalog (no folder tests/invalid/modules/postgres)",
            )
        ],
    ),
    (
        "module-path-escapes",
        [(24, "spec.fulfillment.automated[0].terraform.module", "must be a relative path without '..' segments")],
    ),
    (
        "multi-document-one-bad",
        [
            (
                38,
                "spec.category",
                "expected one of compute, databases, caching, storage, networking, "
                "security, workspaces, observability, other; got 'database'",
            )
        ],
    ),
    (
        "not-a-mapping",
        [(1, "", "expected a CatalogItem or CatalogBundle mapping (apiVersion, kind, metadata, spec); got list")],
    ),
    (
        "output-not-earlier",
        [
            (
                25,
                "spec.fulfillment.automated[0].http.body.text",
                "template references "
                "outputs.announce.status: action 'announce' does not run before this one; add it to dependsOn",
            )
        ],
    ),
    (
        "output-unknown-action",
        [
            (
                29,
                "spec.outputs[0].value",
                "template references outputs.provison.endpoint: no action named 'provison' (did you mean 'provision'?)",
            )
        ],
    ),
    (
        "output-unknown-key",
        [
            (
                29,
                "spec.outputs[0].value",
                "template references outputs.provision.hostname: action "
                "'provision' has no output 'hostname' (it offers: endpoint, password)",
            )
        ],
    ),
    (
        "request-in-catalog",
        [(2, "kind", "a ServiceRequest does not belong in the catalog; check it with `devctl validate request`")],
    ),
    (
        "required-variable-missing",
        [
            (
                25,
                "spec.fulfillment.automated[0].terraform.variables",
                "module modules/sample requires variable 'name' (it has no default)",
            )
        ],
    ),
    (
        "template-syntax-error",
        [(26, "spec.fulfillment.automated[0].terraform.variables.name", "template syntax error: unexpected '}'")],
    ),
    (
        "unknown-action-type",
        [(22, "spec.fulfillment.automated[0].type", "expected one of jira, terraform, workspace, http; got 'ansible'")],
    ),
    (
        "unknown-field",
        [(23, "spec.fulfillment.automated[0].dependOn", "unknown field 'dependOn' (did you mean 'dependsOn'?)")],
    ),
    (
        "unknown-scope",
        [
            (
                26,
                "spec.fulfillment.automated[0].terraform.variables.name",
                "template references "
                "requester.namespace: unknown variable 'requester' (did you mean 'request'?); templates can use "
                "environment, fields, metadata, outputs, request, secrets, system",
            )
        ],
    ),
    (
        "unknown-template-variable",
        [
            (
                26,
                "spec.fulfillment.automated[0].terraform.variables.name",
                "template references fields.dbNmae: fields has no field 'dbNmae' (did you mean 'dbName'?)",
            )
        ],
    ),
    ("unquoted-version", [(10, "spec.version", "expected a string, got a number (quote it to keep it text)")]),
    (
        "variable-not-in-module",
        [
            (
                27,
                "spec.fulfillment.automated[0].terraform.variables.sise",
                "variable 'sise' is not declared by module modules/sample (it declares: name, size)",
            )
        ],
    ),
    ("wrong-api-version", [(1, "apiVersion", "expected 'orchestrator.dev/v1alpha1', got 'orchestrator.dev/v1'")]),
    (
        "wrong-kind",
        [(2, "kind", "expected CatalogItem or CatalogBundle; got 'CatalogEntry' (did you mean 'CatalogItem'?)")],
    ),
    ("yaml-syntax-error", [(7, "", "YAML syntax error: mapping values are not allowed in this context")]),
]


def test_every_invalid_fixture_has_a_case() -> None:
    on_disk = {p.stem for p in (Path(__file__).parents[1] / "invalid").glob("*.yaml")}
    assert on_disk == {name for name, _ in CASES}
    assert len(CASES) >= 20


@pytest.mark.usefixtures("in_root")
@pytest.mark.parametrize(("name", "expected"), CASES, ids=[name for name, _ in CASES])
def test_invalid_catalog_file(name: str, expected: Expected) -> None:
    path = INVALID / f"{name}.yaml"
    report = validate_catalog_paths([path])
    assert not report.ok()
    assert [(d.line, d.path, d.message) for d in report.errors] == expected
    assert all(d.file == str(path) for d in report.errors)


def test_multi_document_file_reports_the_bad_document_only(in_root: Path) -> None:
    report = validate_catalog_paths([INVALID / "multi-document-one-bad.yaml"])
    assert [(d.index, d.name, d.valid) for d in report.documents] == [
        (0, "first-db", True),
        (1, "second-db", False),
        (2, "third-db", True),
    ]
    assert [d.document for d in report.errors] == [1]


REQUESTS = INVALID / "requests"
REQUEST_CASES: list[tuple[str, Expected]] = [
    (
        "bad-fields",
        [
            (10, "spec.fields.dbName", "'Orders-DB' does not match the pattern ^[a-z][a-z0-9_]{2,30}$"),
            (11, "spec.fields.size", "expected one of small, medium, large; got 'huge'"),
            (12, "spec.fields.replicas", "unknown field (the item's schema does not declare it)"),
        ],
    ),
    ("item-and-bundle", [(4, "spec", "exactly one of 'catalogItem' and 'bundle' must be set")]),
    (
        "missing-required-field",
        [
            (6, "spec.fields.owners", "missing required field 'owners'"),
            (8, "spec.fields.database.enabled", "expected boolean, got 'yes'"),
        ],
    ),
    (
        "unknown-bundle",
        [(5, "spec.bundle", "no catalog bundle named 'sample-stak' in tests/valid (did you mean 'sample-stack'?)")],
    ),
    ("unknown-environment", [(6, "spec.environment", "unknown environment 'prod' (known: dev, production, staging)")]),
    (
        "unknown-item",
        [(5, "spec.catalogItem", "no catalog item named 'sample-dbs' in tests/valid (did you mean 'sample-db'?)")],
    ),
]


@pytest.mark.usefixtures("in_root")
@pytest.mark.parametrize(("name", "expected"), REQUEST_CASES, ids=[name for name, _ in REQUEST_CASES])
def test_invalid_request(name: str, expected: Expected) -> None:
    environments, problems = load_environments(REQUESTS / "environments.yaml")
    assert environments is not None and problems == []
    report = validate_request_file(REQUESTS / f"{name}.yaml", Path("tests/valid"), environments=environments)
    assert [(d.line, d.path, d.message) for d in report.errors] == expected


def test_every_request_fixture_has_a_case() -> None:
    on_disk = {p.stem for p in (Path(__file__).parents[1] / "invalid" / "requests").glob("*.yaml")} - {"environments"}
    assert on_disk == {name for name, _ in REQUEST_CASES}
