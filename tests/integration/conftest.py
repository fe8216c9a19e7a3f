"""Fixtures for running the real operator against the API emulator and the fake JIRA over HTTP."""

from __future__ import annotations

import base64
import copy
import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.fakes.jira_server import FakeJira
from tests.k8s import ApiEmulator
from tests.rbac_coverage import OPERATOR_TOKEN, TERRAFORM_JOB_TOKEN

from .harness import BOT, EXPOSED, NAMESPACE, TOKEN, OperatorUnderTest, test_settings

TEAM = "team-orders"

TICKET_ITEM: dict[str, Any] = {
    "apiVersion": "orchestrator.dev/v1alpha1",
    "kind": "CatalogItem",
    "metadata": {"name": "dns-ticket", "annotations": {"orchestrator.dev/revision": "rev-1"}},
    "spec": {
        "displayName": "DNS record (by ticket)",
        "category": "networking",
        "owner": "team-network",
        "version": "1.2.0",
        "fields": {
            "type": "object",
            "required": ["host"],
            "additionalProperties": False,
            "properties": {
                "host": {"type": "string", "pattern": "^[a-z][a-z0-9-]{1,30}$"},
                "ttl": {"type": "integer", "minimum": 60, "default": 300},
            },
        },
        "fulfillment": {
            "mode": "manual",
            "manual": [
                {
                    "name": "ticket",
                    "type": "jira",
                    "jira": {
                        "project": "DBA",
                        "issueType": "Task",
                        "summary": "DNS record {{ fields.host }} for {{ request.namespace }}",
                        "description": "TTL {{ fields.ttl }} in {{ request.environment }} ({{ environment.region }})",
                        "labels": ["dns", "{{ request.namespace }}"],
                        "priority": "High",
                        "components": ["PostgreSQL"],
                        "fields": {"customfield_10010": "{{ fields.host }}.example.com"},
                        "outputs": {"resolution": "{{ ticket.resolution }}"},
                    },
                }
            ],
        },
        "outputs": [
            {"name": "fqdn", "value": "{{ fields.host }}.example.com"},
            {"name": "ticket", "value": "{{ outputs.ticket.key }}"},
            {"name": "apiKey", "value": "{{ secrets['dns-api'].key }}", "sensitive": True},
        ],
        "deletionPolicy": "Delete",
    },
}


def request(name: str = "orders-dns", **spec: Any) -> dict[str, Any]:
    body = {"catalogItem": "dns-ticket", "environment": "staging", "fields": {"host": "orders"}}
    body.update(spec)
    return {
        "apiVersion": "orchestrator.dev/v1alpha1",
        "kind": "ServiceRequest",
        "metadata": {"name": name, "namespace": TEAM},
        "spec": body,
    }


def secret(name: str, namespace: str, data: dict[str, str], labels: dict[str, str]) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": namespace, "labels": labels},
        "data": {k: base64.b64encode(v.encode()).decode() for k, v in data.items()},
    }


@pytest.fixture
def jira() -> Iterator[FakeJira]:
    with FakeJira(users={BOT: TOKEN}) as fake:
        yield fake


@pytest.fixture
def cluster(k8s_api: ApiEmulator, jira: FakeJira) -> ApiEmulator:
    """The emulator with a JIRA connection Secret, an environments ConfigMap, an exposed Secret and the item."""
    k8s_api.create(
        secret(
            "jira-default",
            NAMESPACE,
            {"url": jira.url, "email": BOT, "token": TOKEN, "closeStatus": "Closed"},
            {"orchestrator.dev/jira-connection": "default"},
        )
    )
    k8s_api.create(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "orchestrator-environments", "namespace": NAMESPACE},
            "data": {"environments.yaml": "default: staging\nenvironments:\n  staging: {region: eu-west-1}\n"},
        }
    )
    k8s_api.create(secret("dns-api", TEAM, {"key": EXPOSED}, {"orchestrator.dev/expose": "true"}))
    return k8s_api


@pytest.fixture
def ticket_item() -> dict[str, Any]:
    return copy.deepcopy(TICKET_ITEM)


@pytest.fixture
def captured_logs() -> Iterator[list[str]]:
    """Every log record of the process (kopf's and ours, all levels), formatted with its arguments."""
    lines: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            try:
                lines.append(self.format(record))
            except Exception as error:  # a log call that cannot even format is a bug worth seeing
                lines.append(f"unformattable log record: {error!r}")

    handler = Collect(level=logging.DEBUG)
    root = logging.getLogger()
    previous = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    yield lines
    root.removeHandler(handler)
    root.setLevel(previous)


@pytest.fixture
def operator_kubeconfig(k8s_api: ApiEmulator, tmp_path: Path) -> Path:
    """The operator's own kubeconfig: its bearer token tells its API calls apart (tests/rbac_coverage.py)."""
    return k8s_api.write_kubeconfig(tmp_path / "operator-kubeconfig", namespace=NAMESPACE, token=OPERATOR_TOKEN)


@pytest.fixture
def terraform_job_kubeconfig(k8s_api: ApiEmulator, tmp_path: Path) -> Path:
    """The Terraform job runner's kubeconfig (JobKubelet, `orchestrator terraform-run`): its own bearer token, so its
    calls are checked against the Role of terraform.jobServiceAccount (tests/rbac_coverage.py)."""
    return k8s_api.write_kubeconfig(
        tmp_path / "terraform-job-kubeconfig", namespace=NAMESPACE, token=TERRAFORM_JOB_TOKEN
    )


@pytest.fixture
def start_operator(operator_kubeconfig: Path) -> Iterator[Callable[..., OperatorUnderTest]]:
    started: list[OperatorUnderTest] = []

    def start(**overrides: Any) -> OperatorUnderTest:
        operator = OperatorUnderTest(operator_kubeconfig, test_settings(**overrides)).start()
        started.append(operator)
        return operator

    yield start
    for operator in reversed(started):
        operator.stop()
