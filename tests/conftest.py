"""Shared fixtures: the repository root, and devctl run in-process through click's test runner."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner

from orchestrator.cli.main import cli

pytest_plugins = ["tests.k8s.fixtures", "tests.gitrepos", "tests.rbac_coverage"]

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True, scope="session")
def devctl_cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """devctl's cache ($DEVCTL_CACHE_DIR) in a folder of the test session, never the user's ~/.cache."""
    folder = tmp_path_factory.mktemp("devctl-cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DEVCTL_CACHE_DIR", str(folder))
        yield folder


@pytest.fixture
def in_root(monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Run with the repository root as working directory, so reported file names are stable."""
    monkeypatch.chdir(ROOT)
    yield ROOT


@dataclass
class CliResult:
    exit_code: int
    output: str


@pytest.fixture
def devctl(in_root: Path) -> Iterator[object]:
    runner = CliRunner()

    def run(*args: str) -> CliResult:
        result = runner.invoke(cli, list(args), catch_exceptions=True)
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            raise AssertionError(f"devctl {' '.join(args)} raised {result.exception!r}") from result.exception
        assert "Traceback" not in result.output
        return CliResult(result.exit_code, result.output)

    yield run
