"""The devctl layer every command shares: global flags in either position, exit codes, output formats, tables."""

from __future__ import annotations

import json
import socket
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import click
import pytest
import yaml
from click.testing import CliRunner

from orchestrator.cli.common import (
    EXIT_NOT_FOUND,
    EXIT_UNREACHABLE,
    CliError,
    cluster_failure,
    emit,
    fit_widths,
    get_globals,
    global_options,
    print_table,
    root_options,
    shorten,
)
from orchestrator.clients.cluster import ClusterError


@pytest.fixture
def probe() -> Iterator[Callable[..., Any]]:
    """A tiny CLI built from the shared decorators, reporting the globals it saw."""

    @click.group()
    @root_options
    def root() -> None:
        pass

    @root.command()
    @global_options
    def show() -> None:
        glob = get_globals()
        click.echo(json.dumps({"ns": glob.namespace, "output": glob.output, "timeout": glob.timeout}))

    @root.command()
    @click.option("--fail-with", type=int)
    @global_options
    def boom(fail_with: int) -> None:
        raise CliError("the thing is broken", exit_code=fail_with, hint="fix the thing")

    @root.command()
    @global_options
    def data() -> None:
        emit({"b": 1, "a": [1, 2]}, table=lambda: click.echo("TABLE"), names=["x/one", "x/two"])

    runner = CliRunner()
    yield lambda *args: runner.invoke(root, list(args))


def test_global_flags_work_before_and_after_the_command(probe: Callable[..., Any]) -> None:
    before = probe("-n", "team-a", "-o", "json", "--timeout", "90s", "show")
    after = probe("show", "-n", "team-b", "--timeout", "2m")
    assert json.loads(before.output) == {"ns": "team-a", "output": "json", "timeout": 90.0}
    assert json.loads(after.output) == {"ns": "team-b", "output": "table", "timeout": 120.0}


def test_a_bad_timeout_is_a_usage_error(probe: Callable[..., Any]) -> None:
    result = probe("show", "--timeout", "soon")
    assert result.exit_code == 2
    assert "--timeout" in result.output


def test_cli_errors_print_one_line_and_a_hint_with_their_exit_code(probe: Callable[..., Any]) -> None:
    result = probe("boom", "--fail-with", "3")
    assert result.exit_code == 3
    assert result.output.splitlines() == ["devctl: the thing is broken", "  hint: fix the thing"]


def test_output_formats_are_stable_and_parse_back(probe: Callable[..., Any]) -> None:
    as_json = probe("data", "-o", "json")
    as_yaml = probe("-o", "yaml", "data")
    assert json.loads(as_json.output) == {"a": [1, 2], "b": 1}
    assert as_json.output.index('"a"') < as_json.output.index('"b"')  # sorted keys: diffs stay small
    assert yaml.safe_load(as_yaml.output) == {"a": [1, 2], "b": 1}
    assert probe("data", "-o", "name").output.splitlines() == ["x/one", "x/two"]
    assert probe("data").output == "TABLE\n"
    refused = probe("data", "-o", "csv")
    assert refused.exit_code == 2 and "-o csv is not supported here" in refused.output


@pytest.mark.parametrize(
    ("status", "code"),
    [(404, EXIT_NOT_FOUND), (403, EXIT_UNREACHABLE), (401, EXIT_UNREACHABLE), (None, EXIT_UNREACHABLE), (409, 1)],
)
def test_cluster_errors_map_to_the_documented_exit_codes(status: int | None, code: int) -> None:
    assert cluster_failure(ClusterError("get x: nope", status=status)).exit_code == code


def test_tables_shrink_the_widest_column_to_fit() -> None:
    assert fit_widths([10, 60, 30], [4, 4, 7], 80) == [10, 34, 30]
    assert sum(fit_widths([10, 60, 30], [4, 4, 7], 80)) + 6 == 80
    assert fit_widths([4, 5], [4, 5], 80) == [4, 5]
    assert shorten("abcdefghij", 5) == "abcd…"


def test_tables_keep_whole_cells_when_piped(capsys: pytest.CaptureFixture[str]) -> None:
    print_table(["NAME", "MESSAGE"], [["a", "x" * 120], ["bb", "short"]])
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["NAME", "MESSAGE"]
    assert lines[1] == "a".ljust(4) + "   " + "x" * 120


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_an_unreachable_cluster_is_exit_5_in_one_line(devctl: Callable[..., Any], tmp_path: Path) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "c", "cluster": {"server": f"http://127.0.0.1:{_closed_port()}"}}],
                "users": [{"name": "u", "user": {"token": "t"}}],
                "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u", "namespace": "team"}}],
                "current-context": "x",
            }
        )
    )
    result = devctl("catalog", "refresh", "--kubeconfig", str(kubeconfig), "--timeout", "3s")
    assert result.exit_code == EXIT_UNREACHABLE
    assert "cannot reach the API server" in result.output and "hint:" in result.output


def test_a_missing_kubeconfig_is_exit_5(devctl: Callable[..., Any], tmp_path: Path) -> None:
    result = devctl("catalog", "refresh", "--kubeconfig", str(tmp_path / "nope"))
    assert result.exit_code == EXIT_UNREACHABLE
    assert "cannot load" in result.output
