"""Reading one catalog revision from disk, consistently, for catalog sync.

The git-sync sidecar publishes each commit as a worktree directory named after the commit and swaps a symlink
(its ``--link``) to it atomically; stale worktrees are deleted later. A revision is therefore read only through
the directory the link resolved to, never through the link itself, so a swap in the middle of a read cannot mix
two revisions. After the read the link is resolved again: if it moved, or the directory vanished (the sidecar's
stale-worktree cleanup), what was read is thrown away and the newer revision is read instead. The same reader
serves the operator's own git checkouts, which are immutable directories named after their commit.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .diagnostics import Diagnostic
from .validate import Catalog, ValidationReport, load_catalog

READ_ATTEMPTS = 5


class SourceUnavailable(Exception):
    """The source cannot be read right now (no link yet, link kept moving); worth retrying, not a catalog error."""


@dataclass(frozen=True)
class RevisionRead:
    """A whole revision, parsed and validated."""

    revision: str
    root: Path
    catalog: Catalog
    report: ValidationReport


def resolve_link(link: Path) -> tuple[str, Path]:
    """The revision a git-sync link points at (the last element of its target) and the directory it names."""
    try:
        target = link.readlink()
    except FileNotFoundError:
        raise SourceUnavailable(
            f"{link} does not exist yet (has the git-sync sidecar cloned the repository?)"
        ) from None
    except OSError as error:
        if error.errno == 22:  # EINVAL: not a symlink
            raise SourceUnavailable(
                f"{link} is not a symbolic link; point the CatalogSource at git-sync's --link"
            ) from None
        raise SourceUnavailable(f"cannot read the link {link}: {error.strerror or error}") from None
    revision = target.name
    directory = target if target.is_absolute() else link.parent / target
    return revision, directory.resolve()


def _read(revision: str, checkout: Path, directory: str) -> RevisionRead:
    root = checkout / directory if directory not in ("", ".") else checkout
    if not root.is_dir():
        report = ValidationReport()
        report.diagnostics.append(
            Diagnostic(
                directory, None, None, "", f"the catalog directory '{directory}' does not exist in this revision"
            )
        )
        return RevisionRead(revision, root, Catalog(root=root), report)
    catalog, report = load_catalog(root, relative_names=True)
    return RevisionRead(revision, root, catalog, report)


def read_link(
    link: Path,
    directory: str = ".",
    *,
    attempts: int = READ_ATTEMPTS,
    on_retry: Callable[[str], None] | None = None,
) -> RevisionRead:
    """Read the revision the link points at; retried while the link moves or its target vanishes mid-read."""
    last_problem = ""
    for _ in range(attempts):
        revision, checkout = resolve_link(link)
        if not checkout.is_dir():
            last_problem = f"{link} points at {checkout}, which does not exist (removed while being published?)"
        else:
            result = _read(revision, checkout, directory)
            after = resolve_link(link)
            if after == (revision, checkout) and checkout.is_dir():
                return result
            last_problem = f"{link} moved from revision {revision} to {after[0]} while it was being read"
        if on_retry is not None:
            on_retry(last_problem)
    raise SourceUnavailable(f"gave up reading {link} after {attempts} attempts: {last_problem}")


def read_checkout(revision: str, checkout: Path, directory: str = ".") -> RevisionRead:
    """Read an immutable checkout of ``revision`` (the operator's own git cache)."""
    if not checkout.is_dir():
        raise SourceUnavailable(f"the checkout of {revision} at {checkout} is missing")
    result = _read(revision, checkout, directory)
    if not checkout.is_dir():
        raise SourceUnavailable(f"the checkout of {revision} at {checkout} was removed while being read")
    return result
