"""GitMirror against real repositories (file://, and local sockets for HTTP and SSH failures), and the git-sync
layout fixture the catalog reader is tested with. No git command is mocked."""

from __future__ import annotations

import base64
import http.server
import logging
import os
import socket
import stat
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from orchestrator.api.catalog_source import GitRef
from orchestrator.clients.git import GitCredentials, GitMirror, GitSourceError, display_url, is_ssh_url
from tests.gitrepos import CatalogRepo, GitSyncLayout, make_catalog_item, run_git

PASSWORD = "hunter2-very-secret"
USERNAME = "robot"
PRIVATE_KEY = (
    "-----BEGIN OPENSSH PRIVATE KEY-----\n"
    "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW\n"
    "QyNTUxOQAAACBmYWtlLWtleS1mb3ItdGVzdHMtb25seS1ub3QtcmVhbAAAAA==\n"
    "-----END OPENSSH PRIVATE KEY-----\n"
)
KNOWN_HOSTS = "127.0.0.1 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGZha2UtaG9zdC1rZXktZm9yLXRlc3RzLW9ubHk=\n"


def assert_no_secrets(text: str) -> None:
    basic = base64.b64encode(f"{USERNAME}:{PASSWORD}".encode()).decode()
    for secret in (PASSWORD, basic, "BEGIN OPENSSH", "b3BlbnNzaC1rZXktdjEA", "s3cret-in-url"):
        assert secret not in text
    assert "\n" not in text


@pytest.fixture
def mirror(tmp_path: Path, catalog_repo: CatalogRepo) -> GitMirror:
    return GitMirror(tmp_path / "cache", catalog_repo.url, timeout=10)


# -- the fixtures themselves -------------------------------------------------------------------------------------


def test_make_catalog_item_is_valid_and_can_change(tmp_path: Path, devctl: Callable[..., Any]) -> None:
    root = tmp_path / "catalog"
    root.mkdir()
    (root / "demo.yaml").write_text(make_catalog_item("demo"))
    changed = make_catalog_item("demo-two", description="Now with more.", version="1.1.0", display_name="Demo 2")
    (root / "demo-two.yaml").write_text(changed)
    result = devctl("validate", "catalog-item", "--strict", str(root))
    assert result.exit_code == 0, result.output
    assert "2 document(s): valid" in result.output
    assert "version: 1.1.0" in changed and "displayName: Demo 2" in changed


def test_catalog_repo_commits_pushes_and_rewinds(catalog_repo: CatalogRepo) -> None:
    first = catalog_repo.head
    catalog_repo.write("catalog/other.yaml", make_catalog_item("other"))
    second = catalog_repo.commit("Add other")
    catalog_repo.push()
    assert run_git(catalog_repo.bare, "rev-parse", "refs/heads/main") == second != first
    catalog_repo.force_push_to(first)
    assert run_git(catalog_repo.bare, "rev-parse", "refs/heads/main") == first == catalog_repo.head
    assert catalog_repo.url.startswith("file:///")


# -- resolving ---------------------------------------------------------------------------------------------------


def test_resolve_clones_a_bare_mirror_and_returns_the_branch_head(mirror: GitMirror, catalog_repo: CatalogRepo) -> None:
    sha = mirror.resolve(GitRef())
    assert sha == catalog_repo.head
    assert len(sha) == 40
    assert run_git(mirror.repository, "rev-parse", "--is-bare-repository") == "true"
    assert mirror.resolve(GitRef(branch="main")) == sha


def test_a_new_commit_is_picked_up_by_the_next_resolve(mirror: GitMirror, catalog_repo: CatalogRepo) -> None:
    first = mirror.resolve(GitRef())
    inode = mirror.repository.stat().st_ino
    catalog_repo.write("catalog/demo.yaml", make_catalog_item("demo", description="Changed."))
    second = catalog_repo.commit("Change demo")
    catalog_repo.push()
    assert mirror.resolve(GitRef()) == second != first
    assert mirror.repository.stat().st_ino == inode  # fetched into the same mirror, not cloned again


def test_a_force_push_that_rewinds_the_branch_is_followed(mirror: GitMirror, catalog_repo: CatalogRepo) -> None:
    first = catalog_repo.head
    catalog_repo.write("catalog/bad.yaml", make_catalog_item("bad"))
    catalog_repo.commit("Oops")
    catalog_repo.push()
    assert mirror.resolve(GitRef()) == catalog_repo.head
    catalog_repo.force_push_to(first)
    assert mirror.resolve(GitRef()) == first


