"""Plain data and error types of the HTTP adapter, importable without aiohttp.

The action layer depends on these (and on a Protocol), never on the HTTP library itself.
"""

from __future__ import annotations

import email.utils
import enum
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import yaml

from ..redaction import Redactor

MAX_EXCERPT = 200
"""Longest response-body excerpt put into a message (after redaction)."""
MAX_RETRY_AFTER = 3600.0
"""A server's Retry-After is honoured up to this many seconds; longer values are capped."""


class HttpConnectionUnavailable(Exception):
    """The named connection is not configured (no Secret) or its Secret is unusable; the message names the key."""


class HttpErrorKind(enum.Enum):
    """The three retry meanings of a failed call."""

    TEMPORARY = "temporary"
    """Rate limit, 5xx, timeout, connection refused/reset, breaker open: back off and call again."""
    PERMANENT = "permanent"
    """Other 4xx, TLS verification failure, invalid URL, unusable response: a person must act."""
    AUTH = "auth"
    """401/403: the credentials were refused; re-checked later (the Secret may be fixed)."""


class HttpCallError(Exception):
    """A failed HTTP call, classified. ``message`` is redacted and safe for status, events and logs.

    ``failure`` is a short CamelCase name for metrics (RateLimited, ServerError, Timeout, ...).
    ``outcome_unknown`` is True when the server may have carried the request out (no response, a timeout,
    a reset after sending, a 5xx): the same request is then re-sent with the same Idempotency-Key.
    """

    def __init__(
        self,
        kind: HttpErrorKind,
        message: str,
        *,
        failure: str,
        status: int | None = None,
        retry_after: float | None = None,
        outcome_unknown: bool = False,
    ) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.failure = failure
        self.status = status
        self.retry_after = retry_after
        self.outcome_unknown = outcome_unknown

    @property
    def rate_limited(self) -> bool:
        return self.failure == "RateLimited"


@dataclass(frozen=True)
class HttpResponse:
    """A response with one of the action's success codes."""

    status: int
    body: bytes
    content_type: str = ""

    def json(self) -> Any:
        """The body parsed as JSON; ``ValueError`` when it is empty or not JSON."""
        if not self.body.strip():
            raise ValueError("the response body is empty")
        try:
            return json.loads(self.body)
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            raise ValueError(f"the response body is not JSON ({error.__class__.__name__})") from None


