"""Catalog sync against real git repositories and the API emulator, writes counted at the emulator.

These drive one ``CatalogSync`` pass at a time (what the operator's per-source loop calls), so every case can say
exactly which API writes it expects. The loop itself, the webhook, the refresh annotation and devctl run with the
whole operator in ``test_catalog_operator.py``.
"""

from __future__ import annotations

import collections
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

import orchestrator.catalog.validate as validate_module
from orchestrator.catalog.sync_plan import HASH_ANNOTATION, PATH_ANNOTATION, REVISION_ANNOTATION, SOURCE_LABEL
from orchestrator.clients.kubernetes import ClusterAccess, KubernetesApi
from orchestrator.handlers.catalog_sync import CatalogSync
from orchestrator.metrics import Metrics
from orchestrator.reconcile.status import Announcement
from tests.gitrepos import CatalogRepo, GitSyncLayout, make_catalog_item, published_layout, pushed_repo
from tests.k8s import ApiEmulator
from tests.rbac_coverage import OPERATOR_TOKEN

from .harness import NAMESPACE, condition
from .harness import test_settings as settings_for_tests

SOURCE = "platform-catalog"
BUNDLE = """\
apiVersion: orchestrator.dev/v1alpha1
kind: CatalogBundle
metadata:
  name: {name}
spec:
  displayName: Stack
  description: Two items together.
  category: other
  owner: team-platform
  version: 1.0.0
  fields:
    type: object
    properties:
      x: {{type: string}}
  components:
    - name: first
      item: {first}
      fields: {{x: "{{{{ fields.x }}}}"}}
    - name: second
      item: {second}
      dependsOn: [first]
      fields: {{x: "{{{{ fields.x }}}}"}}
"""


@dataclass
class Sync:
    """One CatalogSource in the emulator and the sync that serves it."""

    api: ApiEmulator
    sync: CatalogSync
    events: list[Announcement] = field(default_factory=list)
    name: str = SOURCE

    def create_source(self, **spec: Any) -> None:
        self.api.create(
            {
                "apiVersion": "orchestrator.dev/v1alpha1",
                "kind": "CatalogSource",
                "metadata": {"name": self.name, "namespace": NAMESPACE},
                "spec": spec,
            }
        )

    def source(self) -> dict[str, Any]:
        found = self.api.get("catalogsources", self.name, NAMESPACE)
        assert found is not None
        return found

    async def run(self) -> float:
        """One pass, counting only what this pass sends."""
        self.api.reset_access()
        self.events.clear()
        return await self.sync.sync(self.source())

    def writes(self) -> collections.Counter[str]:
        return self.api.write_counts()

    def items(self) -> dict[str, dict[str, Any]]:
        return {obj["metadata"]["name"]: obj for obj in self.api.list("catalogitems")}

    def status(self) -> dict[str, Any]:
        return dict(self.source().get("status") or {})


@pytest.fixture
async def kube(k8s_api: ApiEmulator) -> AsyncIterator[KubernetesApi]:
    client = await KubernetesApi.connect(ClusterAccess(server=k8s_api.url, token=OPERATOR_TOKEN))
    yield client
    await client.close()


@pytest.fixture
def make_sync(k8s_api: ApiEmulator, kube: KubernetesApi, tmp_path: Path) -> Callable[..., Sync]:
    def make(**settings: Any) -> Sync:
        events: list[Announcement] = []
        configured = settings_for_tests(catalog={"cache_dir": str(tmp_path / "cache"), **settings})
        sync = CatalogSync(kube, configured, Metrics(), lambda _body, event: events.append(event))
        return Sync(k8s_api, sync, events)

    return make


@pytest.fixture
def repo(tmp_path: Path) -> CatalogRepo:
    """A catalog of three items and a bundle, under catalog/ (as in this project's own repository)."""
    files = {f"catalog/{name}.yaml": make_catalog_item(name) for name in ("alpha", "beta", "gamma")}
    files["catalog/bundles/stack.yaml"] = BUNDLE.format(name="stack", first="alpha", second="beta")
    return pushed_repo(tmp_path / "repo", files, "first catalog")


@pytest.fixture
def layout(tmp_path: Path, repo: CatalogRepo) -> GitSyncLayout:
    return published_layout(tmp_path / "git", repo)


