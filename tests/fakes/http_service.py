"""A fake DNS API (the one the ``dns-record`` catalog item calls) on a real HTTP(S) port, with fault injection.

    with FakeDnsApi(token="s3cret-token") as fake:
        fake.inject(status=429, retry_after="7")               # the next call is rate limited
        fake.inject(delay=2.0)                                 # the next call takes effect, then answers late
        fake.inject(drop=True)                                 # the next call takes effect, then the connection drops
        ... POST {fake.url}/v2/zones/<zone>/records  (Authorization: Bearer s3cret-token, Idempotency-Key: k)
        fake.effects("k")                                      # records/changes the key caused (replays cause none)

API (JSON):
    POST   /v2/zones/<zone>/records        {name, type, content, ttl, owner, comment?}
           -> 201 {"record": {id, fqdn, name, type, content, ttl, owner}, "change": {id, status}}
           -> 200 the same when the owner re-posts its own record (a new change: an effect)
           -> 409 when another owner holds the name; 422 on a bad body
    GET    /v2/zones/<zone>/records/<id>   -> 200 {"record": ...}; 404
    PUT    /v2/zones/<zone>/records/<id>   -> 200 {"record", "change"} (an effect)
    DELETE /v2/zones/<zone>/records/<id>   -> 204 (an effect)

Every call needs ``Authorization: Bearer <token>`` (else 401; the 401 body echoes what was presented, as some
servers do, so tests can prove it is redacted). A call with an ``Idempotency-Key`` already seen gets the first
response again and changes nothing; the same key with a different method, path or body gets 422.
HTTPS: pass ``tls=trustme.CA()``; the server certificate is issued for 127.0.0.1 and localhost.
"""

from __future__ import annotations

import contextlib
import json
import re
import socket
import ssl
import threading
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING, Any

from .servers import TrackingHTTPServer, serve, shut_down

if TYPE_CHECKING:
    import trustme

__all__ = ["FakeDnsApi", "Fault", "Recorded"]

_RECORDS = re.compile(r"^/v2/zones/(?P<zone>[a-z0-9.-]+)/records(?:/(?P<id>[A-Za-z0-9-]+))?$")
_TYPES = {"A", "AAAA", "CNAME", "TXT"}