def test_other_branches_and_tags(mirror: GitMirror, catalog_repo: CatalogRepo) -> None:
    first = catalog_repo.head
    catalog_repo.tag("v1.0.0")
    catalog_repo.tag("v1.0.0-annotated", message="Release 1.0.0")
    catalog_repo.write("catalog/x.yaml", make_catalog_item("x"))
    second = catalog_repo.commit("Add x")
    catalog_repo.push(branch="feature/x")
    assert mirror.resolve(GitRef(tag="v1.0.0")) == first
    assert mirror.resolve(GitRef(tag="v1.0.0-annotated")) == first  # peeled to the commit
    tag_object = run_git(catalog_repo.work, "rev-parse", "v1.0.0-annotated")
    assert tag_object != first
    assert mirror.resolve(GitRef(commit=tag_object)) == first  # already fetched, and peeled too
    assert mirror.resolve(GitRef(branch="feature/x")) == second
    assert mirror.resolve(GitRef()) == first
    catalog_repo.tag("v1.0.0", second)  # a moved tag is followed too
    assert mirror.resolve(GitRef(tag="v1.0.0")) == second


def test_commit_refs_full_and_short(tmp_path: Path, mirror: GitMirror, catalog_repo: CatalogRepo) -> None:
    first = catalog_repo.head
    catalog_repo.write("catalog/x.yaml", make_catalog_item("x"))
    second = catalog_repo.commit("Add x")
    catalog_repo.push()
    assert mirror.resolve(GitRef(commit=first)) == first
    assert mirror.resolve(GitRef(commit=second[:7])) == second
    # A full sha already in the mirror needs no fetch (commits are immutable): it resolves with the remote gone.
    catalog_repo.bare.rename(tmp_path / "elsewhere.git")
    assert mirror.resolve(GitRef(commit=second)) == second
    with pytest.raises(GitSourceError):
        mirror.resolve(GitRef(commit=second[:12]))


def test_a_commit_on_no_branch_is_a_permanent_error(mirror: GitMirror, catalog_repo: CatalogRepo) -> None:
    orphan = run_git(catalog_repo.work, "commit-tree", "-m", "dangling", f"{catalog_repo.head}^{{tree}}")
    with pytest.raises(GitSourceError) as caught:
        mirror.resolve(GitRef(commit=orphan))
    assert caught.value.permanent
    assert orphan in str(caught.value)
    with pytest.raises(GitSourceError) as caught:
        mirror.resolve(GitRef(commit="0000000"))
    assert caught.value.permanent


@pytest.mark.parametrize(
    ("ref", "expected"),
    [
        (GitRef(branch="does-not-exist"), "couldn't find remote ref refs/heads/does-not-exist"),
        (GitRef(tag="v9.9.9"), "couldn't find remote ref refs/tags/v9.9.9"),
        (GitRef(branch="bad..name"), "'bad..name' is not a valid branch name"),
    ],
)
def test_unknown_refs_are_permanent_errors(mirror: GitMirror, ref: GitRef, expected: str) -> None:
    with pytest.raises(GitSourceError) as caught:
        mirror.resolve(ref)
    assert caught.value.permanent
    assert expected in str(caught.value)
    assert_no_secrets(str(caught.value))


def test_a_missing_repository_fails_without_leaking_credentials(tmp_path: Path) -> None:
    credentials = GitCredentials(username=USERNAME, password=PASSWORD)
    url = (tmp_path / "no-such-repo.git").as_uri()
    mirror = GitMirror(tmp_path / "cache", url, credentials=credentials, timeout=5)
    with pytest.raises(GitSourceError) as caught:
        mirror.resolve(GitRef())
    message = str(caught.value)
    assert message.startswith(f"fetch {url}: ")
    assert "does not appear to be a git repository" in message
    assert caught.value.permanent
    assert_no_secrets(message)
    assert caught.value.__cause__ is None and caught.value.__context__ is None


