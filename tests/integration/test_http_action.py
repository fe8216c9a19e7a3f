"""``HttpRunner`` against the fake DNS API over real HTTP(S), with connection Secrets in the API emulator.

The runner is driven directly (render, then run, as the request handler does), with an ``ActionContext`` whose
``record_pending`` records each pending marker and checks that it was stored before the call it guards went out.
"""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import trustme
import yaml

from orchestrator.actions.base import ActionContext, StepResult
from orchestrator.actions.http import HttpRunner, HttpTiming
from orchestrator.api.actions import Action
from orchestrator.api.conditions import Reason
from orchestrator.api.service_request import ActionStatus, idempotency_key
from orchestrator.clients.http import HttpConnectionPool
from orchestrator.clients.kubernetes import ClusterAccess, KubernetesApi
from orchestrator.config import Settings
from orchestrator.metrics import Metrics
from orchestrator.redaction import Redactor
from tests.fakes.http_service import FakeDnsApi
from tests.k8s import ApiEmulator
from tests.rbac_coverage import OPERATOR_TOKEN

from .harness import OperatorUnderTest, phase, wait_until

ROOT = Path(__file__).resolve().parents[2]
NAMESPACE = "orchestrator-system"
UID = "6f1c2a40-0000-4000-8000-000000000001"
ZONE = "staging.example.internal"
SCOPE_TOKEN = "canary-scope-token-4e7a21"
CONN_TOKEN = "canary-conn-token-b83f05"
HEADER_CANARY = "canary-header-value-19c6d4"
AUTH_RETRY = 45.0
CONNECTION_LABEL = "orchestrator.dev/http-connection"


def settings(**http: Any) -> Settings:
    values = {
        "call_timeout": 0.5,
        "breaker_failure_threshold": 50,
        "breaker_reset": 1.0,
        "auth_retry_interval": AUTH_RETRY,
    }
    values.update(http)
    return Settings.model_validate({"namespace": NAMESPACE, "secret_cache_ttl": 0, "http": values})


def dns_action(**http: Any) -> Action:
    """The dns-record catalog sample's action, with ``http`` keys replaced (None removes a key)."""
    item = yaml.safe_load((ROOT / "catalog/networking/dns-record.yaml").read_text())
    raw = item["spec"]["fulfillment"]["automated"][0]
    raw["http"].update(http)
    raw["http"] = {k: v for k, v in raw["http"].items() if v is not None}
    return Action.model_validate(raw)


def connected_action(connection: str = "dns", **http: Any) -> Action:
    """The sample, calling through a named connection (its token, not the secrets scope, authenticates)."""
    headers = {"Content-Type": "application/json", "Accept": "application/json"}
    http = {"url": "v2/zones/{{ environment.dnsZone }}/records", "headers": headers, **http}
    return dns_action(connection=connection, **http)


def connection_secret(name: str, connection: str, data: dict[str, str]) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": NAMESPACE, "labels": {CONNECTION_LABEL: connection}},
        "data": {k: base64.b64encode(v.encode()).decode() for k, v in data.items()},
    }


@dataclass
class Pending:
    """``record_pending``: keeps every marker and asserts the fake has not yet seen a call with its key."""

    fake: FakeDnsApi
    markers: list[ActionStatus] = field(default_factory=list)

    async def __call__(self, status: ActionStatus) -> None:
        assert status.idempotency_key is not None
        sent = [r for r in self.fake.requests if r.headers.get("Idempotency-Key") == status.idempotency_key]
        assert not sent, "the pending marker must be stored before the call goes out"
        self.markers.append(status)


@dataclass
class Harness:
    runner: HttpRunner
    pool: HttpConnectionPool
    fake: FakeDnsApi
    pending: Pending
    ctx: ActionContext

    async def run(self, action: Action, status: ActionStatus | None = None) -> StepResult:
        status = status or ActionStatus(name=action.name, type="http")
        rendered = self.runner.render(action, self.ctx.scopes, self.ctx.redactor)
        return await self.runner.run(action, rendered, status, self.ctx)

    async def changed(self, action: Action, status: ActionStatus) -> StepResult:
        rendered = self.runner.render(action, self.ctx.scopes, self.ctx.redactor)
        return await self.runner.changed(action, rendered, status, self.ctx)


