"""One HTTP port for /healthz, /readyz and /metrics, and the event-loop lag monitor behind a metric."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable

from aiohttp import web

from ..metrics import Metrics

LAG_SAMPLE_INTERVAL = 0.1
UNHEALTHY_LAG = 5.0


class ProbeServer:
    """Liveness: the event loop answers and is not starved. Readiness: startup finished and the cluster answers."""

    def __init__(
        self,
        metrics: Metrics,
        host: str,
        port: int,
        ready: Callable[[], bool],
        *,
        hook: Callable[[str | None], int] | None = None,
    ) -> None:
        self._metrics = metrics
        self._hook = hook
        self._host = host
        self._port = port
        self._ready = ready
        self._runner: web.AppRunner | None = None
        self._lag_task: asyncio.Task[None] | None = None
        self.last_lag = 0.0
        self.port = port

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/readyz", self._readyz)
        app.router.add_get("/metrics", self._metrics_page)
        app.router.add_post("/hooks/git-sync", self._git_sync_hook)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self._host, self._port)
        await site.start()
        server = getattr(site, "_server", None)
        sockets = getattr(server, "sockets", None) or []
        if sockets:
            self.port = int(sockets[0].getsockname()[1])
        self._lag_task = asyncio.create_task(self._measure_lag(), name="event-loop-lag")

    async def stop(self) -> None:
        if self._lag_task is not None:
            self._lag_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._lag_task
        if self._runner is not None:
            await self._runner.cleanup()

    async def _measure_lag(self) -> None:
        while True:
            expected = time.perf_counter() + LAG_SAMPLE_INTERVAL
            await asyncio.sleep(LAG_SAMPLE_INTERVAL)
            self.last_lag = max(time.perf_counter() - expected, 0.0)
            self._metrics.observe_lag(self.last_lag)

    async def _healthz(self, _: web.Request) -> web.Response:
        if self.last_lag > UNHEALTHY_LAG:
            return web.Response(status=503, text=f"event loop lagging {self.last_lag:.1f}s\n")
        return web.Response(text="ok\n")

    async def _readyz(self, _: web.Request) -> web.Response:
        if not self._ready():
            return web.Response(status=503, text="starting\n")
        return web.Response(text="ok\n")

    async def _git_sync_hook(self, request: web.Request) -> web.Response:
        """git-sync's ``--webhook-url``: a new revision was published (hash in ``Gitsync-Hash``).

        The hook carries no data the operator trusts: it only wakes the path sources, which then read the link.
        """
        if self._hook is None:
            return web.Response(status=404, text="no catalog sync\n")
        revision = request.headers.get("Gitsync-Hash") or None
        woken = self._hook(revision)
        return web.json_response({"revision": revision, "woken": woken}, status=202)

    async def _metrics_page(self, _: web.Request) -> web.Response:
        return web.Response(body=self._metrics.exposition(), content_type="text/plain", charset="utf-8")