def is_absolute_http_url(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme.lower() in ("http", "https") and bool(parts.hostname)


@dataclass(frozen=True)
class HttpConnection:
    """A named connection, read from a Secret: ``baseUrl`` and optional credentials, extra headers and trust."""

    name: str
    base_url: str
    token: str | None = field(default=None, repr=False)
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    headers: Mapping[str, str] = field(default_factory=dict, repr=False)
    """Extra header values; all treated as secret."""
    ca_bundle: str | None = field(default=None, repr=False)
    insecure_skip_verify: bool = False

    def secret_values(self) -> list[str]:
        """Every credential value (and the basic-auth pair), for redaction."""
        values = [v for v in (self.token, self.password) if v]
        values.extend(v for v in self.headers.values() if v)
        if self.username and self.password:
            values.append(f"{self.username}:{self.password}")
        return values

    def redactor(self) -> Redactor:
        return Redactor(self.secret_values())

    def credential_headers(self) -> dict[str, str]:
        """Headers the connection adds to every call (extra headers, then the Authorization it implies)."""
        headers = dict(self.headers)
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        elif self.username and self.password:
            import base64

            pair = base64.b64encode(f"{self.username}:{self.password}".encode()).decode()
            headers["Authorization"] = f"Basic {pair}"
        return headers


def _extra_headers(text: str) -> dict[str, str]:
    problem = "key headers must be a YAML or JSON map of header names to string values"
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError:
        raise ValueError(problem) from None
    if data is None:
        return {}
    if not isinstance(data, Mapping):
        raise ValueError(problem)
    headers: dict[str, str] = {}
    for name, value in data.items():
        if not isinstance(name, str) or not name or isinstance(value, Mapping | list) or value is None:
            raise ValueError(problem)
        text_value = str(value).lower() if isinstance(value, bool) else str(value)
        if "\n" in text_value or "\r" in text_value:
            raise ValueError(f"key headers: the value of header '{name}' spans several lines")
        headers[name] = text_value
    return headers


def connection_from_secret(name: str, data: Mapping[str, str]) -> HttpConnection:
    """An ``HttpConnection`` from a Secret's decoded data. ``ValueError`` names the bad key, never a value."""
    base_url = (data.get("baseUrl") or "").strip()
    if not base_url:
        raise ValueError("the Secret has no key baseUrl")
    parts = urlsplit(base_url)
    if not is_absolute_http_url(base_url) or parts.query or parts.fragment:
        raise ValueError("key baseUrl must be an absolute http(s) URL without query or fragment")
    if parts.username or parts.password:
        raise ValueError("key baseUrl must not carry credentials; use the keys token or username/password")
    token = data.get("token") or None
    username = data.get("username") or None
    password = data.get("password") or None
    if (username is None) != (password is None):
        raise ValueError("keys username and password must be set together")
    if token and username:
        raise ValueError("set either key token or keys username/password, not both")
    skip = (data.get("insecureSkipVerify") or "false").strip().lower()
    if skip not in ("true", "false"):
        raise ValueError("key insecureSkipVerify must be 'true' or 'false'")
    return HttpConnection(
        name=name,
        base_url=base_url.rstrip("/"),
        token=token,
        username=username,
        password=password,
        headers=_extra_headers(data.get("headers") or ""),
        ca_bundle=(data.get("caBundle") or "").strip() or None,
        insecure_skip_verify=skip == "true",
    )


def parse_retry_after(
    value: str | None, now: Callable[[], float] = time.time, cap: float | None = MAX_RETRY_AFTER
) -> float | None:
    """Seconds from a ``Retry-After`` header: delta-seconds or an HTTP-date; None when absent or unreadable.

    ``cap`` bounds what a server may ask for (None: no bound)."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        try:
            moment = email.utils.parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
        if moment.tzinfo is None:  # an HTTP-date is always GMT; a zone-less one is read as such
            return None
        seconds = moment.timestamp() - now()
    if seconds != seconds:  # NaN
        return None
    seconds = max(seconds, 0.0)
    return seconds if cap is None else min(seconds, cap)


def body_excerpt(body: bytes, redact: Redactor, limit: int = MAX_EXCERPT) -> str:
    """A one-line, redacted excerpt of a response body. Redacted before it is cut, so no secret is half-shown."""
    text = " ".join(body[: limit * 20].decode("utf-8", errors="replace").split())
    text = redact(text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def error_for_status(
    method: str, display_url: str, status: int, reason: str, body: bytes, retry_after: float | None, redact: Redactor
) -> HttpCallError:
    """Classify a response whose code is not one of the action's success codes.

    429 and 5xx are temporary (5xx: the outcome is unknown), 401/403 are auth failures, anything else
    (other 4xx, an unexpected 1xx-3xx) is permanent.
    """
    excerpt = body_excerpt(body, redact)
    message = f"{method} {display_url} answered {status}{' ' + reason if reason else ''}"
    if excerpt:
        message = f"{message}: {excerpt}"
    if status == 429:
        return HttpCallError(
            HttpErrorKind.TEMPORARY, message, failure="RateLimited", status=status, retry_after=retry_after
        )
    if status >= 500:
        return HttpCallError(
            HttpErrorKind.TEMPORARY,
            message,
            failure="ServerError",
            status=status,
            retry_after=retry_after,
            outcome_unknown=True,
        )
    if status in (401, 403):
        return HttpCallError(HttpErrorKind.AUTH, message, failure="AuthFailed", status=status)
    return HttpCallError(HttpErrorKind.PERMANENT, message, failure="ClientError", status=status)
