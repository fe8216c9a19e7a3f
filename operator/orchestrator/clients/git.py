"""The operator's own git checkouts: a bare mirror per CatalogSource and immutable trees per commit.

A CatalogSource either names a git-sync sidecar's link or a URL the operator fetches itself; this module is the
second case. Everything lives in one cache directory owned by the source::

    <cache_dir>/repo/              bare repository; remote "origin" is the source's URL
    <cache_dir>/revisions/<sha>/   the tree of one commit, never modified once it has this name
    <cache_dir>/revisions/.tmp-*   checkouts being built, and revisions being deleted
    <cache_dir>/ssh/               the SSH identity and known_hosts of the source's Secret (mode 0600)

Every call blocks (callers run it in a worker thread) and every git command is killed after ``timeout`` seconds.
The Secret's credentials reach git only through its environment and 0600 files: never the URL, the command line
(visible in process listings and in GitPython's debug log) or an exception message. A URL's own userinfo
(``https://user:token@host/...``, better avoided) is kept in the mirror's config file only, and cut from every
message. git runs without system and global configuration, without terminal prompts or askpass helpers, and with
its trace variables off, so neither the host's configuration nor a credential helper takes part.
"""

from __future__ import annotations

import base64
import logging
import os
import re
import shlex
import shutil
import tarfile
import tempfile
import threading
import time
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from pathlib import Path

import git

from ..api.catalog_source import GitRef
from ..redaction import Redactor

_log = logging.getLogger(__name__)

DEFAULT_BRANCH = "main"
_FULL_SHA = re.compile(r"[0-9a-f]{40}")
_SHORT_SHA = re.compile(r"[0-9a-f]{7,40}")
_USERINFO = re.compile(r"(?<=://)[^/@\s'\"]*@")
_MAX_MESSAGE = 300
# A checkout or deletion older than this was abandoned by a process that died; prune() removes it.
_STALE_TEMP_AGE = 3600.0
# Reasons that will not go away by retrying: credentials, host keys, missing repositories and refs.
_PERMANENT = re.compile(
    "|".join(
        (
            r"authentication failed",
            r"could not read (username|password)",
            r"terminal prompts disabled",
            r"permission denied",
            r"host key verification failed",
            r"no matching host key",
            r"repository (not found|'[^']*' not found)",
            r"does not appear to be a git repository",
            r"not a git repository",
            r"returned error: (401|403|404)",
            r"couldn't find remote ref",
            r"not our ref",
            r"unadvertised object",
            r"invalid refspec",
            r"unknown revision",
            r"bad revision",
            r"is ambiguous",
            r"not a valid object name",
            r"unsupported protocol",
            r"transport '[^']*' not allowed",
        )
    ),
    re.IGNORECASE,
)
_BOILERPLATE = (
    "hint:",
    "please make sure you have the correct access rights",
    "and the repository exists",
)
_PATH_LOCKS: dict[Path, threading.Lock] = {}
_PATH_LOCKS_GUARD = threading.Lock()


class GitSourceError(Exception):
    """A git source cannot be fetched or checked out; the message is one line and holds no credentials.

    ``permanent`` is true when retrying cannot help until someone changes the source or its Secret (authentication
    failed, unknown host key, no such repository, branch, tag or commit); network errors and timeouts are not.
    """

    def __init__(self, message: str, *, permanent: bool) -> None:
        super().__init__(message)
        self.message = message
        self.permanent = permanent


