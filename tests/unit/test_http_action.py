"""The HTTP action's pure parts: rendering, JSON pointers, error classes, Retry-After, redaction, connections."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml

from orchestrator.actions.http import HttpRunner, HttpTiming, PointerError, resolve_pointer
from orchestrator.api.actions import Action
from orchestrator.clients.circuit import CircuitBreaker
from orchestrator.clients.http import HttpClient
from orchestrator.clients.http_types import (
    MAX_RETRY_AFTER,
    HttpCallError,
    HttpConnection,
    HttpErrorKind,
    body_excerpt,
    connection_from_secret,
    error_for_status,
    parse_retry_after,
)
from orchestrator.redaction import MASK, Redactor
from orchestrator.templates.errors import TemplateError

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "canary-scope-token-93b1d7"
SCOPES: dict[str, Any] = {
    "fields": {"name": "shop", "type": "CNAME", "target": "lb.example.com", "ttl": 300},
    "request": {"namespace": "team-orders", "name": "shop-dns", "uid": "uid-1"},
    "environment": {"dnsZone": "staging.example.internal"},
    "secrets": {"dns-api": {"token": TOKEN}},
}


class _NoConnections:
    async def get(self, name: str) -> Any:
        raise AssertionError("rendering must not open connections")

    async def direct(self, url: str) -> Any:
        raise AssertionError("rendering must not open connections")


RUNNER = HttpRunner(_NoConnections(), HttpTiming(auth_retry_interval=60.0))


def dns_action(**http: Any) -> Action:
    """The dns-record catalog sample's action, with ``http`` keys replaced (None removes a key)."""
    item = yaml.safe_load((ROOT / "catalog/networking/dns-record.yaml").read_text())
    raw = item["spec"]["fulfillment"]["automated"][0]
    raw["http"].update(http)
    raw["http"] = {k: v for k, v in raw["http"].items() if v is not None}
    return Action.model_validate(raw)


# --- render -------------------------------------------------------------------------------------------------------
def test_render_keeps_types_and_renders_secret_headers() -> None:
    rendered = RUNNER.render(dns_action(), SCOPES, Redactor([TOKEN]))
    assert rendered["method"] == "POST"
    assert rendered["url"] == "https://dns-api.platform.example.internal/v2/zones/staging.example.internal/records"
    assert rendered["headers"]["Authorization"] == f"Bearer {TOKEN}"
    assert rendered["body"]["ttl"] == 300  # a single expression keeps its type
    assert rendered["body"]["owner"] == "team-orders"
    assert rendered["body"]["comment"].endswith("(uid-1)")


@pytest.mark.parametrize(
    ("http", "path", "text"),
    [
        ({"url": "v2/records"}, ("http", "url"), "needs a connection"),
        ({"url": "ftp://example.com/x"}, ("http", "url"), "http(s)"),
        ({"url": "https://user:pw@example.com/x"}, ("http", "url"), "credentials"),
        ({"url": "{{ '' }}"}, ("http", "url"), "non-empty"),
        ({"url": "https://x/{{ environment.nope }}"}, ("http", "url"), "nope"),
        ({"body": {"name": "{{ fields.missing }}"}}, ("http", "body", "name"), "missing"),
        ({"headers": {"X-List": "{{ [1, 2] }}"}}, ("http", "headers", "X-List"), "string"),
        ({"headers": {"X-Split": "a{{ '\\n' }}b"}}, ("http", "headers", "X-Split"), "single line"),
        ({"headers": {"Bad Name": "x"}}, ("http", "headers", "Bad Name"), "header name"),
        ({"headers": {"idempotency-key": "k"}}, ("http", "headers", "idempotency-key"), "sets Idempotency-Key"),
        ({"outputs": {"fqdn": "record/fqdn"}}, ("http", "outputs", "fqdn"), "start with '/'"),
        ({"outputs": {"x": "/a~2b"}}, ("http", "outputs", "x"), "~0 or ~1"),
        ({"outputs": {"status": "/status"}}, ("http", "outputs"), "reserved"),
    ],
    ids=[
        "relative-url-without-connection",
        "non-http-scheme",
        "credentials-in-url",
        "empty-url",
        "undefined-in-url",
        "undefined-in-body",
        "header-not-scalar",
        "header-newline",
        "header-name",
        "own-idempotency-key",
        "pointer-without-slash",
        "pointer-bad-escape",
        "status-output-reserved",
    ],
)
def test_render_errors_are_located(http: dict[str, Any], path: tuple[str, ...], text: str) -> None:
    with pytest.raises(TemplateError) as caught:
        RUNNER.render(dns_action(**http), SCOPES, Redactor([TOKEN]))
    assert caught.value.path == path
    assert text in caught.value.message


def test_relative_url_is_fine_with_a_connection() -> None:
    rendered = RUNNER.render(
        dns_action(url="v2/zones/{{ environment.dnsZone }}/records", connection="dns"), SCOPES, Redactor()
    )
    assert rendered["url"] == "v2/zones/staging.example.internal/records"