def test_a_mirror_of_another_url_or_a_broken_mirror_is_replaced(
    tmp_path: Path, mirror: GitMirror, catalog_repo: CatalogRepo
) -> None:
    mirror.resolve(GitRef())
    other = CatalogRepo(tmp_path / "other-repo")
    other.write("catalog/o.yaml", make_catalog_item("o"))
    other_head = other.commit("Other")
    other.push()
    assert GitMirror(mirror.repository.parent, other.url).resolve(GitRef()) == other_head
    assert mirror.resolve(GitRef()) == catalog_repo.head
    (mirror.repository / "HEAD").unlink()  # not a repository any more
    assert mirror.resolve(GitRef()) == catalog_repo.head
    (mirror.repository / "refs" / "remotes" / "origin" / "main.lock").write_text("")  # left by a killed fetch
    catalog_repo.write("catalog/new.yaml", make_catalog_item("new"))
    catalog_repo.commit("New")
    catalog_repo.push()
    assert GitMirror(mirror.repository.parent, catalog_repo.url).resolve(GitRef()) == catalog_repo.head


# -- checking out and pruning ------------------------------------------------------------------------------------


def test_checkout_is_a_complete_immutable_idempotent_tree(mirror: GitMirror, catalog_repo: CatalogRepo) -> None:
    catalog_repo.write(".gitattributes", "ignored.txt export-ignore\nsubst.txt export-subst\n")
    catalog_repo.write("ignored.txt", "kept\n")
    catalog_repo.write("subst.txt", "$Format:%H$\n")
    (catalog_repo.work / "catalog" / "alias.yaml").symlink_to("demo.yaml")
    sha = catalog_repo.commit("More files")
    catalog_repo.push()
    assert mirror.resolve(GitRef()) == sha
    path = mirror.checkout(sha)
    assert path == mirror.revisions / sha
    assert (path / "catalog" / "demo.yaml").read_text() == make_catalog_item("demo")
    assert (path / "catalog" / "alias.yaml").readlink() == Path("demo.yaml")
    assert (path / "ignored.txt").read_text() == "kept\n"  # the commit's content, not git archive's export view
    assert (path / "subst.txt").read_text() == "$Format:%H$\n"
    assert not (path / ".git").exists()
    assert sorted(entry.name for entry in mirror.revisions.iterdir()) == [sha]  # no temporary directory left
    before = path.stat()

    catalog_repo.write("catalog/demo.yaml", make_catalog_item("demo", description="Changed."))
    later = catalog_repo.commit("Change")
    catalog_repo.push()
    assert mirror.resolve(GitRef()) == later
    assert mirror.checkout(sha.upper()) == path
    assert path.stat().st_ino == before.st_ino and path.stat().st_mtime_ns == before.st_mtime_ns
    assert (path / "catalog" / "demo.yaml").read_text() == make_catalog_item("demo")
    assert (mirror.checkout(later) / "catalog" / "demo.yaml").read_text() == make_catalog_item(
        "demo", description="Changed."
    )


def test_checkout_refuses_unknown_commits_and_escaping_links(mirror: GitMirror, catalog_repo: CatalogRepo) -> None:
    mirror.resolve(GitRef())
    for sha in ("0" * 40, "abc"):
        with pytest.raises(GitSourceError) as caught:
            mirror.checkout(sha)
        assert caught.value.permanent
    (catalog_repo.work / "escape").symlink_to("/etc/passwd")
    sha = catalog_repo.commit("Escape")
    catalog_repo.push()
    mirror.resolve(GitRef())
    with pytest.raises(GitSourceError, match="'escape', a link that leaves the repository") as caught:
        mirror.checkout(sha)
    assert caught.value.permanent
    assert not mirror.revision_path(sha).exists()
    assert [entry.name for entry in mirror.revisions.iterdir() if entry.name.startswith(".tmp-")] == []


def test_prune_removes_revisions_not_kept(mirror: GitMirror, catalog_repo: CatalogRepo) -> None:
    shas = []
    for index in range(3):
        catalog_repo.write("catalog/demo.yaml", make_catalog_item("demo", version=f"1.0.{index}"))
        shas.append(catalog_repo.commit(f"Version {index}"))
        catalog_repo.push()
        assert mirror.resolve(GitRef()) == shas[-1]
        mirror.checkout(shas[-1])
    stale_temporary = mirror.revisions / ".tmp-abandoned"
    stale_temporary.mkdir()
    os.utime(stale_temporary, (0, 0))
    with pytest.raises(TypeError):
        mirror.prune(shas[-1])
    mirror.prune([shas[-1], shas[0].upper()])
    assert sorted(entry.name for entry in mirror.revisions.iterdir()) == sorted([shas[0], shas[2]])
    mirror.prune([])
    assert list(mirror.revisions.iterdir()) == []
    assert mirror.checkout(shas[1]).is_dir()  # the commits are still in the mirror


# -- credentials -------------------------------------------------------------------------------------------------


