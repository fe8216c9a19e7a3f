"""Plain data and error types of the JIRA adapter, importable without the `jira` library.

The action layer depends on these (and on a Protocol), never on the library itself.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..redaction import Redactor


class ConnectionUnavailable(Exception):
    """The named connection is not configured (no Secret) or its Secret is unusable."""


class JiraErrorKind(enum.Enum):
    AUTH = "AuthFailed"
    RATE_LIMITED = "RateLimited"
    UNAVAILABLE = "Unavailable"
    CIRCUIT_OPEN = "CircuitOpen"
    INVALID = "InvalidRequest"
    NOT_FOUND = "NotFound"

    @property
    def temporary(self) -> bool:
        return self in (JiraErrorKind.RATE_LIMITED, JiraErrorKind.UNAVAILABLE, JiraErrorKind.CIRCUIT_OPEN)


class JiraCallError(Exception):
    """A failed JIRA call, classified. ``message`` is redacted and safe for status and events.

    ``outcome_unknown`` is True when the request may have been carried out (no response, a timeout, a 5xx):
    a create that fails this way must be looked up before it is ever sent again.
    """

    def __init__(
        self,
        kind: JiraErrorKind,
        message: str,
        *,
        status: int | None = None,
        retry_after: float | None = None,
        outcome_unknown: bool = False,
    ) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.status = status
        self.retry_after = retry_after
        self.outcome_unknown = outcome_unknown


@dataclass(frozen=True)
class JiraConnection:
    """A named connection, read from a Secret (``url``, ``user`` or ``email``, ``token``)."""

    name: str
    url: str
    token: str = field(repr=False)
    user: str | None = None
    close_status: str | None = None
    """Status a ticket is moved to when its request is deleted with deletionPolicy Delete (optional)."""

    def redactor(self) -> Redactor:
        redactor = Redactor([self.token])
        if self.user:
            redactor.add_basic_auth(self.user, self.token)
        return redactor


@dataclass(frozen=True)
class Ticket:
    """What the operator reads back from an issue."""

    key: str
    url: str
    status: str = ""
    status_category: str = ""
    """statusCategory key: new, indeterminate or done."""
    status_category_name: str = ""
    resolution: str | None = None
    fields: Mapping[str, Any] = field(default_factory=dict)