def test_secret_in_url_is_registered_in_encoded_forms() -> None:
    secret = "tok en/with+odd=chars"
    scopes = {**SCOPES, "secrets": {"dns-api": {"token": secret}}}
    redactor = Redactor([secret])
    action = dns_action(url="https://dns.example/v2?sig={{ secrets['dns-api'].token | urlencode }}")
    rendered = RUNNER.render(action, scopes, redactor)
    assert secret not in rendered["url"]  # urlencoded, so the plain value alone would not mask it
    assert redactor(rendered["url"]) == f"https://dns.example/v2?sig={MASK}"


# --- JSON pointers --------------------------------------------------------------------------------------------------
DOCUMENT = {"record": {"id": "rec-1", "fqdn": "a.b"}, "a/b": 1, "m~n": 2, "list": [10, 20], "": "empty-key"}


@pytest.mark.parametrize(
    ("pointer", "value"),
    [
        ("/record/fqdn", "a.b"),
        ("/record", {"id": "rec-1", "fqdn": "a.b"}),
        ("/a~1b", 1),
        ("/m~0n", 2),
        ("/list/1", 20),
        ("/", "empty-key"),
        ("", DOCUMENT),
    ],
    ids=["nested", "object", "escaped-slash", "escaped-tilde", "array-index", "empty-key", "whole-document"],
)
def test_pointer_resolves(pointer: str, value: Any) -> None:
    assert resolve_pointer(DOCUMENT, pointer) == value


@pytest.mark.parametrize(
    ("pointer", "text"),
    [
        ("/record/zone", "nothing at /record/zone"),
        ("/list/2", "no array element at /list/2"),
        ("/list/01", "no array element at /list/01"),
        ("/list/-", "no array element"),
        ("/record/id/x", "str, not an object or array"),
        ("record", "must start with '/'"),
    ],
    ids=["missing-member", "index-out-of-range", "leading-zero", "dash", "through-scalar", "malformed"],
)
def test_pointer_failures_name_the_place(pointer: str, text: str) -> None:
    with pytest.raises(PointerError, match=None) as caught:
        resolve_pointer(DOCUMENT, pointer)
    assert text in str(caught.value)


# --- classification -------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("status", "kind", "failure", "unknown", "retry"),
    [
        (429, HttpErrorKind.TEMPORARY, "RateLimited", False, 7.0),
        (500, HttpErrorKind.TEMPORARY, "ServerError", True, None),
        (503, HttpErrorKind.TEMPORARY, "ServerError", True, 7.0),
        (401, HttpErrorKind.AUTH, "AuthFailed", False, None),
        (403, HttpErrorKind.AUTH, "AuthFailed", False, None),
        (404, HttpErrorKind.PERMANENT, "ClientError", False, None),
        (409, HttpErrorKind.PERMANENT, "ClientError", False, None),
        (422, HttpErrorKind.PERMANENT, "ClientError", False, None),
        (302, HttpErrorKind.PERMANENT, "ClientError", False, None),
    ],
    ids=["429", "500", "503", "401", "403", "404", "409", "422", "redirect"],
)
def test_status_classification(
    status: int, kind: HttpErrorKind, failure: str, unknown: bool, retry: float | None
) -> None:
    error = error_for_status("POST", "https://x/y", status, "Reason", b'{"error":"nope"}', retry, Redactor())
    assert (error.kind, error.failure, error.outcome_unknown, error.status) == (kind, failure, unknown, status)
    assert error.retry_after == (retry if kind == HttpErrorKind.TEMPORARY else None)
    assert error.message == f'POST https://x/y answered {status} Reason: {{"error":"nope"}}'
    assert error.rate_limited == (status == 429)


# --- Retry-After ----------------------------------------------------------------------------------------------------
NOW = datetime(2025, 3, 1, 12, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        ("7", 7.0),
        (" 1.5 ", 1.5),
        ("-3", 0.0),
        ("0", 0.0),
        ("999999", MAX_RETRY_AFTER),
        (format_datetime(datetime(2025, 3, 1, 12, 0, 42, tzinfo=UTC), usegmt=True), 42.0),
        ("Sat, 01 Mar 2025 11:00:00 GMT", 0.0),
        ("soon", None),
        ("nan", None),
        ("", None),
        (None, None),
    ],
    ids=[
        "seconds",
        "fraction",
        "negative",
        "zero",
        "capped",
        "http-date",
        "date-past",
        "garbage",
        "nan",
        "empty",
        "absent",
    ],
)
def test_retry_after(header: str | None, seconds: float | None) -> None:
    assert parse_retry_after(header, now=NOW.timestamp) == seconds


# --- redaction ------------------------------------------------------------------------------------------------------
def test_excerpt_is_redacted_before_it_is_cut() -> None:
    secret = "canary-connection-secret-0a9f"
    body = ("x" * 190 + secret + " tail").encode()
    excerpt = body_excerpt(body, Redactor([secret]))
    assert secret[:8] not in excerpt  # the secret straddles the cut: nothing of it may show
    assert MASK in excerpt
    assert len(excerpt) <= 200


