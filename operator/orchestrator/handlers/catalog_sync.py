"""Catalog sync: a CatalogSource's revisions into CatalogItems and CatalogBundles, all or nothing per revision.

One loop per CatalogSource (a kopf daemon) looks for a new revision every ``spec.interval``, on git-sync's
webhook, on ``orchestrator.dev/refresh`` and on spec changes. A revision is read and validated whole, in a worker
thread; only a fully valid revision whose names clash with nothing is applied (server-side apply, field manager
``orchestrator-catalog``), writing just the objects whose content changed or that were edited by hand, then
pruning what the revision no longer holds. Status is written only when it changes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from ..api.base import duration_seconds, first_problem
from ..api.catalog_source import (
    REFRESH_ANNOTATION,
    CatalogSourceSpec,
    CatalogSourceStatus,
    SyncCounts,
    SyncError,
)
from ..api.conditions import READY, STALLED, Reason, find_condition, true_condition
from ..catalog.revisions import RevisionRead, SourceUnavailable, read_checkout, read_link, resolve_link
from ..catalog.sync_plan import (
    APPLY_ORDER,
    FIELD_MANAGER,
    DesiredObject,
    LiveObject,
    SourceId,
    SyncPlan,
    desired_objects,
    plan_sync,
)
from ..catalog.validate import ValidationReport
from ..clients.git import GitCredentials, GitMirror, GitSourceError
from ..clients.kubernetes import (
    CATALOG_BUNDLES,
    CATALOG_ITEMS,
    CATALOG_RESOURCES,
    CATALOG_SOURCES,
    SECRETS,
    KubernetesApiError,
    KubernetesClient,
    decode_secret_data,
)
from ..config import Settings
from ..metrics import Metrics
from ..reconcile.patches import status_patch
from ..reconcile.source import SyncOutcome, short, source_announcements, source_status
from ..reconcile.status import Announcement

logger = logging.getLogger(__name__)

Emit = Callable[[Mapping[str, Any], Announcement], None]


@dataclass
class _Desired:
    revision: str
    spec_key: str
    objects: list[DesiredObject]


@dataclass
class _SourceState:
    """What the operator remembers about one source between passes (lost on restart, rebuilt from the cluster)."""

    wake: asyncio.Event = field(default_factory=asyncio.Event)
    desired: _Desired | None = None
    """The last valid revision, parsed, so a periodic pass with no new revision does not parse it again."""
    seen_revision: str | None = None
    path_source: bool = True
    drifted: list[str] = field(default_factory=list)
    """Objects the last pass applied again because they had been edited in the cluster."""
    failures: int = 0
    mirror: GitMirror | None = None
    mirror_key: str | None = None


class _Invalid(Exception):
    def __init__(self, revision: str, errors: list[SyncError]) -> None:
        super().__init__(revision)
        self.revision = revision
        self.errors = errors


def sync_errors(report: ValidationReport) -> list[SyncError]:
    """Every error of a revision, in reading order (status keeps the first ones, the count goes in the message)."""
    return [SyncError(file=d.file, line=d.line, path=d.path or None, message=d.message) for d in report.errors]


class CatalogSync:
    """Syncs every CatalogSource of the operator's namespace; one instance per operator process."""

    def __init__(
        self,
        kube: KubernetesClient,
        settings: Settings,
        metrics: Metrics,
        emit: Emit,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._kube = kube
        self._settings = settings
        self._metrics = metrics
        self._emit = emit
        self._clock = clock
        self._states: dict[tuple[str, str], _SourceState] = {}

    def state(self, namespace: str, name: str) -> _SourceState:
        return self._states.setdefault((namespace, name), _SourceState())

    def forget(self, namespace: str, name: str) -> None:
        self._states.pop((namespace, name), None)

    # --- waking ------------------------------------------------------------------------------------------------

    def notice(self, body: Mapping[str, Any]) -> bool:
        """Wake the source's loop when a refresh is requested or its spec changed; True when woken."""
        meta = body.get("metadata") or {}
        status = body.get("status") or {}
        refresh = (meta.get("annotations") or {}).get(REFRESH_ANNOTATION)
        wanted = (refresh is not None and refresh != status.get("lastHandledRefreshAt")) or (
            meta.get("generation") != status.get("observedGeneration")
        )
        if wanted:
            self.state(str(meta.get("namespace")), str(meta.get("name"))).wake.set()
        return wanted

    def hook(self, revision: str | None) -> int:
        """git-sync's webhook: wake path sources that have not seen ``revision`` yet; how many were woken.

        A duplicate hook, or a late one for a revision already read, wakes nothing; a hook without a hash wakes all.
        """
        woken = 0
        for state in self._states.values():
            if state.path_source and (revision is None or revision != state.seen_revision):
                state.wake.set()
                woken += 1
        return woken

    # --- the loop ----------------------------------------------------------------------------------------------

    async def run(self, body: Mapping[str, Any], stopped: Any) -> None:
        """Sync until ``stopped`` (kopf's daemon flag) or the object is gone."""
        meta = body.get("metadata") or {}
        namespace, name = str(meta.get("namespace")), str(meta.get("name"))
        state = self.state(namespace, name)
        while not stopped:
            state.wake.clear()
            try:
                # Read the object afresh: kopf's view may not hold the status this loop wrote a moment ago yet.
                current = await self._kube.get(CATALOG_SOURCES, name, namespace)
                if current is None:
                    return
                delay = await self.sync(current)
            except asyncio.CancelledError:
                raise
            except KubernetesApiError as error:  # the API server is unwell: say so briefly and retry later
                logger.warning("catalog sync of %s/%s: %s", namespace, name, error)
                delay = self._backoff(state, 300.0)
            except Exception:  # a bug of ours must not end the loop: log it and try again later
                logger.exception("catalog sync of %s/%s failed unexpectedly", namespace, name)
                delay = self._backoff(state, 3600.0)
            await _wait_any(state.wake, stopped, delay)

    def _backoff(self, state: _SourceState, interval: float) -> float:
        state.failures += 1
        return float(min(interval, self._settings.catalog.retry_initial_delay * 2 ** (state.failures - 1)))

    # --- one pass ----------------------------------------------------------------------------------------------

    async def sync(self, body: Mapping[str, Any]) -> float:
        """One pass over a source; returns the seconds until the next one (unless woken earlier)."""
        meta = body.get("metadata") or {}
        namespace, name = str(meta.get("namespace")), str(meta.get("name"))
        source = SourceId(namespace, name)
        state = self.state(namespace, name)
        generation = int(meta.get("generation") or 0)
        try:
            status = CatalogSourceStatus.model_validate(body.get("status") or {})
        except ValidationError:
            status = CatalogSourceStatus()
        refresh = (meta.get("annotations") or {}).get(REFRESH_ANNOTATION)
        pending_refresh = refresh if refresh is not None and refresh != status.last_handled_refresh_at else None
        started = time.monotonic()
        interval = 60.0
        try:
            spec = CatalogSourceSpec.model_validate(body.get("spec") or {})
            interval = duration_seconds(spec.interval)
        except ValidationError as error:
            outcome: SyncOutcome | None = SyncOutcome(
                "failed",
                None,
                f"invalid spec: spec.{first_problem(error)}",
                permanent=True,
                reason=Reason.INVALID_SPEC,
            )
        else:
            if spec.suspend:
                return interval
            if namespace != self._settings.namespace:
                outcome = SyncOutcome(
                    "failed",
                    None,
                    f"CatalogSources are honoured only in the operator's namespace '{self._settings.namespace}'",
                    permanent=True,
                    reason=Reason.INVALID_SPEC,
                )
            else:
                retry = pending_refresh is not None or status.observed_generation != generation
                outcome = await self._attempt(source, spec, status, state, retry=retry)
        if outcome is None:  # nothing new: an invalid revision is not read again until it changes
            return interval
        await self._record(body, source, status, outcome, generation, pending_refresh)
        self._metrics.catalog_sync_duration.labels(str(source), outcome.result).observe(time.monotonic() - started)
        if outcome.result == "unavailable" or (outcome.result == "failed" and not outcome.permanent):
            return self._backoff(state, interval)
        state.failures = 0
        return interval

    async def _attempt(
        self,
        source: SourceId,
        spec: CatalogSourceSpec,
        status: CatalogSourceStatus,
        state: _SourceState,
        *,
        retry: bool,
    ) -> SyncOutcome | None:
        spec_key = spec.model_dump_json()
        try:
            revision = await self._revision(source, spec, state)
            state.seen_revision = revision
            if (
                not retry
                and revision == status.last_attempted_revision
                and revision != status.last_applied_revision
                and (stalled := true_condition(status.conditions, STALLED)) is not None
                and stalled.reason == Reason.INVALID_REVISION
            ):
                return None
            desired = state.desired
            if desired is None or desired.revision != revision or desired.spec_key != spec_key:
                read = await self._read(spec, revision, state)
                state.seen_revision = read.revision
                errors = sync_errors(read.report)
                if errors:
                    state.desired = None
                    raise _Invalid(read.revision, errors)
                desired = _Desired(read.revision, spec_key, desired_objects(read.catalog, source))
                state.desired = desired
            live = await self._live()
        except _Invalid as invalid:
            return SyncOutcome("invalid", invalid.revision, "", errors=invalid.errors)
        except SourceUnavailable as error:
            return SyncOutcome("unavailable", None, str(error))
        except GitSourceError as error:
            return SyncOutcome("unavailable", None, str(error), permanent=error.permanent)
        except KubernetesApiError as error:
            return SyncOutcome("failed", None, f"cannot list catalog objects: {error}")
        plan = plan_sync(desired.objects, live, source, allow_empty=spec.allow_empty)
        state.drifted = plan.drifted if plan.applicable else []
        if not plan.applicable:
            return _refused(plan, desired)
        try:
            await self._execute(plan, desired.revision, source)
        except KubernetesApiError as error:
            state.desired = None
            return SyncOutcome(
                "failed",
                desired.revision,
                f"applying revision {short(desired.revision)} failed: {error}",
                permanent=error.status in (400, 403, 422),
                reason=Reason.APPLY_FAILED,
            )
        if state.mirror is not None:
            with contextlib.suppress(GitSourceError, OSError):
                await asyncio.to_thread(state.mirror.prune, {desired.revision})
        return _applied(plan, desired, status)

    async def _revision(self, source: SourceId, spec: CatalogSourceSpec, state: _SourceState) -> str:
        """The revision the source offers now (cheap: a readlink, or a git fetch)."""
        state.path_source = spec.path is not None
        if spec.path is not None:
            state.mirror = None
            revision, checkout = resolve_link(Path(spec.path))
            if not checkout.is_dir():
                raise SourceUnavailable(f"{spec.path} points at {checkout}, which does not exist")
            return revision
        assert spec.git is not None  # the model guarantees exactly one of path and git
        mirror = await self._mirror(source, spec, state)
        return await asyncio.to_thread(mirror.resolve, spec.git.ref)

    async def _read(self, spec: CatalogSourceSpec, revision: str, state: _SourceState) -> RevisionRead:
        if spec.path is not None:
            return await asyncio.to_thread(read_link, Path(spec.path), spec.directory)
        assert spec.git is not None and state.mirror is not None
        checkout = await asyncio.to_thread(state.mirror.checkout, revision)
        return await asyncio.to_thread(read_checkout, revision, checkout, spec.git.directory)

    async def _mirror(self, source: SourceId, spec: CatalogSourceSpec, state: _SourceState) -> GitMirror:
        assert spec.git is not None
        credentials: GitCredentials | None = None
        secret_version = ""
        if spec.git.secret_ref is not None:
            try:
                secret = await self._kube.get(SECRETS, spec.git.secret_ref.name, source.namespace)
            except KubernetesApiError as error:
                raise SourceUnavailable(f"cannot read Secret {spec.git.secret_ref.name}: {error}") from None
            if secret is None:
                raise GitSourceError(
                    f"Secret {source.namespace}/{spec.git.secret_ref.name} (spec.git.secretRef) does not exist",
                    permanent=True,
                )
            credentials = GitCredentials.from_secret_data(decode_secret_data(secret))
            secret_version = str((secret.get("metadata") or {}).get("resourceVersion", ""))
        key = f"{spec.git.url}\n{secret_version}"
        if state.mirror is None or state.mirror_key != key:
            cache = self._settings.catalog.cache_dir / source.namespace / source.name
            state.mirror = GitMirror(
                cache, spec.git.url, credentials=credentials, timeout=self._settings.catalog.git_timeout
            )
            state.mirror_key = key
        return state.mirror

    async def catalog_root(self, namespace: str, name: str, revision: str | None) -> tuple[str, Path]:
        """A source's checked-out catalog root at ``revision`` and the revision it holds, for reading module files.

        Git sources check the commit out of their mirror (any commit the mirror has fetched); git-sync links
        serve the linked worktree, or its sibling worktree named ``revision`` while git-sync still keeps it.
        When ``revision`` is gone the current checkout is returned, and the caller records the revision it got.
        """
        body = await self._kube.get(CATALOG_SOURCES, name, namespace)
        if body is None:
            raise SourceUnavailable(f"CatalogSource {namespace}/{name} does not exist")
        try:
            spec = CatalogSourceSpec.model_validate(body.get("spec") or {})
        except ValidationError as error:
            raise SourceUnavailable(f"CatalogSource {namespace}/{name}: spec.{first_problem(error)}") from None
        if spec.path is not None:
            current, checkout = await asyncio.to_thread(resolve_link, Path(spec.path))
            sibling = checkout.parent / revision if revision else None
            if revision and revision != current and sibling is not None and sibling.is_dir():
                current, checkout = revision, sibling
            return current, checkout / spec.directory
        assert spec.git is not None
        mirror = await self._mirror(SourceId(namespace, name), spec, self.state(namespace, name))
        wanted = revision or str((body.get("status") or {}).get("lastAppliedRevision") or "")
        if not wanted:
            raise SourceUnavailable(f"CatalogSource {namespace}/{name} has not applied a revision yet")
        checkout = await asyncio.to_thread(mirror.checkout, wanted)
        return wanted, checkout / spec.git.directory

    async def _live(self) -> list[LiveObject]:
        items, bundles = await asyncio.gather(self._kube.list(CATALOG_ITEMS), self._kube.list(CATALOG_BUNDLES))
        return [
            *(LiveObject.from_body("CatalogItem", body) for body in items),
            *(LiveObject.from_body("CatalogBundle", body) for body in bundles),
        ]

    async def _execute(self, plan: SyncPlan, revision: str, source: SourceId) -> None:
        """Items, then bundles (which name items); prune bundles, then items. Bounded concurrency per step."""
        limit = asyncio.Semaphore(self._settings.catalog.apply_concurrency)
        label = str(source)
        new = {(obj.kind, obj.name) for obj in plan.create}

        async def apply(obj: DesiredObject) -> None:
            async with limit:
                # A name we did not see a moment ago is not forced: if someone created it since, the API server
                # reports a conflict instead of us taking their object over.
                created = (obj.kind, obj.name) in new
                try:
                    await self._kube.apply(
                        CATALOG_RESOURCES[obj.kind],
                        obj.manifest_at(revision),
                        field_manager=FIELD_MANAGER,
                        force=not created,
                    )
                except KubernetesApiError as error:
                    raise KubernetesApiError(
                        error.status, error.reason, f"{obj.kind} '{obj.name}' ({obj.path}): {error.message}"
                    ) from None
                self._metrics.catalog_sync_writes.labels(label, "create" if created else "update").inc()

        async def prune(obj: LiveObject) -> None:
            async with limit:
                await self._kube.delete(CATALOG_RESOURCES[obj.kind], obj.name, uid=obj.uid or None)
                self._metrics.catalog_sync_writes.labels(label, "prune").inc()

        changed = [*plan.create, *plan.update]
        for kind in APPLY_ORDER:
            await _all([apply(obj) for obj in changed if obj.kind == kind])
        for kind in reversed(APPLY_ORDER):
            await _all([prune(obj) for obj in plan.prune if obj.kind == kind])

    async def _record(
        self,
        body: Mapping[str, Any],
        source: SourceId,
        status: CatalogSourceStatus,
        outcome: SyncOutcome,
        generation: int,
        refresh: str | None,
    ) -> None:
        new = source_status(status, outcome, generation=generation, now=self._clock(), refresh=refresh)
        patch = status_patch(body.get("status") or {}, status, new)
        if patch:
            await self._kube.patch(
                CATALOG_SOURCES, source.name, {"status": patch}, source.namespace, subresource="status"
            )
        for announcement in source_announcements(status, new):
            self._emit(body, announcement)
        drifted = self.state(source.namespace, source.name).drifted
        if outcome.result == "applied" and drifted:
            shown = ", ".join(sorted(drifted)[:10]) + (f" and {len(drifted) - 10} more" if len(drifted) > 10 else "")
            self._emit(
                body,
                Announcement("Normal", Reason.DRIFT_CORRECTED, f"applied again after edits in the cluster: {shown}"),
            )
        label = str(source)
        if outcome.result != "applied":
            ready = find_condition(new.conditions, READY)
            reason = ready.reason if ready is not None else outcome.result
            self._metrics.catalog_sync_errors.labels(label, reason).inc()
        if new.last_applied_revision:
            self._metrics.set_revision(label, "applied", new.last_applied_revision)
        if new.last_attempted_revision:
            self._metrics.set_revision(label, "attempted", new.last_attempted_revision)


def _refused(plan: SyncPlan, desired: _Desired) -> SyncOutcome:
    revision = desired.revision
    if plan.clashes:
        first = plan.clashes[0]
        count = len(plan.clashes)
        return SyncOutcome(
            "clash",
            revision,
            f"revision {short(revision)} names {count} object{'s' if count != 1 else ''} that this source does not "
            f"own; nothing applied; first: {first.path}:{first.line}: {first.message}",
            errors=[SyncError(file=c.path, line=c.line, path="metadata.name", message=c.message) for c in plan.clashes],
        )
    return SyncOutcome(
        "empty",
        revision,
        f"revision {short(revision)} holds no items or bundles: applying it would prune every object of this source; "
        "nothing was pruned (set spec.allowEmpty: true if the catalog is meant to be empty)",
        errors=[SyncError(file=".", message="the revision holds no CatalogItem or CatalogBundle")],
    )


def _applied(plan: SyncPlan, desired: _Desired, status: CatalogSourceStatus) -> SyncOutcome:
    items = sum(1 for obj in desired.objects if obj.kind == "CatalogItem")
    counts: SyncCounts | None = None
    if plan.writes or desired.revision != status.last_applied_revision:
        counts = SyncCounts(
            items=items,
            bundles=len(desired.objects) - items,
            applied=len(plan.create) + len(plan.update),
            pruned=len(plan.prune),
            unchanged=len(plan.unchanged),
        )
    shown = counts or status.counts
    message = (
        f"Applied revision {short(desired.revision)}: {shown.items} items, {shown.bundles} bundles "
        f"({shown.applied} written, {shown.pruned} pruned, {shown.unchanged} unchanged)"
    )
    return SyncOutcome("applied", desired.revision, message, counts=counts)


async def _all(calls: Sequence[Awaitable[None]]) -> None:
    """Run every call; the first failure is raised after all of them finished (no write is left in flight)."""
    results = await asyncio.gather(*calls, return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException):
            raise result


async def _wait_any(wake: asyncio.Event, stopped: Any, delay: float) -> None:
    """Sleep ``delay`` seconds, or until woken, or until the daemon is stopped."""
    waiters = {asyncio.ensure_future(wake.wait()), asyncio.ensure_future(stopped.wait())}
    try:
        await asyncio.wait(waiters, timeout=delay, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
