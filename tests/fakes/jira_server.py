"""A fake JIRA (Server/Data Center REST v2) on a real HTTP port, with programmable faults, for tests and demos.

    with FakeJira(users={"bot@example.com": "s3cret-token"}) as fake:
        client = JIRA(fake.url, basic_auth=("bot@example.com", "s3cret-token"), max_retries=0, timeout=5)
        issue = client.create_issue(fields={"project": {"key": "DBA"}, "issuetype": {"name": "Task"}, "summary": "x"})
        fake.inject(method="POST", path="/rest/api/2/issue", status=503, times=1)
        fake.complete(issue.key)

Standalone (for a demo deployment; binds 0.0.0.0 unless --host says otherwise):

    python -m tests.fakes.jira_server --port 8080 --user bot@example.com:token [--auto-complete-after 30]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import re
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from http.server import BaseHTTPRequestHandler
from types import FrameType
from typing import TYPE_CHECKING, Any, NamedTuple
from urllib.parse import parse_qs, urlsplit

from . import jira_render as render
from .jira_api import API_PATH, Response, RestApi
from .jira_faults import Fault, FaultSet, RequestInfo
from .jira_model import ApiError
from .jira_state import JiraState
from .servers import TrackingHTTPServer, serve, shut_down

if TYPE_CHECKING:
    from jira import JIRA

__all__ = ["ApiError", "Call", "FakeJira", "Fault", "main"]


class Call(NamedTuple):
    """One request the fake received. ``status`` is None when the connection was dropped before processing."""

    method: str
    path: str
    status: int | None
    time: float  # wall clock, when the request arrived
    query: str = ""
    body: str = ""
    user: str | None = None
    duration: float = 0.0
    fault: bool = False
    dropped: bool = False


class _Server(TrackingHTTPServer):
    def __init__(self, address: tuple[str, int], fake: FakeJira) -> None:
        self.fake = fake
        super().__init__(address, _Handler)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def version_string(self) -> str:
        return "FakeJira/1.0"

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in separate writes; without this, Nagle + delayed ACK cost 40 ms a request.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        self.server.fake._handle(self, raw)

    do_GET = do_POST = do_PUT = do_DELETE = _serve

    def log_message(self, format: str, *args: Any) -> None:  # silence the default stderr log
        pass


class FakeJira:
    """A fake JIRA server. See the module docstring; everything public is safe to call from any thread."""

    def __init__(
        self,
        users: Mapping[str, str] | None = None,
        *,
        forbidden_users: Mapping[str, str] | None = None,
        projects: Mapping[str, Mapping[str, Any]] | None = None,
        custom_fields: Mapping[str, Any] | None = None,
        people: tuple[str, ...] = ("alice", "bob"),
        auto_complete_after: float | None = None,
        search_lag: float = 0.0,
        deployment_type: str = "Server",
        host: str = "127.0.0.1",
        port: int = 0,
        public_url: str | None = None,
        on_call: Callable[[Call], None] | None = None,
    ) -> None:
        """``users``: login (email or user name) -> API token/password; ``forbidden_users`` authenticate but get 403
        on everything. ``projects``: key -> {name, issue_types, components, priorities}; ``custom_fields``: id ->
        name or {name, type: string|number|option|array, options}. ``people`` are extra assignable user names.
        ``public_url`` overrides the base of ``self`` links (default: the request's Host header)."""
        self.users = dict({"bot@example.com": "s3cret-token"} if users is None else users)
        self.forbidden_users = dict(forbidden_users or {})
        self.host, self.port, self.public_url = host, port, public_url
        self.on_call = on_call
        self._state = JiraState(projects, custom_fields, people=(*self.users, *self.forbidden_users, *people))
        self._state.auto_complete_after = auto_complete_after
        self._state.search_lag = search_lag
        self._api = RestApi(self._state, self.users, self.forbidden_users, deployment_type)
        self._faults = FaultSet()
        self._calls: list[Call] = []
        self._calls_lock = threading.Lock()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()

    @property
    def deployment_type(self) -> str:
        """What serverInfo reports: "Server" (the client then uses /search) or "Cloud" (/search/jql)."""
        return self._api.deployment_type

    @deployment_type.setter
    def deployment_type(self, value: str) -> None:
        self._api.deployment_type = value

    # -- lifecycle ------------------------------------------------------------------------------

    def start(self) -> FakeJira:
        """Bind (port 0: a free port) and serve in a background thread."""
        if self._server is not None:
            return self
        self._stopping = threading.Event()
        self._server = _Server((self.host, self.port), self)
        self._thread = serve(self._server, "fake-jira")
        return self

    def stop(self) -> None:
        """Stop serving and cut open connections (requests waiting on a ``delay`` fault end at once)."""
        server, self._server = self._server, None
        if server is None:
            return
        self._stopping.set()
        shut_down(server, self._thread)

    def __enter__(self) -> FakeJira:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """Base URL, e.g. http://127.0.0.1:41234 (what ``JIRA(server=...)`` takes)."""
        if self._server is None:
            raise RuntimeError("FakeJira is not running; call start() or use it as a context manager")
        host, port = self._server.server_address[:2]
        host = host.decode() if isinstance(host, bytes) else host
        return f"http://{'127.0.0.1' if host in ('0.0.0.0', '') else host}:{port}"

    # -- knobs and faults -----------------------------------------------------------------------

    @property
    def search_lag(self) -> float:
        """Seconds after creation during which an issue is invisible to search (a lagging index)."""
        return self._state.search_lag

    @search_lag.setter
    def search_lag(self, seconds: float) -> None:
        self._state.search_lag = seconds

    @property
    def auto_complete_after(self) -> float | None:
        """Tickets created while this is set become Done/Done that many seconds after creation."""
        return self._state.auto_complete_after

    @auto_complete_after.setter
    def auto_complete_after(self, seconds: float | None) -> None:
        self._state.auto_complete_after = seconds

    def inject(
        self,
        method: str | None = None,
        path: str | re.Pattern[str] = "*",
        *,
        status: int | None = None,
        body: Any = None,
        headers: Mapping[str, str] | None = None,
        retry_after: int | str | None = None,
        delay: float = 0.0,
        drop: bool = False,
        drop_after_commit: bool = False,
        times: int | None = None,
        when: Callable[[RequestInfo], bool] | None = None,
    ) -> Fault:
        """Add a fault rule: requests matching ``method`` (None: any) and ``path`` (exact; ``*`` is a wildcard; or a
        compiled regex, full match) get, ``times`` times (None: until removed), in this order: ``delay`` seconds of
        waiting, then ``drop`` (close the connection unprocessed), or ``status`` (an error answer in JIRA's shape;
        429 gets ``Retry-After: retry_after``, default 1), or ``drop_after_commit`` (process the request, then close the
        connection without an answer). With only ``delay`` the request is then served normally. ``when`` narrows
        the match further (e.g. on the JQL in ``request.query``)."""
        fault = Fault(
            method, path, status, body, dict(headers or {}), retry_after, delay, drop, drop_after_commit, times, when
        )
        return self._faults.add(fault)

    @property
    def faults(self) -> list[Fault]:
        return self._faults.rules

    def clear_faults(self) -> None:
        self._faults.clear()

    # -- test helpers ---------------------------------------------------------------------------

    @property
    def issues(self) -> dict[str, dict[str, Any]]:
        """Every issue as GET /issue/{key} would show it, by key."""
        with self._state.lock:
            self._state.tick()
            return {key: render.issue(self._state, self._base(), i) for key, i in self._state.issues.items()}

    def issue(self, key: str) -> dict[str, Any]:
        with self._state.lock:
            return render.issue(self._state, self._base(), self._existing(key))

    def issues_with_label(self, label: str) -> list[dict[str, Any]]:
        """Issues carrying ``label``, whatever the search index sees."""
        return [i for i in self.issues.values() if label in i["fields"]["labels"]]

    def seed_issue(
        self,
        project: str = "DBA",
        summary: str = "A ticket someone opened by hand",
        *,
        issue_type: str = "Task",
        reporter: str = "alice",
        indexed: bool = True,
        **fields: Any,
    ) -> str:
        """Create an issue as a person would (validated like POST /issue; ``fields`` in REST shape); returns the key.
        ``indexed``: visible to search at once, whatever ``search_lag`` is."""
        body = {
            "fields": {"project": {"key": project}, "issuetype": {"name": issue_type}, "summary": summary, **fields}
        }
        with self._state.lock:
            issue = self._state.create(body, reporter)
            if indexed:
                issue.created_mono -= 10**9
        return issue.key

    def set_status(self, key: str, status: str, resolution: str | None = None) -> None:
        """Move a ticket to ``status`` (Open, In Progress, Done, Closed) with exactly ``resolution``."""
        with self._state.lock:
            self._existing(key)
            self._state.set_status(key, status, resolution)

    def complete(self, key: str, resolution: str = "Done", status: str = "Done") -> None:
        """Finish a ticket as a person would (e.g. ``complete(key, "Won't Do", status="Closed")``)."""
        self.set_status(key, status, resolution)

    def delete_issue(self, key: str) -> None:
        """A person deletes the ticket."""
        with self._state.lock:
            self._existing(key)
            self._state.delete(key)

    def add_comment(self, key: str, body: str, author: str = "alice") -> None:
        """A person comments on the ticket."""
        with self._state.lock:
            self._existing(key)
            self._state.add_comment(key, {"body": body}, author)

    @property
    def calls(self) -> list[Call]:
        with self._calls_lock:
            return list(self._calls)

    def count(self, method: str | None = None, path_prefix: str | None = None, status: int | None = None) -> int:
        """How many requests matched (``status`` None: any)."""
        return sum(
            1
            for c in self.calls
            if (method is None or c.method == method.upper())
            and (path_prefix is None or c.path.startswith(path_prefix))
            and (status is None or c.status == status)
        )

    def request_bodies(self, method: str | None = None, path_prefix: str | None = None) -> list[str]:
        return [
            c.body
            for c in self.calls
            if (method is None or c.method == method.upper())
            and (path_prefix is None or c.path.startswith(path_prefix))
        ]

    @property
    def create_bodies(self) -> list[str]:
        """Raw bodies of every POST /rest/api/*/issue received (also failed and faulted ones)."""
        return [
            c.body
            for c in self.calls
            if c.method == "POST" and API_PATH.fullmatch(c.path) and c.path.endswith("/issue")
        ]

    def find_text(self, needle: str) -> list[str]:
        """Where ``needle`` occurs in stored tickets (fields, comments) or in any request body; [] if nowhere.
        Request headers are not kept, so credentials sent to authenticate are not reported."""
        found = [f"issue {key}" for key, i in self.issues.items() if needle in json.dumps(i, ensure_ascii=False)]
        for n, c in enumerate(self.calls):
            if needle in c.body:
                found.append(f"request #{n} {c.method} {c.path}")
        return found

    def clear_calls(self) -> None:
        with self._calls_lock:
            self._calls.clear()

    def reset(self) -> None:
        """Forget issues, links, calls and faults (keeps users, projects and knobs)."""
        self.clear_faults()
        self.clear_calls()
        self._state.clear()

    def client(self, user: str | None = None, **kwargs: Any) -> JIRA:
        """A real ``jira.JIRA`` logged in as ``user`` (default: the first user): no retries, 10 s timeout."""
        from jira import JIRA

        login = user or next(iter(self.users))
        secret = {**self.users, **self.forbidden_users}[login]
        kwargs = {"max_retries": 0, "timeout": 10, "get_server_info": True, **kwargs}
        return JIRA(self.url, basic_auth=(login, secret), **kwargs)

    def _existing(self, key: str) -> Any:
        try:
            return self._state.get(key)
        except ApiError:
            raise KeyError(f"no issue {key}") from None

    def _base(self, host: str | None = None) -> str:
        if self.public_url:
            return self.public_url.rstrip("/")
        return f"http://{host}" if host else self.url

    # -- HTTP -----------------------------------------------------------------------------------

    def _handle(self, handler: _Handler, raw: bytes) -> None:
        """Apply a matching fault or answer through the REST routes. The call is logged before the client sees
        anything, so a test that got its answer also finds the call in ``calls``."""
        started, t0 = time.time(), time.monotonic()
        parts = urlsplit(handler.path)
        method, path, text = handler.command, parts.path, raw.decode("utf-8", "replace")
        query = parse_qs(parts.query, keep_blank_values=True)
        fault = self._faults.take(RequestInfo(method, path, query, text))
        response: Response | None = None
        user: str | None = None
        if fault is not None and fault.delay:
            self._stopping.wait(fault.delay)
        if fault is not None and fault.status is not None:
            response = Response(fault.status, fault.response_body(), fault.response_headers())
        elif fault is None or not fault.drop:
            base = self._base(handler.headers.get("Host"))
            response, user = self._api.handle(method, path, query, text, handler.headers, base)
        dropped = fault is not None and (fault.drop or fault.drop_after_commit)
        status = None if response is None else response.status
        call = Call(method, path, status, started, parts.query, text, user, time.monotonic() - t0, fault is not None)
        call = call._replace(dropped=dropped)
        with self._calls_lock:
            self._calls.append(call)
        if self.on_call is not None:
            self.on_call(call)
        if dropped or response is None:
            self._drop(handler)
        else:
            self._write(handler, response)

    @staticmethod
    def _drop(handler: _Handler) -> None:
        handler.close_connection = True
        with contextlib.suppress(OSError):
            handler.connection.shutdown(socket.SHUT_RDWR)

    @staticmethod
    def _write(handler: _Handler, response: Response) -> None:
        body = response.body
        if body is None:
            payload, ctype = b"", None
        elif isinstance(body, bytes | str):
            payload, ctype = (body.encode() if isinstance(body, str) else body), "text/plain;charset=UTF-8"
        else:
            payload, ctype = json.dumps(body).encode(), "application/json;charset=UTF-8"
        try:
            handler.send_response(response.status)
            if ctype:
                handler.send_header("Content-Type", ctype)
            if response.status != 204:
                handler.send_header("Content-Length", str(len(payload)))
            for name, value in response.headers.items():
                handler.send_header(name, value)
            handler.end_headers()
            if payload:
                handler.wfile.write(payload)
        except OSError:  # the client gave up (timeout) or the fake is stopping
            handler.close_connection = True


def _iter_users(values: list[str]) -> Iterator[tuple[str, str]]:
    for value in values:
        login, sep, secret = value.partition(":")
        if not sep or not login or not secret:
            raise SystemExit(f"--user/--forbidden-user take LOGIN:TOKEN, got {value!r}")
        yield login, secret


def main(argv: list[str] | None = None) -> int:
    """Run the fake until SIGINT/SIGTERM."""
    parser = argparse.ArgumentParser(prog="python -m tests.fakes.jira_server", description=__doc__.split("\n")[0])
    parser.add_argument("--host", default="0.0.0.0", help="address to bind (default 0.0.0.0, for a pod)")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--user", action="append", required=True, help="LOGIN:TOKEN (repeatable)")
    parser.add_argument("--forbidden-user", action="append", default=[], help="LOGIN:TOKEN that gets 403")
    parser.add_argument("--auto-complete-after", type=float, default=None, help="seconds until tickets are Done")
    parser.add_argument("--search-lag", type=float, default=0.0, help="seconds new tickets stay invisible to search")
    parser.add_argument("--deployment-type", default="Server", choices=["Server", "Cloud"])
    parser.add_argument("--public-url", default=None, help="base for self links (default: the request's Host)")
    parser.add_argument("--quiet", action="store_true", help="do not log each request to stderr")
    args = parser.parse_args(argv)

    def log(call: Call) -> None:
        print(
            f"{call.method} {call.path} -> {call.status} ({call.duration * 1000:.0f} ms)", file=sys.stderr, flush=True
        )

    fake = FakeJira(
        dict(_iter_users(args.user)),
        forbidden_users=dict(_iter_users(args.forbidden_user)),
        auto_complete_after=args.auto_complete_after,
        search_lag=args.search_lag,
        deployment_type=args.deployment_type,
        host=args.host,
        port=args.port,
        public_url=args.public_url,
        on_call=None if args.quiet else log,
    )
    done = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        done.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    with fake:
        print(f"fake JIRA listening on {fake.url} (bound {args.host}:{args.port})", flush=True)
        done.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
