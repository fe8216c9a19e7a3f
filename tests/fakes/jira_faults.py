"""Programmable faults for the fake JIRA: each rule matches a method and a path and changes what the server does.

A rule can answer with an error status (429 carries ``Retry-After``), wait before answering, close the connection
without processing the request, or process it (commit) and then close the connection without a response.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

# Bodies for injected statuses, in JIRA's error shape.
DEFAULT_MESSAGES: dict[int, str] = {
    400: "Injected fault: bad request.",
    401: "You are not authenticated. Authentication required to perform this operation.",
    403: "You do not have the permission to perform this operation.",
    404: "Injected fault: not found.",
    409: "Injected fault: conflict.",
    429: "Rate limit exceeded.",
    500: "Internal server error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}


@dataclass(frozen=True)
class RequestInfo:
    """What a fault's ``when`` predicate is shown about an incoming request."""

    method: str
    path: str
    query: dict[str, list[str]]
    body: str


def _compile(path: str | re.Pattern[str]) -> re.Pattern[str]:
    if isinstance(path, re.Pattern):
        return path
    # '*' matches anything (also '/'); everything else is literal, so "/rest/api/2/issue" is exactly that path.
    return re.compile(".*".join(re.escape(part) for part in path.split("*")))


@dataclass(eq=False)
class Fault:
    """One rule. Create through ``FakeJira.inject``; ``remove()`` it or let ``times`` run out."""

    method: str | None
    path: str | re.Pattern[str]
    status: int | None = None
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    retry_after: int | str | None = None
    delay: float = 0.0
    drop: bool = False
    drop_after_commit: bool = False
    times: int | None = None
    when: Callable[[RequestInfo], bool] | None = None
    hits: int = 0
    _owner: FaultSet | None = field(default=None, repr=False)
    _pattern: re.Pattern[str] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._pattern = _compile(self.path)
        if self.method is not None:
            self.method = self.method.upper()
        if self.status is None and not (self.delay or self.drop or self.drop_after_commit):
            raise ValueError("a fault needs a status, a delay, drop or drop_after_commit")
        if self.drop and self.drop_after_commit:
            raise ValueError("choose drop (before processing) or drop_after_commit, not both")
        if self.status is not None and self.drop_after_commit:
            raise ValueError("drop_after_commit sends no response, so it takes no status")
        if self.status == 429 and self.retry_after is None:
            self.retry_after = 1

    @property
    def remaining(self) -> int | None:
        """How many more times the rule fires (None: until removed)."""
        return None if self.times is None else max(self.times - self.hits, 0)

    def matches(self, request: RequestInfo) -> bool:
        if self.method is not None and self.method != request.method:
            return False
        if not self._pattern.fullmatch(request.path):
            return False
        return self.when is None or self.when(request)

    def response_headers(self) -> dict[str, str]:
        headers: dict[str, str] = {}
        if self.status == 429:
            headers.update({"X-RateLimit-Limit": "100", "X-RateLimit-FillRate": "10"})
            headers["X-RateLimit-Interval-Seconds"] = "1"
        if self.status == 401:
            headers["WWW-Authenticate"] = 'Basic realm="protected-area"'
            headers["X-Seraph-LoginReason"] = "AUTHENTICATED_FAILED"
        if self.retry_after is not None:
            headers["Retry-After"] = str(self.retry_after)
        headers.update(self.headers)
        return headers

    def response_body(self) -> Any:
        if self.body is not None:
            return self.body
        assert self.status is not None
        message = DEFAULT_MESSAGES.get(self.status, f"Injected fault: HTTP {self.status}.")
        return {"errorMessages": [message], "errors": {}}

    def remove(self) -> None:
        """Stop the rule firing."""
        if self._owner is not None:
            self._owner.remove(self)


class FaultSet:
    """The active rules, checked in the order they were added; the first match that has hits left fires."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rules: list[Fault] = []

    def add(self, fault: Fault) -> Fault:
        fault._owner = self
        with self._lock:
            self._rules.append(fault)
        return fault

    def remove(self, fault: Fault) -> None:
        with self._lock:
            if fault in self._rules:
                self._rules.remove(fault)

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()

    @property
    def rules(self) -> list[Fault]:
        with self._lock:
            return list(self._rules)

    def take(self, request: RequestInfo) -> Fault | None:
        """The rule firing for this request (counting the hit), or None."""
        with self._lock:
            for rule in self._rules:
                if rule.remaining != 0 and rule.matches(request):
                    rule.hits += 1
                    if rule.remaining == 0:
                        self._rules.remove(rule)
                    return rule
        return None
