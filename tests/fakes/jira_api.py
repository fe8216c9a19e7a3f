"""The REST v2 routes of the fake JIRA: authentication, request parsing, and one method per endpoint.

Every route answers from ``JiraState`` under its lock and renders with ``jira_render``; an ``ApiError`` anywhere
becomes JIRA's error body with its status.
"""

from __future__ import annotations

import base64
import json
import re
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from email.message import Message
from typing import Any

from . import jira_render as render
from .jira_model import LINK_TYPES, PRIORITY_IDS, RESOLUTIONS, STATUSES, ApiError, not_found
from .jira_state import JiraState

API_PATH = re.compile(r"/rest/api/(?:2|3|latest)/(?P<rest>.*)")
NOT_AUTHENTICATED = "You are not authenticated. Authentication required to perform this operation."
FORBIDDEN = "You do not have the permission to perform this operation."


@dataclass
class Response:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    json: Any
    user: str
    base: str

    def param(self, name: str, default: Any = None) -> Any:
        if isinstance(self.json, dict) and self.method == "POST" and name in self.json:
            return self.json[name]
        values = self.query.get(name)
        return values[-1] if values else default

    def params(self, name: str) -> list[str]:
        if isinstance(self.json, dict) and self.method == "POST" and name in self.json:
            value = self.json[name]
            return [str(v) for v in value] if isinstance(value, list) else [str(value)]
        return self.query.get(name, [])

    def int_param(self, name: str, default: int) -> int:
        value = self.param(name)
        if value in (None, ""):
            return default
        try:
            return int(value)
        except (TypeError, ValueError):
            raise ApiError(400, [f"The value '{value}' for parameter '{name}' is not a number."]) from None


