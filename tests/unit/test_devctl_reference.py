"""Every devctl command the issue names exists, has a --help with examples, and is documented in docs/cli.md."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import click
import pytest

from orchestrator.cli.main import cli

ROOT = Path(__file__).resolve().parents[2]
REFERENCE = (ROOT / "docs" / "cli.md").read_text()

# The commands of the CLI issue (and the shell completion that goes with them).
PROMISED = [
    "catalog list",
    "catalog get",
    "catalog refresh",
    "catalog search",
    "catalog diff",
    "request submit",
    "request init",
    "request list",
    "request get",
    "request status",
    "request logs",
    "request retry",
    "request abort",
    "request escalate",
    "request approve-plan",
    "request export",
    "request batch submit",
    "workspace hibernate",
    "workspace resume",
    "validate catalog-item",
    "validate bundle",
    "validate request",
    "preview form",
    "test variables",
    "simulate",
    "health",
    "version",
    "metrics",
    "completion",
]


def _leaves(group: click.Group, prefix: tuple[str, ...] = ()) -> Iterator[tuple[str, click.Command]]:
    for name, command in sorted(group.commands.items()):
        path = (*prefix, name)
        if isinstance(command, click.Group):
            yield from _leaves(command, path)
        else:
            yield " ".join(path), command


LEAVES = dict(_leaves(cli))


def test_every_promised_command_exists() -> None:
    assert sorted(set(PROMISED) - set(LEAVES)) == []


@pytest.mark.parametrize("path", sorted(LEAVES))
def test_each_command_has_help_and_a_reference_section(path: str, devctl: Callable[..., Any]) -> None:
    result = devctl(*path.split(), "--help")
    assert result.exit_code == 0, result.output
    summary = (LEAVES[path].help or "").strip()
    assert summary, f"devctl {path} has no help text"
    assert f"devctl {path}" in REFERENCE or f"`{path}" in REFERENCE, f"docs/cli.md does not document devctl {path}"


@pytest.mark.parametrize("flag", ["--kubeconfig", "--context", "--namespace", "--output", "--no-color", "--verbose"])
def test_global_flags_are_listed_in_the_top_level_help(flag: str, devctl: Callable[..., Any]) -> None:
    assert flag in devctl("--help").output
    assert f"`{flag}" in REFERENCE or f", {flag}" in REFERENCE


def test_the_phases_devctl_restates_are_the_api_phases() -> None:
    from orchestrator.api.service_request import PHASES
    from orchestrator.cli.request_view import PHASE_NAMES

    assert tuple(PHASE_NAMES) == tuple(PHASES)
