"""Container logs: ``GET /api/v1/namespaces/NS/pods/NAME/log``.

The emulator runs no containers, so a test writes what a pod's container printed
(``ApiEmulator.write_pod_log(namespace, name, text)``); each line remembers when it was written. Served as
kube-apiserver serves it: ``text/plain``; 404 when the Pod does not exist; ``timestamps=true`` starts each line with
the RFC 3339 time it was written, with nanoseconds (``2026-05-01T10:00:00.123456000Z line``); ``tailLines=N`` keeps
the last N lines; ``container`` must name one of the pod's containers (400 otherwise). A pod nobody wrote a log
for has an empty log. Not emulated: ``follow``, ``previous``, ``sinceSeconds``, ``limitBytes``.
"""

from __future__ import annotations

from datetime import UTC, datetime

import aiohttp.web

from . import errors
from .resources import Resource
from .store import Store

__all__ = ["PodLogs", "is_pod_log"]


def is_pod_log(group: str | None, plural: str | None, name: str | None, subresource: str | None) -> bool:
    return group == "" and plural == "pods" and bool(name) and subresource == "log"


def rfc3339_nano(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f") + "000Z"


class PodLogs:
    """Log lines by (namespace, pod), each with the time it was written."""

    def __init__(self) -> None:
        self.lines: dict[tuple[str, str], list[tuple[datetime, str]]] = {}

    def write(self, namespace: str, pod: str, text: str, at: datetime | None = None) -> None:
        moment = at or datetime.now(UTC)
        self.lines.setdefault((namespace, pod), []).extend((moment, line) for line in text.splitlines())

    async def serve(
        self, store: Store, resource: Resource, raw: aiohttp.web.BaseRequest, namespace: str | None, name: str
    ) -> aiohttp.web.StreamResponse:
        if raw.method != "GET":
            raise errors.method_not_allowed(f"{raw.method} is not supported on {raw.path}")
        pod = store.current(resource, namespace, name)
        if pod is None or namespace is None:
            raise errors.not_found("pods", "", name)
        query = raw.query
        container = query.get("container")
        names = [c.get("name") for c in (pod.get("spec") or {}).get("containers") or []]
        if container is not None and container not in names:
            raise errors.bad_request(f"container {container} is not valid for pod {name}")
        lines = self.lines.get((namespace, name), [])
        tail = query.get("tailLines")
        if tail is not None:
            try:
                count = int(tail)
            except ValueError:
                raise errors.bad_request(f"tailLines: invalid value {tail!r}") from None
            lines = lines[-count:] if count > 0 else []
        stamped = query.get("timestamps") in ("true", "1")
        text = "".join(f"{rfc3339_nano(moment)} {line}\n" if stamped else f"{line}\n" for moment, line in lines)
        return aiohttp.web.Response(text=text, content_type="text/plain")
