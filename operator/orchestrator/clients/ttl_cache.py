"""A small read-through cache with a time to live, loading each key once however many callers ask at once.

A burst of reconciles in one namespace (a thousand requests created together) must not turn into a thousand reads
of the same objects: the first caller loads, the others wait for its result. A failed load is not cached.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class TtlCache(Generic[K, V]):
    def __init__(self, ttl: float, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._ttl = ttl
        self._clock = clock
        self._values: dict[K, tuple[float, V]] = {}
        self._locks: dict[K, asyncio.Lock] = {}

    async def get(self, key: K, load: Callable[[], Awaitable[V]]) -> V:
        """The value for ``key``, loaded with ``load()`` when missing or older than the TTL."""
        cached = self._fresh(key)
        if cached is not None:
            return cached[1]
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:
            cached = self._fresh(key)  # loaded by the caller this one waited for
            if cached is not None:
                return cached[1]
            value = await load()
            self._values[key] = (self._clock(), value)
            return value

    def forget(self, key: K) -> None:
        self._values.pop(key, None)

    def _fresh(self, key: K) -> tuple[float, V] | None:
        cached = self._values.get(key)
        if cached is not None and self._clock() - cached[0] < self._ttl:
            return cached
        return None