@pytest.fixture
def path_sync(make_sync: Callable[..., Sync], layout: GitSyncLayout) -> Sync:
    sync = make_sync()
    sync.create_source(path=str(layout.link), directory="catalog", interval="1m")
    return sync


def commit(repo: CatalogRepo, layout: GitSyncLayout | None, message: str, **files: str | None) -> str:
    """Write (or with None remove) catalog files, commit, push and publish through git-sync's layout."""
    for name, text in files.items():
        path = f"catalog/{name.replace('__', '/')}.yaml"
        if text is None:
            repo.remove(path)
        else:
            repo.write(path, text)
    sha = repo.commit(message)
    repo.push()
    if layout is not None:
        layout.publish(sha)
    return sha


async def test_first_sync_applies_every_object_stamped_with_its_source(path_sync: Sync, repo: CatalogRepo) -> None:
    delay = await path_sync.run()

    assert path_sync.writes() == {"catalogitems": 3, "catalogbundles": 1, "catalogsources/status": 1}
    items = path_sync.items()
    assert sorted(items) == ["alpha", "beta", "gamma"]
    alpha = items["alpha"]
    assert alpha["metadata"]["labels"][SOURCE_LABEL] == SOURCE
    assert alpha["metadata"]["annotations"][PATH_ANNOTATION] == "alpha.yaml"
    assert alpha["metadata"]["annotations"][REVISION_ANNOTATION] == repo.head
    assert alpha["metadata"]["annotations"][HASH_ANNOTATION].startswith("sha256:")
    assert [m["manager"] for m in alpha["metadata"].get("managedFields", [])] in ([], ["orchestrator-catalog"])
    bundle = path_sync.api.get("catalogbundles", "stack")
    assert bundle is not None and bundle["metadata"]["annotations"][PATH_ANNOTATION] == "bundles/stack.yaml"
    status = path_sync.status()
    assert status["lastAppliedRevision"] == status["lastAttemptedRevision"] == repo.head
    assert status["counts"] == {"items": 3, "bundles": 1, "applied": 4, "pruned": 0, "unchanged": 0}
    assert condition(path_sync.source(), "Ready")["status"] == "True"
    assert condition(path_sync.source(), "Ready")["reason"] == "RevisionApplied"
    assert condition(path_sync.source(), "Stalled")["status"] == "False"
    assert [e.reason for e in path_sync.events] == ["RevisionApplied"]
    assert delay == 60.0


async def test_no_op_resync_makes_zero_writes_even_after_a_restart(
    path_sync: Sync, make_sync: Callable[..., Sync]
) -> None:
    await path_sync.run()
    before = path_sync.source()["metadata"]["resourceVersion"]

    await path_sync.run()
    assert path_sync.writes() == {}

    restarted = make_sync()  # a new process: nothing cached, everything read again
    assert await restarted.run() == 60.0
    assert restarted.writes() == {}
    assert restarted.events == []
    assert path_sync.source()["metadata"]["resourceVersion"] == before


async def test_one_changed_item_is_one_write(path_sync: Sync, repo: CatalogRepo, layout: GitSyncLayout) -> None:
    await path_sync.run()
    first = repo.head
    second = commit(repo, layout, "beta v2", beta=make_catalog_item("beta", description="Now with backups."))

    await path_sync.run()

    assert path_sync.writes() == {"catalogitems": 1, "catalogsources/status": 1}
    items = path_sync.items()
    assert items["beta"]["spec"]["description"] == "Now with backups."
    assert items["beta"]["metadata"]["annotations"][REVISION_ANNOTATION] == second
    assert items["alpha"]["metadata"]["annotations"][REVISION_ANNOTATION] == first
    assert path_sync.status()["counts"] == {"items": 3, "bundles": 1, "applied": 1, "pruned": 0, "unchanged": 3}


async def test_a_field_removed_from_git_is_removed_from_the_cluster(
    path_sync: Sync, repo: CatalogRepo, layout: GitSyncLayout
) -> None:
    commit(repo, layout, "tags", alpha=make_catalog_item("alpha", tags=["cache", "fast"]))
    await path_sync.run()
    assert path_sync.items()["alpha"]["spec"]["tags"] == ["cache", "fast"]

    commit(repo, layout, "no tags", alpha=make_catalog_item("alpha"))
    await path_sync.run()

    assert path_sync.writes() == {"catalogitems": 1, "catalogsources/status": 1}
    assert "tags" not in path_sync.items()["alpha"]["spec"]


