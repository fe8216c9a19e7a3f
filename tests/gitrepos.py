"""Real git repositories for tests: a catalog repository to push to, and git-sync v4's on-disk layout.

Import the fixtures (``catalog_repo``, ``git_sync_layout``) through ``pytest_plugins = ["tests.gitrepos"]`` or use
the classes directly. Every git command runs with a clean environment: no ``GIT_*`` variable of the caller (a git
hook exports ``GIT_DIR`` and ``GIT_INDEX_FILE``, which would redirect the commands to the project's own repository),
no system or global configuration, and a fixed author.

Failures raise ``AssertionError`` with git's message instead of using bare asserts, so pytest need not rewrite
this module (PYTEST_DONT_REWRITE: test modules import it before their ``pytest_plugins`` registers it).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

__all__ = [
    "CatalogRepo",
    "GitSyncLayout",
    "catalog_repo",
    "git_env",
    "git_sync_layout",
    "make_catalog_item",
    "run_git",
]

GIT_TIMEOUT = 30.0


def git_env() -> dict[str, str]:
    """The caller's environment without ``GIT_*``, with no system/global config and a fixed identity."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("GIT_")}
    env.update(
        GIT_CONFIG_NOSYSTEM="1",
        GIT_CONFIG_GLOBAL=os.devnull,
        GIT_TERMINAL_PROMPT="0",
        GIT_AUTHOR_NAME="Catalog Test",
        GIT_AUTHOR_EMAIL="catalog-test@example.invalid",
        GIT_COMMITTER_NAME="Catalog Test",
        GIT_COMMITTER_EMAIL="catalog-test@example.invalid",
    )
    return env


def run_git(cwd: Path, *args: str) -> str:
    """``git <args>`` in ``cwd``; its stdout without the trailing newline. Fails loudly with git's stderr."""
    result = subprocess.run(
        ["git", *args],
        cwd=cwd,
        env=git_env(),
        capture_output=True,
        text=True,
        timeout=GIT_TIMEOUT,
        check=False,
    )
    if result.returncode != 0:
        raise AssertionError(f"git {' '.join(args)} failed ({result.returncode}) in {cwd}: {result.stderr.strip()}")
    return result.stdout.rstrip("\n")


def make_catalog_item(name: str, **overrides: Any) -> str:
    """YAML of a minimal valid CatalogItem fulfilled by one JIRA ticket (no Terraform module needed).

    ``overrides`` replace keys of ``spec`` (camelCase, or snake_case which is converted: ``display_name=...``),
    e.g. ``make_catalog_item("cache", description="v2", version="1.1.0")`` is a changed item.
    """
    spec: dict[str, Any] = {
        "displayName": name.replace("-", " ").capitalize(),
        "description": f"The {name} test service.",
        "category": "other",
        "owner": "team-platform",
        "version": "1.0.0",
        "fields": {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "type": "object",
            "additionalProperties": False,
            "required": ["x"],
            "properties": {"x": {"title": "X", "description": "What to provision.", "type": "string"}},
        },
        "fulfillment": {
            "mode": "manual",
            "manual": [
                {
                    "name": "ticket",
                    "type": "jira",
                    "jira": {"project": "OPS", "issueType": "Task", "summary": f"Provision {name} {{{{ fields.x }}}}"},
                }
            ],
        },
    }
    for key, value in overrides.items():
        head, *rest = key.split("_")
        spec[head + "".join(part.capitalize() for part in rest)] = value
    document = {
        "apiVersion": "orchestrator.dev/v1alpha1",
        "kind": "CatalogItem",
        "metadata": {"name": name},
        "spec": spec,
    }
    return yaml.safe_dump(document, sort_keys=False)


