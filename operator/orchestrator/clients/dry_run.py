"""Dry-run JIRA and HTTP backends (``devctl simulate``): what the action runners send is recorded, never sent.

JIRA: ``DryRunJira`` satisfies the action's ``JiraGateway``. A create records the exact fields the real client
would POST (``/rest/api/2/issue``, body ``{"fields": ...}``) and answers with a key such as ``DBA-1``; a label
search finds nothing (no ticket exists before the simulation); the next read of the ticket finds it done, with the
resolution and fields its ``TicketCompletion`` says, as if a person had completed it.

HTTP: ``DryRunHttpPool`` is the operator's ``HttpConnectionPool`` (connections from labelled Secrets, URL
resolution, credential headers, body encoding, the success-code check all stay the real ones) whose clients record
each call and answer it with the action's first success code and a given JSON document instead of sending it.

Connections that no Secret configures get a stand-in at ``https://<connection>.dry-run.invalid`` (the ``.invalid``
top-level domain never resolves), and a note saying so.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..config import Settings
from ..metrics import Metrics
from ..redaction import Redactor, merged
from .circuit import CircuitBreaker
from .http import HttpClient, HttpConnectionPool, outgoing, ssl_context
from .http_types import HttpConnection, HttpResponse, error_for_status
from .jira import connection_from_secret, ticket_url
from .jira_types import ConnectionUnavailable, JiraConnection, Ticket
from .kubernetes_types import SECRETS, KubernetesClient, decode_secret_data

DRY_RUN_DOMAIN = "dry-run.invalid"


def dry_run_url(connection: str) -> str:
    """The stand-in base URL of a connection that no Secret configures."""
    return f"https://{connection}.{DRY_RUN_DOMAIN}"


@dataclass(frozen=True)
class TicketCompletion:
    """How a dry-run ticket is found when it is read back: done, with this resolution and these extra fields."""

    resolution: str = "Done"
    status: str = "Done"
    fields: Mapping[str, Any] = field(default_factory=dict)


@dataclass
class JiraCall:
    """One call a JIRA action made: ``operation`` is create, comment, transition or link."""

    connection: str
    operation: str
    key: str
    payload: dict[str, Any] = field(default_factory=dict)


@dataclass
class HttpExchange:
    """One HTTP call as it would have been sent (headers and body unredacted: redact before showing them)."""

    method: str
    url: str
    headers: dict[str, str]
    body: bytes | None
    status: int
    response: Any
    connection: str | None
    secret_headers: frozenset[str] = frozenset()
    """Lower-cased names of the headers the connection adds (credentials and its extra headers, all secret)."""


@dataclass
class DryRunJournal:
    """Everything the dry-run backends were asked to do, in order, and the notes on the stand-ins they used."""

    jira: list[JiraCall] = field(default_factory=list)
    http: list[HttpExchange] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def note(self, text: str) -> None:
        if text not in self.notes:
            self.notes.append(text)


class DryRunJira:
    """A JIRA connection that records and answers instead of calling JIRA (satisfies ``JiraGateway``)."""

    def __init__(
        self,
        connection: JiraConnection,
        journal: DryRunJournal,
        complete: Callable[[Mapping[str, Any]], TicketCompletion],
        numbers: Callable[[str], int],
        custom_fields: Collection[str] = (),
    ) -> None:
        self.connection = connection
        self._journal = journal
        self._complete = complete
        self._numbers = numbers
        self._custom_fields = tuple(custom_fields)
        self._created: dict[str, dict[str, Any]] = {}

    @property
    def redactor(self) -> Redactor:
        return self.connection.redactor()

    async def field_ids(self) -> dict[str, str]:
        """Custom fields keep the name the item gives them: a real JIRA maps names to ids (customfield_10010)."""
        return {str(name).lower(): str(name) for name in self._custom_fields}

    async def create_issue(self, fields: Mapping[str, Any]) -> Ticket:
        payload = json.loads(json.dumps(dict(fields)))  # exactly what goes over the wire as JSON
        project = str((payload.get("project") or {}).get("key") or "DRYRUN")
        key = f"{project}-{self._numbers(project)}"
        self._created[key] = payload
        self._journal.jira.append(JiraCall(self.connection.name, "create", key, payload))
        return self._ticket(key, "To Do", "new", "To Do", None, payload)

    async def get_issue(self, key: str) -> Ticket:
        payload = self._created.get(key, {})
        completion = self._complete(payload)
        fields = _merged_fields(payload, completion.fields)
        fields["resolution"] = {"name": completion.resolution}
        fields["status"] = {"name": completion.status, "statusCategory": {"key": "done", "name": "Done"}}
        return self._ticket(key, completion.status, "done", "Done", completion.resolution, fields)

    async def search_by_label(self, label: str, project: str | None = None) -> list[Ticket]:
        return []

    async def add_comment(self, key: str, body: str) -> None:
        self._journal.jira.append(JiraCall(self.connection.name, "comment", key, {"body": body}))

    async def transition_to(self, key: str, status: str) -> bool:
        self._journal.jira.append(JiraCall(self.connection.name, "transition", key, {"status": status}))
        return True

    async def link(self, from_key: str, to_key: str, link_type: str = "Relates") -> None:
        self._journal.jira.append(JiraCall(self.connection.name, "link", from_key, {"to": to_key, "type": link_type}))

    def _ticket(
        self,
        key: str,
        status: str,
        category: str,
        category_name: str,
        resolution: str | None,
        fields: Mapping[str, Any],
    ) -> Ticket:
        return Ticket(
            key=key,
            url=ticket_url(self.connection, key),
            status=status,
            status_category=category,
            status_category_name=category_name,
            resolution=resolution,
            fields=dict(fields),
        )


def _merged_fields(created: Mapping[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    """The ticket's fields: what was created, with the extra (completion) fields filled in where nothing is set."""
    result = dict(created)
    for name, value in extra.items():
        current = result.get(name)
        if isinstance(current, Mapping) and isinstance(value, Mapping):
            result[name] = _merged_fields(current, value)
        elif name not in result:
            result[name] = value
    return result


