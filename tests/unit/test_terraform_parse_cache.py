"""devctl's cache of what Terraform module files declare: same answers as parsing, never stale, never a secret."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from orchestrator.catalog.terraform_modules import (
    ModuleError,
    TerraformParseCache,
    default_cache_dir,
    read_module,
)

ROOT = Path(__file__).resolve().parents[2]
SAMPLE_MODULES = sorted(p for p in (ROOT / "catalog/modules").iterdir() if p.is_dir())

MODULE = """
variable "name" {
  type        = string
  description = "Instance name."
}

variable "password" {
  type      = string
  sensitive = true
  default   = "hunter2-do-not-store"
}

output "endpoint" {
  description = "Where to connect."
  value       = "db.example"
}
"""


def _entries(cache: TerraformParseCache) -> list[Path]:
    return sorted(cache.folder.glob("*.json")) if cache.folder.is_dir() else []


@pytest.mark.parametrize("module", SAMPLE_MODULES, ids=[p.name for p in SAMPLE_MODULES])
def test_cached_reads_equal_parsed_reads(module: Path, tmp_path: Path) -> None:
    cache = TerraformParseCache(tmp_path)
    parsed = read_module(module)
    first = read_module(module, cache)  # fills the cache
    assert _entries(cache), "nothing was cached"
    second = read_module(module, cache)  # served from it
    assert first == parsed
    assert second == parsed


def test_a_changed_file_is_parsed_again(tmp_path: Path) -> None:
    module = tmp_path / "module"
    module.mkdir()
    (module / "main.tf").write_text(MODULE)
    cache = TerraformParseCache(tmp_path / "cache")
    before = read_module(module, cache)
    (module / "main.tf").write_text(MODULE.replace('variable "name"', 'variable "identifier"'))
    after = read_module(module, cache)
    assert sorted(before.variables) == ["name", "password"]
    assert sorted(after.variables) == ["identifier", "password"]
    assert after == read_module(module)
    assert len(_entries(cache)) == 2


def test_default_values_are_never_stored(tmp_path: Path) -> None:
    module = tmp_path / "module"
    module.mkdir()
    (module / "main.tf").write_text(MODULE)
    cache = TerraformParseCache(tmp_path / "cache")
    read = read_module(module, cache)
    assert read.variables["password"].required is False
    assert read.variables["password"].sensitive is True
    [entry] = _entries(cache)
    assert "hunter2" not in entry.read_text()
    assert read_module(module, cache) == read


def test_a_file_that_does_not_parse_fails_alike_and_is_not_cached(tmp_path: Path) -> None:
    module = tmp_path / "module"
    module.mkdir()
    (module / "main.tf").write_text('variable "name" {\n  type = \n')
    cache = TerraformParseCache(tmp_path / "cache")
    with pytest.raises(ModuleError) as uncached:
        read_module(module)
    with pytest.raises(ModuleError) as cached:
        read_module(module, cache)
    assert str(cached.value) == str(uncached.value)
    assert str(cached.value).startswith("main.tf: cannot parse HCL: ")
    assert _entries(cache) == []


def test_a_damaged_entry_is_ignored_and_replaced(tmp_path: Path) -> None:
    module = ROOT / "catalog/modules/postgresql"
    cache = TerraformParseCache(tmp_path)
    expected = read_module(module, cache)
    for entry in _entries(cache):
        entry.write_text("{not json")
    assert read_module(module, cache) == expected
    assert all(entry.read_text().startswith("{") and entry.read_text() != "{not json" for entry in _entries(cache))


def test_an_unusable_cache_folder_changes_nothing(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the cache folder should be")
    cache = TerraformParseCache(blocker)
    module = ROOT / "catalog/modules/redis"
    assert read_module(module, cache) == read_module(module)


def test_values_json_cannot_hold_exactly_are_not_cached(tmp_path: Path) -> None:
    cache = TerraformParseCache(tmp_path)
    cache.put(b"variable {}", {"variable": [{'"a"': {"type": ("a", "tuple")}}]})
    cache.put(b"output {}", {"output": [{'"b"': {"description": float("nan")}}]})
    assert _entries(cache) == []
    cache.put(b"fine", {"output": [{'"b"': {"description": "text"}}]})
    assert cache.get(b"fine") == {"output": [{'"b"': {"description": "text"}}]}
    assert cache.get(b"other") is None


def test_a_copied_module_hits_the_same_entries(tmp_path: Path) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(ROOT / "catalog/modules/object-bucket", copy)
    cache = TerraformParseCache(tmp_path / "cache")
    read_module(ROOT / "catalog/modules/object-bucket", cache)
    entries = _entries(cache)
    assert read_module(copy, cache).outputs == read_module(copy).outputs
    assert _entries(cache) == entries  # same bytes, same entries


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({"DEVCTL_CACHE_DIR": "/srv/cache", "XDG_CACHE_HOME": "/x"}, Path("/srv/cache")),
        ({"DEVCTL_CACHE_DIR": ""}, None),
        ({"XDG_CACHE_HOME": "/x"}, Path("/x/platform-orchestrator")),
        ({}, Path("~/.cache/platform-orchestrator").expanduser()),
    ],
    ids=["explicit", "switched-off", "xdg", "home"],
)
def test_default_cache_dir(environ: dict[str, str], expected: Path | None) -> None:
    assert default_cache_dir(environ) == expected