async def test_an_invalid_commit_applies_nothing_and_the_next_valid_one_applies_everything(
    path_sync: Sync, repo: CatalogRepo, layout: GitSyncLayout
) -> None:
    await path_sync.run()
    good = repo.head
    broken = make_catalog_item("gamma").replace("category: other", "category: sandwiches")
    bad = commit(
        repo,
        layout,
        "break gamma, change beta, add delta",
        gamma=broken,
        beta=make_catalog_item("beta", description="changed"),
        delta=make_catalog_item("delta"),
    )

    await path_sync.run()

    assert path_sync.writes() == {"catalogsources/status": 1}
    assert sorted(path_sync.items()) == ["alpha", "beta", "gamma"]
    assert path_sync.items()["beta"]["spec"]["description"] != "changed"
    status = path_sync.status()
    assert status["lastAppliedRevision"] == good
    assert status["lastAttemptedRevision"] == bad
    [error] = status["errors"]
    assert error["file"] == "gamma.yaml"
    assert error["path"] == "spec.category"
    assert error["line"] == broken.splitlines().index("  category: sandwiches") + 1
    assert "sandwiches" in error["message"]
    stalled = condition(path_sync.source(), "Stalled")
    assert stalled["status"] == "True" and stalled["reason"] == "InvalidRevision"
    assert "gamma.yaml" in stalled["message"] and "1 error" in stalled["message"]
    assert condition(path_sync.source(), "Ready")["status"] == "False"
    assert [(e.type, e.reason) for e in path_sync.events] == [("Warning", "InvalidRevision")]

    await path_sync.run()  # the same invalid revision again: not even read
    assert path_sync.writes() == {}

    fixed = commit(repo, layout, "fix gamma", gamma=make_catalog_item("gamma", description="fixed"))
    await path_sync.run()

    assert path_sync.writes() == {"catalogitems": 3, "catalogsources/status": 1}
    items = path_sync.items()
    assert sorted(items) == ["alpha", "beta", "delta", "gamma"]
    assert items["beta"]["spec"]["description"] == "changed"
    status = path_sync.status()
    assert status["lastAppliedRevision"] == status["lastAttemptedRevision"] == fixed
    assert "errors" not in status or status["errors"] == []
    assert condition(path_sync.source(), "Ready")["status"] == "True"
    assert condition(path_sync.source(), "Stalled")["status"] == "False"


async def test_a_refresh_retries_an_invalid_revision(
    path_sync: Sync, repo: CatalogRepo, layout: GitSyncLayout, monkeypatch: pytest.MonkeyPatch
) -> None:
    commit(repo, layout, "break", alpha="kind: [unclosed\n")
    await path_sync.run()
    assert condition(path_sync.source(), "Stalled")["reason"] == "InvalidRevision"
    error = path_sync.status()["errors"][0]
    assert error["file"] == "alpha.yaml" and error["line"] in (1, 2) and "YAML syntax error" in error["message"]

    path_sync.api.patch(
        "catalogsources", SOURCE, {"metadata": {"annotations": {"orchestrator.dev/refresh": "now-1"}}}, NAMESPACE
    )
    reads = count_reads(monkeypatch)
    await path_sync.run()

    assert reads() == 4  # every file read again
    assert path_sync.writes() == {"catalogsources/status": 1}
    assert path_sync.status()["lastHandledRefreshAt"] == "now-1"
    assert condition(path_sync.source(), "Stalled")["reason"] == "InvalidRevision"


def count_reads(monkeypatch: pytest.MonkeyPatch) -> Callable[[], int]:
    """How many catalog files are read from now on (wraps the validator's file reader)."""
    counter = {"reads": 0}
    original = validate_module.read_source

    def counting(path: Path, display: str | None = None, **kwargs: Any) -> Any:
        counter["reads"] += 1
        return original(path, display, **kwargs)

    monkeypatch.setattr(validate_module, "read_source", counting)
    return lambda: counter["reads"]