class DryRunJiraConnections:
    """JIRA connections by name, from labelled Secrets (as the operator's pool reads them) or stand-ins.

    Call it as the JIRA runner's ``connections``: ``await connections("default")``.
    """

    def __init__(
        self,
        kube: KubernetesClient,
        settings: Settings,
        journal: DryRunJournal,
        complete: Callable[[Mapping[str, Any]], TicketCompletion],
        custom_fields: Collection[str] = (),
    ) -> None:
        self._kube = kube
        self._settings = settings
        self._journal = journal
        self._complete = complete
        self._custom_fields = tuple(custom_fields)
        self._clients: dict[str, DryRunJira] = {}
        self._counters: dict[str, itertools.count[int]] = {}

    def _number(self, project: str) -> int:
        return next(self._counters.setdefault(project, itertools.count(1)))

    async def __call__(self, name: str) -> DryRunJira:
        client = self._clients.get(name)
        if client is not None:
            return client
        label = self._settings.jira.connection_label
        namespace = self._settings.namespace
        secrets = await self._kube.list(SECRETS, namespace, label_selector=f"{label}={name}")
        if secrets:
            secret = sorted(secrets, key=lambda s: str(s.get("metadata", {}).get("name", "")))[0]
            try:
                connection = connection_from_secret(name, decode_secret_data(secret))
            except ValueError as error:
                raise ConnectionUnavailable(str(error)) from None
        else:
            connection = JiraConnection(name=name, url=dry_run_url(name), token="")
            self._journal.note(
                f"JIRA connection '{name}': no Secret labelled {label}={name} supplied (--secret-file); "
                f"ticket links use {connection.url}"
            )
        client = DryRunJira(connection, self._journal, self._complete, self._number, self._custom_fields)
        self._clients[name] = client
        return client


class DryRunHttpClient(HttpClient):
    """The operator's HTTP client for one connection (or origin), answering every call itself.

    URL resolution, credential headers and body encoding are the real client's; the answer is the first of the
    action's success codes with the journal's JSON document, so every output pointer resolves.
    """

    def __init__(
        self,
        connection: HttpConnection | None,
        pool: DryRunHttpPool,
        breaker: CircuitBreaker,
        *,
        timeout: float,
        max_response_bytes: int,
        label: str,
    ) -> None:
        super().__init__(
            connection,
            pool.unused_session,
            breaker,
            timeout=timeout,
            max_response_bytes=max_response_bytes,
            label=label,
        )
        self._pool = pool

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
        sent_headers, data = outgoing(self.connection, headers, body)
        status = next(iter(success_codes), 200)
        document = self._pool.response_document
        content = json.dumps(document).encode()
        own = self.connection.credential_headers() if self.connection is not None else {}
        self._pool.journal.http.append(
            HttpExchange(
                method,
                url,
                sent_headers,
                data,
                status,
                document,
                self.connection.name if self.connection is not None else None,
                frozenset(name.lower() for name in own),
            )
        )
        if status not in success_codes:  # an action with no success codes: the real check, the real message
            redact = merged(self.redactor, redactor) if redactor is not None else self.redactor
            raise error_for_status(method, redact(url), status, "", content, None, redact)
        return HttpResponse(status, content, "application/json")


class DryRunHttpPool(HttpConnectionPool):
    """The operator's HTTP connection pool with dry-run clients; connections without a Secret get a stand-in."""

    def __init__(
        self,
        kube: KubernetesClient,
        settings: Settings,
        metrics: Metrics,
        journal: DryRunJournal,
        response_document: Any,
    ) -> None:
        super().__init__(kube, settings, metrics)
        self._secrets = kube
        self.journal = journal
        self.response_document = response_document
        self._stand_ins: dict[str, HttpClient] = {}
        self.unused_session = self._session(ssl_context(None))
        """Handed to the clients because the base class wants one; never used for a call."""

    def _client(self, connection: HttpConnection | None, session: Any, label: str) -> HttpClient:
        return DryRunHttpClient(
            connection,
            self,
            self._breakers.get(label),
            timeout=self._settings.http.call_timeout,
            max_response_bytes=self._settings.http.max_response_bytes,
            label=f"HTTP connection '{label}'" if connection is not None else label,
        )

    async def get(self, name: str) -> HttpClient:
        label = self._settings.http.connection_label
        namespace = self._settings.namespace
        if await self._secrets.list(SECRETS, namespace, label_selector=f"{label}={name}"):
            return await super().get(name)
        client = self._stand_ins.get(name)
        if client is None:
            connection = HttpConnection(name=name, base_url=dry_run_url(name))
            client = self._client(connection, self.unused_session, name)
            self._stand_ins[name] = client
            self._journal_note(name, label, connection.base_url)
        return client

    def _journal_note(self, name: str, label: str, base_url: str) -> None:
        self.journal.note(
            f"HTTP connection '{name}': no Secret labelled {label}={name} supplied (--secret-file); using {base_url}"
        )

    async def close(self) -> None:
        await super().close()
        await self.unused_session.close()
