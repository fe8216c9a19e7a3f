"""Checks of the e2e suite that need no cluster: its guard, and that the catalog items it pushes are valid."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import E2E_ITEMS
from .kube import context_verdict

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("value", [None, ""])
def test_unset_context_skips_with_the_reason(value: str | None) -> None:
    verdict, reason = context_verdict(value)
    assert verdict == "skip"
    assert "E2E_KUBECONTEXT is not set" in reason and "hack/kind-e2e.sh" in reason


@pytest.mark.parametrize("value", ["minikube", "prod-eu-1", "kind-", "my-kind-cluster", "arn:aws:eks:kind-x"])
def test_other_contexts_are_refused(value: str) -> None:
    verdict, reason = context_verdict(value)
    assert verdict == "refuse"
    assert repr(value) in reason and "kind" in reason


def test_kind_context_runs() -> None:
    assert context_verdict("kind-orchestrator")[0] == "run"


def test_refused_context_fails_the_e2e_tests(tmp_path: Path) -> None:
    """Run the suite as a user would with a non-kind context: every scenario fails, none is skipped or run."""
    env = {"PATH": "/usr/bin:/bin", "E2E_KUBECONTEXT": "prod-eu-1", "HOME": str(tmp_path), "CHECKPOINT_DISABLE": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "tests/e2e/test_scenarios.py"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 1, done.stdout
    assert "is not a kind context" in done.stdout
    assert " passed" not in done.stdout and " skipped" not in done.stdout, done.stdout


def test_unset_context_skips_the_e2e_tests(tmp_path: Path) -> None:
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "CHECKPOINT_DISABLE": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-rs", "tests/e2e/test_scenarios.py"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout
    assert "E2E_KUBECONTEXT is not set" in done.stdout and " passed" not in done.stdout, done.stdout


def test_e2e_catalog_items_are_valid_in_the_sample_catalog(tmp_path: Path) -> None:
    """The items the suite pushes next to the sample catalog (which holds the Terraform module they use)."""
    catalog = tmp_path / "catalog"
    shutil.copytree(ROOT / "catalog", catalog)
    shutil.copytree(E2E_ITEMS, catalog / "e2e")
    devctl = Path(sys.executable).parent / "devctl"
    done = subprocess.run(
        [str(devctl), "validate", "catalog-item", str(catalog), "--strict"],
        capture_output=True, text=True, timeout=300, check=False, cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "e2e-ticket" in done.stdout and "e2e-bucket" in done.stdout
