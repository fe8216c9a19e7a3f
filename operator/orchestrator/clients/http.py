"""The HTTP adapter of the HTTP action: native async calls (aiohttp) with a timeout, error classes and a breaker.

Connections are named and read from Secrets in the operator namespace labelled ``settings.http.connection_label``
(the label value is the name), cached for ``settings.secret_cache_ttl``. Each connection has its own session (its
own trust: ``caBundle``, ``insecureSkipVerify``) and its own circuit breaker, which outlives Secret changes. Calls
without a connection go to absolute URLs with default trust and no credentials, one breaker per origin.

Every call: no redirects are followed (credentials must not travel to another host), no cookies are kept (calls for
different requests must not share state), the body read is bounded. Messages name the method, the redacted URL and
the status; header values and credentials never appear in them or in logs.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import ssl
import time
from collections.abc import Callable, Collection, Mapping
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from ..config import Settings
from ..metrics import Metrics
from ..redaction import Redactor, merged
from .circuit import CircuitBreaker, CircuitBreakers
from .http_types import (
    HttpCallError,
    HttpConnection,
    HttpConnectionUnavailable,
    HttpErrorKind,
    HttpResponse,
    connection_from_secret,
    error_for_status,
    is_absolute_http_url,
    parse_retry_after,
)
from .kubernetes import SECRETS, KubernetesClient, decode_secret_data

log = logging.getLogger(__name__)

USER_AGENT = "platform-orchestrator"


def ssl_context(connection: HttpConnection | None) -> ssl.SSLContext:
    """Verification on (system trust) plus the connection's ``caBundle``; off only with ``insecureSkipVerify``."""
    context = ssl.create_default_context()
    if connection is None:
        return context
    if connection.ca_bundle:
        try:
            context.load_verify_locations(cadata=connection.ca_bundle)
        except (ssl.SSLError, ValueError):
            raise HttpConnectionUnavailable("key caBundle is not a PEM certificate bundle") from None
    if connection.insecure_skip_verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme.lower()}://{(parts.hostname or '').lower()}:{parts.port or ''}"


def _encode_body(body: Any, headers: dict[str, str]) -> bytes | None:
    if body is None:
        return None
    if isinstance(body, bytes):
        return body
    if isinstance(body, str):
        return body.encode()
    if not any(name.lower() == "content-type" for name in headers):
        headers["Content-Type"] = "application/json"
    return json.dumps(body, ensure_ascii=False).encode()


def outgoing(
    connection: HttpConnection | None, headers: Mapping[str, str], body: Any
) -> tuple[dict[str, str], bytes | None]:
    """The headers and body bytes of a call: the connection's own headers (credentials included), overridden
    case-insensitively by the call's; ``body`` as JSON (with its Content-Type) unless it is a string or bytes."""
    merged_headers: dict[str, str] = {}
    own = connection.credential_headers() if connection is not None else {}
    given = {name.lower() for name in headers}
    merged_headers.update({k: v for k, v in own.items() if k.lower() not in given})
    merged_headers.update(headers)
    return merged_headers, _encode_body(body, merged_headers)


