"""Reads the operator makes per reconcile are cached and loaded once per burst (issue 8: a thousand requests at once
must not become a thousand reads of the same Secrets)."""

from __future__ import annotations

import asyncio
import base64
from typing import Any

import pytest

from orchestrator.clients.jira_pool import JiraConnectionPool
from orchestrator.clients.kubernetes import SECRETS, ResourceRef
from orchestrator.clients.memory import MemoryKubernetes
from orchestrator.clients.ttl_cache import TtlCache
from orchestrator.config import Settings
from orchestrator.handlers.context import OperatorContext
from orchestrator.metrics import Metrics


class CountingKubernetes(MemoryKubernetes):
    def __init__(self) -> None:
        super().__init__()
        self.lists: list[tuple[str, str | None]] = []

    async def list(
        self, resource: ResourceRef, namespace: str | None = None, *, label_selector: str | None = None
    ) -> list[dict[str, Any]]:
        self.lists.append((resource.plural, namespace))
        await asyncio.sleep(0.01)  # an API round trip: concurrent callers overlap
        return await super().list(resource, namespace, label_selector=label_selector)


def secret(name: str, namespace: str, labels: dict[str, str], data: dict[str, str]) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": namespace, "labels": labels},
        "data": {k: base64.b64encode(v.encode()).decode() for k, v in data.items()},
    }


def test_ttl_cache_loads_once_for_concurrent_callers_and_again_after_the_ttl() -> None:
    now = [100.0]
    cache: TtlCache[str, int] = TtlCache(10.0, clock=lambda: now[0])
    loads: list[int] = []

    async def load() -> int:
        loads.append(1)
        await asyncio.sleep(0.01)
        return len(loads)

    async def scenario() -> None:
        assert await asyncio.gather(*(cache.get("k", load) for _ in range(50))) == [1] * 50
        now[0] += 9.9
        assert await cache.get("k", load) == 1
        now[0] += 0.2
        assert await cache.get("k", load) == 2
        cache.forget("k")
        assert await cache.get("k", load) == 3

    asyncio.run(scenario())
    assert len(loads) == 3


def test_ttl_cache_does_not_keep_a_failed_load() -> None:
    cache: TtlCache[str, str] = TtlCache(10.0)
    attempts: list[int] = []

    async def load() -> str:
        attempts.append(1)
        if len(attempts) == 1:
            raise RuntimeError("API unavailable")
        return "ok"

    async def scenario() -> None:
        with pytest.raises(RuntimeError, match="API unavailable"):
            await cache.get("k", load)
        assert await cache.get("k", load) == "ok"

    asyncio.run(scenario())
    assert len(attempts) == 2


def test_exposed_secrets_are_listed_once_per_namespace_for_a_burst() -> None:
    kube = CountingKubernetes()
    settings = Settings()

    async def scenario() -> None:
        await kube.create(
            SECRETS, secret("dns-api", "team-a", {"orchestrator.dev/expose": "true"}, {"key": "s3cr3t"}), "team-a"
        )
        await kube.create(SECRETS, secret("other", "team-a", {}, {"key": "hidden"}), "team-a")
        ctx = OperatorContext.build(settings, Metrics(), kube)
        try:
            found = await asyncio.gather(*(ctx.exposed_secrets("team-a") for _ in range(100)))
            assert all(result == {"dns-api": {"key": "s3cr3t"}} for result in found)
            assert await ctx.exposed_secrets("team-b") == {}
        finally:
            await ctx.close()

    asyncio.run(scenario())
    assert kube.lists == [("secrets", "team-a"), ("secrets", "team-b")]


def test_jira_connection_is_read_once_when_many_requests_ask_at_once() -> None:
    kube = CountingKubernetes()
    settings = Settings()

    async def scenario() -> None:
        labels = {settings.jira.connection_label: "default"}
        data = {"url": "https://jira.example.com", "email": "bot@example.com", "token": "t0ken"}
        await kube.create(SECRETS, secret("jira", settings.namespace, labels, data), settings.namespace)
        pool = JiraConnectionPool(kube, settings, Metrics())
        try:
            clients = await asyncio.gather(*(pool.get("default") for _ in range(50)))
        finally:
            pool.close()
        assert len({id(client) for client in clients}) == 1

    asyncio.run(scenario())
    assert kube.lists == [("secrets", settings.namespace)]
