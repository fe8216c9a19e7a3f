"""`devctl completion bash|zsh|fish` and what the scripts call back: click's completion protocol through devctl."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner
from tests.k8s import ApiEmulator

from orchestrator.cli.main import cli

OPERATOR_NAMESPACE = "orchestrator-system"


def complete(words: str, *, shell: str = "bash", env: dict[str, str] | None = None) -> list[str]:
    """What devctl answers a shell asking to complete ``words`` (the last word is the one being completed)."""
    parts = words.split(" ")
    environment = {
        "_DEVCTL_COMPLETE": f"{shell}_complete",
        "COMP_WORDS": words,
        "COMP_CWORD": str(len(parts) - 1) if shell != "fish" else parts[-1],
        **(env or {}),
    }
    result = CliRunner().invoke(cli, [], env=environment, prog_name="devctl")
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output
    lines = [line for line in result.output.splitlines() if line]  # no completions: an empty line
    if shell == "bash":
        return [line.split(",", 1)[1] for line in lines]
    if shell == "zsh":  # type, value, description triples
        return result.output.splitlines()[1::3]
    return [line.split("\t", 1)[0].split(",", 1)[1] for line in lines]


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_the_script_of_each_shell_calls_devctl_back(shell: str) -> None:
    result = CliRunner().invoke(cli, ["completion", shell], prog_name="devctl")
    assert result.exit_code == 0, result.output
    script = result.output
    assert "_devctl_completion" in script
    assert f"_DEVCTL_COMPLETE={shell}_complete" in script
    assert "devctl" in script.replace("_devctl_completion", "").replace("_DEVCTL_COMPLETE", "")


def test_an_unknown_shell_is_a_usage_error() -> None:
    result = CliRunner().invoke(cli, ["completion", "powershell"], prog_name="devctl")
    assert result.exit_code == 2
    assert "'powershell' is not one of 'bash', 'zsh', 'fish'" in result.output


def test_req_tab_completes_the_commands_that_start_with_req() -> None:
    assert complete("devctl req") == ["request"]
    subcommands = complete("devctl request ")
    assert subcommands == sorted(cli.commands["request"].commands)  # type: ignore[attr-defined]
    assert subcommands


@pytest.mark.parametrize(
    ("words", "expected"),
    [
        ("devctl ver", ["version"]),
        ("devctl he", ["health"]),
        ("devctl completion ", ["bash", "zsh", "fish"]),
        ("devctl completion z", ["zsh"]),
        ("devctl catalog re", ["refresh"]),
        ("devctl health --c", ["--components"]),
        ("devctl metrics -o j", ["json"]),
    ],
    ids=["command", "command-2", "shell-argument", "shell-prefix", "subcommand", "flag", "flag-choice"],
)
def test_bash_completion_of_commands_flags_and_choices(words: str, expected: list[str]) -> None:
    assert complete(words) == expected


def test_every_top_level_command_is_offered() -> None:
    assert complete("devctl ") == sorted(cli.commands)  # click lists commands by name


@pytest.mark.parametrize("shell", ["zsh", "fish"])
def test_zsh_and_fish_get_the_same_answers(shell: str) -> None:
    assert complete("devctl ver", shell=shell) == ["version"]


def test_catalog_source_names_come_from_the_cluster(k8s_api: ApiEmulator, k8s_kubeconfig: Path) -> None:
    for name in ("platform", "partner", "other"):
        k8s_api.create(
            {
                "apiVersion": "orchestrator.dev/v1alpha1",
                "kind": "CatalogSource",
                "metadata": {"name": name, "namespace": OPERATOR_NAMESPACE},
                "spec": {"path": "/git/catalog"},
            }
        )
    prefix = f"devctl catalog refresh --kubeconfig {k8s_kubeconfig}"
    assert complete(f"{prefix} p") == ["partner", "platform"]  # orchestrator-system, not the context's namespace
    assert complete(f"{prefix} platform ") == ["other", "partner"]  # a name already given is not offered again
    assert complete(f"{prefix} -n default ") == []
    assert complete(f"{prefix} ", env={"DEVCTL_OPERATOR_NAMESPACE": "default"}) == []


@pytest.mark.parametrize("problem", ["missing-kubeconfig", "nothing-listens"])
def test_name_completion_without_a_cluster_offers_nothing_and_prints_nothing(tmp_path: Path, problem: str) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    if problem == "nothing-listens":
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        server = {"name": "gone", "cluster": {"server": f"http://127.0.0.1:{port}"}}
        context = {"name": "gone", "context": {"cluster": "gone", "user": "gone"}}
        config = {"clusters": [server], "users": [{"name": "gone", "user": {}}], "contexts": [context]}
        kubeconfig.write_text(json.dumps({**config, "current-context": "gone"}))
    assert complete(f"devctl catalog refresh --kubeconfig {kubeconfig} ") == []


@pytest.mark.skipif(shutil.which("bash") is None, reason="bash is not installed")
def test_bash_accepts_the_script() -> None:
    script = CliRunner().invoke(cli, ["completion", "bash"], prog_name="devctl").output
    checked = subprocess.run(
        ["bash", "-n"], input=script, capture_output=True, text=True, timeout=30, check=False
    )  # syntax check only: the script defines a function and registers it with `complete`
    assert checked.returncode == 0, checked.stderr
    defined = subprocess.run(
        ["bash", "-c", f"{script}\ncomplete -p devctl"], capture_output=True, text=True, timeout=30, check=False
    )
    assert defined.returncode == 0, defined.stderr
    assert "_devctl_completion" in defined.stdout
