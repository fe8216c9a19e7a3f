"""Finding a catalog folder and one item or bundle in it, for the offline commands (preview, test, search).

The folder is ``--catalog DIR``, else ``$DEVCTL_CATALOG``, else ``./catalog``. An item is named by its
``metadata.name`` or by the path of its file. Errors are ``CliError``s with the documented exit codes: a missing
folder is a usage error (2), an unknown name is "not found" (3), a file that does not hold a valid item is 1.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from ..catalog.diagnostics import Diagnostic, suggest
from ..catalog.validate import Catalog, CatalogEntry, CatalogKind, catalog_root_for, load_catalog
from .common import EXIT_FAILED, EXIT_NOT_FOUND, CliError

EXIT_USAGE = 2
CATALOG_ENV = "DEVCTL_CATALOG"


def catalog_folder(option: Path | None) -> Path:
    """The catalog root to use; a usage error (exit 2) when it is not a folder."""
    chosen = option if option is not None else Path(os.environ.get(CATALOG_ENV) or "catalog")
    if not chosen.is_dir():
        origin = "--catalog" if option is not None else f"${CATALOG_ENV}" if os.environ.get(CATALOG_ENV) else "default"
        raise CliError(
            f"catalog folder '{chosen}' ({origin}) does not exist or is not a folder",
            exit_code=EXIT_USAGE,
            hint=f"point --catalog (or ${CATALOG_ENV}) at the catalog repository's root",
        )
    return chosen


@dataclass
class FoundEntry:
    """An item or bundle of an offline catalog, with the problems the validator found in its file."""

    catalog: Catalog
    entry: CatalogEntry
    problems: list[Diagnostic]

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.problems if d.severity == "error"]


def find_entry(reference: str, option: Path | None, *, kinds: tuple[CatalogKind, ...] = ("CatalogItem",)) -> FoundEntry:
    """The entry named ``reference`` (a name, or the path of its file) in the catalog folder.

    The entry's file is validated (schema and semantic checks, with the rest of the folder as context); a file
    whose document does not even build a model is an error (exit 1) with the validator's messages.
    """
    label = " or ".join("item" if kind == "CatalogItem" else "bundle" for kind in kinds)
    as_path = Path(reference)
    if as_path.suffix in (".yaml", ".yml") or as_path.is_file():
        if not as_path.is_file():
            raise CliError(f"no such file: {reference}", exit_code=EXIT_USAGE)
        root = option if option is not None else catalog_root_for(as_path)
        return _from_file(as_path, root, kinds, label)
    root = catalog_folder(option)
    index, _ = load_catalog(root, targets=[])
    for kind in kinds:
        entries = index.items if kind == "CatalogItem" else index.bundles
        if reference in entries:
            return _from_file(Path(entries[reference].document.file), root, (kind,), label, name=reference)
    known = [*(index.items if "CatalogItem" in kinds else {}), *(index.bundles if "CatalogBundle" in kinds else {})]
    raise CliError(
        f"no catalog {label} named '{reference}' in {root}{suggest(reference, known)}",
        exit_code=EXIT_NOT_FOUND,
        hint=f"known: {', '.join(sorted(known))}" if known else f"{root} holds no valid {label}",
    )


def _from_file(
    path: Path, root: Path, kinds: tuple[CatalogKind, ...], label: str, *, name: str | None = None
) -> FoundEntry:
    catalog, report = load_catalog(root, targets=[path])
    for kind in kinds:
        for entry in (catalog.items if kind == "CatalogItem" else catalog.bundles).values():
            if not entry.target or (name is not None and entry.name != name):
                continue
            if not _same_file(entry, path):
                continue
            problems = [
                d
                for d in report.diagnostics
                if d.document in (entry.document.index, None) and d.file == entry.report.file
            ]
            return FoundEntry(catalog, entry, problems)
    detail = "; ".join(d.render() for d in report.errors[:3])
    raise CliError(
        f"{path} holds no valid catalog {label}" + (f": {detail}" if detail else ""),
        exit_code=EXIT_FAILED,
        hint=f"devctl validate catalog-item {path}",
    )


def _same_file(entry: CatalogEntry, path: Path) -> bool:
    try:
        return Path(entry.document.file).samefile(path)
    except OSError:
        return False
