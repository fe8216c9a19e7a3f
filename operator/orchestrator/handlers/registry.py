"""Every kopf registration of the operator. Each handler unpacks kwargs and calls a named domain function."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import kopf

from ..api.conditions import STALLED, Reason
from ..api.service_request import FINALIZER, REQUEUE_ANNOTATION, USER_ANNOTATIONS
from ..catalog.sync_plan import Kind
from ..clients.kubernetes import SERVICE_REQUESTS, KubernetesApiError
from ..reconcile.status import Announcement
from .cleanup import cleanup_request
from .context import BY_ITEM, BY_PHASE, WAITING_FOR_ITEM, OperatorContext
from .requests import ConcurrentChange, observe_request, reconcile_request

GROUP, VERSION = "orchestrator.dev", "v1alpha1"
SR = (GROUP, VERSION, "servicerequests")
CI = (GROUP, VERSION, "catalogitems")
CB = (GROUP, VERSION, "catalogbundles")
CS = (GROUP, VERSION, "catalogsources")
PREFIX = "orchestrator.dev"
WAKE_INTERVAL = 60.0
OBSERVED_TYPES = ("terraform", "workspace")


class OrchestratorProgressStorage(kopf.AnnotationsProgressStorage):
    """kopf's progress in ``orchestrator.dev/*`` annotations, without hiding our user-operation annotations.

    kopf drops every annotation under its prefix from the object's essence; ours (retry, abort, ...) share that
    prefix but are inputs, so a change to one must be a change kopf reacts to.
    """

    def clear(self, *, essence: Any) -> Any:
        kept = {
            k: v for k, v in (essence.get("metadata", {}).get("annotations") or {}).items() if k in USER_ANNOTATIONS
        }
        essence = super().clear(essence=essence)
        if kept:
            essence.setdefault("metadata", {}).setdefault("annotations", {}).update(kept)
        return essence


class OrchestratorDiffBaseStorage(kopf.AnnotationsDiffBaseStorage):
    """The last-handled essence, with our user-operation annotations in it (kopf drops its own prefix's)."""

    def build(self, *, body: kopf.Body, extra_fields: Any = None) -> Any:
        essence = super().build(body=body, extra_fields=extra_fields)
        kept = {k: v for k, v in body.metadata.annotations.items() if k in USER_ANNOTATIONS}
        if kept:
            essence.setdefault("metadata", {}).setdefault("annotations", {}).update(kept)
        return essence


def configure_kopf(settings: kopf.OperatorSettings) -> None:
    settings.persistence.progress_storage = OrchestratorProgressStorage(prefix=PREFIX)
    settings.persistence.diffbase_storage = OrchestratorDiffBaseStorage(prefix=PREFIX, key="last-handled-configuration")
    settings.persistence.finalizer = FINALIZER
    settings.posting.level = logging.INFO
    settings.watching.server_timeout = 300
    settings.watching.client_timeout = 330


def _context(memo: Any) -> OperatorContext:
    context: OperatorContext = memo.orchestrator
    return context


def _emit(body: Any, events: list[Announcement]) -> None:
    for event in events:
        kopf.event(body, type=event.type, reason=event.reason, message=event.message[:1024])


def _stalled_on_missing_item(status: Mapping[str, Any], **_: Any) -> bool:
    for condition in status.get("conditions") or []:
        if condition.get("type") == STALLED and condition.get("status") == "True":
            return bool(condition.get("reason") == Reason.CATALOG_ITEM_NOT_FOUND)
    return False


def _observable(status: Mapping[str, Any], **_: Any) -> bool:
    """Fulfilled requests with actions that are looked at periodically (Terraform drift, workspace idleness)."""
    return status.get("phase") in ("Ready", "Hibernated") and any(
        action.get("type") in OBSERVED_TYPES and action.get("state") == "Succeeded"
        for action in status.get("actions") or []
    )


def build_registry(observe_interval: float = 60.0) -> kopf.OperatorRegistry:
    registry = kopf.OperatorRegistry()

    @kopf.index(*CI, id="catalog_items", registry=registry)
    def catalog_items(name: str, body: kopf.Body, **_: Any) -> dict[str, Any]:
        return {
            name: {
                "apiVersion": body.get("apiVersion"),
                "kind": body.get("kind"),
                "metadata": dict(body.metadata),
                "spec": dict(body.spec),
                "status": dict(body.status),
            }
        }

    @kopf.index(*CB, id="catalog_bundles", registry=registry)
    def catalog_bundles(name: str, body: kopf.Body, **_: Any) -> dict[str, Any]:
        return {name: {"metadata": dict(body.metadata), "spec": dict(body.spec), "status": dict(body.status)}}

    @kopf.index(*SR, id="requests", registry=registry)
    def requests(
        name: str, namespace: str | None, spec: kopf.Spec, meta: kopf.Meta, status: kopf.Status, **_: Any
    ) -> dict[tuple[str, ...], tuple[str | None, str] | None]:
        """ServiceRequests under three kinds of key, in one index (kopf calls every index function on every event
        of every request, so one index costs a third of three):
        ``(BY_ITEM, kind, name)`` -> (namespace, name) of requests not being deleted that name the catalog object;
        ``(BY_PHASE, item, phase)`` -> None, counted for the phase gauge;
        ``(WAITING_FOR_ITEM, item)`` -> (namespace, name) of requests stalled because the item does not exist."""
        entries: dict[tuple[str, ...], tuple[str | None, str] | None] = {}
        item = str(spec.get("catalogItem") or spec.get("bundle") or "")
        entries[(BY_PHASE, item, str(status.get("phase") or "Pending"))] = None
        if not meta.get("deletionTimestamp"):
            if spec.get("catalogItem"):
                entries[(BY_ITEM, "CatalogItem", str(spec["catalogItem"]))] = (namespace, name)
            elif spec.get("bundle"):
                entries[(BY_ITEM, "CatalogBundle", str(spec["bundle"]))] = (namespace, name)
        if _stalled_on_missing_item(status):
            entries[(WAITING_FOR_ITEM, str(spec.get("catalogItem")))] = (namespace, name)
        return entries

    @kopf.on.create(*SR, id="fulfil", registry=registry)
    @kopf.on.update(*SR, id="fulfil-change", registry=registry)
    async def fulfil(body: kopf.Body, patch: kopf.Patch, memo: Any, **kwargs: Any) -> None:
        ctx = _context(memo)
        catalog_items: kopf.Index[str, Any] = kwargs["catalog_items"]
        try:
            result = await reconcile_request(ctx, body, lambda name: ctx.catalog_item(name, catalog_items.get(name)))
        except ConcurrentChange as error:
            raise kopf.TemporaryError(str(error), delay=1) from None
        if result.status_patch:
            patch.status.update(result.status_patch)
        _emit(body, result.events)
        if result.wait is not None:
            raise kopf.TemporaryError(result.outcome.message, delay=result.wait)
        if result.outcome.stalled:
            raise kopf.PermanentError(result.outcome.message)

    @kopf.timer(*SR, id="observe", interval=observe_interval, when=_observable, registry=registry)
    async def observe(body: kopf.Body, patch: kopf.Patch, memo: Any, **kwargs: Any) -> None:
        ctx = _context(memo)
        catalog_items: kopf.Index[str, Any] = kwargs["catalog_items"]
        result = await observe_request(ctx, body, lambda name: ctx.catalog_item(name, catalog_items.get(name)))
        if result.status_patch:
            patch.status.update(result.status_patch)
        _emit(body, result.events)

    @kopf.on.delete(*SR, id="cleanup", registry=registry)
    async def cleanup(body: kopf.Body, patch: kopf.Patch, memo: Any, **_: Any) -> None:
        result = await cleanup_request(_context(memo), body)
        if result.status_patch:
            patch.status.update(result.status_patch)
        _emit(body, result.events)
        if not result.done:
            raise kopf.TemporaryError("cleanup pending", delay=result.wait or 10.0)

    async def wake(ctx: OperatorContext, namespace: str | None, name: str, token: str) -> None:
        try:
            await ctx.kube.patch(
                SERVICE_REQUESTS, name, {"metadata": {"annotations": {REQUEUE_ANNOTATION: token}}}, namespace
            )
        except KubernetesApiError as error:
            if error.status != 404:
                raise

    @kopf.on.event(*CI, id="wake-waiting-requests", registry=registry)
    async def catalog_item_changed(name: str, type: str, body: kopf.Body, memo: Any, **kwargs: Any) -> None:
        requests: kopf.Index[tuple[str, ...], Any] = kwargs["requests"]
        if type == "DELETED":
            return
        token = f"catalog-item/{name}@{body.metadata.get('resourceVersion', '')}"
        for namespace, request in list(requests.get((WAITING_FOR_ITEM, name), [])):
            await wake(_context(memo), namespace, request, token)

    async def catalog_status(kind: Kind, name: str, type: str, body: kopf.Body, memo: Any, indexes: Any) -> None:
        ctx = _context(memo)
        if type == "DELETED":
            ctx.catalog_status.forget(kind, name)
            return
        await ctx.refresh_catalog_status(kind, body, indexes)

    @kopf.on.event(*CI, id="item-status", registry=registry)
    async def item_status(name: str, type: str, body: kopf.Body, memo: Any, **kwargs: Any) -> None:
        await catalog_status("CatalogItem", name, type, body, memo, kwargs)

    @kopf.on.event(*CB, id="bundle-status", registry=registry)
    async def bundle_status(name: str, type: str, body: kopf.Body, memo: Any, **kwargs: Any) -> None:
        await catalog_status("CatalogBundle", name, type, body, memo, kwargs)

    @kopf.daemon(*CS, id="sync", cancellation_timeout=10.0, registry=registry)
    async def sync_source(body: kopf.Body, stopped: kopf.DaemonStopped, memo: Any, **_: Any) -> None:
        await _context(memo).catalog_sync.run(body, stopped)

    @kopf.on.event(*CS, id="notice-refresh", registry=registry)
    async def source_changed(name: str, namespace: str | None, type: str, body: kopf.Body, memo: Any, **_: Any) -> None:
        ctx = _context(memo)
        if type == "DELETED":
            ctx.catalog_sync.forget(str(namespace), name)
        else:
            ctx.catalog_sync.notice(body)

    @kopf.timer(
        *SR, id="recheck-missing-item", interval=WAKE_INTERVAL, when=_stalled_on_missing_item, registry=registry
    )
    async def recheck_missing_item(name: str, namespace: str | None, spec: kopf.Spec, memo: Any, **kwargs: Any) -> None:
        catalog_items: kopf.Index[str, Any] = kwargs["catalog_items"]
        item = str(spec.get("catalogItem") or "")
        found = catalog_items.get(item)
        if found:
            body = next(iter(found))
            await wake(
                _context(memo), namespace, name, f"catalog-item/{item}@{body['metadata'].get('resourceVersion')}"
            )

    return registry