class HttpClient:
    """Calls through one connection, or (``connection`` None) to absolute URLs of one origin."""

    def __init__(
        self,
        connection: HttpConnection | None,
        session: aiohttp.ClientSession,
        breaker: CircuitBreaker,
        *,
        timeout: float,
        max_response_bytes: int,
        label: str,
    ) -> None:
        self.connection = connection
        self._session = session
        self._breaker = breaker
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._max_response_bytes = max_response_bytes
        self._label = label
        self._redactor = connection.redactor() if connection is not None else Redactor()

    @property
    def redactor(self) -> Redactor:
        return self._redactor

    def secret_values(self) -> list[str]:
        """The connection's credential values, for callers to register in their own redactor."""
        return self.connection.secret_values() if self.connection is not None else []

    def resolve(self, url: str) -> str:
        """The absolute URL of a call: a relative ``url`` is joined to the connection's base URL.

        With a connection, an absolute URL must lie under its base URL (its credentials go nowhere else).
        Raises a permanent ``HttpCallError`` otherwise.
        """
        if self.connection is None:
            if not is_absolute_http_url(url):
                raise HttpCallError(
                    HttpErrorKind.PERMANENT,
                    "the url is not an absolute http(s) URL and the action names no connection",
                    failure="InvalidUrl",
                )
            return url
        base = self.connection.base_url
        if is_absolute_http_url(url):
            if url != base and not url.startswith(base + "/") and not url.startswith(base + "?"):
                raise HttpCallError(
                    HttpErrorKind.PERMANENT,
                    f"the url is outside the base URL of connection '{self.connection.name}'; "
                    "use a path relative to it",
                    failure="InvalidUrl",
                )
            return url
        if urlsplit(url).scheme or url.startswith("//"):
            raise HttpCallError(
                HttpErrorKind.PERMANENT, "the url must be http(s) or a relative path", failure="InvalidUrl"
            )
        return f"{base}/{url.lstrip('/')}" if url else base

    async def send(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str],
        body: Any,
        success_codes: Collection[int],
        *,
        redactor: Redactor | None = None,
    ) -> HttpResponse:
        """One call. Returns the response when its code is a success code, else raises ``HttpCallError``.

        ``url`` is absolute (see ``resolve``); ``headers`` override the connection's own (case-insensitively);
        ``body`` is sent as JSON unless it is a string or bytes. ``redactor`` masks the caller's secrets too.
        """
        redact = merged(self._redactor, redactor) if redactor is not None else self._redactor
        display = redact(url)
        wait = self._breaker.acquire()
        if wait is not None:
            raise HttpCallError(
                HttpErrorKind.TEMPORARY,
                f"{method} {display}: the circuit breaker of {self._label} is open after repeated failures",
                failure="CircuitOpen",
                retry_after=wait,
            )
        merged_headers, data = outgoing(self.connection, headers, body)
        started = time.monotonic()
        try:
            async with self._session.request(
                method,
                url,
                headers=merged_headers,
                data=data,
                allow_redirects=False,
                timeout=self._timeout,
            ) as response:
                content = await self._read(response, method, display)
                status, reason = response.status, response.reason or ""
                retry_after = parse_retry_after(response.headers.get("Retry-After"))
                content_type = response.headers.get("Content-Type", "")
        except HttpCallError:
            self._breaker.neutral()
            raise
        except aiohttp.ClientConnectorCertificateError as error:
            self._breaker.neutral()
            detail = getattr(error.certificate_error, "verify_message", "") or "verification failed"
            raise HttpCallError(
                HttpErrorKind.PERMANENT,
                f"{method} {display}: TLS certificate verification failed ({redact(str(detail))}); "
                "add the server's CA to the connection's caBundle",
                failure="TlsVerificationFailed",
            ) from None
        except aiohttp.ClientConnectorSSLError as error:
            self._breaker.neutral()
            raise HttpCallError(
                HttpErrorKind.PERMANENT,
                f"{method} {display}: TLS handshake failed ({redact(type(error.os_error).__name__)})",
                failure="TlsHandshakeFailed",
            ) from None
        except aiohttp.ConnectionTimeoutError:
            self._breaker.failure()
            raise HttpCallError(
                HttpErrorKind.TEMPORARY, f"{method} {display}: connecting timed out", failure="ConnectTimeout"
            ) from None
        except TimeoutError:
            self._breaker.failure()
            raise HttpCallError(
                HttpErrorKind.TEMPORARY,
                f"{method} {display}: no response within {self._timeout.total:g}s",
                failure="Timeout",
                outcome_unknown=True,
            ) from None
        except aiohttp.ClientConnectorError as error:
            self._breaker.failure()
            reason_text = error.os_error.strerror or type(error.os_error).__name__
            raise HttpCallError(
                HttpErrorKind.TEMPORARY,
                f"{method} {display}: cannot connect ({redact(str(reason_text))})",
                failure="ConnectionFailed",
            ) from None
        except (aiohttp.InvalidURL, aiohttp.NonHttpUrlClientError):
            self._breaker.neutral()
            raise HttpCallError(
                HttpErrorKind.PERMANENT, f"{method} {display}: not a valid http(s) URL", failure="InvalidUrl"
            ) from None
        except (aiohttp.ClientError, OSError) as error:
            # Reset, disconnect or a broken body after the request went out: the server may have acted on it.
            self._breaker.failure()
            raise HttpCallError(
                HttpErrorKind.TEMPORARY,
                f"{method} {display}: the connection broke before the response was complete ({type(error).__name__})",
                failure="ConnectionReset",
                outcome_unknown=True,
            ) from None
        elapsed = (time.monotonic() - started) * 1000
        log.debug("HTTP %s %s -> %s (%.0f ms)", method, display, status, elapsed)
        if status in success_codes:
            self._breaker.success()
            return HttpResponse(status, content, content_type)
        failed = error_for_status(method, display, status, reason, content, retry_after, redact)
        if failed.kind == HttpErrorKind.TEMPORARY:
            self._breaker.failure()
        else:
            self._breaker.neutral()
        raise failed

    async def _read(self, response: aiohttp.ClientResponse, method: str, display: str) -> bytes:
        chunks: list[bytes] = []
        size = 0
        async for chunk in response.content.iter_chunked(65536):
            size += len(chunk)
            if size > self._max_response_bytes:
                raise HttpCallError(
                    HttpErrorKind.PERMANENT,
                    f"{method} {display} answered {response.status} with more than {self._max_response_bytes} "
                    "bytes (the operator's http.maxResponseBytes)",
                    failure="ResponseTooLarge",
                    status=response.status,
                )
            chunks.append(chunk)
        return b"".join(chunks)


