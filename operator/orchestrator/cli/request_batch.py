"""``devctl request batch submit``: every ServiceRequest manifest of a folder, validated locally, then created
N at a time, with one result per document."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import click

from ..clients.cluster import CATALOG_ITEMS, SERVICE_REQUESTS, Cluster, ClusterError
from .common import Globals, emit, fail, print_table, shorten
from .request_submit import check_manifest, read_environments

if TYPE_CHECKING:
    from ..api.catalog import CatalogItem
    from ..api.environments import EnvironmentsConfig

Result = Literal["created", "would create", "invalid", "failed"]
BATCH_SUFFIXES = (".yaml", ".yml")


@dataclass
class BatchResult:
    file: str
    document: int
    name: str
    namespace: str
    result: Result
    message: str = ""

    @property
    def ok(self) -> bool:
        return self.result in ("created", "would create")


class ClusterItems(Mapping[str, "CatalogItem"]):
    """The cluster's CatalogItems by name, each read into a model when first needed (thread-safe)."""

    def __init__(self, bodies: Mapping[str, Mapping[str, Any]]) -> None:
        self._bodies = dict(bodies)
        self._models: dict[str, CatalogItem | None] = {}
        self._problems: dict[str, str] = {}
        self._lock = threading.Lock()

    def problem(self, name: str) -> str | None:
        """Why an item the cluster holds cannot be used (None when it can, or when there is no such item)."""
        self._load(name)
        return self._problems.get(name)

    def _load(self, name: str) -> CatalogItem | None:
        from ..catalog.validate import item_from_cluster

        with self._lock:
            if name not in self._models and name in self._bodies:
                model, problems = item_from_cluster(self._bodies[name])
                self._models[name] = model
                if model is None:
                    detail = "; ".join(f"{d.path}: {d.message}" if d.path else d.message for d in problems[:3])
                    self._problems[name] = f"the catalog item '{name}' in the cluster cannot be read: {detail}"
            return self._models.get(name)

    def __getitem__(self, name: str) -> CatalogItem:
        model = self._load(name)
        if model is None:
            raise KeyError(name)
        return model

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._bodies))

    def __len__(self) -> int:
        return len(self._bodies)


def manifest_files(directory: Path) -> list[Path]:
    """The *.yaml (and *.yml) files directly in ``directory``, by name."""
    return sorted(p for p in directory.iterdir() if p.is_file() and p.suffix in BATCH_SUFFIXES)


def _display(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def submit_file(
    cluster: Cluster,
    path: Path,
    *,
    items: ClusterItems,
    environments: EnvironmentsConfig | None,
    default_namespace: str,
    dry_run: bool,
) -> list[BatchResult]:
    """Validate every document of one file and create the valid ones."""
    from ..catalog.source_files import read_source

    display = _display(path)
    source = read_source(path, display)
    if source.diagnostics:
        first = source.diagnostics[0]
        return [BatchResult(display, first.document or 0, "-", "-", "invalid", first.render())]
    results = []
    for document in source.documents:
        data = document.data if isinstance(document.data, dict) else {}
        meta = data.get("metadata") if isinstance(data.get("metadata"), dict) else {}
        assert isinstance(meta, dict)
        name = str(meta.get("name") or meta.get("generateName") or "-")
        namespace = str(meta.get("namespace") or default_namespace)
        spec = data.get("spec") if isinstance(data.get("spec"), dict) else {}
        assert isinstance(spec, dict)
        item_problem = items.problem(str(spec.get("catalogItem"))) if spec.get("catalogItem") else None
        if item_problem is not None:
            results.append(BatchResult(display, document.index, name, namespace, "invalid", item_problem))
            continue
        problems = check_manifest(
            document.data, items, environments, display=display, positions=document.positions, index=document.index
        )
        if problems:
            more = f" (+{len(problems) - 1} more)" if len(problems) > 1 else ""
            results.append(
                BatchResult(display, document.index, name, namespace, "invalid", problems[0].render() + more)
            )
            continue
        try:
            created = cluster.create(SERVICE_REQUESTS, data, namespace, dry_run=dry_run)
        except ClusterError as error:
            if error.status is None:
                raise
            results.append(BatchResult(display, document.index, name, namespace, "failed", str(error)))
            continue
        created_name = str((created.get("metadata") or {}).get("name") or name)
        result: Result = "would create" if dry_run else "created"
        results.append(BatchResult(display, document.index, created_name, namespace, result))
    return results


def batch_submit(glob: Globals, directory: Path, *, parallel: int, dry_run: bool) -> bool:
    """Submit the folder's manifests; print one row per document; True when every one was created."""
    glob.formats("table", "json", "yaml")
    files = manifest_files(directory)
    if not files:
        fail(f"no *.yaml files in {directory}")
    cluster = glob.cluster()
    default_namespace = glob.request_namespace(cluster)
    bodies = {str(b["metadata"]["name"]): b for b in cluster.list(CATALOG_ITEMS)}
    items = ClusterItems(bodies)
    environments = read_environments(cluster)
    with ThreadPoolExecutor(max_workers=max(1, parallel), thread_name_prefix="devctl-batch") as pool:
        batches = list(
            pool.map(
                lambda path: submit_file(
                    cluster,
                    path,
                    items=items,
                    environments=environments,
                    default_namespace=default_namespace,
                    dry_run=dry_run,
                ),
                files,
            )
        )
    results = [result for batch in batches for result in batch]

    def table() -> None:
        rows = [
            [r.file + (f" #{r.document}" if r.document else ""), r.name, r.result, shorten(r.message, 200)]
            for r in results
        ]
        print_table(("FILE", "NAME", "RESULT", "MESSAGE"), rows)
        failed = sum(not r.ok for r in results)
        verb = "would be created" if dry_run else "created"
        click.echo(f"\n{len(results) - failed} of {len(results)} request(s) {verb}; {failed} failed")

    emit({"results": [asdict(r) for r in results]}, table=table)
    return all(r.ok for r in results)