def scopes(token: str = SCOPE_TOKEN) -> dict[str, Any]:
    return {
        "fields": {"name": "shop", "type": "CNAME", "target": "lb.example.com", "ttl": 300},
        "request": {"namespace": "team-orders", "name": "shop-dns", "uid": UID},
        "environment": {"dnsZone": ZONE},
        "secrets": {"dns-api": {"token": token}},
    }


@pytest.fixture
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def fake() -> Iterator[FakeDnsApi]:
    with FakeDnsApi(token=SCOPE_TOKEN) as api:
        yield api


@pytest.fixture
async def kube(k8s_api: ApiEmulator) -> AsyncIterator[KubernetesApi]:
    client = await KubernetesApi.connect(ClusterAccess(server=k8s_api.url, token=OPERATOR_TOKEN))
    yield client
    await client.close()


async def make_harness(kube: KubernetesApi, fake: FakeDnsApi, token: str = SCOPE_TOKEN, **http: Any) -> Harness:
    pool = HttpConnectionPool(kube, settings(**http), Metrics())
    pending = Pending(fake)
    ctx = ActionContext(
        uid=UID,
        name="shop-dns",
        namespace="team-orders",
        scopes=scopes(token),
        redactor=Redactor([token]),
        record_pending=pending,
        jitter=lambda: 1.0,
        backoff_initial=0.2,
        backoff_max=2.0,
    )
    return Harness(HttpRunner(pool, HttpTiming(auth_retry_interval=AUTH_RETRY)), pool, fake, pending, ctx)


@pytest.fixture
async def harness(kube: KubernetesApi, fake: FakeDnsApi) -> AsyncIterator[Harness]:
    made = await make_harness(kube, fake)
    yield made
    await made.pool.close()


def action_for(fake: FakeDnsApi) -> Action:
    return dns_action(url=f"{fake.url}/v2/zones/{{{{ environment.dnsZone }}}}/records")


KEY1 = idempotency_key(UID, "record", 1)


# --- success ------------------------------------------------------------------------------------------------------
async def test_creates_the_record_once_with_outputs(harness: Harness, fake: FakeDnsApi) -> None:
    result = await harness.run(action_for(fake))

    status = result.status
    assert (status.state, result.wait, result.stall_reason) == ("Succeeded", None, None)
    assert status.outputs == {"status": 201, "fqdn": f"shop.{ZONE}", "recordId": "rec-1", "changeId": "chg-1"}
    assert [m.idempotency_key for m in harness.pending.markers] == [KEY1]
    assert harness.pending.markers[0].state == "Running"
    [call] = fake.requests
    assert call.headers["Idempotency-Key"] == KEY1 == status.idempotency_key
    assert call.headers["Authorization"] == f"Bearer {SCOPE_TOKEN}"
    assert call.json()["ttl"] == 300  # typed, as the template's single expression gives it
    assert fake.effects(KEY1) == 1
    assert status.external_ref is not None
    assert (status.external_ref.system, status.external_ref.id) == ("http", KEY1)
    assert status.external_ref.url == f"{fake.url}/v2/zones/{ZONE}/records"
    assert status.message == f"POST {fake.url}/v2/zones/{ZONE}/records answered 201"


async def test_a_succeeded_post_is_not_sent_again(harness: Harness, fake: FakeDnsApi) -> None:
    action = action_for(fake)
    done = (await harness.run(action)).status
    changed = await harness.changed(action, done)
    assert changed.wait is None and "not sent again" in (changed.status.message or "")
    again = await harness.run(action, changed.status)
    assert again.status.state == "Succeeded"
    assert len(fake.requests) == 1


# --- temporary failures and unknown outcomes ----------------------------------------------------------------------
async def test_rate_limit_honours_retry_after_then_succeeds_with_the_same_key(
    harness: Harness, fake: FakeDnsApi
) -> None:
    fake.inject(status=429, retry_after="7")
    action = action_for(fake)

    first = await harness.run(action)
    assert (first.reason, first.wait, first.stall_reason) == (Reason.RATE_LIMITED, 7.0, None)
    assert first.failure_reason == "RateLimited"
    assert (first.status.state, first.status.temporary_failures, first.status.idempotency_key) == ("Running", 1, KEY1)
    assert fake.changes == []

    second = await harness.run(action, first.status)  # the wait is the handler's; call again at once
    assert second.status.state == "Succeeded"
    assert [r.headers["Idempotency-Key"] for r in fake.requests] == [KEY1, KEY1]
    assert len(harness.pending.markers) == 1
    assert fake.effects(KEY1) == 1