class HttpConnectionPool:
    """HTTP clients by connection name (from labelled Secrets) and by origin (for calls without a connection)."""

    def __init__(
        self,
        kube: KubernetesClient,
        settings: Settings,
        metrics: Metrics,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._kube = kube
        self._settings = settings
        self._metrics = metrics
        self._clock = clock
        self._clients: dict[str, tuple[float, str, HttpClient, aiohttp.ClientSession]] = {}
        self._direct: dict[str, HttpClient] = {}
        self._direct_session: aiohttp.ClientSession | None = None
        self._breakers = CircuitBreakers(
            failure_threshold=settings.http.breaker_failure_threshold,
            reset_after=settings.http.breaker_reset,
            on_change=lambda name, state: metrics.set_breaker("http", name, state),
        )
        self._retiring: dict[asyncio.Task[None], aiohttp.ClientSession] = {}
        self._lock = asyncio.Lock()

    def breaker_states(self) -> dict[str, str]:
        return self._breakers.states()

    def _session(self, context: ssl.SSLContext) -> aiohttp.ClientSession:
        return aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(ssl=context, limit=32),
            headers={"User-Agent": USER_AGENT},
            cookie_jar=aiohttp.DummyCookieJar(),
            trust_env=False,
        )

    def _client(self, connection: HttpConnection | None, session: aiohttp.ClientSession, label: str) -> HttpClient:
        return HttpClient(
            connection,
            session,
            self._breakers.get(label),
            timeout=self._settings.http.call_timeout,
            max_response_bytes=self._settings.http.max_response_bytes,
            label=f"HTTP connection '{label}'" if connection is not None else label,
        )

    async def get(self, name: str) -> HttpClient:
        """The client for connection ``name``; ``HttpConnectionUnavailable`` says why there is none."""
        cached = self._clients.get(name)
        if cached is not None and self._clock() - cached[0] < self._settings.secret_cache_ttl:
            return cached[2]
        async with self._lock:
            cached = self._clients.get(name)  # again: the caller this one waited for may have just read it
            if cached is not None and self._clock() - cached[0] < self._settings.secret_cache_ttl:
                return cached[2]
            label = self._settings.http.connection_label
            namespace = self._settings.namespace
            secrets = await self._kube.list(SECRETS, namespace, label_selector=f"{label}={name}")
            if not secrets:
                self._retire(self._clients.pop(name, None))
                raise HttpConnectionUnavailable(f"no Secret labelled {label}={name} in namespace {namespace}")
            secret = sorted(secrets, key=lambda s: str(s.get("metadata", {}).get("name", "")))[0]
            version = str(secret.get("metadata", {}).get("resourceVersion", ""))
            if cached is not None and cached[1] == version:
                self._clients[name] = (self._clock(), version, cached[2], cached[3])
                return cached[2]
            secret_name = str(secret.get("metadata", {}).get("name", ""))
            try:
                connection = connection_from_secret(name, decode_secret_data(secret))
                context = ssl_context(connection)
            except ValueError as error:
                raise HttpConnectionUnavailable(f"Secret {namespace}/{secret_name}: {error}") from None
            except HttpConnectionUnavailable as error:
                raise HttpConnectionUnavailable(f"Secret {namespace}/{secret_name}: {error}") from None
            if connection.insecure_skip_verify:
                log.warning(
                    "HTTP connection '%s' (Secret %s/%s) has insecureSkipVerify: TLS certificates are NOT verified",
                    name,
                    namespace,
                    secret_name,
                )
            session = self._session(context)
            client = self._client(connection, session, name)
            self._retire(cached)
            self._clients[name] = (self._clock(), version, client, session)
            return client

    async def direct(self, url: str) -> HttpClient:
        """The client for an absolute URL without a connection (default trust, no credentials)."""
        origin = _origin(url)
        client = self._direct.get(origin)
        if client is None:
            if self._direct_session is None:
                self._direct_session = self._session(ssl_context(None))
            client = self._client(None, self._direct_session, origin)
            self._direct[origin] = client
        return client

    def _retire(self, cached: tuple[float, str, HttpClient, aiohttp.ClientSession] | None) -> None:
        """Close a replaced session once calls still in flight on it have had their timeout."""
        if cached is None:
            return
        session = cached[3]

        async def close_later() -> None:
            await asyncio.sleep(self._settings.http.call_timeout + 1)
            await session.close()

        task = asyncio.get_running_loop().create_task(close_later())
        self._retiring[task] = session
        task.add_done_callback(lambda done: self._retiring.pop(done, None))

    async def close(self) -> None:
        sessions = list(self._retiring.values())
        for task in list(self._retiring):
            task.cancel()
        sessions.extend(entry[3] for entry in self._clients.values())
        if self._direct_session is not None:
            sessions.append(self._direct_session)
        self._clients.clear()
        self._direct.clear()
        self._direct_session = None
        for session in sessions:
            with contextlib.suppress(Exception):
                await session.close()
