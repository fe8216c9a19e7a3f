"""The HTTP action: one call to an API (a webhook, an internal platform API), made idempotent with a key.

Idempotency (DESIGN.md "Fulfillment rules"): before any call but a GET, the action's status gets a pending marker
(its idempotency key) written to the API server, and the call carries the key as its ``Idempotency-Key`` header.
When the outcome is unknown (a timeout, a reset after sending, a 5xx) the call is re-sent with the same key, so a
server that honours the header carries it out once. A new key is used only for a new attempt: a retry of a failed
action, or a changed PUT/PATCH/DELETE.

Secrets: header values, the body and the URL may use the ``secrets`` scope and the connection's credentials; none of
them is ever put into status or messages: only the method, the redacted URL, the status code and a short redacted
excerpt of the response body are.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import quote, quote_plus, urlsplit

from ..api.actions import Action, HttpAction
from ..api.conditions import Reason
from ..api.service_request import ActionStatus, ExternalRef, idempotency_key
from ..clients.http_types import (
    HttpCallError,
    HttpConnection,
    HttpConnectionUnavailable,
    HttpErrorKind,
    HttpResponse,
    is_absolute_http_url,
)
from ..redaction import Redactor
from ..templates.analysis import uses_scope
from ..templates.engine import render_tree
from ..templates.errors import TemplateError
from .base import ActionContext, StepResult, TeardownPolicy, TeardownResult

IDEMPOTENCY_HEADER = "Idempotency-Key"
STATUS_OUTPUT = "status"
_HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
_UPDATABLE = frozenset({"PUT", "PATCH", "DELETE"})


class HttpGateway(Protocol):
    """What the action needs from an HTTP connection (``clients.http.HttpClient`` implements it)."""

    connection: HttpConnection | None

    def secret_values(self) -> list[str]: ...

    def resolve(self, url: str) -> str: ...

    async def send(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str],
        body: Any,
        success_codes: Collection[int],
        *,
        redactor: Redactor | None = None,
    ) -> HttpResponse: ...


class HttpConnections(Protocol):
    """Named connections and connection-less clients (``clients.http.HttpConnectionPool`` implements it)."""

    async def get(self, name: str) -> HttpGateway: ...

    async def direct(self, url: str) -> HttpGateway: ...


@dataclass(frozen=True)
class HttpTiming:
    auth_retry_interval: float
    """A call refused for its credentials (or a missing connection) is tried again after this long."""


class PointerError(ValueError):
    """A JSON pointer that is malformed or names nothing in the document."""


def check_pointer(pointer: str) -> list[str]:
    """The reference tokens of an RFC 6901 pointer (``""`` is the whole document). ``PointerError`` if malformed."""
    if pointer == "":
        return []
    if not pointer.startswith("/"):
        raise PointerError(f"'{pointer}' is not a JSON pointer (it must start with '/')")
    tokens = pointer[1:].split("/")
    for token in tokens:
        if re.search(r"~(?![01])", token):
            raise PointerError(f"'{pointer}' has a '~' that is not ~0 or ~1")
    return [token.replace("~1", "/").replace("~0", "~") for token in tokens]


def resolve_pointer(document: Any, pointer: str) -> Any:
    """The value at an RFC 6901 JSON pointer; ``PointerError`` naming the missing part."""
    value = document
    walked = ""
    for token in check_pointer(pointer):
        walked += "/" + token.replace("~", "~0").replace("/", "~1")
        if isinstance(value, Mapping):
            if token not in value:
                raise PointerError(f"the response has nothing at {walked}")
            value = value[token]
        elif isinstance(value, list):
            if not re.fullmatch(r"0|[1-9][0-9]*", token) or int(token) >= len(value):
                raise PointerError(f"the response has no array element at {walked} (length {len(value)})")
            value = value[int(token)]
        else:
            raise PointerError(f"the response has a {type(value).__name__}, not an object or array, above {walked}")
    return value


def _header_value(name: str, value: Any) -> str:
    if value is None or isinstance(value, Mapping | list):
        raise TemplateError("a header value must render to a string, number or boolean", path=("http", "headers", name))
    text = str(value).lower() if isinstance(value, bool) else str(value)
    if "\r" in text or "\n" in text:
        raise TemplateError("a header value must be a single line", path=("http", "headers", name))
    return text


def render_http(action: Action, scopes: Mapping[str, Any], redactor: Redactor) -> dict[str, Any]:
    """Method, URL, headers and body rendered; single-expression templates keep their type (a typed body).

    Header values, the URL and the body may read ``secrets``; the URL's encoded forms of those values are
    registered with ``redactor`` so the URL shown in status stays masked.
    """
    block = action.http
    assert block is not None
    for name in block.headers:
        if not _HEADER_NAME.match(name):
            raise TemplateError(f"'{name}' is not a valid HTTP header name", path=("http", "headers", name))
        if name.lower() == IDEMPOTENCY_HEADER.lower():
            raise TemplateError(
                f"the operator sets {IDEMPOTENCY_HEADER} itself (one key per attempt)",
                path=("http", "headers", name),
            )
    for name, pointer in block.outputs.items():
        if name == STATUS_OUTPUT:
            raise TemplateError(
                "the output name 'status' is reserved for the HTTP status code", path=("http", "outputs")
            )
        try:
            check_pointer(pointer)
        except PointerError as error:
            raise TemplateError(str(error), path=("http", "outputs", name)) from None
    source = {"url": block.url, "headers": dict(block.headers), "body": block.body}
    try:
        rendered: dict[str, Any] = render_tree(source, scopes)
    except TemplateError as error:
        raise error.located(("http", *error.path)) from error
    url = rendered["url"]
    if not isinstance(url, str) or not url.strip():
        raise TemplateError("the url must render to a non-empty string", path=("http", "url"))
    url = url.strip()
    parts = urlsplit(url)
    if is_absolute_http_url(url):
        if parts.username or parts.password:
            raise TemplateError("the url must not carry credentials; use a connection", path=("http", "url"))
    elif parts.scheme or url.startswith("//"):
        raise TemplateError("the url must be an http(s) URL or a path relative to a connection", path=("http", "url"))
    elif block.connection is None:
        raise TemplateError(
            "a relative url needs a connection (http.connection) whose baseUrl it is joined to",
            path=("http", "url"),
        )
    if uses_scope(block.url, "secrets"):
        values = [v for secret in (scopes.get("secrets") or {}).values() for v in secret.values()]
        redactor.add(encoded for v in values for encoded in (quote(v, safe=""), quote(v), quote_plus(v)))
    headers = {name: _header_value(name, value) for name, value in rendered["headers"].items()}
    return {"method": block.method, "url": url, "headers": headers, "body": rendered["body"]}


class HttpRunner:
    """Drives HTTP actions. Holds no per-request state: everything lives in the request's status."""

    type = "http"
    supports_update = True

    def __init__(self, connections: HttpConnections, timing: HttpTiming) -> None:
        self._connections = connections
        self._timing = timing

    # --- rendering ---------------------------------------------------------------------------------------------
    def render(self, action: Action, scopes: Mapping[str, Any], redactor: Redactor) -> dict[str, Any]:
        return render_http(action, scopes, redactor)

    # --- the call -----------------------------------------------------------------------------------------------
    async def run(
        self, action: Action, rendered: Mapping[str, Any], status: ActionStatus, ctx: ActionContext
    ) -> StepResult:
        block = action.http
        assert block is not None
        if status.state == "Succeeded":
            return StepResult(status)  # a finished call is sent again only through ``changed``
        try:
            client = await self._client(block, rendered)
        except HttpConnectionUnavailable as error:
            message = f"HTTP connection '{block.connection}': {ctx.redactor(str(error))}"
            return StepResult(
                status.model_copy(update={"message": message}),
                wait=self._timing.auth_retry_interval,
                stall_reason=Reason.CONNECTION_NOT_CONFIGURED,
                failure_reason=Reason.CONNECTION_NOT_CONFIGURED,
            )
        ctx.redactor.add(client.secret_values())
        method = block.method
        try:
            url = client.resolve(str(rendered["url"]))
        except HttpCallError as error:
            return self._failed_call(error, status, ctx)
        display = ctx.redactor(url)
        headers = dict(rendered.get("headers") or {})
        if method == "GET":
            if status.state == "Pending":
                status = self._started(status, ctx, f"sending GET {display}", key=None)
        else:
            if status.idempotency_key is None or status.state == "Pending":
                attempt = status.attempts + 1
                key = idempotency_key(ctx.uid, action.name, attempt)
                status = self._started(status, ctx, f"sending {method} {display}", key=key)
                # Record before acting: once this is stored, every later send of this attempt carries this key.
                await ctx.record_pending(status)
            headers[IDEMPOTENCY_HEADER] = str(status.idempotency_key)
        try:
            response = await client.send(
                method, url, headers, rendered.get("body"), block.success_codes, redactor=ctx.redactor
            )
        except HttpCallError as error:
            return self._failed_call(error, status, ctx)
        return self._succeeded(block, response, status, ctx, display)

    async def _client(self, block: HttpAction, rendered: Mapping[str, Any]) -> HttpGateway:
        if block.connection is not None:
            return await self._connections.get(block.connection)
        return await self._connections.direct(str(rendered["url"]))

    @staticmethod
    def _started(status: ActionStatus, ctx: ActionContext, message: str, *, key: str | None) -> ActionStatus:
        return status.model_copy(
            update={
                "state": "Running",
                "attempts": status.attempts + 1,
                "idempotency_key": key,
                "started_at": ctx.now(),
                "finished_at": None,
                "external_ref": None,
                "temporary_failures": 0,
                "message": message,
            }
        )

    def _succeeded(
        self, block: HttpAction, response: HttpResponse, status: ActionStatus, ctx: ActionContext, display: str
    ) -> StepResult:
        outputs: dict[str, Any] = {STATUS_OUTPUT: response.status}
        if block.outputs:
            try:
                document = response.json()
            except ValueError as error:
                names = ", ".join(sorted(block.outputs))
                return self._permanent(
                    status,
                    ctx,
                    f"{block.method} {display} answered {response.status} but {error}; "
                    f"the outputs {names} cannot be read",
                    "ResponseNotJson",
                )
            for name, pointer in block.outputs.items():
                try:
                    value = resolve_pointer(document, pointer)
                except PointerError as error:
                    return self._permanent(
                        status, ctx, f"output '{name}' (http.outputs.{name} = {pointer}): {error}", "OutputMissing"
                    )
                if ctx.redactor and ctx.redactor.contains_secret(json.dumps(value, ensure_ascii=False, default=str)):
                    return self._permanent(
                        status,
                        ctx,
                        f"output '{name}' ({pointer}) would carry a secret value; it is not stored",
                        "SecretInOutput",
                    )
                outputs[name] = value
        ref_id = outputs.get("id")
        ref = None
        if isinstance(ref_id, str | int) and not isinstance(ref_id, bool):
            ref = ExternalRef(system="http", id=str(ref_id), url=display, connection=block.connection)
        elif status.idempotency_key is not None:
            ref = ExternalRef(system="http", id=status.idempotency_key, url=display, connection=block.connection)
        status = status.model_copy(
            update={
                "state": "Succeeded",
                "message": f"{block.method} {display} answered {response.status}",
                "finished_at": ctx.now(),
                "outputs": outputs,
                "external_ref": ref,
                "temporary_failures": 0,
            }
        )
        return StepResult(status)

    def _permanent(self, status: ActionStatus, ctx: ActionContext, message: str, failure: str) -> StepResult:
        status = status.model_copy(
            update={
                "state": "Failed",
                "message": ctx.redactor(message),
                "finished_at": ctx.now(),
                "temporary_failures": 0,
            }
        )
        return StepResult(status, stall_reason=Reason.ACTION_FAILED, failure_reason=failure)

    def _failed_call(self, error: HttpCallError, status: ActionStatus, ctx: ActionContext) -> StepResult:
        message = ctx.redactor(error.message)
        if error.kind == HttpErrorKind.AUTH:
            # The key stays: once the credentials are fixed, the same attempt is sent again with the same key.
            return StepResult(
                status.model_copy(update={"message": f"{message}; fix the credentials, re-checked periodically"}),
                wait=self._timing.auth_retry_interval,
                stall_reason=Reason.AUTH_FAILED,
                failure_reason=Reason.AUTH_FAILED,
            )
        if error.kind == HttpErrorKind.TEMPORARY:
            failures = status.temporary_failures + 1
            delay = ctx.backoff(failures, error.retry_after)
            again = "retrying"
            if error.outcome_unknown and status.idempotency_key is not None:
                again = "the outcome is unknown; re-sending with the same Idempotency-Key"
            status = status.model_copy(
                update={"temporary_failures": failures, "message": f"{message}; {again} in {delay:.0f}s"}
            )
            reason = Reason.RATE_LIMITED if error.rate_limited else Reason.BACKEND_UNAVAILABLE
            return StepResult(status, wait=delay, reason=reason, failure_reason=error.failure)
        return self._permanent(status, ctx, message, error.failure)

    # --- changes, abort and deletion ----------------------------------------------------------------------------
    async def changed(
        self, action: Action, rendered: Mapping[str, Any], status: ActionStatus, ctx: ActionContext
    ) -> StepResult:
        """A succeeded PUT/PATCH/DELETE is sent again as a new attempt (new key); a POST or GET is not.

        While a call is unfinished, a PUT/PATCH/DELETE moves to a new attempt with the new input; an unfinished
        POST keeps its key (its first send may have been carried out, and a new key could create twice).
        """
        block = action.http
        assert block is not None
        method = block.method
        if method in _UPDATABLE:
            if status.state in ("Succeeded", "Running", "Waiting"):
                restarted = status.model_copy(
                    update={
                        "state": "Pending",
                        "idempotency_key": None,
                        "temporary_failures": 0,
                        "finished_at": None,
                        "message": f"request changed; sending the {method} again",
                    }
                )
                return StepResult(restarted)
            return StepResult(status)
        if status.state == "Succeeded":
            message = f"request changed; a {method} that succeeded is not sent again (only PUT/PATCH/DELETE are)"
        else:
            message = (
                f"request changed; the {method} in flight keeps its Idempotency-Key, the server's first outcome counts"
            )
        return StepResult(status.model_copy(update={"message": message}))

    async def abort(self, status: ActionStatus, ctx: ActionContext, reason: str) -> str | None:
        """Nothing runs between calls: there is nothing to stop."""
        return None

    async def teardown(self, status: ActionStatus, ctx: ActionContext, policy: TeardownPolicy) -> TeardownResult:
        """An HTTP call has no generic undo: nothing is deleted, whatever the deletion policy."""
        if status.state not in ("Succeeded", "Running", "Waiting") and status.idempotency_key is None:
            return TeardownResult(done=True)
        where = f" ({status.external_ref.url})" if status.external_ref and status.external_ref.url else ""
        return TeardownResult(
            done=True,
            message=f"HTTP action '{status.name}' has no undo; nothing was deleted{where}",
        )
