"""The JIRA adapter: the `jira` library behind an async interface, with timeouts, error classes and a breaker.

Every call runs in a bounded thread pool (the library is blocking) with a connect/read timeout. The library's own
retries are disabled (``max_retries=0``): retrying is the operator's decision, per error class:

- 429 and 503 -> ``RATE_LIMITED`` / ``UNAVAILABLE`` with ``Retry-After`` when JIRA sends one (temporary);
- other 5xx, timeouts, dropped connections -> ``UNAVAILABLE`` (temporary; they count against the breaker);
- 401/403 -> ``AUTH`` (permanent until the credentials change); 404 -> ``NOT_FOUND``; other 4xx -> ``INVALID``.

Error text is rebuilt from JIRA's JSON error body and redacted: the library's own exception string carries the
request headers, Authorization included, so it is never used.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Executor
from typing import Any, TypeVar

from ..redaction import Redactor
from .circuit import CircuitBreaker
from .http_types import parse_retry_after
from .jira_types import JiraCallError, JiraConnection, JiraErrorKind, Ticket

T = TypeVar("T")
_MAX_MESSAGE = 400


def _retry_after(headers: Mapping[str, str]) -> float | None:
    """JIRA's Retry-After, uncapped (as this client has always read it)."""
    return parse_retry_after(headers.get("Retry-After") or headers.get("retry-after"), cap=None)


def _error_text(response: Any) -> str:
    """JIRA's own error messages from the response body (never headers)."""
    try:
        data = response.json()
    except Exception:
        text = str(getattr(response, "text", "") or "").strip()
        return text[:200] if text and not text.lstrip().startswith("<") else ""
    if not isinstance(data, Mapping):
        return ""
    parts = [str(m) for m in data.get("errorMessages") or [] if m]
    errors = data.get("errors")
    if isinstance(errors, Mapping):
        parts += [f"{k}: {v}" for k, v in errors.items()]
    for key in ("message", "errorMessage"):
        if data.get(key):
            parts.append(str(data[key]))
    return "; ".join(parts)


def classify(error: BaseException, operation: str, redact: Redactor) -> JiraCallError:
    """Turn anything the library or `requests` raised into a classified, redacted ``JiraCallError``."""
    import requests

    response = getattr(error, "response", None)
    status = getattr(error, "status_code", None) or getattr(response, "status_code", None)
    if isinstance(error, requests.Timeout):
        return JiraCallError(JiraErrorKind.UNAVAILABLE, f"JIRA {operation} timed out", outcome_unknown=True)
    if isinstance(error, requests.ConnectionError) and status is None:
        return JiraCallError(
            JiraErrorKind.UNAVAILABLE,
            f"JIRA {operation}: connection failed before a response arrived",
            outcome_unknown=True,
        )
    if not isinstance(status, int):
        name = type(error).__name__
        return JiraCallError(JiraErrorKind.UNAVAILABLE, f"JIRA {operation} failed: {name}", outcome_unknown=True)
    detail = redact(_error_text(response) if response is not None else "")[:_MAX_MESSAGE]
    suffix = f": {detail}" if detail else ""
    headers: Mapping[str, str] = getattr(response, "headers", None) or {}
    if status in (401, 403):
        what = "authentication failed" if status == 401 else "permission denied"
        return JiraCallError(JiraErrorKind.AUTH, f"JIRA {operation}: {what} (HTTP {status}){suffix}", status=status)
    if status == 429:
        return JiraCallError(
            JiraErrorKind.RATE_LIMITED,
            f"JIRA {operation}: rate limited (HTTP 429)",
            status=status,
            retry_after=_retry_after(headers),
        )
    if status >= 500:
        return JiraCallError(
            JiraErrorKind.UNAVAILABLE,
            f"JIRA {operation}: server error (HTTP {status}){suffix}",
            status=status,
            retry_after=_retry_after(headers),
            outcome_unknown=status != 503,
        )
    if status == 404:
        return JiraCallError(JiraErrorKind.NOT_FOUND, f"JIRA {operation}: not found (HTTP 404){suffix}", status=status)
    return JiraCallError(JiraErrorKind.INVALID, f"JIRA {operation}: rejected (HTTP {status}){suffix}", status=status)


def _ticket(raw: Mapping[str, Any], base_url: str) -> Ticket:
    fields = raw.get("fields") or {}
    status = fields.get("status") or {}
    category = status.get("statusCategory") or {}
    resolution = fields.get("resolution") or None
    return Ticket(
        key=str(raw["key"]),
        url=f"{base_url.rstrip('/')}/browse/{raw['key']}",
        status=str(status.get("name") or ""),
        status_category=str(category.get("key") or ""),
        status_category_name=str(category.get("name") or ""),
        resolution=str(resolution.get("name")) if isinstance(resolution, Mapping) else None,
        fields=dict(fields),
    )


