"""Operator building blocks: settings, the circuit breaker, redaction, JIRA error classification, metrics."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import requests

from orchestrator.clients.circuit import CLOSED, HALF_OPEN, OPEN, CircuitBreaker
from orchestrator.clients.jira import classify, connection_from_secret
from orchestrator.clients.jira_types import JiraErrorKind
from orchestrator.config import ConfigError, load_settings, parse_duration
from orchestrator.metrics import Metrics
from orchestrator.redaction import MASK, Redactor

TOKEN = "canary-token-0123456789"


def test_settings_layering(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("namespace: ops\njira:\n  pollInterval: 2m\n  escalationProject: OPS\n")
    settings = load_settings(
        config, {"ORCHESTRATOR_JIRA__POLL_INTERVAL": "45s", "ORCHESTRATOR_WATCH_NAMESPACES": "a, b"}
    )
    assert settings.namespace == "ops"
    assert settings.jira.poll_interval == 45.0
    assert settings.jira.escalation_project == "OPS"
    assert settings.watch_namespaces == ["a", "b"]


@pytest.mark.parametrize(
    ("text", "environ", "fragment"),
    [
        ("jira:\n  pollInterval: soon\n", {}, "jira.pollInterval"),
        ("nope: 1\n", {}, "nope"),
        ("- a\n", {}, "must be a mapping"),
        ("", {"ORCHESTRATOR_PROBE_PORT": "http"}, "probePort"),
    ],
    ids=["bad-duration", "unknown-key", "not-a-mapping", "bad-env"],
)
def test_bad_settings_name_the_field(tmp_path: Path, text: str, environ: dict[str, str], fragment: str) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(text)
    with pytest.raises(ConfigError) as error:
        load_settings(config, environ)
    assert fragment in str(error.value)
    assert str(config) in str(error.value)


@pytest.mark.parametrize(("text", "seconds"), [("30s", 30), ("5m", 300), ("1h", 3600), ("250ms", 0.25), (12, 12)])
def test_durations(text: Any, seconds: float) -> None:
    assert parse_duration(text) == seconds


def test_breaker_opens_probes_and_closes() -> None:
    now = [0.0]
    states: list[str] = []
    breaker = CircuitBreaker(failure_threshold=3, reset_after=10, clock=lambda: now[0], on_change=states.append)
    for _ in range(3):
        assert breaker.acquire() is None
        breaker.failure()
    assert breaker.state == OPEN
    assert breaker.acquire() == 10
    now[0] = 10.5
    assert breaker.acquire() is None  # the one probe
    assert breaker.state == HALF_OPEN
    assert breaker.acquire() is not None  # no second probe while the first is out
    breaker.failure()
    assert breaker.state == OPEN
    now[0] = 21
    assert breaker.acquire() is None
    breaker.success()
    assert breaker.state == CLOSED
    assert states == [CLOSED, OPEN, HALF_OPEN, OPEN, HALF_OPEN, CLOSED]


def test_redaction_masks_values_encodings_and_headers() -> None:
    redact = Redactor()
    redact.add_basic_auth("bot@example.com", TOKEN)
    import base64

    encoded = base64.b64encode(f"bot@example.com:{TOKEN}".encode()).decode()
    text = f"token={TOKEN} header {{'Authorization': 'Basic {encoded}'}} Bearer abcdefghijkl"
    result = redact(text)
    assert TOKEN not in result and encoded not in result and "abcdefghijkl" not in result
    assert MASK in result


class _Response:
    def __init__(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        self.status_code = status
        self._payload = payload
        self.headers = headers or {}
        self.text = str(payload)

    def json(self) -> Any:
        return self._payload


class _LibraryError(Exception):
    def __init__(self, response: _Response) -> None:
        super().__init__(
            f"JiraError HTTP {response.status_code} request headers = {{'Authorization': 'Basic {TOKEN}'}}"
        )
        self.response = response
        self.status_code = response.status_code


@pytest.mark.parametrize(
    ("error", "kind", "unknown", "retry_after"),
    [
        (requests.ConnectionError("reset"), JiraErrorKind.UNAVAILABLE, True, None),
        (requests.ReadTimeout("slow"), JiraErrorKind.UNAVAILABLE, True, None),
        (_LibraryError(_Response(429, {}, {"Retry-After": "7"})), JiraErrorKind.RATE_LIMITED, False, 7.0),
        (_LibraryError(_Response(503, {}, {"Retry-After": "3"})), JiraErrorKind.UNAVAILABLE, False, 3.0),
        (_LibraryError(_Response(429, {}, {"Retry-After": "soon"})), JiraErrorKind.RATE_LIMITED, False, None),
        (_LibraryError(_Response(500, {"errorMessages": ["boom"]})), JiraErrorKind.UNAVAILABLE, True, None),
        (_LibraryError(_Response(401, {})), JiraErrorKind.AUTH, False, None),
        (_LibraryError(_Response(403, {})), JiraErrorKind.AUTH, False, None),
        (
            _LibraryError(_Response(404, {"errorMessages": ["Issue does not exist"]})),
            JiraErrorKind.NOT_FOUND,
            False,
            None,
        ),
        (_LibraryError(_Response(400, {"errors": {"project": "unknown project"}})), JiraErrorKind.INVALID, False, None),
    ],
    ids=["dropped", "timeout", "429", "503", "429-unreadable-retry-after", "500", "401", "403", "404", "400"],
)
def test_classify(error: BaseException, kind: JiraErrorKind, unknown: bool, retry_after: float | None) -> None:
    redact = Redactor([TOKEN])
    result = classify(error, "create issue", redact)
    assert result.kind == kind
    assert result.outcome_unknown is unknown
    assert result.retry_after == retry_after
    assert TOKEN not in result.message and "Authorization" not in result.message


def test_connection_secret_needs_url_and_token() -> None:
    with pytest.raises(ValueError, match="has no url or token"):
        connection_from_secret("default", {})
    connection = connection_from_secret("default", {"url": "http://j", "email": "a@b", "token": TOKEN})
    assert connection.user == "a@b"
    assert TOKEN not in repr(connection)


def test_metrics_labels_are_bounded_and_exposed() -> None:
    metrics = Metrics()
    metrics.count_requests_with(lambda: {("db", "Ready"): 2})
    metrics.set_breaker("jira", "default", OPEN)
    text = metrics.exposition().decode()
    assert 'orchestrator_service_requests{item="db",phase="Ready"} 2.0' in text
    assert 'orchestrator_circuit_breaker_state{connection="default",state="open",system="jira"} 1.0' in text


def test_the_example_config_loads() -> None:
    root = Path(__file__).resolve().parents[2]
    settings = load_settings(root / "examples" / "operator" / "config.yaml", {})
    assert settings.jira.escalation_project == "OPS"
    assert settings.deletion_deadline == 600
