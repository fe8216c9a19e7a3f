"""What a Terraform module declares (variables, outputs), read with python-hcl2 without running Terraform.

python-hcl2 is slow to load (its Lark parser takes ~0.1 s to build from its own cache) and to parse (~10 ms per
file), which is most of what a cold ``devctl validate`` costs. devctl therefore hands ``read_module`` a
``TerraformParseCache``: what each ``.tf`` file declares, stored by the SHA-256 of the file's bytes and of the
installed parser, so an unchanged file is never parsed twice and a changed file (or a new python-hcl2) never
matches an old entry. The operator passes no cache and always parses.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import importlib.util
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CACHE_DIR_ENV = "DEVCTL_CACHE_DIR"
"""Where devctl keeps its cache (default ``$XDG_CACHE_HOME/platform-orchestrator``); empty: no cache."""
_CACHE_FORMAT = b"terraform-declarations/1"
_BLOCK_KINDS = ("variable", "output")
_KEPT_KEYS = ("type", "sensitive", "description")
"""What ``read_module`` reads of a block besides whether it has a ``default`` (whose value is never stored: a
default may be a secret)."""


class ModuleError(Exception):
    """The module cannot be read; the message names the file."""


@dataclass(frozen=True)
class ModuleVariable:
    name: str
    required: bool
    """True when the variable has no default: a request must supply it."""
    type: str | None
    sensitive: bool = False


@dataclass(frozen=True)
class ModuleOutput:
    name: str
    sensitive: bool
    description: str | None = None


@dataclass(frozen=True)
class TerraformModule:
    path: Path
    variables: dict[str, ModuleVariable]
    outputs: dict[str, ModuleOutput]

    @property
    def required_variables(self) -> list[str]:
        return sorted(name for name, variable in self.variables.items() if variable.required)


def _label(raw: str) -> str:
    """python-hcl2 >= 6 keeps the quotes of block labels (`"name"`); older versions drop them."""
    return raw[1:-1] if len(raw) >= 2 and raw[0] == raw[-1] == '"' else raw


def _plain(value: Any) -> Any:
    """Unwrap python-hcl2's `${...}` expression markers and quoted strings for display."""
    if isinstance(value, str):
        if value.startswith("${") and value.endswith("}"):
            return value[2:-1]
        return _label(value)
    return value


def _blocks(document: dict[str, Any], kind: str) -> list[tuple[str, dict[str, Any]]]:
    result: list[tuple[str, dict[str, Any]]] = []
    for entry in document.get(kind, []):
        if isinstance(entry, dict):
            for raw_name, body in entry.items():
                result.append((_label(str(raw_name)), body if isinstance(body, dict) else {}))
    return result


def read_module(path: Path, cache: TerraformParseCache | None = None) -> TerraformModule:
    """Variables and outputs of the module in ``path`` (every ``*.tf`` file, in name order).

    Raises ModuleError when the folder has no ``.tf`` files or a file does not parse. With ``cache``, files read
    before (the same bytes, the same parser) are not parsed again; files that do not parse are never cached.
    """
    if not path.is_dir():
        raise ModuleError(f"{path} is not a directory")
    files = sorted(path.glob("*.tf"))
    if not files:
        raise ModuleError(f"{path} holds no .tf files")
    variables: dict[str, ModuleVariable] = {}
    outputs: dict[str, ModuleOutput] = {}
    for file in files:
        document = _declarations(file, cache)
        for name, body in _blocks(document, "variable"):
            type_expr = body.get("type")
            variables[name] = ModuleVariable(
                name=name,
                required="default" not in body,
                type=str(_plain(type_expr)) if type_expr is not None else None,
                sensitive=bool(body.get("sensitive", False)),
            )
        for name, body in _blocks(document, "output"):
            description = body.get("description")
            outputs[name] = ModuleOutput(
                name=name,
                sensitive=bool(body.get("sensitive", False)),
                description=str(_plain(description)) if description is not None else None,
            )
    return TerraformModule(path=path, variables=variables, outputs=outputs)


def _declarations(file: Path, cache: TerraformParseCache | None) -> dict[str, Any]:
    """The variable and output blocks of one file, as python-hcl2 reads them (only the keys we use)."""
    content: bytes | None = None
    if cache is not None:
        try:
            content = file.read_bytes()
        except OSError:
            content = None  # parsing below reports the error as it always has
        if content is not None:
            cached = cache.get(content)
            if cached is not None:
                return cached
    document = _declared_blocks(_parse(file))
    if cache is not None and content is not None:
        cache.put(content, document)
    return document


