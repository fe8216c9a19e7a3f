"""Waiting for a request to settle: Ready, or Failed/Stalled (a person must act), or the time runs out.

Progress is a live status line (a spinner with the phase and message) when stdout is a terminal, and one plain
line per phase change otherwise, so that CI logs stay readable.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Protocol

import click

from ..clients.cluster import SERVICE_REQUESTS, Cluster, ClusterError
from .request_logs import LogEntry, LogFollower
from .request_view import Settlement, settlement

if TYPE_CHECKING:
    from rich.console import Console
    from rich.status import Status

DEFAULT_WAIT = 600.0


@dataclass(frozen=True)
class WaitOutcome:
    outcome: Literal["ready", "failed", "timeout", "deleted"]
    obj: dict[str, Any] | None
    settled: Settlement | None


class Progress(Protocol):
    def update(self, obj: Mapping[str, Any], settled: Settlement) -> None: ...

    def log(self, entry: LogEntry) -> None: ...

    def close(self) -> None: ...


def describe(name: str, settled: Settlement) -> str:
    reason = f" ({settled.reason})" if settled.reason else ""
    message = f": {settled.message}" if settled.message else ""
    return f"{name}: {settled.phase}{reason}{message}"


class LineProgress:
    """One line per phase (or reason) change; log lines as they come."""

    def __init__(self, *, err: bool) -> None:
        self.err = err
        self._last: tuple[str, str] | None = None

    def update(self, obj: Mapping[str, Any], settled: Settlement) -> None:
        key = (settled.phase, settled.reason)
        if key != self._last:
            self._last = key
            click.echo(describe(str((obj.get("metadata") or {}).get("name", "")), settled), err=self.err)

    def log(self, entry: LogEntry) -> None:
        click.echo(entry.render(), err=self.err)

    def close(self) -> None:
        return None


class LiveProgress:
    """A rich status line that is rewritten in place; log lines scroll above it."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self._status: Status | None = None

    def update(self, obj: Mapping[str, Any], settled: Settlement) -> None:
        from rich.text import Text

        text = Text(describe(str((obj.get("metadata") or {}).get("name", "")), settled))
        if self._status is None:
            self._status = self.console.status(text)
            self._status.start()
        else:
            self._status.update(text)

    def log(self, entry: LogEntry) -> None:
        self.console.print(entry.render(), markup=False, highlight=False)

    def close(self) -> None:
        if self._status is not None:
            self._status.stop()
            self._status = None


def make_progress(console: Callable[[], Console], *, machine_output: bool) -> Progress:
    """A live line on a terminal; plain lines otherwise (on stderr when stdout carries JSON/YAML)."""
    if sys.stdout.isatty() and not machine_output:
        return LiveProgress(console())
    return LineProgress(err=machine_output)


def wait_for(
    cluster: Cluster,
    name: str,
    namespace: str,
    *,
    timeout: float,
    progress: Progress,
    phase: str | None = None,
    follower: LogFollower | None = None,
) -> WaitOutcome:
    """Follow the request until it settles (see request_view.settlement), is deleted, or ``timeout`` passes.

    It watches the request, so every phase it passes through is seen (polling could miss a short one). With a log
    follower, the watch is renewed every ``LOG_POLL`` seconds so that log lines appear while nothing else changes,
    and the log is read once more shortly after the request settles (the operator posts its last Event just after
    the status write). Unreachable-cluster errors propagate (exit 5).
    """
    deadline = time.monotonic() + timeout
    try:
        obj = cluster.get(SERVICE_REQUESTS, name, namespace)
        while True:
            settled = _look(obj, phase, progress, follower)
            if settled.state != "pending":
                if follower is not None:
                    time.sleep(SETTLE_GRACE)
                    follower.poll(obj)
                return WaitOutcome(settled.state, obj, settled)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return WaitOutcome("timeout", obj, settled)
            window = min(remaining, LOG_POLL if follower is not None else WATCH_WINDOW)
            latest = _next_change(cluster, obj, name, namespace, window)
            if latest is None:
                return WaitOutcome("deleted", None, settled)
            obj = latest
    finally:
        progress.close()


LOG_POLL = 1.0
WATCH_WINDOW = 30.0
SETTLE_GRACE = 1.0


def _look(obj: Mapping[str, Any], phase: str | None, progress: Progress, follower: LogFollower | None) -> Settlement:
    settled = settlement(obj, phase=phase)
    if follower is not None:
        follower.poll(obj)
    progress.update(obj, settled)
    return settled


def _next_change(
    cluster: Cluster, obj: dict[str, Any], name: str, namespace: str, window: float
) -> dict[str, Any] | None:
    """The request after its next change within ``window`` seconds (itself when nothing changed), or None when it
    was deleted. A watch that cannot continue (410 Gone, a broken stream) is replaced by a fresh read."""
    version = str((obj.get("metadata") or {}).get("resourceVersion") or "") or None
    started = time.monotonic()
    try:
        for event in cluster.watch(
            SERVICE_REQUESTS, namespace, name=name, resource_version=version, timeout=max(1.0, window)
        ):
            kind = event.get("type")
            if kind == "DELETED":
                return None
            if kind in ("ADDED", "MODIFIED"):
                return dict(event.get("object") or obj)
            if time.monotonic() - started > window:
                break
    except ClusterError:
        pass  # re-read below: a real outage fails there, with the right exit code
    try:
        return cluster.get(SERVICE_REQUESTS, name, namespace)
    except ClusterError as error:
        if error.status == 404:
            return None
        raise