class RestApi:
    """The endpoints. ``users``/``forbidden_users`` are shared with ``FakeJira`` (login -> token)."""

    def __init__(
        self, state: JiraState, users: Mapping[str, str], forbidden_users: Mapping[str, str], deployment_type: str
    ) -> None:
        self.state = state
        self.users, self.forbidden_users = users, forbidden_users
        self.deployment_type = deployment_type
        p = r"(?P<key>[^/]+)"
        routes: list[tuple[str, str, Callable[..., Response], bool]] = [
            ("GET", "serverInfo", self._server_info, True),
            ("GET", "myself", self._myself, False),
            ("GET", "field", lambda r: Response(200, render.fields_list(self.state)), False),
            ("GET", "project", self._projects, False),
            ("GET", f"project/{p}", self._project, False),
            ("GET", f"project/{p}/components", self._project_components, False),
            ("GET", "issuetype", self._issue_types, False),
            ("GET", "priority", lambda r: Response(200, [render.priority(r.base, n) for n in PRIORITY_IDS]), False),
            (
                "GET",
                "resolution",
                lambda r: Response(200, [render.resolution(r.base, n) for n in RESOLUTIONS]),
                False,
            ),
            ("GET", "status", lambda r: Response(200, [render.status(r.base, n) for n in STATUSES]), False),
            ("GET", "issueLinkType", self._link_types, False),
            ("POST", "issue", self._create_issue, False),
            ("GET", f"issue/{p}", self._get_issue, False),
            ("PUT", f"issue/{p}", self._update_issue, False),
            ("DELETE", f"issue/{p}", self._delete_issue, False),
            ("GET", f"issue/{p}/comment", self._comments, False),
            ("POST", f"issue/{p}/comment", self._add_comment, False),
            ("GET", f"issue/{p}/comment/(?P<cid>[^/]+)", self._comment, False),
            ("GET", f"issue/{p}/transitions", self._transitions, False),
            ("POST", f"issue/{p}/transitions", self._transition, False),
            ("POST", "issueLink", self._create_link, False),
            ("GET", f"issueLink/{p}", self._get_link, False),
            ("DELETE", f"issueLink/{p}", self._delete_link, False),
            ("GET", "search", self._search, False),
            ("POST", "search", self._search, False),
            ("GET", "search/jql", self._search_jql, False),
            ("POST", "search/jql", self._search_jql, False),
        ]
        self._routes = [(method, re.compile(pattern), fn, anonymous) for method, pattern, fn, anonymous in routes]

    def handle(
        self, method: str, path: str, query: dict[str, list[str]], text: str, headers: Message, base: str
    ) -> tuple[Response, str | None]:
        """Answer one request (faults aside); also return the authenticated user, if any."""
        user: str | None = None
        try:
            if path == "/status" and method == "GET":  # JIRA's unauthenticated health endpoint
                return Response(200, {"state": "RUNNING"}), None
            user = self._authenticate(headers.get("Authorization"))
            route = self._route(method, path, base)
            if route is None:
                raise ApiError(405, ["Method Not Allowed"])
            fn, groups, anonymous = route
            if user is None and not anonymous:
                raise ApiError(401, [NOT_AUTHENTICATED], headers={"WWW-Authenticate": 'Basic realm="protected-area"'})
            if user in self.forbidden_users:
                raise ApiError(403, [FORBIDDEN])
            body: Any = None
            if text.strip():
                ctype = headers.get("Content-Type", "")
                if method in ("POST", "PUT") and "json" not in ctype:
                    raise ApiError(415, [f"Unsupported Media Type: {ctype or 'none'}; send application/json."])
                try:
                    body = json.loads(text)
                except ValueError as exc:
                    raise ApiError(400, [f"Unexpected character in the request body: {exc}"]) from None
            request = Request(method, path, query, body, user or "anonymous", base)
            with self.state.lock:
                return fn(request, **groups), user
        except ApiError as exc:
            return Response(exc.status, exc.body(), exc.headers), user
        except Exception as exc:  # a bug in the fake: answer like JIRA would rather than killing the connection
            traceback.print_exc()
            return Response(500, {"errorMessages": [f"Internal server error: {exc!r}"], "errors": {}}), user

    def _authenticate(self, header: str | None) -> str | None:
        """The user the Authorization header names (None: anonymous); 401 for wrong or unreadable credentials."""
        if not header:
            return None
        accounts = {**self.users, **self.forbidden_users}
        scheme, _, credentials = header.partition(" ")
        login: str | None = None
        if scheme.lower() == "basic":
            try:
                name, _, secret = base64.b64decode(credentials.strip(), validate=True).decode().partition(":")
            except (ValueError, UnicodeDecodeError):
                name, secret = "", ""
            login = name if name in accounts and accounts[name] == secret else None
        elif scheme.lower() == "bearer":
            login = next((name for name, token in accounts.items() if token == credentials.strip()), None)
        if login is None:
            raise ApiError(
                401,
                [NOT_AUTHENTICATED],
                headers={
                    "WWW-Authenticate": 'Basic realm="protected-area"',
                    "X-Seraph-LoginReason": "AUTHENTICATED_FAILED",
                },
            )
        return login

    def _route(self, method: str, path: str, base: str) -> tuple[Callable[..., Response], dict[str, str], bool] | None:
        m = API_PATH.fullmatch(path)
        path_known = False
        for route_method, pattern, fn, anonymous in self._routes if m else []:
            assert m is not None
            groups = pattern.fullmatch(m["rest"])
            if groups is not None:
                path_known = True
                if route_method == method:
                    return fn, groups.groupdict(), anonymous
        if not path_known:
            raise not_found(f"null for uri: {base}{path}")
        return None

    # -- routes ---------------------------------------------------------------------------------

    def _server_info(self, r: Request) -> Response:
        return Response(200, render.server_info(r.base, self.deployment_type))

    def _myself(self, r: Request) -> Response:
        return Response(200, render.user(r.base, r.user))

    def _projects(self, r: Request) -> Response:
        return Response(200, [render.project(self.state, r.base, p) for p in self.state.projects.values()])

    def _project(self, r: Request, key: str) -> Response:
        return Response(200, render.project(self.state, r.base, self.state.project(key)))

    def _project_components(self, r: Request, key: str) -> Response:
        components = self.state.project(key).components
        return Response(200, [render.component(r.base, n, cid) for n, cid in components.items()])

    def _issue_types(self, r: Request) -> Response:
        return Response(200, [render.issue_type(self.state, r.base, n) for n in self.state.issue_type_ids])

    def _link_types(self, r: Request) -> Response:
        return Response(200, {"issueLinkTypes": [render.link_type(r.base, n) for n in LINK_TYPES]})

    def _create_issue(self, r: Request) -> Response:
        issue = self.state.create(r.json, r.user)
        return Response(201, {"id": issue.id, "key": issue.key, "self": f"{r.base}{render.API}/issue/{issue.id}"})

    def _get_issue(self, r: Request, key: str) -> Response:
        return Response(200, render.issue(self.state, r.base, self.state.get(key), r.params("fields") or None))

    def _update_issue(self, r: Request, key: str) -> Response:
        self.state.update(key, r.json, r.user)
        return Response(204)

    def _delete_issue(self, r: Request, key: str) -> Response:
        self.state.delete(key)
        return Response(204)

    def _comments(self, r: Request, key: str) -> Response:
        return Response(200, render.comments_page(r.base, self.state.get(key)))

    def _add_comment(self, r: Request, key: str) -> Response:
        comment = self.state.add_comment(key, r.json, r.user)
        return Response(201, render.comment(r.base, self.state.get(key), comment))

    def _comment(self, r: Request, key: str, cid: str) -> Response:
        issue = self.state.get(key)
        comment = next((c for c in issue.comments if c.id == cid), None)
        if comment is None:
            raise not_found(f"Can not find a comment for the id: {cid}.")
        return Response(200, render.comment(r.base, issue, comment))

    def _transitions(self, r: Request, key: str) -> Response:
        only = r.param("transitionId")
        with_fields = "transitions.fields" in str(r.param("expand", ""))
        listed = [
            render.transition(r.base, t, with_fields=with_fields)
            for t in self.state.transitions(key)
            if only is None or t.id == str(only)
        ]
        return Response(200, {"expand": "transitions", "transitions": listed})

    def _transition(self, r: Request, key: str) -> Response:
        self.state.transition(key, r.json, r.user)
        return Response(204)

    def _create_link(self, r: Request) -> Response:
        link = self.state.link(r.json)
        return Response(201, None, {"Location": f"{r.base}{render.API}/issueLink/{link.id}"})

    def _get_link(self, r: Request, key: str) -> Response:
        link = self.state.links.get(key)
        if link is None:
            raise not_found(f"No issue link with id '{key}' exists.")
        return Response(200, render.issue_link(self.state, r.base, link))

    def _delete_link(self, r: Request, key: str) -> Response:
        if self.state.links.pop(key, None) is None:
            raise not_found(f"No issue link with id '{key}' exists.")
        return Response(204)

    def _search(self, r: Request) -> Response:
        """Server/DC search: startAt/maxResults/total paging."""
        start, size = max(r.int_param("startAt", 0), 0), min(max(r.int_param("maxResults", 50), 0), 1000)
        found, warnings = self.state.search(str(r.param("jql", "")), validate=_strict(r.param("validateQuery")))
        wanted = r.params("fields") or ["*navigable"]
        issues = [render.issue(self.state, r.base, i, wanted) for i in found[start : start + size]]
        body: dict[str, Any] = {"expand": "schema,names", "startAt": start, "maxResults": size, "total": len(found)}
        body["issues"] = issues
        if warnings:
            body["warningMessages"] = warnings
        return Response(200, body)

    def _search_jql(self, r: Request) -> Response:
        """Cloud's enhanced search: nextPageToken paging, no total; only ids unless ``fields`` asks for more."""
        token = r.param("nextPageToken")
        try:
            start = int(base64.urlsafe_b64decode(str(token)).decode()) if token else 0
        except ValueError:
            raise ApiError(400, ["The provided next page token is invalid or expired."]) from None
        size = min(max(r.int_param("maxResults", 50), 1), 5000)
        found, _ = self.state.search(str(r.param("jql", "")), validate=True)
        page = found[start : start + size]
        wanted = r.params("fields") or ["id"]
        body: dict[str, Any] = {"issues": [render.issue(self.state, r.base, i, wanted) for i in page]}
        more = start + size < len(found)
        if more:
            body["nextPageToken"] = base64.urlsafe_b64encode(str(start + size).encode()).decode()
        body["isLast"] = not more
        return Response(200, body)


def _strict(value: Any) -> bool:
    return str(value).lower() not in ("false", "none", "warn")