def _parse(file: Path) -> dict[str, Any]:
    import hcl2  # deferred: loading python-hcl2 and its grammar is most of the cost of reading a module

    try:
        with file.open(encoding="utf-8") as handle:
            document: dict[str, Any] = hcl2.load(handle)
    except Exception as exc:  # python-hcl2 raises lark, value and unicode errors alike
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModuleError(f"{file.name}: cannot parse HCL: {first_line}") from exc
    return document


def _declared_blocks(document: Mapping[str, Any]) -> dict[str, Any]:
    """The part of a parsed file ``read_module`` looks at: variable and output blocks, their type, sensitive and
    description values and whether a default is set."""
    kept: dict[str, Any] = {}
    for kind in _BLOCK_KINDS:
        if kind not in document:
            continue
        entries = document[kind]
        kept[kind] = [
            {
                raw_name: (
                    {
                        **{key: body[key] for key in _KEPT_KEYS if key in body},
                        **({"default": None} if "default" in body else {}),
                    }
                    if isinstance(body, dict)
                    else None
                )
                for raw_name, body in entry.items()
            }
            for entry in (entries if isinstance(entries, list) else [])
            if isinstance(entry, dict)
        ]
    return kept


def default_cache_dir(environ: Mapping[str, str] | None = None) -> Path | None:
    """devctl's cache folder: ``$DEVCTL_CACHE_DIR``, else ``$XDG_CACHE_HOME/platform-orchestrator``, else
    ``~/.cache/platform-orchestrator``; None when ``$DEVCTL_CACHE_DIR`` is set but empty (no cache)."""
    environ = os.environ if environ is None else environ
    if CACHE_DIR_ENV in environ:
        return Path(environ[CACHE_DIR_ENV]).expanduser() if environ[CACHE_DIR_ENV] else None
    base = environ.get("XDG_CACHE_HOME") or str(Path("~/.cache").expanduser())
    return Path(base) / "platform-orchestrator"


@functools.cache
def _parser_identity() -> bytes | None:
    """The installed python-hcl2 and Lark, by the content of the files that say which version they are (and of the
    grammar); None when they cannot be found (then nothing is cached)."""
    digest = hashlib.sha256(_CACHE_FORMAT)
    for package, names in (("hcl2", ("version.py", "hcl2.lark")), ("lark", ("__init__.py",))):
        spec = importlib.util.find_spec(package)
        if spec is None or spec.origin is None:
            return None
        folder = Path(spec.origin).parent
        for name in names:
            try:
                digest.update(b"\0" + name.encode() + b"\0" + (folder / name).read_bytes())
            except OSError:
                return None
    return digest.digest()


class TerraformParseCache:
    """What each ``.tf`` file declares, by content, in ``folder/terraform-modules/`` (one small JSON file each).

    Stores only block names, types, descriptions, ``sensitive`` and whether a default exists, never values. Every
    failure to read or write the cache is ignored: the file is parsed instead. Safe to delete at any time.
    """

    def __init__(self, folder: Path) -> None:
        self.folder = folder / "terraform-modules"

    @classmethod
    def default(cls) -> TerraformParseCache | None:
        """The cache in ``default_cache_dir()``, or None when it is switched off."""
        folder = default_cache_dir()
        return cls(folder) if folder is not None else None

    def _entry(self, content: bytes) -> Path | None:
        identity = _parser_identity()
        if identity is None:
            return None
        return self.folder / f"{hashlib.sha256(identity + content).hexdigest()}.json"

    def get(self, content: bytes) -> dict[str, Any] | None:
        entry = self._entry(content)
        if entry is None:
            return None
        try:
            stored = json.loads(entry.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return stored if isinstance(stored, dict) and all(isinstance(v, list) for v in stored.values()) else None

    def put(self, content: bytes, document: dict[str, Any]) -> None:
        entry = self._entry(content)
        if entry is None:
            return
        try:
            text = json.dumps(document, ensure_ascii=False, allow_nan=False)
        except (TypeError, ValueError):
            return  # not JSON data: this file is parsed every time
        if repr(json.loads(text)) != repr(document):
            return  # JSON would change it (a tuple, a non-string key): this file is parsed every time
        import tempfile  # only on a cache miss

        try:
            self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
            descriptor, temporary = tempfile.mkstemp(dir=self.folder, prefix=".tmp-", suffix=".json")
        except OSError:
            return
        try:
            with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
                handle.write(text)
            Path(temporary).replace(entry)  # atomic: a concurrent reader sees the old entry or the whole new one
        except OSError:
            with contextlib.suppress(OSError):
                Path(temporary).unlink()