async def test_a_force_push_that_rewinds_the_branch_is_followed(
    make_sync: Callable[..., Sync], repo: CatalogRepo
) -> None:
    sync = make_sync()
    sync.create_source(git={"url": repo.url, "ref": {"branch": "main"}, "directory": "catalog"}, interval="5m")
    old = repo.head
    await sync.run()
    new = commit(
        repo,
        None,
        "delta and beta v2",
        delta=make_catalog_item("delta"),
        beta=make_catalog_item("beta", version="2.0.0"),
    )
    await sync.run()
    assert sync.status()["lastAppliedRevision"] == new
    assert sync.items()["beta"]["spec"]["version"] == "2.0.0"

    repo.force_push_to(old)
    await sync.run()

    assert sync.writes() == {"catalogitems": 2, "catalogsources/status": 1}  # beta back, delta pruned
    assert sorted(sync.items()) == ["alpha", "beta", "gamma"]
    assert sync.items()["beta"]["spec"]["version"] == "1.0.0"
    assert sync.items()["beta"]["metadata"]["annotations"][REVISION_ANNOTATION] == old
    status = sync.status()
    assert status["lastAppliedRevision"] == old
    assert status["counts"] == {"items": 3, "bundles": 1, "applied": 1, "pruned": 1, "unchanged": 3}


async def test_a_commit_deleting_everything_prunes_nothing_unless_allowed(
    path_sync: Sync, repo: CatalogRepo, layout: GitSyncLayout
) -> None:
    await path_sync.run()
    empty = commit(repo, layout, "delete the catalog", alpha=None, beta=None, gamma=None, bundles__stack=None)
    repo.write("catalog/README.md", "moved elsewhere\n")
    empty = commit(repo, layout, "keep the folder")

    await path_sync.run()

    assert path_sync.writes() == {"catalogsources/status": 1}
    assert sorted(path_sync.items()) == ["alpha", "beta", "gamma"]
    stalled = condition(path_sync.source(), "Stalled")
    assert stalled["status"] == "True" and stalled["reason"] == "EmptyRevision"
    assert "allowEmpty" in stalled["message"]
    assert path_sync.status()["lastAttemptedRevision"] == empty

    path_sync.api.patch("catalogsources", SOURCE, {"spec": {"allowEmpty": True}}, NAMESPACE)
    await path_sync.run()

    assert path_sync.writes() == {"catalogitems": 3, "catalogbundles": 1, "catalogsources/status": 1}
    assert path_sync.items() == {}
    assert path_sync.status()["lastAppliedRevision"] == empty
    assert path_sync.status()["counts"]["pruned"] == 4


async def test_a_link_swapped_mid_read_yields_the_newer_revision_whole(
    path_sync: Sync, repo: CatalogRepo, layout: GitSyncLayout, monkeypatch: pytest.MonkeyPatch
) -> None:
    await path_sync.run()
    newer_text = make_catalog_item("beta", description="newer")
    repo.write("catalog/beta.yaml", newer_text)
    repo.write("catalog/delta.yaml", make_catalog_item("delta"))
    newer = repo.commit("newer")
    repo.push()
    older = commit(repo, None, "older-looking", gamma=make_catalog_item("gamma", description="in between"))
    layout.publish(older)
    swapped = {"done": False}
    original = validate_module.read_source

    def swap_during_read(path: Path, display: str | None = None, **kwargs: Any) -> Any:
        if not swapped["done"]:
            swapped["done"] = True
            layout.publish(newer)  # git-sync moves the link while the operator reads the previous target
        return original(path, display, **kwargs)

    monkeypatch.setattr(validate_module, "read_source", swap_during_read)
    await path_sync.run()

    assert swapped["done"]
    assert path_sync.writes() == {"catalogitems": 2, "catalogsources/status": 1}  # beta changed, delta new
    status = path_sync.status()
    assert status["lastAppliedRevision"] == status["lastAttemptedRevision"] == newer
    items = path_sync.items()
    assert items["beta"]["spec"]["description"] == "newer"
    assert items["gamma"]["spec"]["description"] != "in between"  # nothing of the swapped-out revision
    assert all(obj["metadata"]["annotations"][REVISION_ANNOTATION] != older for obj in items.values())