class CatalogRepo:
    """A bare repository (the "server", reached through its ``file://`` URL) and a working clone to commit in."""

    def __init__(self, root: Path, *, branch: str = "main") -> None:
        self.root = root
        self.branch = branch
        self.bare = root / "remote.git"
        self.work = root / "work"
        self.bare.mkdir(parents=True)
        run_git(self.bare, "init", "--quiet", "--bare", f"--initial-branch={branch}")
        self.work.mkdir()
        run_git(self.work, "init", "--quiet", f"--initial-branch={branch}")
        run_git(self.work, "config", "commit.gpgsign", "false")
        run_git(self.work, "config", "tag.gpgsign", "false")
        run_git(self.work, "remote", "add", "origin", self.url)

    @property
    def url(self) -> str:
        """``file://`` URL of the bare repository."""
        return self.bare.resolve().as_uri()

    @property
    def head(self) -> str:
        """The working clone's current commit."""
        return run_git(self.work, "rev-parse", "HEAD")

    def write(self, relpath: str, text: str) -> Path:
        path = self.work / relpath
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        return path

    def remove(self, relpath: str) -> None:
        path = self.work / relpath
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink()

    def commit(self, message: str) -> str:
        """Commit everything in the working clone (additions, changes, removals); the new commit's sha."""
        run_git(self.work, "add", "--all")
        run_git(self.work, "commit", "--quiet", "--allow-empty", "--no-verify", "-m", message)
        return self.head

    def push(self, branch: str | None = None) -> None:
        """Push HEAD to ``branch`` (default: the repository's branch)."""
        run_git(self.work, "push", "--quiet", "origin", f"HEAD:refs/heads/{branch or self.branch}")

    def force_push_to(self, sha: str) -> None:
        """Rewind the branch to an older commit and push it with --force, as a history rewrite does."""
        run_git(self.work, "reset", "--quiet", "--hard", sha)
        run_git(self.work, "push", "--quiet", "--force", "origin", f"HEAD:refs/heads/{self.branch}")

    def tag(self, name: str, sha: str | None = None, *, message: str | None = None) -> None:
        """Create (or move) tag ``name`` at ``sha`` (default HEAD), annotated when ``message`` is given, and push it."""
        args = ["tag", "--force", name, sha or "HEAD"]
        if message is not None:
            args[1:1] = ["--annotate", "-m", message]
        run_git(self.work, *args)
        run_git(self.work, "push", "--quiet", "--force", "origin", f"refs/tags/{name}")