@pytest.mark.parametrize(
    ("fault", "effect_before_retry", "failure"),
    [
        ({"delay": 1.5}, 1, "Timeout"),
        ({"drop": True}, 1, "ConnectionReset"),
        ({"status": 503}, 0, "ServerError"),
        ({"status": 500}, 0, "ServerError"),
    ],
    ids=["timeout-after-effect", "drop-after-effect", "503", "500"],
)
async def test_unknown_outcome_is_resent_with_the_same_key_and_takes_effect_once(
    harness: Harness, fake: FakeDnsApi, fault: dict[str, Any], effect_before_retry: int, failure: str
) -> None:
    fake.inject(**fault)
    action = action_for(fake)

    first = await harness.run(action)
    assert (first.reason, first.stall_reason, first.failure_reason) == (Reason.BACKEND_UNAVAILABLE, None, failure)
    assert first.wait == pytest.approx(0.2)
    assert first.status.state == "Running"
    assert "re-sending with the same Idempotency-Key" in (first.status.message or "")
    assert len(fake.changes) == effect_before_retry

    second = await harness.run(action, first.status)
    assert second.status.state == "Succeeded", second.status.message
    assert second.status.outputs["recordId"] == "rec-1"
    keys = [r.headers["Idempotency-Key"] for r in fake.requests]
    assert keys == [KEY1, KEY1]
    assert len(fake.changes) == 1
    assert fake.effects(KEY1) == 1
    assert len(harness.pending.markers) == 1


async def test_breaker_opens_and_fails_fast(kube: KubernetesApi, fake: FakeDnsApi) -> None:
    harness = await make_harness(kube, fake, breaker_failure_threshold=2, breaker_reset=30.0)
    try:
        fake.inject(status=503, times=5)
        action = action_for(fake)
        status = None
        for _ in range(2):
            status = (await harness.run(action, status)).status
        third = await harness.run(action, status)
        assert third.failure_reason == "CircuitOpen"
        assert third.reason == Reason.BACKEND_UNAVAILABLE
        assert third.wait is not None and third.wait > 20  # the breaker's remaining time wins over the backoff
        assert len(fake.requests) == 2  # the third call never left the operator
        assert "circuit breaker" in (third.status.message or "")
    finally:
        await harness.pool.close()


# --- permanent and auth failures ----------------------------------------------------------------------------------
async def test_conflict_is_permanent_with_a_short_redacted_excerpt(harness: Harness, fake: FakeDnsApi) -> None:
    fake.add_record(ZONE, "shop", owner="team-payments")
    action = action_for(fake).model_copy(deep=True)
    assert action.http is not None
    action.http.body["comment"] = "token {{ secrets['dns-api'].token }} " + "x" * 300  # echoed in the 409 body

    result = await harness.run(action)

    assert (result.status.state, result.stall_reason, result.wait) == ("Failed", Reason.ACTION_FAILED, None)
    message = result.status.message or ""
    assert message.startswith(f"POST {fake.url}/v2/zones/{ZONE}/records answered 409 Conflict: ")
    assert f"shop.{ZONE} is owned by team-payments" in message
    excerpt = message.split(": ", 1)[1]
    assert len(excerpt) <= 200
    assert SCOPE_TOKEN in fake.requests[0].body.decode()  # it did go to the server...
    assert SCOPE_TOKEN not in result.status.model_dump_json()  # ...and never comes back into status


async def test_bad_token_stalls_on_auth_and_keeps_the_key(kube: KubernetesApi, fake: FakeDnsApi) -> None:
    harness = await make_harness(kube, fake, token="canary-wrong-token-0d9e")
    try:
        result = await harness.run(action_for(fake))
    finally:
        await harness.pool.close()
    assert (result.stall_reason, result.wait, result.failure_reason) == (Reason.AUTH_FAILED, AUTH_RETRY, "AuthFailed")
    assert result.status.state == "Running" and result.status.idempotency_key == KEY1
    assert "answered 401" in (result.status.message or "")
    assert "invalid or missing token" in (result.status.message or "")
    assert "canary-wrong-token-0d9e" not in result.status.model_dump_json()  # the fake echoed it back