class JiraClient:
    """One JIRA connection. Cheap to build; the library client is created lazily in a worker thread."""

    def __init__(
        self,
        connection: JiraConnection,
        *,
        timeout: float,
        executor: Executor,
        breaker: CircuitBreaker,
        slots: asyncio.Semaphore,
        record_call: Callable[[str, str], None] = lambda operation, code: None,
    ) -> None:
        self.connection = connection
        self._timeout = timeout
        self._executor = executor
        # One slot per worker thread of ``executor``: a call waits for a free worker here, outside its timeout.
        # Queued in the executor instead, a burst of calls would time out waiting for a thread (outcome unknown:
        # a create that was never sent would be searched for, then sent again).
        self._slots = slots
        self._breaker = breaker
        self._record_call = record_call
        self._redact = connection.redactor()
        self._library_client: Any = None
        self._field_ids: dict[str, str] | None = None
        self._field_ids_lock = asyncio.Lock()

    @property
    def redactor(self) -> Redactor:
        return self._redact

    def _client(self) -> Any:
        if self._library_client is None:
            from jira import JIRA

            options = {"server": self.connection.url, "verify": True}
            auth: dict[str, Any] = (
                {"basic_auth": (self.connection.user, self.connection.token)}
                if self.connection.user
                else {"token_auth": self.connection.token}
            )
            self._library_client = JIRA(
                options=options,
                timeout=self._timeout,
                max_retries=0,
                get_server_info=False,
                validate=False,
                **auth,
            )
        return self._library_client

    async def _call(self, operation: str, function: Callable[[Any], T], *, counts_for_breaker: bool = True) -> T:
        wait = self._breaker.acquire()
        if wait is not None:
            raise JiraCallError(
                JiraErrorKind.CIRCUIT_OPEN,
                f"JIRA connection '{self.connection.name}' is failing; circuit breaker open",
                retry_after=wait,
            )

        def run() -> T:
            return function(self._client())

        loop = asyncio.get_running_loop()
        try:
            async with self._slots:
                # The library's timeout bounds each HTTP call; the outer bound covers connect + read + a lookup.
                result = await asyncio.wait_for(loop.run_in_executor(self._executor, run), self._timeout * 3 + 5)
        except Exception as error:
            if isinstance(error, asyncio.TimeoutError | TimeoutError):
                failure = JiraCallError(JiraErrorKind.UNAVAILABLE, f"JIRA {operation} timed out", outcome_unknown=True)
            else:
                failure = classify(error, operation, self._redact)
            self._record_call(operation, str(failure.status or "error"))
            if failure.kind == JiraErrorKind.UNAVAILABLE and counts_for_breaker:
                self._breaker.failure()
            else:
                self._breaker.neutral()
            raise failure from None
        self._record_call(operation, "2xx")
        self._breaker.success()
        return result

    async def field_ids(self) -> dict[str, str]:
        """Custom field names (lower-cased) and ids -> id, fetched once per client (once however many ask at once)."""
        async with self._field_ids_lock:
            if self._field_ids is None:
                raw = await self._call("list fields", lambda c: c.fields())
                ids: dict[str, str] = {}
                for entry in raw:
                    ids[str(entry["id"]).lower()] = str(entry["id"])
                    if entry.get("name"):
                        ids.setdefault(str(entry["name"]).lower(), str(entry["id"]))
                self._field_ids = ids
            return self._field_ids

    async def create_issue(self, fields: Mapping[str, Any]) -> Ticket:
        """POST the issue once (no retries here). Raises ``JiraCallError`` (``outcome_unknown`` when unsure)."""
        payload = dict(fields)
        raw = await self._call("create issue", lambda c: c.create_issue(fields=payload, prefetch=False).raw)
        return _ticket(raw, self.connection.url)

    async def get_issue(self, key: str) -> Ticket:
        raw = await self._call("get issue", lambda c: c.issue(key).raw)
        return _ticket(raw, self.connection.url)

    async def search_by_label(self, label: str, project: str | None = None) -> list[Ticket]:
        """Issues carrying ``label`` (oldest first). Search may lag behind creates."""
        jql = f'labels = "{label}"' + (f' AND project = "{project}"' if project else "") + " ORDER BY created ASC"
        issues = await self._call("search issues", lambda c: [i.raw for i in c.search_issues(jql, maxResults=10)])
        return [_ticket(raw, self.connection.url) for raw in issues]

    async def add_comment(self, key: str, body: str) -> None:
        await self._call("add comment", lambda c: c.add_comment(key, self._redact(body)))

    async def transition_to(self, key: str, status: str) -> bool:
        """Move the issue to the status named ``status``; False when no transition leads there."""

        def run(client: Any) -> bool:
            for transition in client.transitions(key):
                target = (transition.get("to") or {}).get("name") or transition.get("name")
                if str(target).lower() == status.lower() or str(transition.get("name")).lower() == status.lower():
                    client.transition_issue(key, transition["id"])
                    return True
            return False

        return await self._call("transition issue", run)

    async def link(self, from_key: str, to_key: str, link_type: str = "Relates") -> None:
        await self._call("link issues", lambda c: c.create_issue_link(link_type, from_key, to_key))


def ticket_url(connection: JiraConnection, key: str) -> str:
    return f"{connection.url.rstrip('/')}/browse/{key}"


def connection_from_secret(name: str, data: Mapping[str, str]) -> JiraConnection:
    """Build a connection from decoded Secret data; raises ``ValueError`` naming the missing key."""
    url = (data.get("url") or "").strip()
    token = (data.get("token") or "").strip()
    user = (data.get("user") or data.get("email") or "").strip() or None
    missing: Sequence[str] = [key for key, value in (("url", url), ("token", token)) if not value]
    if missing:
        raise ValueError(f"the JIRA connection Secret for '{name}' has no {' or '.join(missing)}")
    close_status = (data.get("closeStatus") or "").strip() or None
    return JiraConnection(name=name, url=url, token=token, user=user, close_status=close_status)