async def test_a_worktree_deleted_mid_read_is_read_again_not_reported_invalid(
    path_sync: Sync, repo: CatalogRepo, layout: GitSyncLayout, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = repo.head
    second = commit(repo, None, "delta", delta=make_catalog_item("delta"))
    deleted = {"done": False}
    original = validate_module.read_source

    def cleanup_during_read(path: Path, display: str | None = None, **kwargs: Any) -> Any:
        if not deleted["done"]:
            deleted["done"] = True
            layout.publish(second)
            layout.delete_worktree(first)  # git-sync's stale-worktree cleanup, mid-read
        return original(path, display, **kwargs)

    monkeypatch.setattr(validate_module, "read_source", cleanup_during_read)
    await path_sync.run()

    assert deleted["done"]
    assert path_sync.writes() == {"catalogitems": 4, "catalogbundles": 1, "catalogsources/status": 1}
    status = path_sync.status()
    assert status["lastAppliedRevision"] == second
    assert "errors" not in status or status["errors"] == []
    assert sorted(path_sync.items()) == ["alpha", "beta", "delta", "gamma"]
    assert [e.reason for e in path_sync.events] == ["RevisionApplied"]


async def test_a_link_pointing_nowhere_is_unavailable_and_retried_not_invalid(
    path_sync: Sync, repo: CatalogRepo, layout: GitSyncLayout
) -> None:
    await path_sync.run()
    layout.delete_worktree(repo.head, allow_current=True)

    delay = await path_sync.run()

    assert delay == 5.0  # the first retry delay, not the interval
    available = condition(path_sync.source(), "SourceAvailable")
    assert available["status"] == "False" and available["reason"] == "SourceUnavailable"
    assert condition(path_sync.source(), "Stalled")["status"] == "False"
    assert condition(path_sync.source(), "Reconciling")["status"] == "True"
    assert path_sync.writes() == {"catalogsources/status": 1}
    assert len(path_sync.items()) == 3
    assert await path_sync.run() == 10.0
    assert path_sync.writes() == {}  # same problem, same status: nothing written


async def test_duplicate_and_out_of_order_hooks_cause_no_extra_work(
    path_sync: Sync, repo: CatalogRepo, layout: GitSyncLayout, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = repo.head
    await path_sync.run()
    second = commit(repo, layout, "delta", delta=make_catalog_item("delta"))

    assert path_sync.sync.hook(second) == 1
    await path_sync.run()
    assert path_sync.writes()["catalogitems"] == 1

    reads = count_reads(monkeypatch)
    assert path_sync.sync.hook(second) == 0  # duplicate
    woken_by_old = path_sync.sync.hook(first)  # late hook for an older revision: wakes, finds nothing new
    assert woken_by_old == 1
    await path_sync.run()
    assert path_sync.writes() == {}
    assert reads() == 0


async def test_an_item_made_by_hand_is_never_overwritten_or_pruned(
    path_sync: Sync, repo: CatalogRepo, layout: GitSyncLayout
) -> None:
    hand_made = yaml.safe_load(make_catalog_item("gamma", description="made with kubectl"))
    path_sync.api.create(hand_made)
    other = yaml.safe_load(make_catalog_item("omega"))
    path_sync.api.create(other)
    version = path_sync.items()["gamma"]["metadata"]["resourceVersion"]

    await path_sync.run()

    assert path_sync.writes() == {"catalogsources/status": 1}
    assert sorted(path_sync.items()) == ["gamma", "omega"]
    assert path_sync.items()["gamma"]["metadata"]["resourceVersion"] == version
    stalled = condition(path_sync.source(), "Stalled")
    assert stalled["status"] == "True" and stalled["reason"] == "NameConflict"
    [error] = path_sync.status()["errors"]
    assert error["file"] == "gamma.yaml" and error["path"] == "metadata.name"
    assert "orchestrator.dev/source" in error["message"]

    path_sync.api.delete("catalogitems", "gamma")
    await path_sync.run()  # clashes are re-checked every interval: the cluster, not git, changed

    assert sorted(path_sync.items()) == ["alpha", "beta", "gamma", "omega"]
    assert "made with kubectl" not in path_sync.items()["gamma"]["spec"]["description"]
    commit(repo, layout, "drop alpha", alpha=None, bundles__stack=None)
    await path_sync.run()
    assert sorted(path_sync.items()) == ["beta", "gamma", "omega"]  # omega, made by hand, is not pruned


async def test_an_item_edited_in_the_cluster_is_applied_again(path_sync: Sync) -> None:
    await path_sync.run()
    path_sync.api.patch("catalogitems", "alpha", {"spec": {"description": "edited by hand"}})

    await path_sync.run()

    assert path_sync.writes() == {"catalogitems": 1, "catalogsources/status": 1}
    assert path_sync.items()["alpha"]["spec"]["description"] == "The alpha test service."
    assert [e.reason for e in path_sync.events] == ["DriftCorrected"]


async def test_a_suspended_source_is_not_synced(make_sync: Callable[..., Sync], layout: GitSyncLayout) -> None:
    sync = make_sync()
    sync.create_source(path=str(layout.link), directory="catalog", suspend=True)
    await sync.run()
    assert sync.writes() == {}
    assert sync.items() == {}


async def test_a_source_outside_the_operator_namespace_is_refused(
    make_sync: Callable[..., Sync], layout: GitSyncLayout, k8s_api: ApiEmulator
) -> None:
    sync = make_sync()
    k8s_api.create(
        {
            "apiVersion": "orchestrator.dev/v1alpha1",
            "kind": "CatalogSource",
            "metadata": {"name": "sneaky", "namespace": "team-orders"},
            "spec": {"path": str(layout.link), "directory": "catalog"},
        }
    )
    body = k8s_api.get("catalogsources", "sneaky", "team-orders")
    assert body is not None
    await sync.sync.sync(body)
    assert sync.items() == {}
    found = k8s_api.get("catalogsources", "sneaky", "team-orders")
    stalled = condition(found, "Stalled")
    assert stalled["status"] == "True" and "operator's namespace" in stalled["message"]


async def test_a_git_source_with_a_missing_credentials_secret_is_stalled(
    make_sync: Callable[..., Sync], repo: CatalogRepo
) -> None:
    sync = make_sync()
    sync.create_source(git={"url": repo.url, "secretRef": {"name": "nope"}})
    await sync.run()
    stalled = condition(sync.source(), "Stalled")
    assert stalled["status"] == "True" and "Secret" in stalled["message"] and "nope" in stalled["message"]
    assert sync.items() == {}


async def test_a_500_item_catalog(make_sync: Callable[..., Sync], tmp_path: Path) -> None:
    files = {f"catalog/item-{index:03d}.yaml": make_catalog_item(f"item-{index:03d}") for index in range(500)}
    repo = pushed_repo(tmp_path / "big", files, "500 items")
    layout = published_layout(tmp_path / "git-big", repo)
    sync = make_sync()
    sync.create_source(path=str(layout.link), directory="catalog")

    await sync.run()
    assert sync.writes() == {"catalogitems": 500, "catalogsources/status": 1}
    assert sync.status()["counts"]["items"] == 500

    await make_sync().run()  # restarted operator, same revision
    assert sync.writes() == {}

    commit(repo, layout, "one change", **{"item-250": make_catalog_item("item-250", description="changed")})
    await sync.run()
    assert sync.writes() == {"catalogitems": 1, "catalogsources/status": 1}


async def test_the_sample_catalog_with_its_terraform_modules_syncs_whole(
    make_sync: Callable[..., Sync], tmp_path: Path
) -> None:
    """This project's own catalog/ (items, a bundle, Terraform modules checked by the validator) as a repository."""
    root = Path(__file__).resolve().parents[2] / "catalog"
    files = {f"catalog/{path.relative_to(root)}": path.read_text() for path in root.rglob("*") if path.is_file()}
    repo = pushed_repo(tmp_path / "sample", files, "the sample catalog")
    sync = make_sync()
    sync.create_source(git={"url": repo.url, "directory": "catalog"})

    await sync.run()

    items = sorted(sync.items())
    assert len(items) == 7 and "postgresql-standard" in items
    assert sync.writes() == {"catalogitems": 7, "catalogbundles": 1, "catalogsources/status": 1}
    assert sync.status()["lastAppliedRevision"] == repo.head
    assert sync.items()["postgresql-standard"]["metadata"]["annotations"][PATH_ANNOTATION] == (
        "databases/postgresql-standard.yaml"
    )

    repo.write("catalog/modules/postgresql/variables.tf", "# every variable removed\n")
    broken = repo.commit("break the module")
    repo.push()
    await sync.run()

    assert sync.writes() == {"catalogsources/status": 1}
    errors = sync.status()["errors"]
    assert errors and all(e["file"] == "databases/postgresql-standard.yaml" for e in errors)
    assert any("not declared by module modules/postgresql" in e["message"] for e in errors)
    assert sync.status()["lastAttemptedRevision"] == broken
