"""A circuit breaker per external connection: after repeated temporary failures, fail fast for a while.

Closed -> (threshold consecutive failures) -> Open -> (reset period) -> HalfOpen: one probe call goes through;
its success closes the breaker, its failure opens it again. Time is injected so the logic is testable.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

CLOSED = "closed"
OPEN = "open"
HALF_OPEN = "half_open"


class CircuitBreaker:
    """Thread-safe: blocking client calls run in worker threads."""

    def __init__(
        self,
        *,
        failure_threshold: int,
        reset_after: float,
        clock: Callable[[], float] = time.monotonic,
        on_change: Callable[[str], None] | None = None,
    ) -> None:
        self._threshold = failure_threshold
        self._reset_after = reset_after
        self._clock = clock
        self._on_change = on_change
        self._lock = threading.Lock()
        self._state = CLOSED
        self._failures = 0
        self._opened_at = 0.0
        self._probe_in_flight = False
        if on_change is not None:
            on_change(CLOSED)

    @property
    def state(self) -> str:
        with self._lock:
            return self._current_state()

    def _current_state(self) -> str:
        if self._state == OPEN and self._clock() - self._opened_at >= self._reset_after:
            self._set(HALF_OPEN)
            self._probe_in_flight = False
        return self._state

    def _set(self, state: str) -> None:
        if state != self._state:
            self._state = state
            if self._on_change is not None:
                self._on_change(state)

    def acquire(self) -> float | None:
        """None when a call may go ahead; otherwise the seconds until the breaker lets a probe through."""
        with self._lock:
            state = self._current_state()
            if state == CLOSED:
                return None
            if state == HALF_OPEN and not self._probe_in_flight:
                self._probe_in_flight = True
                return None
            remaining = self._reset_after - (self._clock() - self._opened_at)
            return max(remaining, 1.0)

    def success(self) -> None:
        with self._lock:
            self._failures = 0
            self._probe_in_flight = False
            self._set(CLOSED)

    def failure(self) -> None:
        """A temporary failure (5xx, timeout, connection error). Client errors are not the backend's health."""
        with self._lock:
            self._failures += 1
            self._probe_in_flight = False
            if self._state == HALF_OPEN or self._failures >= self._threshold:
                self._opened_at = self._clock()
                self._set(OPEN)

    def neutral(self) -> None:
        """A call that says nothing about the backend's health (a 4xx): frees a half-open probe slot."""
        with self._lock:
            self._probe_in_flight = False


class CircuitBreakers:
    """One breaker per connection name, created on first use and kept for the process's life (a rotated
    credential must not reset a breaker that protects a failing backend); ``on_change(name, state)`` reports."""

    def __init__(
        self,
        *,
        failure_threshold: int,
        reset_after: float,
        on_change: Callable[[str, str], None] | None = None,
    ) -> None:
        self._threshold = failure_threshold
        self._reset_after = reset_after
        self._on_change = on_change
        self._breakers: dict[str, CircuitBreaker] = {}

    def get(self, name: str) -> CircuitBreaker:
        breaker = self._breakers.get(name)
        if breaker is None:
            report = self._on_change
            breaker = CircuitBreaker(
                failure_threshold=self._threshold,
                reset_after=self._reset_after,
                on_change=None if report is None else lambda state: report(name, state),
            )
            self._breakers[name] = breaker
        return breaker

    def states(self) -> dict[str, str]:
        return {name: breaker.state for name, breaker in self._breakers.items()}