@dataclass(frozen=True)
class Recorded:
    """One request the fake received (``status`` None when the connection was dropped)."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    status: int | None

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Fault:
    """What the next matching call(s) get instead of (or on top of) normal handling."""

    status: int | None = None
    """Answer with this code and no effect (429, 500, 503, ...)."""
    retry_after: str | None = None
    delay: float = 0.0
    """Handle the call normally (the effect happens), then wait this long before answering."""
    drop: bool = False
    """Handle the call normally, then close the connection without answering."""
    method: str | None = None
    times: int = 1


@dataclass
class _Stored:
    status: int
    body: bytes
    fingerprint: tuple[str, str, bytes]


@dataclass
class _State:
    records: dict[str, dict[str, Any]] = field(default_factory=dict)
    changes: list[dict[str, Any]] = field(default_factory=list)
    by_key: dict[str, _Stored] = field(default_factory=dict)
    effects: Counter[str] = field(default_factory=Counter)
    next_id: int = 1


class _Server(TrackingHTTPServer):
    def __init__(self, fake: FakeDnsApi) -> None:
        self.fake = fake
        super().__init__((fake.host, 0), _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # failed TLS handshakes and dropped clients are expected in tests


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def setup(self) -> None:
        if isinstance(self.request, ssl.SSLSocket):
            self.request.settimeout(5)
            self.request.do_handshake()
            self.request.settimeout(None)
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        self.server.fake._handle(self, raw)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def answer(self, status: int, body: bytes | None, retry_after: str | None = None) -> None:
        self.send_response(status)
        if body:
            self.send_header("Content-Type", "application/json")
        if retry_after is not None:
            self.send_header("Retry-After", retry_after)
        self.send_header("Content-Length", str(len(body or b"")))
        self.end_headers()
        if body:
            self.wfile.write(body)
        self.wfile.flush()


class FakeDnsApi:
    """The fake. Everything public is safe to call from any thread."""

    def __init__(self, token: str = "s3cret-token", *, tls: trustme.CA | None = None, host: str = "127.0.0.1") -> None:
        self.token = token
        self.host = host
        self._tls = tls
        self._state = _State()
        self._faults: list[Fault] = []
        self._requests: list[Recorded] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ------------------------------------------------------------------------------
    def start(self) -> FakeDnsApi:
        self._stopping.clear()
        server = _Server(self)
        if self._tls is not None:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            self._tls.issue_cert("127.0.0.1", "localhost").configure_cert(context)
            server.socket = context.wrap_socket(server.socket, server_side=True, do_handshake_on_connect=False)
        self._server = server
        self._thread = serve(server, "fake-dns-api")
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        self._stopping.set()
        shut_down(server, self._thread)

    def __enter__(self) -> FakeDnsApi:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("FakeDnsApi is not running")
        port = self._server.server_address[1]
        return f"{'https' if self._tls is not None else 'http'}://127.0.0.1:{port}"

    # -- knobs and observations -----------------------------------------------------------------
    def inject(
        self,
        *,
        status: int | None = None,
        retry_after: str | None = None,
        delay: float = 0.0,
        drop: bool = False,
        method: str | None = None,
        times: int = 1,
    ) -> None:
        """Make the next ``times`` calls (of ``method``, if given) fail or misbehave; see ``Fault``."""
        with self._lock:
            self._faults.append(Fault(status, retry_after, delay, drop, method, times))

    def add_record(self, zone: str, name: str, owner: str, content: str = "192.0.2.1") -> dict[str, Any]:
        """Seed a record (another team's, for conflicts)."""
        with self._lock:
            return self._create(zone, {"name": name, "type": "A", "content": content, "ttl": 300, "owner": owner})[0]

    @property
    def requests(self) -> list[Recorded]:
        with self._lock:
            return list(self._requests)

    @property
    def records(self) -> dict[str, dict[str, Any]]:
        with self._lock:
            return {k: dict(v) for k, v in self._state.records.items()}

    @property
    def changes(self) -> list[dict[str, Any]]:
        """Every change the API carried out (creates, updates, deletes; replays add none)."""
        with self._lock:
            return list(self._state.changes)

    def effects(self, key: str) -> int:
        """How many changes calls with this Idempotency-Key caused."""
        with self._lock:
            return self._state.effects[key]

    # -- request handling -----------------------------------------------------------------------
    def _take_fault(self, method: str) -> Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.method is None or fault.method == method:
                    fault.times -= 1
                    if fault.times <= 0:
                        self._faults.remove(fault)
                    return fault
        return None

    def _record(self, handler: _Handler, raw: bytes, status: int | None) -> None:
        with self._lock:
            self._requests.append(Recorded(handler.command, handler.path, dict(handler.headers.items()), raw, status))

    def _handle(self, handler: _Handler, raw: bytes) -> None:
        method = handler.command
        fault = self._take_fault(method)
        if fault is not None and fault.status is not None:
            self._record(handler, raw, fault.status)
            handler.answer(fault.status, json.dumps({"error": "injected failure"}).encode(), fault.retry_after)
            return
        status, payload = self._respond(handler, raw)
        dropped = fault is not None and fault.drop
        self._record(handler, raw, None if dropped else status)  # recorded on arrival, even if answered late
        if fault is not None and fault.delay:
            self._stopping.wait(fault.delay)  # the effect has happened; the answer comes (too) late
        if dropped:
            with contextlib.suppress(OSError):
                handler.connection.shutdown(socket.SHUT_RDWR)
            handler.close_connection = True
            return
        with contextlib.suppress(OSError):
            handler.answer(status, payload)

    def _respond(self, handler: _Handler, raw: bytes) -> tuple[int, bytes | None]:
        """Status and JSON body of a call (``None``: no body); carries out its effect."""
        presented = handler.headers.get("Authorization", "")
        if presented != f"Bearer {self.token}":
            return 401, json.dumps({"error": "invalid or missing token", "received": presented}).encode()
        key = handler.headers.get("Idempotency-Key")
        fingerprint = (handler.command, handler.path, raw)
        with self._lock:
            if key is not None and key in self._state.by_key:
                stored = self._state.by_key[key]
                if stored.fingerprint != fingerprint:
                    return 422, json.dumps({"error": "Idempotency-Key reused for a different request"}).encode()
                return stored.status, stored.body
            before = len(self._state.changes)
            status, payload = self._route(handler.command, handler.path, raw)
            body = None if payload is None else json.dumps(payload).encode()
            caused = len(self._state.changes) - before
            if key is not None and status < 500:
                self._state.by_key[key] = _Stored(status, body or b"", fingerprint)
                self._state.effects[key] += caused
            return status, body

    def _route(self, method: str, path: str, raw: bytes) -> tuple[int, Any]:
        match = _RECORDS.match(path.split("?", 1)[0])
        if match is None:
            return 404, {"error": f"no such resource {path}"}
        zone, record_id = match.group("zone"), match.group("id")
        if record_id is None:
            if method != "POST":
                return 405, {"error": "only POST on a zone's records"}
            try:
                data = json.loads(raw or b"null")
            except json.JSONDecodeError:
                return 422, {"error": "the body is not JSON"}
            problem = _invalid(data)
            if problem:
                return 422, {"error": problem}
            fqdn = f"{data['name']}.{zone}"
            existing = next((r for r in self._state.records.values() if r["fqdn"] == fqdn), None)
            if existing is not None and existing["owner"] != data["owner"]:
                return 409, {"error": f"{fqdn} is owned by {existing['owner']}", "request": data}
            if existing is not None:
                existing.update({k: data[k] for k in ("type", "content", "ttl")})
                return 200, {"record": dict(existing), "change": self._change("update", existing)}
            created, change = self._create(zone, data)
            return 201, {"record": created, "change": change}
        record = self._state.records.get(record_id)
        if record is None or record["zone"] != zone:
            return 404, {"error": f"no record {record_id} in {zone}"}
        if method == "GET":
            return 200, {"record": dict(record)}
        if method == "PUT":
            try:
                data = json.loads(raw or b"null")
            except json.JSONDecodeError:
                return 422, {"error": "the body is not JSON"}
            if not isinstance(data, dict) or not isinstance(data.get("content"), str):
                return 422, {"error": "content is required"}
            record.update({k: data[k] for k in ("content", "ttl") if k in data})
            return 200, {"record": dict(record), "change": self._change("update", record)}
        if method == "DELETE":
            del self._state.records[record_id]
            self._change("delete", record)
            return 204, None
        return 405, {"error": f"{method} is not supported"}

    def _create(self, zone: str, data: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        record_id = f"rec-{self._state.next_id}"
        self._state.next_id += 1
        record = {
            "id": record_id,
            "zone": zone,
            "fqdn": f"{data['name']}.{zone}",
            **{k: data[k] for k in ("name", "type", "content", "ttl", "owner")},
        }
        self._state.records[record_id] = record
        return dict(record), self._change("create", record)

    def _change(self, kind: str, record: dict[str, Any]) -> dict[str, Any]:
        change = {
            "id": f"chg-{len(self._state.changes) + 1}",
            "kind": kind,
            "record": record["id"],
            "status": "PENDING",
        }
        self._state.changes.append(change)
        return change


def _invalid(data: Any) -> str | None:
    if not isinstance(data, dict):
        return "the body must be a JSON object"
    for name in ("name", "type", "content", "owner"):
        if not isinstance(data.get(name), str) or not data[name]:
            return f"{name} is required"
    if data["type"] not in _TYPES:
        return f"type must be one of {sorted(_TYPES)}"
    ttl = data.get("ttl")
    if not isinstance(ttl, int) or isinstance(ttl, bool) or not 60 <= ttl <= 86400:
        return "ttl must be an integer between 60 and 86400"
    return None