class GitSyncLayout:
    """What git-sync v4 (kubernetes/git-sync, main.go) leaves on disk, driven by hand.

    Reproduced from main.go:

    - ``initRepo``: the root is a plain (non-bare) repository, ``git init -b git-sync``, remote ``origin``.
    - ``worktreeFor``: each synced commit is a worktree at ``<root>/.worktrees/<sha>``.
    - ``createWorktree``/``configureWorktree``: ``git worktree add --force --detach <path> <sha> --no-checkout``,
      the worktree's ``.git`` file rewritten to a *relative* ``gitdir:``, then ``git reset --hard <sha>``; only
      then is the link moved, so a published worktree is always complete.
    - ``publishSymlink``: the link (``--link``, relative to the root) is a *relative* symlink, made as
      ``filepath.Rel(linkDir, worktree)``; it is first created as ``<linkDir>/tmp-link`` and then renamed over the
      link (``os.Rename``), so readers see the old or the new target and never a missing link. The leaf of the
      target is the commit sha; that (not the path) is git-sync's documented contract.
    - ``SyncRepo``: after publishing, the previous worktree's mtime is touched (starting its stale timer).
    - ``removeStaleWorktrees``/``removeWorktree``: stale worktrees (every one but the link's, with the default
      ``--stale-worktree-timeout=0``) are ``os.RemoveAll``-ed, then ``git worktree prune``.

    Not reproduced: fetching by polling, depth/sparse/submodules, hooks, ``git gc``. One difference: a leftover
    ``tmp-link`` is removed before the new one is made (git-sync would fail on it).
    """

    TMP_LINK = "tmp-link"

    def __init__(self, root: Path, repo: CatalogRepo, *, link: str = "catalog") -> None:
        self.root = root
        self.repo = repo
        self.link_name = link
        root.mkdir(parents=True, exist_ok=True)
        run_git(root, "init", "--quiet", "--initial-branch=git-sync")
        run_git(root, "remote", "add", "origin", repo.url)

    @property
    def link(self) -> Path:
        """The published link, e.g. ``<root>/catalog``."""
        return self.root / self.link_name

    @property
    def worktrees(self) -> Path:
        return self.root / ".worktrees"

    def worktree(self, sha: str) -> Path:
        return self.worktrees / sha

    def current(self) -> str | None:
        """The sha the link names (its target's leaf), or None before the first publish."""
        try:
            return self.link.readlink().name
        except FileNotFoundError:
            return None

    def fetch(self) -> None:
        run_git(
            self.root, "fetch", "--quiet", "origin", "+refs/heads/*:refs/remotes/origin/*", "+refs/tags/*:refs/tags/*"
        )

    def add_worktree(self, sha: str) -> Path:
        """Check ``sha`` out at ``.worktrees/<sha>`` the way git-sync does, without publishing it."""
        if subprocess.run(
            ["git", "cat-file", "-e", f"{sha}^{{commit}}"],
            cwd=self.root,
            env=git_env(),
            capture_output=True,
            check=False,
        ).returncode:
            self.fetch()
        path = self.worktree(sha)
        if path.exists():
            self.delete_worktree(sha, allow_current=True)
        run_git(self.root, "worktree", "add", "--quiet", "--force", "--detach", str(path), sha, "--no-checkout")
        relative_git_dir = Path(os.path.relpath(self.root, path)) / ".git" / "worktrees" / sha
        (path / ".git").write_text(f"gitdir: {relative_git_dir}\n", encoding="utf-8")
        run_git(path, "reset", "--quiet", "--hard", sha, "--")
        return path

    def swap_link(self, sha: str) -> None:
        """Point the link at ``.worktrees/<sha>``: relative symlink ``tmp-link``, renamed over the link."""
        previous = self.current()
        link_dir = self.link.parent
        link_dir.mkdir(parents=True, exist_ok=True)
        target = os.path.relpath(self.worktree(sha), link_dir)
        temporary = link_dir / self.TMP_LINK
        if os.path.lexists(temporary):
            temporary.unlink()
        temporary.symlink_to(target)
        temporary.replace(self.link)
        if previous is not None and previous != sha and self.worktree(previous).exists():
            os.utime(self.worktree(previous))

    def publish(self, sha: str) -> Path:
        """Check ``sha`` out as a worktree, then swap the link to it; the worktree's path."""
        path = self.add_worktree(sha)
        self.swap_link(sha)
        return path

    def delete_worktree(self, sha: str, *, allow_current: bool = False) -> None:
        """Remove one worktree as git-sync's stale-worktree cleanup does (never the current one, by default)."""
        if sha == self.current() and not allow_current:
            raise ValueError(f"{sha} is the published worktree; git-sync never removes it")
        shutil.rmtree(self.worktree(sha), ignore_errors=True)
        run_git(self.root, "worktree", "prune")

    def delete_stale_worktrees(self) -> list[str]:
        """git-sync's cleanup with the default ``--stale-worktree-timeout=0``: every worktree but the current."""
        current = self.current()
        stale = (
            sorted(entry.name for entry in self.worktrees.iterdir() if entry.name != current)
            if self.worktrees.is_dir()
            else []
        )
        for sha in stale:
            shutil.rmtree(self.worktree(sha), ignore_errors=True)
        if stale:
            run_git(self.root, "worktree", "prune")
        return stale


def pushed_repo(root: Path, files: Mapping[str, str], message: str = "catalog") -> CatalogRepo:
    """A catalog repository whose ``main`` holds one pushed commit with ``files`` (path -> text)."""
    repo = CatalogRepo(root)
    for path, text in files.items():
        repo.write(path, text)
    repo.commit(message)
    repo.push()
    return repo


def published_layout(root: Path, repo: CatalogRepo) -> GitSyncLayout:
    """A git-sync root for ``repo`` whose link already points at the repository's head."""
    layout = GitSyncLayout(root, repo)
    layout.publish(repo.head)
    return layout


@pytest.fixture
def catalog_repo(tmp_path: Path) -> Iterator[CatalogRepo]:
    """A catalog repository whose ``main`` holds one pushed commit with ``catalog/demo.yaml``."""
    yield pushed_repo(tmp_path / "catalog-repo", {"catalog/demo.yaml": make_catalog_item("demo")}, "Add demo")


@pytest.fixture
def git_sync_layout(tmp_path: Path, catalog_repo: CatalogRepo) -> GitSyncLayout:
    """A git-sync root for ``catalog_repo`` with link ``catalog``; nothing is published yet."""
    return GitSyncLayout(tmp_path / "git-sync", catalog_repo)