async def test_missing_output_pointer_fails_naming_it(harness: Harness, fake: FakeDnsApi) -> None:
    action = dns_action(url=f"{fake.url}/v2/zones/{ZONE}/records", outputs={"zoneId": "/zone/id"})
    result = await harness.run(action)
    assert (result.status.state, result.stall_reason, result.failure_reason) == (
        "Failed",
        Reason.ACTION_FAILED,
        "OutputMissing",
    )
    assert "output 'zoneId' (http.outputs.zoneId = /zone/id): the response has nothing at /zone" in (
        result.status.message or ""
    )


async def test_connection_not_configured(harness: Harness) -> None:
    result = await harness.run(connected_action("nowhere"))
    assert (result.stall_reason, result.wait) == (Reason.CONNECTION_NOT_CONFIGURED, AUTH_RETRY)
    assert f"no Secret labelled {CONNECTION_LABEL}=nowhere in namespace {NAMESPACE}" in (result.status.message or "")
    assert harness.pending.markers == []


async def test_unusable_connection_secret_names_the_key(k8s_api: ApiEmulator, harness: Harness) -> None:
    k8s_api.create(connection_secret("dns-broken", "dns", {"baseUrl": "https://d", "caBundle": CONN_TOKEN}))
    result = await harness.run(connected_action())
    assert result.stall_reason == Reason.CONNECTION_NOT_CONFIGURED
    assert "Secret orchestrator-system/dns-broken: key caBundle is not a PEM certificate bundle" in (
        result.status.message or ""
    )
    assert CONN_TOKEN not in (result.status.message or "")


# --- connections, TLS ---------------------------------------------------------------------------------------------
async def test_connection_token_and_relative_url(k8s_api: ApiEmulator, kube: KubernetesApi) -> None:
    with FakeDnsApi(token=CONN_TOKEN) as fake:
        k8s_api.create(connection_secret("dns-conn", "dns", {"baseUrl": fake.url, "token": CONN_TOKEN}))
        harness = await make_harness(kube, fake)
        try:
            result = await harness.run(connected_action())
        finally:
            await harness.pool.close()
        assert result.status.state == "Succeeded", result.status.message
        [call] = fake.requests
        assert call.path == f"/v2/zones/{ZONE}/records"
        assert call.headers["Authorization"] == f"Bearer {CONN_TOKEN}"
        assert result.status.external_ref is not None and result.status.external_ref.connection == "dns"


async def test_tls_is_verified_by_default_and_trusts_the_ca_bundle(
    k8s_api: ApiEmulator, kube: KubernetesApi, ca: trustme.CA
) -> None:
    with FakeDnsApi(token=CONN_TOKEN, tls=ca) as fake:
        assert fake.url.startswith("https://")
        k8s_api.create(connection_secret("dns-plain", "dns-plain", {"baseUrl": fake.url, "token": CONN_TOKEN}))
        bundle = ca.cert_pem.bytes().decode()
        k8s_api.create(
            connection_secret("dns-ca", "dns-ca", {"baseUrl": fake.url, "token": CONN_TOKEN, "caBundle": bundle})
        )
        harness = await make_harness(kube, fake)
        try:
            refused = await harness.run(connected_action("dns-plain"))
            trusted = await harness.run(connected_action("dns-ca"))
        finally:
            await harness.pool.close()
    assert (refused.status.state, refused.stall_reason, refused.failure_reason) == (
        "Failed",
        Reason.ACTION_FAILED,
        "TlsVerificationFailed",
    )
    assert "TLS certificate verification failed" in (refused.status.message or "")
    assert "caBundle" in (refused.status.message or "")
    assert trusted.status.state == "Succeeded", trusted.status.message
    assert fake.effects(trusted.status.idempotency_key or "") == 1


