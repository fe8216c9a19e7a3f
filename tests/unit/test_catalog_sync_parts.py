"""Catalog sync's pure parts: planning, the link reader, CatalogSource and CatalogItem status."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from orchestrator.api.base import duration_seconds
from orchestrator.api.catalog import CatalogItemStatus
from orchestrator.api.catalog_source import CatalogSourceStatus, SyncCounts, SyncError
from orchestrator.catalog.revisions import SourceUnavailable, read_link, resolve_link
from orchestrator.catalog.sync_plan import (
    HASH_ANNOTATION,
    REVISION_ANNOTATION,
    SOURCE_LABEL,
    DesiredObject,
    LiveObject,
    SourceId,
    content_hash,
    holds,
    plan_sync,
)
from orchestrator.reconcile.catalog_item import catalog_object_status
from orchestrator.reconcile.source import SyncOutcome, source_announcements, source_status

SOURCE = SourceId("orchestrator-system", "platform-catalog")
NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)


def desired(name: str, spec: dict[str, Any] | None = None, kind: str = "CatalogItem") -> DesiredObject:
    manifest: dict[str, Any] = {
        "apiVersion": "orchestrator.dev/v1alpha1",
        "kind": kind,
        "metadata": {"name": name, "labels": dict(SOURCE.labels), "annotations": {}},
        "spec": spec or {"version": "1.0.0"},
    }
    digest = content_hash(manifest)
    manifest["metadata"]["annotations"][HASH_ANNOTATION] = digest
    return DesiredObject(kind, name, f"{name}.yaml", 1, manifest, digest)  # type: ignore[arg-type]


def live_from(obj: DesiredObject, **changes: Any) -> LiveObject:
    body = obj.manifest_at("rev-1")
    body["metadata"]["uid"] = f"uid-{obj.name}"
    body["status"] = {"conditions": []}
    body["spec"] = {**body["spec"], "defaultedByServer": True, **changes}
    return LiveObject.from_body(obj.kind, body)


def foreign(name: str, labels: dict[str, str] | None = None) -> LiveObject:
    body = {"metadata": {"name": name, "uid": "u", "labels": labels or {}}, "spec": {}}
    return LiveObject.from_body("CatalogItem", body)


def test_plan_creates_updates_keeps_and_prunes() -> None:
    same, changed, new = desired("same"), desired("changed", {"version": "2.0.0"}), desired("new")
    old_changed = live_from(desired("changed"))
    gone = live_from(desired("gone"))
    bundle_gone = live_from(desired("stack", kind="CatalogBundle"))

    plan = plan_sync([same, changed, new], [live_from(same), old_changed, gone, bundle_gone], SOURCE)

    assert [o.name for o in plan.create] == ["new"]
    assert [o.name for o in plan.update] == ["changed"]
    assert [o.name for o in plan.unchanged] == ["same"]
    assert [o.name for o in plan.prune] == ["stack", "gone"]  # bundles before the items they name
    assert plan.applicable and plan.writes == 4


def test_plan_reapplies_an_object_edited_in_the_cluster() -> None:
    item = desired("alpha", {"version": "1.0.0", "tags": ["a"]})
    plan = plan_sync([item], [live_from(item, tags=["edited"])], SOURCE)
    assert [o.name for o in plan.update] == ["alpha"] and plan.drifted == ["alpha"]


def test_plan_refuses_names_it_does_not_own() -> None:
    mine = desired("alpha")
    other_source = {SOURCE_LABEL: "other", "orchestrator.dev/source-namespace": "orchestrator-system"}
    plan = plan_sync([mine, desired("beta")], [foreign("alpha"), foreign("beta", other_source)], SOURCE)
    assert not plan.applicable
    assert [c.name for c in plan.clashes] == ["alpha", "beta"]
    assert "no label orchestrator.dev/source" in plan.clashes[0].message
    assert "belongs to CatalogSource orchestrator-system/other" in plan.clashes[1].message
    assert plan.create == [] and plan.prune == []


def test_an_empty_revision_prunes_only_when_allowed() -> None:
    existing = [live_from(desired("alpha")), foreign("hand-made")]
    refused = plan_sync([], existing, SOURCE)
    assert refused.refused_prune and refused.prune == [] and not refused.applicable
    allowed = plan_sync([], existing, SOURCE, allow_empty=True)
    assert [o.name for o in allowed.prune] == ["alpha"]  # never the hand-made one
    assert plan_sync([], [foreign("hand-made")], SOURCE).applicable  # nothing of ours: nothing to refuse


def test_the_revision_is_stamped_but_not_hashed() -> None:
    item = desired("alpha")
    assert item.manifest_at("r1")["metadata"]["annotations"][REVISION_ANNOTATION] == "r1"
    assert REVISION_ANNOTATION not in item.manifest["metadata"]["annotations"]
    assert item.manifest_at("r2")["metadata"]["annotations"][HASH_ANNOTATION] == item.content_hash


def test_holds_allows_server_defaults_but_not_changes() -> None:
    assert holds({"a": 1, "b": [{"x": 1, "d": 0}]}, {"b": [{"x": 1}]})
    assert not holds({"b": [{"x": 1}, {"x": 2}]}, {"b": [{"x": 1}]})
    assert not holds({"a": 2}, {"a": 1})
    assert holds({"a": 1.0}, {"a": 1})


def test_long_source_names_fit_in_a_label() -> None:
    long = SourceId("orchestrator-system", "x" * 100)
    value = long.labels[SOURCE_LABEL]
    assert len(value) <= 63 and value != SourceId("orchestrator-system", "x" * 99).labels[SOURCE_LABEL]


@pytest.mark.parametrize(("text", "seconds"), [("30s", 30), ("5m", 300), ("1h30m", 5400), ("250ms", 0.25)])
def test_durations(text: str, seconds: float) -> None:
    assert duration_seconds(text) == seconds


def test_durations_refuse_nonsense() -> None:
    with pytest.raises(ValueError, match="not a duration"):
        duration_seconds("soon")


def test_resolve_link_follows_relative_and_absolute_targets(tmp_path: Path) -> None:
    worktree = tmp_path / ".worktrees" / "abc123"
    worktree.mkdir(parents=True)
    (tmp_path / "catalog").symlink_to(".worktrees/abc123")
    assert resolve_link(tmp_path / "catalog") == ("abc123", worktree.resolve())
    (tmp_path / "absolute").symlink_to(worktree)
    assert resolve_link(tmp_path / "absolute") == ("abc123", worktree.resolve())


def test_resolve_link_explains_what_is_wrong(tmp_path: Path) -> None:
    with pytest.raises(SourceUnavailable, match="does not exist yet"):
        resolve_link(tmp_path / "missing")
    (tmp_path / "plain").mkdir()
    with pytest.raises(SourceUnavailable, match="not a symbolic link"):
        resolve_link(tmp_path / "plain")


def test_a_missing_catalog_directory_is_an_error_of_the_revision(tmp_path: Path) -> None:
    (tmp_path / ".worktrees" / "abc").mkdir(parents=True)
    (tmp_path / "catalog").symlink_to(".worktrees/abc")
    read = read_link(tmp_path / "catalog", "catalog")
    assert read.revision == "abc"
    assert [d.message for d in read.report.errors] == [
        "the catalog directory 'catalog' does not exist in this revision"
    ]


def test_a_link_that_never_settles_is_unavailable(tmp_path: Path) -> None:
    (tmp_path / "catalog").symlink_to(".worktrees/gone")
    retries: list[str] = []
    with pytest.raises(SourceUnavailable, match="gave up reading"):
        read_link(tmp_path / "catalog", attempts=3, on_retry=retries.append)
    assert len(retries) == 3


def applied(revision: str, counts: SyncCounts | None = None) -> SyncOutcome:
    return SyncOutcome("applied", revision, f"Applied revision {revision}", counts=counts)


def test_source_status_is_unchanged_by_a_pass_that_found_nothing_new() -> None:
    first = source_status(
        CatalogSourceStatus(), applied("r1", SyncCounts(items=2, applied=2)), generation=1, now=NOW, refresh=None
    )
    again = source_status(first, applied("r1"), generation=1, now=NOW + timedelta(minutes=1), refresh=None)
    assert again == first
    assert first.last_sync_time == NOW and first.counts.items == 2


def test_an_invalid_revision_keeps_the_applied_one_and_lists_errors() -> None:
    good = source_status(CatalogSourceStatus(), applied("r1", SyncCounts()), generation=1, now=NOW, refresh=None)
    errors = [SyncError(file=f"f{i}.yaml", line=i + 1, path="spec", message="bad") for i in range(60)]
    bad = source_status(good, SyncOutcome("invalid", "r2", "", errors=errors), generation=1, now=NOW, refresh="t1")
    assert bad.last_applied_revision == "r1" and bad.last_attempted_revision == "r2"
    assert len(bad.errors) == 50 and bad.last_handled_refresh_at == "t1"
    stalled = next(c for c in bad.conditions if c.type == "Stalled")
    assert stalled.status == "True" and stalled.reason == "InvalidRevision"
    assert "60 errors (showing the first 50); first: f0.yaml:1 spec: bad" in stalled.message
    [event] = source_announcements(good, bad)
    assert (event.type, event.reason) == ("Warning", "InvalidRevision")
    assert source_announcements(bad, bad) == []


def test_an_unavailable_source_is_reconciling_not_stalled() -> None:
    status = source_status(
        CatalogSourceStatus(), SyncOutcome("unavailable", None, "no link"), generation=1, now=NOW, refresh=None
    )
    by_type = {c.type: c for c in status.conditions}
    assert by_type["Reconciling"].status == "True" and by_type["Stalled"].status == "False"
    assert by_type["SourceAvailable"].status == "False" and by_type["SourceAvailable"].message == "no link"
    assert [e.reason for e in source_announcements(CatalogSourceStatus(), status)] == ["SourceUnavailable"]


def test_catalog_item_status_is_written_once_per_change() -> None:
    first = catalog_object_status(
        CatalogItemStatus(), problems=[], revision="r1", active_requests=0, generation=1, now=NOW
    )
    assert {c.type: c.status for c in first.conditions} == {
        "Ready": "True",
        "Reconciling": "False",
        "Stalled": "False",
        "Valid": "True",
    }
    assert catalog_object_status(first, problems=[], revision="r1", active_requests=0, generation=1, now=NOW) == first
    problems = [f"spec.x: bad {i}" for i in range(7)]
    broken = catalog_object_status(first, problems=problems, revision="r1", active_requests=3, generation=2, now=NOW)
    valid = next(c for c in broken.conditions if c.type == "Valid")
    assert valid.status == "False" and valid.message.startswith("7 problems: spec.x: bad 0;")
    assert valid.message.endswith("(and 2 more)")
    assert broken.active_requests == 3 and broken.observed_generation == 2
