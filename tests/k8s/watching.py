"""Watch plumbing: the recent-event history (for ``?resourceVersion=N``) and per-stream subscribers."""

from __future__ import annotations

import asyncio
import collections
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import kmock

from .errors import gone
from .selectors import FieldSelector, LabelSelector

__all__ = ["Change", "EventHistory", "Subscriber"]

Obj = Mapping[str, Any]


@dataclass(frozen=True)
class Change:
    """One committed write: the global resourceVersion it got, and the object before and after."""

    rv: int
    resource: kmock.resource
    type: str  # ADDED | MODIFIED | DELETED
    old: Obj | None
    new: Obj


@dataclass(eq=False)
class Subscriber:
    """One watch stream: what it selects, and the queue its events go to (``None`` closes the stream)."""

    resource: kmock.resource
    namespace: str | None
    labels: LabelSelector = field(default_factory=LabelSelector)
    fields: FieldSelector = field(default_factory=FieldSelector)
    queue: asyncio.Queue[dict[str, Any] | None] = field(default_factory=asyncio.Queue)

    def selects(self, obj: Obj | None) -> bool:
        if obj is None:
            return False
        if self.namespace is not None and obj.get("metadata", {}).get("namespace") != self.namespace:
            return False
        return self.labels.matches(obj) and self.fields.matches(obj)

    def translate(self, change: Change) -> dict[str, Any] | None:
        """The event this stream sees; an object leaving/entering the selection is DELETED/ADDED, as in Kubernetes."""
        if change.resource != self.resource:
            return None
        if change.type == "MODIFIED":
            was, now = self.selects(change.old), self.selects(change.new)
            kind = "MODIFIED" if was and now else "ADDED" if now else "DELETED" if was else None
        else:
            kind = change.type if self.selects(change.new) else None
        return None if kind is None else {"type": kind, "object": change.new}


class EventHistory:
    """A bounded log of recent changes, so that a watch from resourceVersion N replays what came after N."""

    def __init__(self, limit: int) -> None:
        self._changes: collections.deque[Change] = collections.deque()
        self._limit = limit
        self.dropped_rv = 0  # changes up to this resourceVersion are no longer replayable

    def append(self, change: Change) -> None:
        self._changes.append(change)
        while len(self._changes) > self._limit:
            self.dropped_rv = self._changes.popleft().rv

    def since(self, rv: int, subscriber: Subscriber) -> list[dict[str, Any]]:
        if rv < self.dropped_rv:
            raise gone(f"too old resource version: {rv} ({self.dropped_rv + 1})")
        events = []
        for change in reversed(self._changes):  # newest first: usually only the tail is needed
            if change.rv <= rv:
                break
            if (event := subscriber.translate(change)) is not None:
                events.append(event)
        events.reverse()
        return events