async def test_insecure_skip_verify_is_explicit_and_logged(
    k8s_api: ApiEmulator, kube: KubernetesApi, ca: trustme.CA, caplog: pytest.LogCaptureFixture
) -> None:
    with FakeDnsApi(token=CONN_TOKEN, tls=ca) as fake:
        data = {"baseUrl": fake.url, "token": CONN_TOKEN, "insecureSkipVerify": "true"}
        k8s_api.create(connection_secret("dns-insecure", "dns", data))
        harness = await make_harness(kube, fake)
        try:
            with caplog.at_level(logging.WARNING, logger="orchestrator"):
                result = await harness.run(connected_action())
        finally:
            await harness.pool.close()
    assert result.status.state == "Succeeded", result.status.message
    assert "insecureSkipVerify: TLS certificates are NOT verified" in caplog.text


# --- methods, updates, teardown -----------------------------------------------------------------------------------
async def test_get_sends_no_key_and_records_no_marker(harness: Harness, fake: FakeDnsApi) -> None:
    record = fake.add_record(ZONE, "api", owner="team-orders", content="192.0.2.7")
    action = dns_action(
        method="GET",
        url=f"{fake.url}/v2/zones/{ZONE}/records/{record['id']}",
        body=None,
        outputs={"ip": "/record/content"},
    )
    result = await harness.run(action)
    assert result.status.state == "Succeeded"
    assert result.status.outputs == {"status": 200, "ip": "192.0.2.7"}
    assert harness.pending.markers == []
    assert "Idempotency-Key" not in fake.requests[0].headers
    assert result.status.idempotency_key is None and result.status.external_ref is None


async def test_a_changed_put_is_sent_again_as_a_new_attempt(harness: Harness, fake: FakeDnsApi) -> None:
    record = fake.add_record(ZONE, "api", owner="team-orders")
    url = f"{fake.url}/v2/zones/{ZONE}/records/{record['id']}"
    first_body = {"content": "192.0.2.10", "ttl": 300}
    put = dns_action(method="PUT", url=url, body=first_body, outputs={"content": "/record/content"})
    done = (await harness.run(put)).status
    assert (done.state, done.attempts, done.outputs["content"]) == ("Succeeded", 1, "192.0.2.10")

    put2 = dns_action(
        method="PUT", url=url, body={"content": "192.0.2.11", "ttl": 300}, outputs={"content": "/record/content"}
    )
    changed = await harness.changed(put2, done)
    assert (changed.wait, changed.stall_reason, changed.status.state) == (None, None, "Pending")
    again = (await harness.run(put2, changed.status)).status

    key2 = idempotency_key(UID, "record", 2)
    assert (again.state, again.attempts, again.idempotency_key) == ("Succeeded", 2, key2)
    assert again.outputs["content"] == "192.0.2.11"
    assert [r.headers["Idempotency-Key"] for r in fake.requests] == [KEY1, key2]
    assert [m.idempotency_key for m in harness.pending.markers] == [KEY1, key2]
    assert fake.effects(KEY1) == 1 and fake.effects(key2) == 1


async def test_teardown_deletes_nothing_and_says_so(harness: Harness, fake: FakeDnsApi) -> None:
    done = (await harness.run(action_for(fake))).status
    teardown = await harness.runner.teardown(done, harness.ctx, "Delete")
    assert teardown.done and "nothing was deleted" in teardown.message
    assert await harness.runner.abort(done, harness.ctx, "user asked") is None
    assert len(fake.records) == 1 and [r.method for r in fake.requests] == ["POST"]


