"""Status of CatalogItems and CatalogBundles: Valid/Ready, the catalog revision, and the active request count.

Written only when it changes: once per new generation of an object, and when its request count moved. Request
counts are brought up to date on a short period rather than on every request event, so a burst of a thousand
requests for one item costs a handful of status writes, not a thousand.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from ..api.catalog import CatalogBundleStatus, CatalogItem, CatalogItemStatus
from ..catalog.sync_plan import REVISION_ANNOTATION, Kind
from ..catalog.validate import check_cluster_object
from ..clients.kubernetes import CATALOG_RESOURCES, KubernetesApiError, KubernetesClient
from ..reconcile.catalog_item import catalog_object_status
from ..reconcile.patches import status_patch

logger = logging.getLogger(__name__)


class CatalogObjectStatus:
    """Keeps the status of catalog objects true; validation results are cached per generation."""

    def __init__(self, kube: KubernetesClient, *, clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self._kube = kube
        self._clock = clock
        self._checked: dict[tuple[Kind, str], tuple[int, str, list[str]]] = {}

    def forget(self, kind: Kind, name: str) -> None:
        self._checked.pop((kind, name), None)

    async def problems(
        self, kind: Kind, body: Mapping[str, Any], item: Callable[[str], CatalogItem | None]
    ) -> list[str]:
        """The object's validation errors as one line each (cached until its generation changes)."""
        meta = body.get("metadata") or {}
        name = str(meta.get("name", ""))
        generation = int(meta.get("generation") or 0)
        uid = str(meta.get("uid", ""))
        cached = self._checked.get((kind, name))
        if cached is not None and cached[0] == generation and cached[1] == uid:
            return cached[2]
        diagnostics = await asyncio.to_thread(check_cluster_object, kind, body, item)
        found = [f"{d.path}: {d.message}" if d.path else d.message for d in diagnostics]
        self._checked[(kind, name)] = (generation, uid, found)
        return found

    async def update(
        self,
        kind: Kind,
        body: Mapping[str, Any],
        active_requests: int,
        item: Callable[[str], CatalogItem | None],
    ) -> bool:
        """Bring the object's status up to date; True when a write was made."""
        meta = body.get("metadata") or {}
        if meta.get("deletionTimestamp"):
            return False
        name = str(meta.get("name", ""))
        model = CatalogItemStatus if kind == "CatalogItem" else CatalogBundleStatus
        try:
            status: CatalogItemStatus | CatalogBundleStatus = model.model_validate(body.get("status") or {})
        except ValidationError:
            status = model()
        new = catalog_object_status(
            status,
            problems=await self.problems(kind, body, item),
            revision=(meta.get("annotations") or {}).get(REVISION_ANNOTATION),
            active_requests=active_requests,
            generation=int(meta.get("generation") or 0),
            now=self._clock(),
        )
        patch = status_patch(body.get("status") or {}, status, new)
        if not patch:
            return False
        try:
            await self._kube.patch(CATALOG_RESOURCES[kind], name, {"status": patch}, subresource="status")
        except KubernetesApiError as error:
            if error.status == 404:
                return False
            raise
        return True


def ready_state(body: Mapping[str, Any]) -> str:
    """``Ready`` or ``NotReady`` from an object's Ready condition (for the objects-by-state metric)."""
    for condition in (body.get("status") or {}).get("conditions") or []:
        if condition.get("type") == "Ready":
            return "Ready" if condition.get("status") == "True" else "NotReady"
    return "NotReady"
