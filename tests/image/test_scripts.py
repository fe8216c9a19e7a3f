"""The kind scripts pass shellcheck and fail fast; the CI workflows parse and run scripts that exist."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = ["hack/kind-up.sh", "hack/kind-e2e.sh", "hack/image-install.sh", ".ci/run"]
WORKFLOWS = ROOT / ".github" / "workflows"


def _shellcheck() -> str:
    found = shutil.which("shellcheck")
    if found is None:
        pytest.fail("shellcheck is not installed (Debian package shellcheck; .ci/run installs it)")
    return found


@pytest.mark.parametrize("script", SCRIPTS)
def test_script_passes_shellcheck_and_fails_fast(script: str) -> None:
    path = ROOT / script
    done = subprocess.run([_shellcheck(), "--external-sources", str(path)], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    text = path.read_text(encoding="utf-8")
    assert text.startswith("#!/usr/bin/env bash\n")
    assert re.search(r"^set -euo pipefail$", text, re.MULTILINE)
    assert path.stat().st_mode & 0o111, f"{script} is not executable"


def test_shellcheck_reports_findings(tmp_path: Path) -> None:
    bad = tmp_path / "bad.sh"
    bad.write_text("#!/usr/bin/env bash\nfor f in $(ls *.txt); do rm $f; done\n", encoding="utf-8")
    done = subprocess.run([_shellcheck(), str(bad)], capture_output=True, text=True, check=False)
    assert done.returncode != 0 and "SC2045" in done.stdout, done.stdout


def test_kind_up_refuses_a_bad_cluster_name_before_doing_anything(tmp_path: Path) -> None:
    """Input is checked first; with fake tools on PATH nothing may be called but `command -v`."""
    calls = tmp_path / "calls"
    for tool in ("kind", "docker", "kubectl", "helm", "git"):
        fake = tmp_path / tool
        fake.write_text(f'#!/bin/sh\necho "{tool} $*" >> "{calls}"\n', encoding="utf-8")
        fake.chmod(0o755)
    env = {"PATH": f"{tmp_path}:/usr/bin:/bin", "KIND_CLUSTER_NAME": "Bad_Name"}
    done = subprocess.run(
        ["bash", str(ROOT / "hack" / "kind-up.sh")], env=env, capture_output=True, text=True, check=False
    )
    assert done.returncode == 1 and "KIND_CLUSTER_NAME" in done.stderr, done.stderr
    assert not calls.exists(), calls.read_text(encoding="utf-8")


def test_kind_e2e_requires_the_venv(tmp_path: Path) -> None:
    env = {"PATH": "/usr/bin:/bin", "PYTEST": str(tmp_path / "missing" / "pytest")}
    done = subprocess.run(
        ["bash", str(ROOT / "hack" / "kind-e2e.sh")], env=env, capture_output=True, text=True, check=False
    )
    assert done.returncode == 1 and "make install" in done.stderr, done.stderr


def _workflow(name: str) -> dict[Any, Any]:
    data = yaml.safe_load((WORKFLOWS / name).read_text(encoding="utf-8"))
    assert isinstance(data, dict) and data.get("jobs"), f"{name}: no jobs"
    assert True in data or "on" in data, f"{name}: no triggers"  # YAML 1.1 reads the key `on` as True
    return data


def _run_steps(workflow: dict[Any, Any]) -> list[str]:
    return [step["run"] for job in workflow["jobs"].values() for step in job["steps"] if "run" in step]


@pytest.mark.parametrize(
    ("name", "required"),
    [("ci.yml", [".ci/run"]), ("e2e.yml", ["hack/kind-e2e.sh", "make install"])],
)
def test_workflow_parses_and_runs_existing_scripts(name: str, required: list[str]) -> None:
    workflow = _workflow(name)
    runs = _run_steps(workflow)
    for command in required:
        assert any(command in run for run in runs), f"{name} does not run {command}"
    for run in runs:
        for script in re.findall(r"(?:^|\s)((?:\.ci|hack)/[\w./-]+)", run):
            path = ROOT / script
            assert path.is_file() and path.stat().st_mode & 0o111, f"{name} runs {script}, which is not an executable"
    uses = [step["uses"] for job in workflow["jobs"].values() for step in job["steps"] if "uses" in step]
    assert all(re.fullmatch(r"[\w.-]+/[\w.-]+@v\d+", use) for use in uses), uses
    if name == "e2e.yml":
        assert any(use.startswith("helm/kind-action@") for use in uses)


def test_makefile_targets_used_by_workflows_exist() -> None:
    targets = set(re.findall(r"^([a-zA-Z_-]+):", (ROOT / "Makefile").read_text(encoding="utf-8"), re.MULTILINE))
    for name in ("ci.yml", "e2e.yml"):
        for run in _run_steps(_workflow(name)):
            for target in re.findall(r"\bmake ([a-z-]+)", run):
                assert target in targets, f"{name}: make {target} is not a Makefile target"