def test_credentials_from_flux_secret_keys() -> None:
    data = {"username": USERNAME, "password": PASSWORD, "identity": PRIVATE_KEY, "known_hosts": KNOWN_HOSTS}
    credentials = GitCredentials.from_secret_data(data)
    assert credentials == GitCredentials(USERNAME, PASSWORD, PRIVATE_KEY, KNOWN_HOSTS)
    assert_no_secrets(repr(credentials))
    assert GitCredentials.from_secret_data({}) == GitCredentials()
    with pytest.raises(GitSourceError, match="no 'password'") as caught:
        GitCredentials.from_secret_data({"username": USERNAME})
    assert caught.value.permanent
    with pytest.raises(GitSourceError, match="no 'username'") as caught:
        GitCredentials.from_secret_data({"password": PASSWORD})
    assert caught.value.permanent
    assert_no_secrets(str(caught.value))


def test_url_helpers() -> None:
    assert display_url("https://user:s3cret-in-url@git.example.com/x.git") == "https://git.example.com/x.git"
    assert is_ssh_url("ssh://git@example.com/x.git") and is_ssh_url("git@example.com:org/x.git")
    assert not is_ssh_url("https://example.com/x.git") and not is_ssh_url("/srv/git/x.git")


def test_credentials_stay_out_of_errors_repr_logs_and_argv(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    credentials = GitCredentials(username=USERNAME, password=PASSWORD)
    url = "https://robot:s3cret-in-url@127.0.0.1:9/x.git"  # port 9 (discard) is closed
    mirror = GitMirror(tmp_path / "cache", url, credentials=credentials, timeout=5)
    assert_no_secrets(repr(mirror))
    assert "127.0.0.1:9" in repr(mirror)
    with caplog.at_level(logging.DEBUG, logger="git"), pytest.raises(GitSourceError) as caught:
        mirror.resolve(GitRef())
    message = str(caught.value)
    assert message.startswith("fetch https://127.0.0.1:9/x.git: ")
    assert not caught.value.permanent  # connection refused: worth retrying
    assert_no_secrets(message)
    assert "Popen" in caplog.text  # GitPython logged the command lines, and they hold no credentials
    assert PASSWORD not in caplog.text and "s3cret-in-url" not in caplog.text
    assert PASSWORD not in (mirror.repository / "config").read_text()


class _RecordingHandler(http.server.BaseHTTPRequestHandler):
    status = 401
    authorizations: list[str | None]

    def do_GET(self) -> None:
        type(self).authorizations.append(self.headers.get("Authorization"))
        self.send_response(self.status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def http_server() -> Iterator[Callable[[int], tuple[str, list[str | None]]]]:
    servers: list[http.server.ThreadingHTTPServer] = []

    def start(status: int) -> tuple[str, list[str | None]]:
        handler = type("Handler", (_RecordingHandler,), {"status": status, "authorizations": []})
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}/org/catalog.git", handler.authorizations

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize(("status", "permanent"), [(401, True), (403, True), (404, True), (503, False)])
def test_basic_auth_goes_in_a_header_and_http_errors_are_classified(
    tmp_path: Path, http_server: Callable[[int], tuple[str, list[str | None]]], status: int, permanent: bool
) -> None:
    url, authorizations = http_server(status)
    mirror = GitMirror(tmp_path / "cache", url, credentials=GitCredentials(USERNAME, PASSWORD), timeout=5)
    with pytest.raises(GitSourceError) as caught:
        mirror.resolve(GitRef())
    assert caught.value.permanent is permanent, str(caught.value)
    assert_no_secrets(str(caught.value))
    expected = "Basic " + base64.b64encode(f"{USERNAME}:{PASSWORD}".encode()).decode()
    assert authorizations and set(authorizations) == {expected}


def test_a_server_that_never_answers_times_out_as_a_temporary_error(tmp_path: Path) -> None:
    with socket.create_server(("127.0.0.1", 0)) as silent:  # accepts connections, never answers
        url = f"http://127.0.0.1:{silent.getsockname()[1]}/x.git"
        mirror = GitMirror(tmp_path / "cache", url, credentials=GitCredentials(USERNAME, PASSWORD), timeout=1)
        with pytest.raises(GitSourceError) as caught:
            mirror.resolve(GitRef())
    assert str(caught.value) == f"fetch {url}: timed out after 1s"
    assert not caught.value.permanent


@pytest.mark.parametrize("url", ["ssh://git@127.0.0.1:9/x.git", "git@127.0.0.1:org/x.git"])
def test_ssh_urls_need_known_hosts(tmp_path: Path, url: str) -> None:
    for credentials in (None, GitCredentials(identity=PRIVATE_KEY)):
        with pytest.raises(GitSourceError, match="add 'known_hosts' to the Secret") as caught:
            GitMirror(tmp_path / "cache", url, credentials=credentials, timeout=5).resolve(GitRef())
        assert caught.value.permanent
        assert_no_secrets(str(caught.value))


def test_ssh_identity_is_a_private_file_and_stays_out_of_errors(tmp_path: Path) -> None:
    credentials = GitCredentials(identity=PRIVATE_KEY, known_hosts=KNOWN_HOSTS)
    mirror = GitMirror(tmp_path / "cache", "ssh://git@127.0.0.1:9/x.git", credentials=credentials, timeout=5)
    assert_no_secrets(repr(mirror))
    with pytest.raises(GitSourceError) as caught:
        mirror.resolve(GitRef())
    assert "Connection refused" in str(caught.value)
    assert not caught.value.permanent
    assert_no_secrets(str(caught.value))
    ssh = tmp_path / "cache" / "ssh"
    assert stat.S_IMODE(ssh.stat().st_mode) == 0o700
    for name, content in (("identity", PRIVATE_KEY), ("known_hosts", KNOWN_HOSTS)):
        assert stat.S_IMODE((ssh / name).stat().st_mode) == 0o600
        assert (ssh / name).read_text() == content


# -- the git-sync layout -----------------------------------------------------------------------------------------


def test_git_sync_layout_publishes_relative_links_to_worktrees(
    git_sync_layout: GitSyncLayout, catalog_repo: CatalogRepo
) -> None:
    layout = git_sync_layout
    assert layout.current() is None
    first = catalog_repo.head
    worktree = layout.publish(first)
    assert worktree == layout.root / ".worktrees" / first
    assert layout.link.readlink() == Path(".worktrees", first)
    assert (layout.link / "catalog" / "demo.yaml").read_text() == make_catalog_item("demo")
    assert (worktree / ".git").read_text() == f"gitdir: ../../.git/worktrees/{first}\n"
    assert run_git(worktree, "rev-parse", "HEAD") == first

    catalog_repo.write("catalog/demo.yaml", make_catalog_item("demo", version="2.0.0"))
    second = catalog_repo.commit("v2")
    catalog_repo.push()
    layout.publish(second)
    assert layout.current() == second
    assert not os.path.lexists(layout.root / GitSyncLayout.TMP_LINK)
    assert (layout.worktree(first) / "catalog" / "demo.yaml").exists()  # kept until the stale cleanup
    with pytest.raises(ValueError, match="never removes"):
        layout.delete_worktree(second)
    layout.delete_worktree(first)
    assert not layout.worktree(first).exists()
    assert str(layout.worktree(first)) not in run_git(layout.root, "worktree", "list")
    layout.publish(first)  # the old commit comes back after a rewind
    assert layout.delete_stale_worktrees() == [second]
    assert sorted(entry.name for entry in layout.worktrees.iterdir()) == [first]


def test_git_sync_link_swap_is_atomic(git_sync_layout: GitSyncLayout, catalog_repo: CatalogRepo) -> None:
    revisions: dict[str, int] = {}
    for index in range(8):
        catalog_repo.write("catalog/a.txt", f"{index}\n")
        catalog_repo.write("catalog/b.txt", f"{index}\n")
        revisions[catalog_repo.commit(f"Revision {index}")] = index
    catalog_repo.push()
    layout = git_sync_layout
    order = list(revisions)
    layout.publish(order[0])
    stop = threading.Event()
    problems: list[str] = []
    reads = 0

    def reader() -> None:
        nonlocal reads
        while not stop.is_set():
            target = layout.link.readlink()  # the link exists at every instant
            if target.is_absolute() or target.parent != Path(".worktrees"):
                problems.append(f"unexpected target {target}")
            directory = layout.link.parent / target
            a = (directory / "catalog" / "a.txt").read_text()
            b = (directory / "catalog" / "b.txt").read_text()
            if not a == b == f"{revisions[target.name]}\n":
                problems.append(f"{target}: a={a!r} b={b!r}")
            reads += 1

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        for sha in order[1:]:
            layout.publish(sha)
    finally:
        stop.set()
        thread.join(timeout=10)
    assert problems == []
    assert reads > 0
    assert layout.current() == order[-1]
