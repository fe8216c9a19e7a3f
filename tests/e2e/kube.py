"""What the e2e tests use to drive a real cluster: kubectl, devctl and the in-cluster catalog repository.

Everything goes through the context named by ``E2E_KUBECONTEXT``, which must be a kind context (``kind-*``):
the suite creates and deletes namespaces and pushes to the catalog repository, so it refuses any other cluster.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

CONTEXT_ENV = "E2E_KUBECONTEXT"
NAMESPACE_ENV = "E2E_OPERATOR_NAMESPACE"
DEFAULT_OPERATOR_NAMESPACE = "orchestrator-system"
T = TypeVar("T")


def context_verdict(value: str | None) -> tuple[str, str]:
    """("run"|"skip"|"refuse", reason) for the value of E2E_KUBECONTEXT."""
    if not value:
        return "skip", (
            f"{CONTEXT_ENV} is not set: the e2e suite needs a kind cluster "
            f"(run hack/kind-e2e.sh, or hack/kind-up.sh then {CONTEXT_ENV}=kind-orchestrator pytest tests/e2e)"
        )
    if not value.startswith("kind-") or len(value) == len("kind-"):
        return "refuse", (
            f"{CONTEXT_ENV}={value!r} is not a kind context (kind-<cluster>): the e2e suite creates and deletes "
            "namespaces and pushes to the catalog repository, so it runs on kind clusters only"
        )
    return "run", f"kind context {value}"


def _tool(name: str) -> str:
    """The tool next to this interpreter (the project's venv), else on PATH."""
    beside = Path(sys.executable).parent / name
    if beside.is_file():
        return str(beside)
    found = shutil.which(name)
    if found is None:
        raise RuntimeError(f"{name} is not installed (the e2e suite needs kubectl and devctl)")
    return found


def wait_until(check: Callable[[], T | None], what: str, timeout: float = 300.0, interval: float = 2.0) -> T:
    """Poll ``check`` until it returns something truthy; fail naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    last: T | None = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what} (last seen: {last!r})")


@dataclass
class Kube:
    context: str
    operator_namespace: str

    def kubectl(self, *args: str, stdin: str | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
        command = [_tool("kubectl"), "--context", self.context, *args]
        done = subprocess.run(command, input=stdin, capture_output=True, text=True, timeout=300, check=False)
        if check and done.returncode != 0:
            raise AssertionError(f"{' '.join(args)} failed ({done.returncode}): {done.stderr.strip()}")
        return done

    def devctl(self, *args: str, timeout: float = 900.0) -> subprocess.CompletedProcess[str]:
        """devctl with the e2e context; the result is returned whatever the exit code (tests assert on it)."""
        command = [_tool("devctl"), "--context", self.context, *args]
        env = {**os.environ, "DEVCTL_OPERATOR_NAMESPACE": self.operator_namespace, "NO_COLOR": "1"}
        return subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False, env=env)

    def get(self, kind: str, name: str, namespace: str | None = None) -> dict[str, Any] | None:
        args = ["get", kind, name, "-o", "json", "--ignore-not-found"]
        if namespace:
            args += ["-n", namespace]
        out = self.kubectl(*args).stdout.strip()
        return json.loads(out) if out else None

    def apply(self, manifest: dict[str, Any]) -> None:
        self.kubectl("apply", "--server-side", "--field-manager=e2e", "-f", "-", stdin=json.dumps(manifest))

    def create_namespace(self, prefix: str) -> str:
        name = f"{prefix}-{uuid.uuid4().hex[:6]}"
        self.kubectl("create", "namespace", name)
        self.kubectl("label", "namespace", name, "orchestrator.dev/e2e=true")
        return name


@dataclass
class CatalogRepo:
    """The catalog repository hack/kind-up.sh serves in the cluster (Deployment catalog-git, a bare repository)."""

    kube: Kube
    deployment: str = "catalog-git"
    repository: str = "/repos/catalog.git"

    def _git(self, script: str, stdin: str | None = None) -> str:
        done = self.kube.kubectl(
            "exec", "-i", "-n", self.kube.operator_namespace, f"deployment/{self.deployment}", "--", "sh", "-ec",
            script, stdin=stdin,
        )  # fmt: skip
        return done.stdout.strip()

    def _change(self, commands: str, message: str, stdin: str | None = None) -> str:
        work = f"/tmp/e2e-{uuid.uuid4().hex[:8]}"
        return self._git(
            f"git clone -q {self.repository} {work} && cd {work}\n{commands}\n"
            f"if ! git diff --cached --quiet; then git -c user.name=e2e -c user.email=e2e@localhost commit -q -m "
            f"'{message}'; git push -q origin HEAD:refs/heads/main; fi\ngit rev-parse HEAD\ncd / && rm -rf {work}",
            stdin=stdin,
        ).splitlines()[-1]

    def head(self) -> str:
        return self._git(f"git --git-dir={self.repository} rev-parse refs/heads/main")

    def put(self, path: str, content: str) -> str:
        """Commit ``content`` at ``path`` (relative to the repository root) on main; the new head's sha."""
        if ".." in path.split("/") or path.startswith("/") or "'" in path:
            raise ValueError(f"bad repository path {path!r}")
        commands = f"mkdir -p \"$(dirname '{path}')\"\ncat > '{path}'\ngit add '{path}'"
        return self._change(commands, f"e2e: {path}", content)

    def remove(self, path: str) -> str:
        if ".." in path.split("/") or path.startswith("/") or "'" in path:
            raise ValueError(f"bad repository path {path!r}")
        return self._change(f"git rm -r -q --ignore-unmatch '{path}'", f"e2e: remove {path}")


def condition(obj: dict[str, Any] | None, type_: str) -> dict[str, Any] | None:
    for item in ((obj or {}).get("status") or {}).get("conditions") or []:
        if item.get("type") == type_:
            return dict(item)
    return None


def phase(obj: dict[str, Any] | None) -> str | None:
    value = ((obj or {}).get("status") or {}).get("phase")
    return str(value) if value is not None else None
