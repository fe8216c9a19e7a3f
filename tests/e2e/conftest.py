"""Fixtures of the e2e suite: the kind context (or the reason the suite does not run), kubectl/devctl, the catalog.

Tests marked ``e2e`` run only when ``E2E_KUBECONTEXT`` names a kind context (``kind-*``); unset, they are skipped
with the reason; set to any other context, they fail (the suite refuses to touch a cluster that is not kind).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from .kube import CONTEXT_ENV, DEFAULT_OPERATOR_NAMESPACE, NAMESPACE_ENV, CatalogRepo, Kube, condition, context_verdict

E2E_ITEMS = Path(__file__).parent / "catalog"
CATALOG_DIR = "catalog"
"""Where hack/kind-up.sh puts the catalog in the repository (the chart's catalogSource.directory)."""


def _guard() -> None:
    """Skip (E2E_KUBECONTEXT unset) or fail (not a kind context); return only for a kind context."""
    verdict, reason = context_verdict(os.environ.get(CONTEXT_ENV))
    if verdict == "skip":
        pytest.skip(reason)
    if verdict == "refuse":
        pytest.fail(reason, pytrace=False)


@pytest.fixture(autouse=True)
def _kind_only(request: pytest.FixtureRequest) -> None:
    if request.node.get_closest_marker("e2e") is not None:
        _guard()


@pytest.fixture(scope="session")
def kube() -> Kube:
    _guard()  # session fixtures are set up before the autouse guard above
    context = os.environ[CONTEXT_ENV]
    cluster = Kube(context, os.environ.get(NAMESPACE_ENV) or DEFAULT_OPERATOR_NAMESPACE)
    contexts = cluster.kubectl("config", "get-contexts", "-o", "name", check=False).stdout.split()
    if context not in contexts:
        pytest.fail(f"{CONTEXT_ENV}={context}: no such context in the kubeconfig (run hack/kind-up.sh)", pytrace=False)
    return cluster


@pytest.fixture(scope="session")
def catalog_repo(kube: Kube) -> CatalogRepo:
    return CatalogRepo(kube)


@pytest.fixture(scope="session")
def catalog_source(kube: Kube) -> str:
    """The name of the chart's CatalogSource (the one reading the git-sync link)."""
    found = kube.kubectl("get", "catalogsources", "-n", kube.operator_namespace, "-o", "name").stdout.split()
    assert found, f"no CatalogSource in {kube.operator_namespace}: is the chart installed (hack/kind-up.sh)?"
    return found[0].split("/", 1)[1]


def refresh(kube: Kube, source: str, revision: str) -> None:
    """Sync ``source`` until it has applied ``revision`` (git-sync may need a period to fetch it)."""
    from .kube import wait_until

    def applied() -> bool:
        result = kube.devctl("catalog", "refresh", source, "--wait", "--timeout", "2m")
        assert result.returncode in (0, 4), f"catalog refresh failed ({result.returncode}): {result.stdout}"
        obj = kube.get("catalogsource", source, kube.operator_namespace)
        ready = condition(obj, "Ready")
        return bool(ready and ready.get("status") == "True" and revision in str((obj or {}).get("status")))

    wait_until(applied, f"CatalogSource {source} to apply revision {revision}", timeout=300, interval=5)


@pytest.fixture(scope="session")
def e2e_items(kube: Kube, catalog_repo: CatalogRepo, catalog_source: str) -> Iterator[list[str]]:
    """The e2e CatalogItems (tests/e2e/catalog/) pushed into the catalog repository and synced; removed afterwards."""
    names = []
    revision = ""
    for path in sorted(E2E_ITEMS.glob("*.yaml")):
        revision = catalog_repo.put(f"{CATALOG_DIR}/e2e/{path.name}", path.read_text(encoding="utf-8"))
        names.append(path.stem)
    refresh(kube, catalog_source, revision)
    yield names
    revision = catalog_repo.remove(f"{CATALOG_DIR}/e2e")
    refresh(kube, catalog_source, revision)


@pytest.fixture
def team(kube: Kube) -> Iterator[str]:
    """A fresh requester namespace, deleted afterwards."""
    name = kube.create_namespace("e2e-team")
    yield name
    kube.kubectl("delete", "namespace", name, "--wait=false", "--ignore-not-found", check=False)