def test_excerpt_masks_echoed_credentials_and_is_one_line() -> None:
    body = b'{"error": "bad token",\n "received": "Bearer abcdefgh12345678", "authorization": "Basic dXNlcjpwdw=="}'
    excerpt = body_excerpt(body, Redactor())
    assert "abcdefgh12345678" not in excerpt and "dXNlcjpwdw==" not in excerpt
    assert "\n" not in excerpt


def test_error_message_redacts_url_and_body() -> None:
    redactor = Redactor(["s3cret-value"])
    error = error_for_status("PUT", redactor("https://x/?k=s3cret-value"), 400, "", b"s3cret-value", None, redactor)
    assert "s3cret-value" not in error.message
    assert error.message == f"PUT https://x/?k={MASK} answered 400: {MASK}"


# --- connections ----------------------------------------------------------------------------------------------------
CANARY = "canary-conn-value-5d2c8e"


@pytest.mark.parametrize(
    ("data", "text"),
    [
        ({}, "no key baseUrl"),
        ({"baseUrl": "dns.example.com"}, "absolute http(s) URL"),
        ({"baseUrl": f"https://dns.example.com/?k={CANARY}"}, "without query"),
        ({"baseUrl": f"https://u:{CANARY}@dns.example.com"}, "must not carry credentials"),
        ({"baseUrl": "https://d", "username": "bot"}, "username and password"),
        ({"baseUrl": "https://d", "token": CANARY, "username": "u", "password": CANARY}, "not both"),
        ({"baseUrl": "https://d", "insecureSkipVerify": "yes"}, "'true' or 'false'"),
        ({"baseUrl": "https://d", "headers": f"[{CANARY}]"}, "map of header names"),
        ({"baseUrl": "https://d", "headers": f"{{X-Key: {CANARY}"}, "map of header names"),
        ({"baseUrl": "https://d", "headers": 'X-Key: "a\\nb"'}, "several lines"),
    ],
    ids=[
        "no-base",
        "not-absolute",
        "query",
        "userinfo",
        "user-without-password",
        "token-and-user",
        "bad-bool",
        "headers-list",
        "headers-yaml-error",
        "header-newline",
    ],
)
def test_bad_connection_secret_names_key_never_value(data: dict[str, str], text: str) -> None:
    with pytest.raises(ValueError) as caught:
        connection_from_secret("dns", data)
    assert text in str(caught.value)
    assert CANARY not in str(caught.value)


def test_connection_credentials_and_redaction() -> None:
    token = connection_from_secret(
        "dns", {"baseUrl": "https://d/api/", "token": CANARY, "headers": "X-Key: hdr-canary-1"}
    )
    assert token.base_url == "https://d/api"
    assert token.credential_headers() == {"X-Key": "hdr-canary-1", "Authorization": f"Bearer {CANARY}"}
    assert CANARY not in repr(token) and "hdr-canary-1" not in repr(token)
    assert token.redactor()(f"{CANARY} hdr-canary-1") == f"{MASK} {MASK}"
    basic = connection_from_secret("dns", {"baseUrl": "https://d", "username": "bot", "password": CANARY})
    assert basic.credential_headers() == {"Authorization": "Basic Ym90OmNhbmFyeS1jb25uLXZhbHVlLTVkMmM4ZQ=="}
    assert MASK in basic.redactor()("Ym90OmNhbmFyeS1jb25uLXZhbHVlLTVkMmM4ZQ==")


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as opened:
        yield opened


def _client(session: aiohttp.ClientSession, connection: HttpConnection | None) -> HttpClient:
    breaker = CircuitBreaker(failure_threshold=3, reset_after=1.0)
    return HttpClient(connection, session, breaker, timeout=1.0, max_response_bytes=4096, label="test")


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("v2/zones/z/records", "https://dns.example/api/v2/zones/z/records"),
        ("/v2/zones", "https://dns.example/api/v2/zones"),
        ("", "https://dns.example/api"),
        ("https://dns.example/api/v2/x", "https://dns.example/api/v2/x"),
        ("https://dns.example/apix/v2", None),
        ("https://evil.example/api/v2", None),
        ("//evil.example/api", None),
    ],
    ids=["relative", "leading-slash", "empty", "absolute-inside", "prefix-trick", "other-host", "scheme-relative"],
)
async def test_urls_stay_under_the_connection(session: aiohttp.ClientSession, url: str, expected: str | None) -> None:
    client = _client(session, HttpConnection("dns", "https://dns.example/api", token=CANARY))
    if expected is None:
        with pytest.raises(HttpCallError) as caught:
            client.resolve(url)
        assert caught.value.kind == HttpErrorKind.PERMANENT
    else:
        assert client.resolve(url) == expected


async def test_connection_less_client_needs_absolute_urls(session: aiohttp.ClientSession) -> None:
    client = _client(session, None)
    assert client.resolve("https://hooks.example/x") == "https://hooks.example/x"
    with pytest.raises(HttpCallError):
        client.resolve("relative/path")