@dataclass(frozen=True)
class GitCredentials:
    """What a source's Secret holds, under Flux's key names: HTTPS basic auth, or an SSH key and known_hosts."""

    username: str | None = None
    password: str | None = None
    identity: str | None = None
    """SSH private key (PEM or OpenSSH format)."""
    known_hosts: str | None = None
    """``known_hosts`` lines for the SSH server; required for SSH URLs."""

    @classmethod
    def from_secret_data(cls, data: Mapping[str, str]) -> GitCredentials:
        """Build credentials from decoded Secret data.

        Basic auth needs both keys: a Secret with only one is a permanent ``GitSourceError`` (naming the key, never
        a value), so callers handle it like any other source that cannot be fetched until someone fixes it.
        """
        username = data.get("username") or None
        password = data.get("password") or None
        if username is not None and password is None:
            raise GitSourceError("the git Secret has a 'username' but no 'password'", permanent=True)
        if password is not None and username is None:
            raise GitSourceError("the git Secret has a 'password' but no 'username'", permanent=True)
        return cls(
            username=username,
            password=password,
            identity=data.get("identity") or None,
            known_hosts=data.get("known_hosts") or None,
        )

    def __repr__(self) -> str:
        return (
            f"GitCredentials(username={self.username!r}, password={_mask(self.password)}, "
            f"identity={_mask(self.identity)}, known_hosts={_mask(self.known_hosts)})"
        )

    def secrets(self) -> list[str]:
        """Every string that must not appear in a message: the password, its encodings, the key's lines."""
        values = [value for value in (self.password,) if value]
        if self.username and self.password:
            pair = f"{self.username}:{self.password}"
            values += [pair, base64.b64encode(pair.encode()).decode()]
        if self.identity:
            values += [line.strip() for line in self.identity.splitlines() if line.strip()]
        return values


def _mask(value: str | None) -> str:
    return "None" if value is None else "'***'"


def display_url(url: str) -> str:
    """The URL without its userinfo (``https://user:token@host/x`` shows as ``https://host/x``)."""
    return _USERINFO.sub("", url)


def is_ssh_url(url: str) -> bool:
    """ssh://, git+ssh:// and scp-like ``user@host:path`` URLs (a colon before the first slash, no scheme)."""
    if "://" in url:
        return url.split("://", 1)[0].lower() in ("ssh", "git+ssh", "ssh+git")
    return ":" in url.split("/", 1)[0]


def _is_http_url(url: str) -> bool:
    return "://" in url and url.split("://", 1)[0].lower() in ("http", "https")


def _authority(url: str) -> tuple[str, str]:
    """``(userinfo, host[:port])`` of a ``scheme://`` URL; empty strings for other URLs."""
    if "://" not in url:
        return "", ""
    authority = re.split(r"[/?#]", url.split("://", 1)[1], maxsplit=1)[0]
    userinfo, _, host = authority.rpartition("@")
    return userinfo, host


def _path_lock(path: Path) -> threading.Lock:
    """One lock per cache directory, so two mirrors of the same directory in this process take turns."""
    key = path.resolve()
    with _PATH_LOCKS_GUARD:
        return _PATH_LOCKS.setdefault(key, threading.Lock())


def _write_private(path: Path, text: str) -> None:
    """Replace ``path`` with ``text``, readable by the owner only from its first byte."""
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.unlink(missing_ok=True)
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(text if text.endswith("\n") else text + "\n")
    temporary.replace(path)


