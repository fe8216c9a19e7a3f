"""The offline platform-team tools: catalog get/search/diff on a folder, preview form, test variables.

Everything runs in-process through the shared ``devctl`` fixture (cwd = repository root) against the sample
catalog in ``catalog/`` or a copy of it in ``tmp_path`` with edits.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Callable
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
import yaml

from orchestrator.catalog.diagnostics import format_path
from orchestrator.catalog.field_info import describe_fields
from orchestrator.catalog.fields import apply_defaults, value_problems
from orchestrator.catalog.samples import example_fields, string_for_pattern
from orchestrator.cli.catalog_browse import search
from orchestrator.cli.preview_form import html_pattern

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = ROOT / "tests" / "golden"
Run = Callable[..., Any]

ITEM_FILES = {path.stem: path for path in sorted((ROOT / "catalog").glob("*/*.yaml")) if "bundles" not in path.parts}
SAMPLE_ITEMS = sorted(ITEM_FILES)
ENVIRONMENTS = "examples/environments.yaml"


def check_golden(name: str, text: str) -> None:
    """Compare with tests/golden/<name>; ``UPDATE_GOLDEN=1`` rewrites the file instead (review the diff)."""
    path = GOLDEN / name
    if os.environ.get("UPDATE_GOLDEN"):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    assert path.is_file(), f"missing golden file {path} (run with UPDATE_GOLDEN=1 to create it)"
    assert text == path.read_text(encoding="utf-8")


@pytest.fixture
def catalog_copy(tmp_path: Path) -> Path:
    target = tmp_path / "catalog"
    shutil.copytree(ROOT / "catalog", target)
    return target


def edit_yaml(path: Path, change: Callable[[dict[str, Any]], None]) -> None:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    change(data)
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")


# ---- samples and field descriptions --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "pattern",
    [
        r"^[a-z][a-z0-9_]{2,30}$",
        r"^arn:aws:iam::\d{12}:role/.+$",
        r"^([01][0-9]|2[0-3]):[0-5][0-9]-([01][0-9]|2[0-3]):[0-5][0-9]$",
        r"^([a-z0-9.-]+(:[0-9]+)?/)?[a-z0-9]+([._/-][a-z0-9]+)*(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}|@sha256:[a-f0-9]{64})$",
        r"[^abc]\w+\b",
        r"^(?:prod|stag)-[A-Z]{3}$",
    ],
)
def test_generated_strings_match_their_pattern(pattern: str) -> None:
    text = string_for_pattern(pattern)
    assert text is not None and re.search(pattern, text), text


def test_generated_strings_respect_length_bounds() -> None:
    text = string_for_pattern(r"^[a-z]+$", min_length=12, max_length=20)
    assert text is not None and 12 <= len(text) <= 20 and re.fullmatch("[a-z]+", text)


@pytest.mark.parametrize("name", [*SAMPLE_ITEMS, "web-service-stack"])
@pytest.mark.parametrize("complete", [False, True], ids=["required", "complete"])
def test_example_fields_pass_the_validator(name: str, complete: bool) -> None:
    path = ITEM_FILES.get(name, ROOT / "catalog" / "bundles" / f"{name}.yaml")
    schema = yaml.safe_load(path.read_text())["spec"]["fields"]
    values = example_fields(schema, complete=complete)
    assert value_problems(schema, apply_defaults(schema, values)) == []
    if complete:
        assert set(values) == set(schema["properties"])


def test_fields_are_described_for_people() -> None:
    schema = yaml.safe_load(ITEM_FILES["postgresql-standard"].read_text())["spec"]["fields"]
    by_name = {info.name: info for info in describe_fields(schema)}
    assert list(by_name)[:2] == ["dbName", "size"]
    assert by_name["dbName"].required and by_name["dbName"].input_kind == "text"
    assert by_name["size"].input_kind == "select" and by_name["size"].default == "small"
    assert by_name["storageGb"].constraints() == ["20 to 2000", "multiple of 10"]
    assert by_name["highAvailability"].input_kind == "checkbox"
    assert by_name["backup"].is_group and by_name["backup.retentionDays"].depth == 1
    assert by_name["allowedCidrs"].type_label == "array of string" and by_name["allowedCidrs"].input_kind == "list"


def test_duplicate_required_problems_are_reported_once() -> None:
    schema = {"type": "object", "required": ["a", "b"], "properties": {"a": {}, "b": {}}}
    assert [format_path(path) for path, _ in value_problems(schema, {})] == ["a", "b"]


# ---- catalog get / search on a folder ------------------------------------------------------------------------------


def test_get_shows_details_and_the_fields_table(devctl: Run) -> None:
    result = devctl("catalog", "get", "postgresql-standard", "--catalog", "catalog")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert "Display name:    PostgreSQL (standard)" in lines
    assert "Fulfillment:     automated (a permanent failure falls back to manual)" in lines
    assert "    provision (terraform): module modules/postgresql" in lines
    header = next(line for line in lines if line.startswith("NAME "))
    assert header.split() == ["NAME", "TYPE", "REQUIRED", "DEFAULT", "ALLOWED", "DESCRIPTION"]
    size = next(line for line in lines if line.startswith("size "))
    assert size.split()[:4] == ["size", "string", "no", "small"] and "one of: small, medium, large" in size


def test_get_schema_is_the_fields_schema(devctl: Run) -> None:
    result = devctl("catalog", "get", "dev-workspace", "--catalog", "catalog", "--schema")
    assert result.exit_code == 0, result.output
    expected = yaml.safe_load(ITEM_FILES["dev-workspace"].read_text())["spec"]["fields"]
    assert json.loads(result.output) == expected
    as_yaml = devctl("catalog", "get", "dev-workspace", "--catalog", "catalog", "--schema", "-o", "yaml")
    assert yaml.safe_load(as_yaml.output) == expected


@pytest.mark.parametrize("name", [*SAMPLE_ITEMS, "web-service-stack"])
def test_get_examples_pass_devctl_validate_request(devctl: Run, name: str, tmp_path: Path) -> None:
    result = devctl("catalog", "get", name, "--catalog", "catalog", "--examples", "-n", "team-orders")
    assert result.exit_code == 0, result.output
    assert "NOTE" not in result.output
    documents = list(yaml.safe_load_all(result.output))
    assert [doc["metadata"]["name"] for doc in documents] == [f"{name}-minimal", f"{name}-complete"]
    manifest = tmp_path / "examples.yaml"
    manifest.write_text(result.output)
    checked = devctl("validate", "request", str(manifest), "--catalog", "catalog", "-o", "json")
    assert checked.exit_code == 0, checked.output
    assert json.loads(checked.output)["valid"] is True
    as_json = json.loads(devctl("catalog", "get", name, "--catalog", "catalog", "--examples", "-o", "json").output)
    assert [doc["kind"] for doc in as_json] == ["ServiceRequest", "ServiceRequest"]


def test_search_ranks_name_over_tags_over_display_name_over_description() -> None:
    def obj(name: str, **spec: Any) -> dict[str, Any]:
        return {"kind": "CatalogItem", "metadata": {"name": name}, "spec": spec}

    objects = [
        obj("d-described", description="has a queue inside"),
        obj("c-displayed", displayName="Managed queue"),
        obj("b-tagged", tags=["queue"]),
        obj("a-queue-service"),
        obj("e-unrelated", description="nothing"),
    ]
    hits = search(objects, ["queue"])
    assert [hit.obj["metadata"]["name"] for hit in hits] == [
        "a-queue-service",
        "b-tagged",
        "c-displayed",
        "d-described",
    ]
    assert [hit.score for hit in hits] == [8, 6, 2, 1]
    assert hits[0].matched == ["name"]


def test_search_over_a_folder(devctl: Run) -> None:
    result = devctl("catalog", "search", "postgres", "--catalog", "catalog", "-o", "json")
    assert result.exit_code == 0, result.output
    hits = json.loads(result.output)
    assert hits[0]["name"] == "postgresql-standard" and hits[0]["matched"][0] == "name"
    assert "web-service-stack" in [hit["name"] for hit in hits]
    assert [hit["score"] for hit in hits] == sorted((hit["score"] for hit in hits), reverse=True)
    table = devctl("catalog", "search", "postgres", "--catalog", "catalog").output.splitlines()
    assert table[0].split() == ["NAME", "KIND", "SCORE", "MATCHED", "DISPLAY", "NAME"]
    assert table[1].split()[:3] == ["postgresql-standard", "item", str(hits[0]["score"])]


@pytest.mark.parametrize(
    "args",
    [
        ("catalog", "get", "postgres-standard", "--catalog", "catalog"),
        ("preview", "form", "nope", "--catalog", "catalog"),
        ("test", "variables", "postgresql-standart", "--catalog", "catalog"),
    ],
    ids=["get", "preview", "test"],
)
def test_an_unknown_item_is_exit_3_with_a_suggestion(devctl: Run, args: tuple[str, ...]) -> None:
    result = devctl(*args)
    assert result.exit_code == 3, result.output
    assert "no catalog item" in result.output
    if "nope" not in args:
        assert "did you mean 'postgresql-standard'?" in result.output


def test_a_missing_catalog_folder_is_a_usage_error(
    devctl: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DEVCTL_CATALOG", str(tmp_path / "missing"))
    result = devctl("preview", "form", "postgresql-standard")
    assert result.exit_code == 2 and "$DEVCTL_CATALOG" in result.output


# ---- catalog diff ----------------------------------------------------------------------------------------------------


@pytest.fixture
def changed_catalogs(tmp_path: Path) -> tuple[Path, Path, Path]:
    old, new, requests = tmp_path / "old", tmp_path / "new", tmp_path / "requests"
    shutil.copytree(ROOT / "catalog", old)
    shutil.copytree(ROOT / "catalog", new)

    def breaking(data: dict[str, Any]) -> None:
        fields = data["spec"]["fields"]
        fields["properties"]["costCenter"] = {"type": "string", "description": "Cost center"}
        fields["required"].append("costCenter")
        fields["properties"]["size"]["enum"] = ["medium", "large"]
        fields["properties"]["size"]["default"] = "medium"

    edit_yaml(new / "databases" / "postgresql-standard.yaml", breaking)
    (new / "caching" / "redis-standard.yaml").unlink()

    def described(data: dict[str, Any]) -> None:
        data["spec"]["description"] += " Now with more words."
        data["spec"]["version"] = "2.0.1"

    edit_yaml(new / "workspaces" / "dev-workspace.yaml", described)
    # The bundle sets the item's fields: keep the new catalog valid by passing the new required field on.
    edit_yaml(
        new / "bundles" / "web-service-stack.yaml",
        lambda data: data["spec"]["components"][0]["fields"].update(costCenter="CC-1", size="medium"),
    )
    requests.mkdir()
    for name in ("postgresql-standard", "redis-standard", "dev-workspace", "object-bucket"):
        shutil.copy(ROOT / "examples" / f"{name}.yaml", requests / f"{name}.yaml")
    (requests / "kustomization.yaml").write_text("resources: [postgresql-standard.yaml]\n")
    return old, new, requests


def test_diff_reports_changes_and_the_requests_they_break(
    devctl: Run, changed_catalogs: tuple[Path, Path, Path]
) -> None:
    old, new, requests = changed_catalogs
    result = devctl("catalog", "diff", str(old), str(new), "--requests", str(requests), "-o", "json")
    assert result.exit_code == 1, result.output
    report = json.loads(result.output)
    assert report["newCatalogErrors"] == []
    assert report["removed"] == [{"kind": "CatalogItem", "name": "redis-standard", "version": "1.2.1"}]
    changed = {entry["name"]: entry for entry in report["changed"]}
    postgres = changed["postgresql-standard"]
    assert postgres["breaking"] is True and postgres["versionBumped"] is False
    messages = {(change["subject"], change["message"]) for change in postgres["changes"]}
    assert ("costCenter", "field added, required without a default") in messages
    assert ("size", "enum narrowed: removed small") in messages
    assert ("size", "default small -> medium") in messages
    workspace = changed["dev-workspace"]
    assert workspace["versionBumped"] is True and workspace["breaking"] is False
    assert ("description", "description changed") in {(c["subject"], c["message"]) for c in workspace["changes"]}
    assert set(report["unbumped"]) == {"postgresql-standard", "web-service-stack"}
    broken = {entry["name"]: entry for entry in report["requests"]["broken"]}
    assert report["requests"]["checked"] == 4
    assert set(broken) == {"orders-db", "orders-sessions"}
    assert broken["orders-db"]["message"] == "spec.fields.costCenter: missing required field 'costCenter'"
    assert "no catalog item named 'redis-standard'" in broken["orders-sessions"]["message"]


def test_diff_table_marks_breaking_changes_and_unbumped_versions(
    devctl: Run, changed_catalogs: tuple[Path, Path, Path]
) -> None:
    old, new, requests = changed_catalogs
    result = devctl("catalog", "diff", str(old), str(new), "--requests", str(requests))
    assert result.exit_code == 1
    lines = result.output.splitlines()
    assert "- CatalogItem redis-standard 1.2.1" in lines
    assert "~ CatalogItem postgresql-standard 1.4.0  [BREAKING, VERSION NOT BUMPED]" in lines
    assert "   ! fields size: enum narrowed: removed small" in lines
    assert "Requests: 4 checked, 2 broken by this change" in lines
    assert any(
        line.endswith("orders-db (postgresql-standard): spec.fields.costCenter: missing required field 'costCenter'")
        for line in lines
    )


def test_diff_of_a_compatible_change_exits_0(devctl: Run, tmp_path: Path) -> None:
    old, new = tmp_path / "old", tmp_path / "new"
    shutil.copytree(ROOT / "catalog", old)
    shutil.copytree(ROOT / "catalog", new)

    def widened(data: dict[str, Any]) -> None:
        data["spec"]["fields"]["properties"]["size"]["enum"].append("xlarge")
        data["spec"]["version"] = "1.5.0"

    edit_yaml(new / "databases" / "postgresql-standard.yaml", widened)
    result = devctl("catalog", "diff", str(old), str(new), "--requests", "examples", "-o", "yaml")
    assert result.exit_code == 0, result.output
    report = yaml.safe_load(result.output)
    (entry,) = report["changed"]
    assert entry["breaking"] is False and entry["versionBumped"] is True
    assert {"area": "fields", "subject": "size", "message": "enum widened: added xlarge", "breaking": False} in entry[
        "changes"
    ]
    assert report["requests"]["broken"] == [] and report["requests"]["checked"] >= 7
    same = devctl("catalog", "diff", "catalog", "catalog")
    assert same.exit_code == 0 and "No differences in items or bundles." in same.output


# ---- preview form ----------------------------------------------------------------------------------------------------


def test_preview_form_terminal_golden(devctl: Run, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    result = devctl("preview", "form", "postgresql-standard", "--no-color")
    assert result.exit_code == 0, result.output
    assert "\x1b[" not in result.output
    assert max(len(line) for line in result.output.splitlines()) <= 80
    check_golden("preview-form-postgresql-standard.txt", result.output)


def test_preview_form_accepts_a_file_and_shows_groups(devctl: Run, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "100")
    result = devctl("preview", "form", "catalog/security/parameterstore-standard.yaml", "--no-color")
    assert result.exit_code == 0, result.output
    assert "╭─ Rotation (rotation) " in result.output
    assert "Justification *" in result.output


class FormParser(HTMLParser):
    """Collects the form controls (with their attributes), fieldset legends, and what could load from outside."""

    def __init__(self) -> None:
        super().__init__()
        self.controls: dict[str, dict[str, Any]] = {}
        self.legends: list[str] = []
        self.external: list[str] = []
        self.tags: list[str] = []
        self._select: str | None = None
        self._legend = False
        self._text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        self.tags.append(tag)
        if (
            tag in ("script", "link", "img", "iframe")
            or values.get("src")
            or (values.get("href") or "").startswith("http")
        ):
            self.external.append(tag)
        if tag in ("input", "select", "textarea"):
            self.controls[str(values["name"])] = {"tag": tag, "attrs": values, "options": [], "selected": []}
            if tag == "select":
                self._select = str(values["name"])
        if tag == "option" and self._select is not None:
            control = self.controls[self._select]
            control["options"].append(values.get("value"))
            if "selected" in values:
                control["selected"].append(values.get("value"))
        if tag == "legend":
            self._legend, self._text = True, []

    def handle_endtag(self, tag: str) -> None:
        if tag == "select":
            self._select = None
        if tag == "legend":
            self._legend = False
            self.legends.append("".join(self._text))

    def handle_data(self, data: str) -> None:
        if self._legend:
            self._text.append(data)


def test_preview_form_html_is_a_real_self_contained_form(devctl: Run, tmp_path: Path) -> None:
    target = tmp_path / "form.html"
    result = devctl("preview", "form", "postgresql-standard", "--html", str(target))
    assert result.exit_code == 0, result.output
    parser = FormParser()
    parser.feed(target.read_text(encoding="utf-8"))
    assert parser.external == [] and "form" in parser.tags
    controls = parser.controls
    db = controls["dbName"]["attrs"]
    assert controls["dbName"]["tag"] == "input" and db["type"] == "text" and "required" in db
    assert db["pattern"] == "[a-z][a-z0-9_]{2,30}" and db["placeholder"] == "orders"
    size = controls["size"]
    assert size["tag"] == "select" and "required" not in size["attrs"]
    assert size["options"] == ["", "small", "medium", "large"] and size["selected"] == ["small"]
    storage = controls["storageGb"]["attrs"]
    assert (storage["type"], storage["min"], storage["max"], storage["step"], storage["value"]) == (
        "number",
        "20",
        "2000",
        "10",
        "20",
    )
    ha = controls["highAvailability"]["attrs"]
    assert ha["type"] == "checkbox" and "checked" not in ha
    assert controls["backup.retentionDays"]["attrs"]["value"] == "7"
    assert controls["allowedCidrs"]["tag"] == "textarea"
    assert controls["allowedCidrs"]["attrs"]["data-item-pattern"].startswith("([0-9]{1,3}\\.){3}")
    assert parser.legends == ["Fields", "Backups"]


def test_preview_form_html_escapes_text(devctl: Run, catalog_copy: Path, tmp_path: Path) -> None:
    def hostile(data: dict[str, Any]) -> None:
        data["spec"]["displayName"] = "<script>alert(1)</script> Workspace"
        data["spec"]["fields"]["properties"]["name"]["description"] = 'Say "hi" & <b>bye</b>'

    edit_yaml(catalog_copy / "workspaces" / "dev-workspace.yaml", hostile)
    target = tmp_path / "form.html"
    result = devctl("preview", "form", "dev-workspace", "--catalog", str(catalog_copy), "--html", str(target))
    assert result.exit_code == 0, result.output
    page = target.read_text(encoding="utf-8")
    assert "<script>" not in page and "<b>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt; Workspace" in page
    assert "Say &quot;hi&quot; &amp; &lt;b&gt;bye&lt;/b&gt;" in page
    parser = FormParser()
    parser.feed(page)
    assert parser.controls["size"]["selected"] == ["medium"]
    assert "required" in parser.controls["owners"]["attrs"]


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ("^[a-z]+$", "[a-z]+"),
        ("abc", ".*(?:abc).*"),
        ("^[._/-][a-z]$", "[._\\/\\-][a-z]"),
        ("^\\d{3}\\$$", "\\d{3}\\$"),
    ],
)
def test_json_schema_patterns_become_html_patterns(pattern: str, expected: str) -> None:
    assert html_pattern(pattern) == expected


# ---- test variables --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", SAMPLE_ITEMS)
def test_variables_render_for_every_sample_item(devctl: Run, name: str) -> None:
    result = devctl(
        "test", "variables", name, "-f", f"examples/{name}.yaml", "--environments", ENVIRONMENTS, "-o", "json"
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["errors"] == [] and report["itemErrors"] == []
    item = yaml.safe_load(ITEM_FILES[name].read_text())
    fulfillment = item["spec"]["fulfillment"]
    declared = [a["name"] for lane in ("automated", "manual") for a in fulfillment.get(lane, [])]
    assert sorted(action["name"] for action in report["actions"]) == sorted(declared)
    assert all(action["rendered"] is not None for action in report["actions"])
    assert report["outputs"] and set(report["outputs"][0]["values"]) == {o["name"] for o in item["spec"]["outputs"]}
    assert report["environment"]["name"] == yaml.safe_load(Path(ROOT / f"examples/{name}.yaml").read_text())[
        "spec"
    ].get("environment", "dev")


def test_variables_show_validated_fields_and_placeholders(devctl: Run) -> None:
    result = devctl("test", "variables", "postgresql-standard", "--field", "dbName=orders", "--field", "storageGb=40")
    assert result.exit_code == 0, result.output
    out = result.output
    assert "  storageGb: 40\n" in out and "  size: small\n" in out  # given, and a default applied
    assert "      region: <environment.region>" in out
    assert "    endpoint: <outputs.provision.endpoint>" in out
    assert "    password: <sensitive outputs.provision.password>" in out
    assert "== item outputs (after the manual path) ==" in out
    assert "  password: '<sensitive: in the Secret sample-request-outputs>'" in out


def test_variables_use_placeholders_for_secrets(devctl: Run) -> None:
    result = devctl("test", "variables", "dns-record", "-f", "examples/dns-record.yaml", "-o", "json")
    assert result.exit_code == 0, result.output
    (action,) = json.loads(result.output)["actions"]
    assert action["rendered"]["headers"]["Authorization"] == "Bearer <secret.dns-api.token>"
    assert action["outputs"] == {
        "changeId": "<outputs.record.changeId>",
        "fqdn": "<outputs.record.fqdn>",
        "recordId": "<outputs.record.recordId>",
        "status": 200,
    }


def test_variables_evaluate_when_and_feed_outputs_forward(devctl: Run) -> None:
    args = ("test", "variables", "tests/valid/every-action-type.yaml", "--field", "team=orders")
    result = devctl(*args, "--field", "owners=[team-orders-admins]", "--field", "database.enabled=true", "-o", "json")
    report = json.loads(result.output)
    actions = {action["name"]: action for action in report["actions"]}
    assert actions["database"]["whenResult"] is True
    assert actions["database"]["rendered"]["variables"]["name"] == "sample-team-orders-db"
    assert actions["workspace"]["outputs"] == {"namespace": "sample-team-orders"}
    assert actions["ticket"]["outputs"]["assignee"] == "<ticket.fields.assignee.displayName>"
    # This fixture falls back to manual, but its outputs read only automated actions: after a fallback the
    # operator could not publish them. That is what the check finds (and all it finds).
    assert result.exit_code == 1
    assert {error["subject"] for error in report["errors"]} == {
        f"output '{name}' (after the manual path)" for name in ("namespace", "fqdn", "database")
    }
    skipped = devctl(*args, "--field", "owners=[team-orders-admins]", "-o", "json")
    report = json.loads(skipped.output)
    assert {action["name"]: action["whenResult"] for action in report["actions"]}["database"] is False
    # With the database off the operator skips it, and the output reading outputs.database fails.
    assert "output 'database' (after the automated path)" in {error["subject"] for error in report["errors"]}


def test_variables_reject_invalid_fields_like_the_operator(devctl: Run) -> None:
    result = devctl("test", "variables", "postgresql-standard", "--field", "dbName=orders", "--field", "size=huge")
    assert result.exit_code == 1
    assert "invalid fields: spec.fields.size: expected one of small, medium, large; got 'huge'" in result.output
    missing = devctl("test", "variables", "postgresql-standard")
    assert missing.exit_code == 1 and "missing required field 'dbName'" in missing.output


def test_variables_action_filter(devctl: Run) -> None:
    result = devctl(
        "test", "variables", "postgresql-standard", "--field", "dbName=orders", "--action", "ticket", "-o", "json"
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert [action["name"] for action in report["actions"]] == ["ticket"] and report["outputs"] == []
    unknown = devctl("test", "variables", "postgresql-standard", "--field", "dbName=orders", "--action", "provison")
    assert unknown.exit_code == 3 and "did you mean 'provision'?" in unknown.output


def test_variables_with_an_unknown_environment_fail(devctl: Run) -> None:
    result = devctl(
        "test",
        "variables",
        "dev-workspace",
        "-f",
        "examples/dev-workspace.yaml",
        "--environments",
        ENVIRONMENTS,
        "--environment",
        "qa",
    )
    assert result.exit_code == 1 and "unknown environment 'qa'" in result.output


def _line_of(path: Path, text: str) -> int:
    return next(number for number, line in enumerate(path.read_text().splitlines(), 1) if text in line)


def test_a_broken_template_names_action_path_and_line(devctl: Run, catalog_copy: Path) -> None:
    item = catalog_copy / "databases" / "postgresql-standard.yaml"
    source = item.read_text()
    source = source.replace(
        "Database: {{ fields.dbName }}, PostgreSQL {{ fields.engineVersion }}",
        "Database: {{ fields.dbName }}, PostgreSQL {{ fields.storageGb // 0 }}",
    )
    source = source.replace('size: "{{ fields.size }}"', 'size: "{{ fields.size.nope }}"')
    item.write_text(source)
    result = devctl("test", "variables", "postgresql-standard", "--catalog", str(catalog_copy), "--field", "dbName=ab1")
    assert result.exit_code == 1, result.output
    errors = [line.strip() for line in result.output.splitlines() if "postgresql-standard.yaml:" in line]
    description_line = _line_of(item, "PostgreSQL {{ fields.storageGb // 0 }}")
    size_line = _line_of(item, 'size: "{{ fields.size.nope }}"')
    assert any(
        line.endswith(
            f"postgresql-standard.yaml:{size_line}: action 'provision' (automated): "
            "spec.fulfillment.automated[0].terraform.variables.size: 'str object' has no attribute 'nope' "
            "(template line 1)"
        )
        for line in errors
    ), errors
    assert any(
        line.endswith(
            f"postgresql-standard.yaml:{description_line}: action 'ticket' (manual): "
            "spec.fulfillment.manual[0].jira.description: division by zero (template line 6)"
        )
        for line in errors
    ), errors
    as_json = devctl(
        "test",
        "variables",
        "postgresql-standard",
        "--catalog",
        str(catalog_copy),
        "--field",
        "dbName=ab1",
        "-o",
        "json",
    )
    report = json.loads(as_json.output)
    assert {(error["path"], error["line"]) for error in report["errors"]} == {
        ("spec.fulfillment.automated[0].terraform.variables.size", size_line),
        ("spec.fulfillment.manual[0].jira.description", description_line),
    }