# --- secrets never leak -------------------------------------------------------------------------------------------
async def test_canaries_never_reach_status_messages_or_logs(
    k8s_api: ApiEmulator, kube: KubernetesApi, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    with FakeDnsApi(token=CONN_TOKEN) as fake:
        extra = f"X-Team-Key: {HEADER_CANARY}"
        k8s_api.create(connection_secret("dns-ok", "dns", {"baseUrl": fake.url, "token": CONN_TOKEN, "headers": extra}))
        k8s_api.create(connection_secret("dns-bad", "dns-bad", {"baseUrl": fake.url, "token": "canary-stale-0c1d2e"}))
        harness = await make_harness(kube, fake)
        url = "v2/zones/{{ environment.dnsZone }}/records?sig={{ secrets['dns-api'].token }}"
        comment = "from {{ request.name }} with {{ secrets['dns-api'].token }}"
        results: list[StepResult] = []
        try:
            ok = connected_action("dns", url=url)
            assert ok.http is not None
            ok.http.body["comment"] = comment
            results.append(await harness.run(ok))  # created
            fake.add_record(ZONE, "taken", owner="team-payments")
            conflict = ok.model_copy(update={"name": "taken"}, deep=True)
            assert conflict.http is not None
            conflict.http.body["name"] = "taken"
            results.append(await harness.run(conflict))  # 409 echoing the body
            fake.inject(status=503)
            results.append(await harness.run(ok.model_copy(update={"name": "again"})))  # temporary
            results.append(
                await harness.run(connected_action("dns-bad", url=url).model_copy(update={"name": "bad"}))
            )  # 401 echoing the token
            teardown = await harness.runner.teardown(results[0].status, harness.ctx, "Delete")
        finally:
            await harness.pool.close()

    # The canaries did travel to the server (so this test can fail)...
    sent = " ".join(f"{r.path} {r.headers} {r.body.decode()}" for r in fake.requests)
    for canary in (SCOPE_TOKEN, CONN_TOKEN, HEADER_CANARY, "canary-stale-0c1d2e"):
        assert canary in sent
    assert [r.status.state for r in results] == ["Succeeded", "Failed", "Running", "Running"]
    assert results[3].stall_reason == Reason.AUTH_FAILED
    # ...and appear nowhere the operator writes.
    written = " ".join(r.status.model_dump_json() for r in results) + teardown.message + caplog.text
    written += " ".join(m.model_dump_json() for m in harness.pending.markers)
    for canary in (SCOPE_TOKEN, CONN_TOKEN, HEADER_CANARY, "canary-stale-0c1d2e"):
        assert canary not in written
    assert "sig=***" in (results[0].status.message or "")
    assert "HTTP POST" in caplog.text  # the calls were logged, redacted


# --- through the operator -----------------------------------------------------------------------------------------
def test_operator_fulfils_the_dns_record_item(
    k8s_api: ApiEmulator, start_operator: Callable[..., OperatorUnderTest], fake: FakeDnsApi
) -> None:
    """The catalog sample, unchanged but for the API's address, from request to Ready through kopf and the emulator."""
    item = yaml.safe_load((ROOT / "catalog/networking/dns-record.yaml").read_text())
    http = item["spec"]["fulfillment"]["automated"][0]["http"]
    http["url"] = http["url"].replace("https://dns-api.platform.example.internal", fake.url)
    item["metadata"]["annotations"] = {"orchestrator.dev/revision": "rev-1"}
    environments = f"default: staging\nenvironments:\n  staging: {{dnsZone: {ZONE}}}\n"
    k8s_api.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team-orders"}})
    k8s_api.create(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "orchestrator-environments", "namespace": NAMESPACE},
            "data": {"environments.yaml": environments},
        }
    )
    k8s_api.create(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "dns-api", "namespace": "team-orders", "labels": {"orchestrator.dev/expose": "true"}},
            "data": {"token": base64.b64encode(SCOPE_TOKEN.encode()).decode()},
        }
    )
    start_operator()
    k8s_api.create(item)
    k8s_api.create(
        {
            "apiVersion": "orchestrator.dev/v1alpha1",
            "kind": "ServiceRequest",
            "metadata": {"name": "shop-dns", "namespace": "team-orders"},
            "spec": {"catalogItem": "dns-record", "fields": {"name": "shop", "target": "lb.example.com"}},
        }
    )
    ready = wait_until(
        lambda: (
            (o := k8s_api.get("servicerequests", "shop-dns", "team-orders")) is not None and phase(o) == "Ready" and o
        ),
        15.0,
        "phase Ready",
    )
    assert isinstance(ready, dict)
    assert ready["status"]["outputs"] == {"fqdn": f"shop.{ZONE}", "recordId": "rec-1"}
    [action] = ready["status"]["actions"]
    assert action["state"] == "Succeeded"
    key = idempotency_key(ready["metadata"]["uid"], "record", 1)
    assert action["idempotencyKey"] == key
    assert fake.effects(key) == 1 and len(fake.changes) == 1
    assert SCOPE_TOKEN not in json.dumps(ready)