def _quote_config_value(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _remove_tree(path: Path) -> None:
    """Remove a revision atomically for readers: rename it away first, then delete it."""
    doomed = path.with_name(f".tmp-delete-{path.name}-{os.getpid()}-{threading.get_ident()}")
    try:
        path.rename(doomed)
    except FileNotFoundError:
        return
    shutil.rmtree(doomed, ignore_errors=True)


class GitMirror:
    """A bare mirror of one repository in ``cache_dir``, resolving refs to commits and checking commits out.

    ``resolve`` fetches with forced refspecs, so a branch that was force-pushed backwards is followed, and returns
    the full commit sha. ``checkout`` turns a commit into ``revisions/<sha>``, an immutable directory built beside
    its final name and renamed into place. ``prune`` removes the revisions no longer needed.

    Revisions are extracted from ``git archive`` rather than added with ``git worktree add``: an archive is a plain
    tree with no ``.git`` file pointing back into the mirror, so it can be built in a temporary directory and
    renamed (a worktree's registration names its path, which a rename breaks); deleting it needs no
    ``git worktree prune``; and a broken or re-cloned mirror, or git's garbage collection after a force-push,
    cannot take files away from a revision that is being read. The mirror's ``info/attributes`` turns off
    ``export-ignore`` and ``export-subst``, so the tree is the commit's content, byte for byte. Extraction uses
    tarfile's ``data`` filter: a symbolic link that points outside the tree is refused. Submodules and Git LFS
    objects are not fetched.
    """

    def __init__(
        self,
        cache_dir: Path,
        url: str,
        *,
        credentials: GitCredentials | None = None,
        timeout: float = 60.0,
    ) -> None:
        if timeout <= 0:
            raise ValueError("timeout must be positive")
        self._cache_dir = Path(cache_dir)
        self._url = url
        self._credentials = credentials
        self._timeout = timeout
        self._redactor = Redactor(credentials.secrets() if credentials else ())
        userinfo = _authority(url)[0]
        if userinfo:
            self._redactor.add([userinfo, userinfo.partition(":")[2]])
        self._checked_locks = False

    def __repr__(self) -> str:
        return f"GitMirror({self.display_url!r}, cache_dir={str(self._cache_dir)!r}, credentials={self._credentials!r})"

    @property
    def display_url(self) -> str:
        """The URL, safe to show (no userinfo)."""
        return display_url(self._url)

    @property
    def repository(self) -> Path:
        return self._cache_dir / "repo"

    @property
    def revisions(self) -> Path:
        return self._cache_dir / "revisions"

    def revision_path(self, sha: str) -> Path:
        """Where ``checkout(sha)`` puts the tree of ``sha`` (it may not exist yet)."""
        return self.revisions / sha

    # -- the public operations -------------------------------------------------------------------------------------

    def resolve(self, ref: GitRef) -> str:
        """Fetch ``ref`` (branch ``main`` when it names nothing) and return its full commit sha.

        A commit given by its full sha that is already in the mirror is returned without a fetch: commits are
        immutable. A short sha must name exactly one commit.
        """
        with _path_lock(self._cache_dir):
            try:
                return self._resolve(ref)
            except OSError as error:
                raise self._os_error("resolve", error) from None

    def checkout(self, sha: str) -> Path:
        """The tree of commit ``sha`` (full, as ``resolve`` returns it) at ``revisions/<sha>``; idempotent."""
        sha = sha.lower()
        if not _FULL_SHA.fullmatch(sha):
            raise GitSourceError(f"checkout {self.display_url}: '{sha}' is not a full commit sha", permanent=True)
        target = self.revision_path(sha)
        if target.is_dir():
            return target
        with _path_lock(self._cache_dir):
            try:
                return self._checkout(sha, target)
            except OSError as error:
                raise self._os_error("checkout", error) from None

    def prune(self, keep: Collection[str]) -> None:
        """Remove every revision directory whose sha is not in ``keep`` (and abandoned temporary directories).

        Each revision is renamed away before it is deleted, so it disappears at once. git's own garbage collection
        runs afterwards when git thinks it is due (``gc --auto``); it cannot affect the revisions left.
        """
        if isinstance(keep, str):
            raise TypeError("keep is a collection of shas, not one sha")
        wanted = {sha.lower() for sha in keep}
        with _path_lock(self._cache_dir):
            try:
                self._prune(wanted)
            except OSError as error:
                raise self._os_error("prune", error) from None

    # -- pruning ---------------------------------------------------------------------------------------------------

    def _prune(self, wanted: set[str]) -> None:
        if not self.revisions.is_dir():
            return
        now = time.time()
        for entry in self.revisions.iterdir():
            if entry.name.startswith(".tmp-"):
                try:
                    stale = now - entry.lstat().st_mtime > _STALE_TEMP_AGE
                except FileNotFoundError:
                    continue
                if stale:
                    shutil.rmtree(entry, ignore_errors=True)
            elif entry.name not in wanted:
                _remove_tree(entry)
        if (self.repository / "HEAD").is_file():
            status, _, stderr = self._git(["gc", "--auto", "--quiet"], self.repository)
            if status != 0:
                _log.warning("git gc in %s failed: %s", self.repository, self._detail(stderr))

    # -- resolving -------------------------------------------------------------------------------------------------

    def _resolve(self, ref: GitRef) -> str:
        repo = self._open()
        if ref.commit is not None:
            return self._resolve_commit(ref.commit.lower(), repo)
        if ref.tag is not None:
            name = self._ref_name("tags", ref.tag)
            self._fetch([f"+{name}:{name}"], repo)
            return self._peel(name, repo, f"tag '{ref.tag}'")
        branch = ref.branch if ref.branch is not None else DEFAULT_BRANCH
        name = self._ref_name("heads", branch)
        local = f"refs/remotes/origin/{branch}"
        self._fetch([f"+{name}:{local}"], repo)
        return self._peel(local, repo, f"branch '{branch}'")

    def _resolve_commit(self, commit: str, repo: Path) -> str:
        if not _SHORT_SHA.fullmatch(commit):
            raise GitSourceError(f"resolve {self.display_url}: '{commit}' is not a commit sha", permanent=True)
        if _FULL_SHA.fullmatch(commit) and self._commit_exists(commit, repo):
            return self._peel(commit, repo, f"commit {commit}")
        self._fetch(["+refs/heads/*:refs/remotes/origin/*", "+refs/tags/*:refs/tags/*"], repo, prune=True)
        if _FULL_SHA.fullmatch(commit) and not self._commit_exists(commit, repo):
            # Not on a branch or tag: servers that allow it (GitHub, GitLab) send any reachable commit by its id.
            status, _, stderr = self._git(["fetch", "--no-tags", "--no-auto-gc", "origin", commit], repo, remote=True)
            if status != 0 and not self._command_error("fetch", status, stderr).permanent:
                raise self._command_error("fetch", status, stderr)
            if status != 0 or not self._commit_exists(commit, repo):
                raise GitSourceError(
                    f"resolve {self.display_url}: commit {commit} is not on any branch or tag", permanent=True
                )
        return self._peel(commit, repo, f"commit {commit}")

    def _ref_name(self, kind: str, name: str) -> str:
        full = f"refs/{kind}/{name}"
        status, _, _ = self._git(["check-ref-format", full], None)
        if status != 0 or name.startswith("-"):
            label = "branch" if kind == "heads" else "tag"
            raise GitSourceError(f"resolve {self.display_url}: '{name}' is not a valid {label} name", permanent=True)
        return full

    def _commit_exists(self, commit: str, repo: Path) -> bool:
        status, _, _ = self._git(["cat-file", "-e", f"{commit}^{{commit}}"], repo)
        return status == 0

    def _peel(self, name: str, repo: Path, what: str) -> str:
        status, stdout, stderr = self._git(["rev-parse", "--verify", "--quiet", f"{name}^{{commit}}"], repo)
        sha = stdout.strip().lower()
        if status != 0 or not _FULL_SHA.fullmatch(sha):
            problem = "is ambiguous; give more digits" if "ambiguous" in stderr else "does not name a commit"
            raise GitSourceError(f"resolve {self.display_url}: {what} {problem}", permanent=True)
        return sha

    def _fetch(self, refspecs: list[str], repo: Path, *, prune: bool = False) -> None:
        args = ["fetch", "--no-tags", "--no-auto-gc", *(["--prune"] if prune else []), "origin", *refspecs]
        status, _, stderr = self._git(args, repo, remote=True)
        if status != 0:
            raise self._command_error("fetch", status, stderr)

    # -- the mirror itself -----------------------------------------------------------------------------------------

    def _open(self) -> Path:
        """The bare repository, created (again) when missing, broken, or a mirror of another URL."""
        repo = self.repository
        if any(ord(character) < 0x20 or character == "\x7f" for character in self._url):
            raise GitSourceError(f"the URL {self.display_url!r} holds control characters", permanent=True)
        if os.path.lexists(repo):
            if not self._checked_locks:
                self._remove_stale_locks(repo)
                self._checked_locks = True
            if self._usable(repo):
                return repo
            if repo.is_dir() and not repo.is_symlink():
                shutil.rmtree(repo)
            else:
                repo.unlink()
        self._cache_dir.mkdir(parents=True, exist_ok=True)
        building = Path(tempfile.mkdtemp(dir=self._cache_dir, prefix=".tmp-repo-"))
        try:
            status, _, stderr = self._git(["init", "--bare", "--quiet"], building)
            if status != 0:
                raise self._command_error("init", status, stderr)
            with (building / "config").open("a", encoding="utf-8") as config:
                config.write(f'[remote "origin"]\n\turl = {_quote_config_value(self._url)}\n')
            (building / "info").mkdir(exist_ok=True)
            (building / "info" / "attributes").write_text("* -export-ignore -export-subst\n", encoding="utf-8")
            building.rename(repo)
        finally:
            shutil.rmtree(building, ignore_errors=True)
        self._checked_locks = True
        return repo

    def _usable(self, repo: Path) -> bool:
        status, stdout, _ = self._git(["rev-parse", "--is-bare-repository"], repo)
        if status != 0 or stdout.strip() != "true":
            return False
        status, stdout, _ = self._git(["config", "--get", "remote.origin.url"], repo)
        return status == 0 and stdout.rstrip("\n") == self._url

    @staticmethod
    def _remove_stale_locks(repo: Path) -> None:
        """Lock files a killed git left behind; nobody else writes to this mirror (see ``_path_lock``)."""
        for directory, subdirectories, files in os.walk(repo):
            if Path(directory) == repo and "objects" in subdirectories:
                subdirectories.remove("objects")
            for name in files:
                if name.endswith(".lock"):
                    Path(directory, name).unlink(missing_ok=True)

    # -- checking out ----------------------------------------------------------------------------------------------

    def _checkout(self, sha: str, target: Path) -> Path:
        if target.is_dir():
            return target
        repo = self._open()
        if not self._commit_exists(sha, repo):
            raise GitSourceError(
                f"checkout {self.display_url}: commit {sha} has not been fetched (resolve a ref first)",
                permanent=True,
            )
        self.revisions.mkdir(parents=True, exist_ok=True)
        building = Path(tempfile.mkdtemp(dir=self.revisions, prefix=f".tmp-{sha[:12]}-"))
        try:
            archive = building / "tree.tar"
            status, _, stderr = self._git(["archive", "--format=tar", f"--output={archive}", sha], repo)
            if status != 0:
                raise self._command_error("archive", status, stderr)
            tree = building / "tree"
            tree.mkdir()
            try:
                with tarfile.open(archive) as tar:
                    tar.extractall(tree, filter="data")
            except tarfile.FilterError as error:
                raise GitSourceError(
                    f"checkout {self.display_url}: commit {sha} has '{error.tarinfo.name}', a link that leaves "
                    "the repository or a file that is neither a regular file, a directory nor a link",
                    permanent=True,
                ) from None
            except tarfile.TarError as error:
                raise GitSourceError(
                    f"checkout {self.display_url}: git archive of {sha} is unreadable ({error})", permanent=False
                ) from None
            try:
                tree.rename(target)
            except OSError:
                if not target.is_dir():  # else it appeared meanwhile, with the same content
                    raise
        finally:
            shutil.rmtree(building, ignore_errors=True)
        return target

    # -- running git -----------------------------------------------------------------------------------------------

    def _environment(self, repo: Path | None, *, remote: bool) -> dict[str, str]:
        """git's environment: the repository, isolation from the host's configuration, and (``remote``) the
        credentials."""
        env = {
            "GIT_TERMINAL_PROMPT": "0",
            "GIT_ASKPASS": "",
            "SSH_ASKPASS": "",
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_CONFIG_GLOBAL": os.devnull,
            "GIT_CONFIG_PARAMETERS": "",
            "GIT_TRACE": "0",
            "GIT_TRACE_CURL": "0",
            "GIT_TRACE_PACKET": "0",
            "GIT_TRACE_SETUP": "0",
            # GIT_CURL_VERBOSE is on when set at all, whatever its value, so it is left alone; should the
            # operator's own environment turn it on, git still masks the Authorization header.
            "GIT_TRACE_REDACT": "1",
        }
        if repo is not None:
            # Pin the repository, so variables inherited from a caller (a git hook exports GIT_DIR and
            # GIT_INDEX_FILE) cannot point git elsewhere. GIT_WORK_TREE cannot be unset from here; it must not be
            # set in the operator's environment (``git init --bare`` refuses to run with it).
            env.update(
                GIT_DIR=str(repo),
                GIT_OBJECT_DIRECTORY=str(repo / "objects"),
                GIT_ALTERNATE_OBJECT_DIRECTORIES="",
                GIT_INDEX_FILE=str(repo / "index"),
                GIT_NAMESPACE="",
            )
        config = [("gc.autoDetach", "false"), ("credential.helper", "")]
        if remote:
            # A stalled transfer ends by itself too, should the kill after ``timeout`` miss git's helpers.
            config += [("http.lowSpeedLimit", "1"), ("http.lowSpeedTime", str(max(1, int(self._timeout))))]
        credentials = self._credentials
        if remote and _is_http_url(self._url) and credentials and credentials.username and credentials.password:
            token = base64.b64encode(f"{credentials.username}:{credentials.password}".encode()).decode()
            origin = f"{self._url.split('://', 1)[0].lower()}://{_authority(self._url)[1]}/"
            config.append((f"http.{origin}.extraHeader", f"Authorization: Basic {token}"))
        for index, (key, value) in enumerate(config):
            env[f"GIT_CONFIG_KEY_{index}"] = key
            env[f"GIT_CONFIG_VALUE_{index}"] = value
        env["GIT_CONFIG_COUNT"] = str(len(config))
        if remote and is_ssh_url(self._url):
            env["GIT_SSH_COMMAND"] = self._ssh_command()
        return env

    def _ssh_command(self) -> str:
        credentials = self._credentials
        if credentials is None or not credentials.known_hosts:
            raise GitSourceError(
                f"fetch {self.display_url}: SSH URLs need the server's host key; add 'known_hosts' to the Secret",
                permanent=True,
            )
        directory = self._cache_dir / "ssh"
        directory.mkdir(parents=True, exist_ok=True)
        directory.chmod(0o700)
        known_hosts = directory / "known_hosts"
        _write_private(known_hosts, credentials.known_hosts)
        command = ["ssh"]
        if credentials.identity:
            identity = directory / "identity"
            _write_private(identity, credentials.identity)
            command += ["-i", str(identity)]
        command += [
            "-o", "IdentitiesOnly=yes",
            "-o", f"UserKnownHostsFile={known_hosts}",
            "-o", "GlobalKnownHostsFile=/dev/null",
            "-o", "StrictHostKeyChecking=yes",
            "-o", "BatchMode=yes",
            "-o", f"ConnectTimeout={max(1, int(self._timeout))}",
        ]  # fmt: skip
        return shlex.join(command)

    def _git(self, args: list[str], repo: Path | None, *, remote: bool = False) -> tuple[int, str, str]:
        """Run git (in ``repo``) with a deadline; ``(status, stdout, stderr)``, a negative status when it was
        killed. ``remote`` commands get the credentials."""
        env = self._environment(repo, remote=remote)
        self._cache_dir.mkdir(parents=True, exist_ok=True)
        runner = git.Git(str(self._cache_dir))
        status, stdout, stderr = runner.execute(
            [runner.GIT_PYTHON_GIT_EXECUTABLE or "git", *args],
            with_extended_output=True,
            with_exceptions=False,
            kill_after_timeout=self._timeout,
            env=env,
        )
        if stderr.startswith("Timeout:") or status < 0:
            if repo is not None:
                self._remove_stale_locks(repo)
            reason = f"timed out after {self._timeout:g}s" if stderr.startswith("Timeout:") else "git was killed"
            return min(status, -1), "", reason
        return status, stdout, stderr

    def _detail(self, stderr: str) -> str:
        """git's complaint as one line, without boilerplate, URL userinfo or credentials."""
        lines = []
        for raw in stderr.splitlines():
            line = raw.strip()
            for prefix in ("fatal:", "error:", "remote:", "warning:"):
                if line.lower().startswith(prefix):
                    line = line[len(prefix) :].strip()
            if line and not any(line.lower().startswith(noise) for noise in _BOILERPLATE):
                lines.append(line.rstrip("."))
        detail = "; ".join(dict.fromkeys(lines)) or "git failed without saying why"
        detail = self._redactor(display_url(detail))
        return detail if len(detail) <= _MAX_MESSAGE else detail[: _MAX_MESSAGE - 3] + "..."

    def _command_error(self, operation: str, status: int, stderr: str) -> GitSourceError:
        detail = self._detail(stderr)
        permanent = status > 0 and _PERMANENT.search(stderr) is not None
        return GitSourceError(f"{operation} {self.display_url}: {detail}", permanent=permanent)

    def _os_error(self, operation: str, error: OSError) -> GitSourceError:
        reason = error.strerror or type(error).__name__
        where = f" ({error.filename})" if error.filename else ""
        return GitSourceError(
            self._redactor(f"{operation} {self.display_url}: cache directory: {reason}{where}"), permanent=False
        )
