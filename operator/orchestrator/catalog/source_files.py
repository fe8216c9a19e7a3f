"""Reading catalog and request files: size and encoding guards, YAML with line numbers, duplicate keys.

Everything a person can get wrong in a file becomes a Diagnostic naming the file and line; nothing raises.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .diagnostics import Diagnostic, FieldPath, format_path

MAX_FILE_BYTES = 1024 * 1024
"""A catalog file larger than this is refused unread (the API server stores objects up to ~1.5 MiB)."""
MAX_NODES = 200_000
"""Bound on YAML nodes after alias expansion, so an alias bomb cannot exhaust memory."""
YAML_SUFFIXES = (".yaml", ".yml")


class _Loader(yaml.SafeLoader):
    """SafeLoader that keeps dates as strings, as Kubernetes does (sigs.k8s.io/yaml)."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}

# libyaml's parser is ~10x faster at composing; it resolves tags through the same Python resolver table.
_ComposeLoader: type[yaml.SafeLoader | yaml.CSafeLoader]
if hasattr(yaml, "CSafeLoader"):

    class _CLoader(yaml.CSafeLoader):
        """The C parser with the same resolvers as _Loader."""

    _CLoader.yaml_implicit_resolvers = _Loader.yaml_implicit_resolvers
    _ComposeLoader = _CLoader
else:  # pragma: no cover - PyYAML without libyaml
    _ComposeLoader = _Loader


@dataclass
class SourceDocument:
    """One YAML document of a file, with the position of every field path in it."""

    file: str
    index: int
    data: Any
    positions: dict[FieldPath, tuple[int, int]] = field(default_factory=dict)

    @property
    def line(self) -> int:
        return self.positions.get((), (1, 1))[0]


@dataclass
class SourceFile:
    """A parsed file: its documents, or the diagnostics that kept it from parsing."""

    path: Path
    display: str
    documents: list[SourceDocument] = field(default_factory=list)
    diagnostics: list[Diagnostic] = field(default_factory=list)


class _TooLarge(Exception):
    pass


class _Builder:
    """Turns a composed YAML node tree into plain data, recording positions and duplicate keys."""

    def __init__(self, display: str, index: int) -> None:
        self.display = display
        self.index = index
        self.positions: dict[FieldPath, tuple[int, int]] = {}
        self.diagnostics: list[Diagnostic] = []
        self.constructor = _Loader("")
        self.nodes = 0

    def build(self, node: yaml.Node, path: FieldPath) -> Any:
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise _TooLarge
        self.positions.setdefault(path, (node.start_mark.line + 1, node.start_mark.column + 1))
        if isinstance(node, yaml.MappingNode):
            self.constructor.flatten_mapping(node)
            result: dict[Any, Any] = {}
            for key_node, value_node in node.value:
                key = self.constructor.construct_object(key_node, deep=True)
                if not isinstance(key, str | int | float | bool) or key is None:
                    self._error(key_node, path, f"mapping keys must be strings, got {type(key).__name__}")
                    continue
                key = str(key) if not isinstance(key, str) else key
                if key in result:
                    first = self.positions.get((*path, key), (None, None))[0]
                    self._error(key_node, (*path, key), f"duplicate key '{key}' (first set on line {first})")
                    continue
                self.positions[(*path, key)] = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
                result[key] = self.build(value_node, (*path, key))
            return result
        if isinstance(node, yaml.SequenceNode):
            return [self.build(item, (*path, i)) for i, item in enumerate(node.value)]
        return self.constructor.construct_object(node, deep=True)

    def _error(self, node: yaml.Node, path: FieldPath, message: str) -> None:

        self.diagnostics.append(
            Diagnostic(
                self.display,
                node.start_mark.line + 1,
                node.start_mark.column + 1,
                format_path(path),
                message,
                document=self.index,
            )
        )


def _describe_size(size: int) -> str:
    return f"{size / (1024 * 1024):.1f} MiB" if size >= 1024 * 1024 else f"{size / 1024:.1f} KiB"


def decode_text(raw: bytes, display: str) -> tuple[str | None, Diagnostic | None]:
    """UTF-8 text of a file, or a diagnostic saying why it is not a text file."""
    if b"\x00" in raw[:8192]:
        offset = raw.index(b"\x00")
        return None, Diagnostic(display, None, None, "", f"not a text file (NUL byte at offset {offset})")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        return None, Diagnostic(
            display,
            line,
            None,
            "",
            f"not a UTF-8 text file (invalid byte 0x{raw[exc.start]:02x} at offset {exc.start})",
        )
    return text, None


def parse_yaml(text: str, display: str) -> tuple[list[SourceDocument], list[Diagnostic]]:
    """Every non-empty document of a YAML stream, or the syntax error with its line and column."""
    documents: list[SourceDocument] = []
    diagnostics: list[Diagnostic] = []
    try:
        nodes = list(yaml.compose_all(text, Loader=_ComposeLoader))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = exc.problem or "invalid YAML"
        context = f" ({exc.context})" if exc.context else ""
        line = mark.line + 1 if mark else None
        column = mark.column + 1 if mark else None
        return [], [Diagnostic(display, line, column, "", f"YAML syntax error: {problem}{context}")]
    except yaml.YAMLError as exc:
        return [], [Diagnostic(display, None, None, "", f"YAML error: {exc}")]
    for index, node in enumerate(nodes):
        if node is None:
            continue
        builder = _Builder(display, index)
        try:
            data = builder.build(node, ())
        except _TooLarge:
            diagnostics.append(
                Diagnostic(
                    display, node.start_mark.line + 1, None, "", f"document expands to more than {MAX_NODES} nodes"
                )
            )
            continue
        except (yaml.YAMLError, ValueError, TypeError) as exc:
            diagnostics.append(Diagnostic(display, node.start_mark.line + 1, None, "", f"YAML error: {exc}"))
            continue
        diagnostics.extend(builder.diagnostics)
        if data is None:
            continue
        documents.append(SourceDocument(display, index, data, builder.positions))
    return documents, diagnostics


def read_source(path: Path, display: str | None = None, *, max_bytes: int = MAX_FILE_BYTES) -> SourceFile:
    """Read and parse one file; every problem is a diagnostic on the returned SourceFile."""
    shown = display or str(path)
    source = SourceFile(path=path, display=shown)
    try:
        size = path.stat().st_size
        if size > max_bytes:
            source.diagnostics.append(
                Diagnostic(
                    shown,
                    None,
                    None,
                    "",
                    f"file is {_describe_size(size)}; a catalog file may be at most {_describe_size(max_bytes)}",
                )
            )
            return source
        raw = path.read_bytes()
    except OSError as exc:
        source.diagnostics.append(Diagnostic(shown, None, None, "", f"cannot read file: {exc.strerror or exc}"))
        return source
    text, problem = decode_text(raw, shown)
    if problem is not None or text is None:
        source.diagnostics.append(problem or Diagnostic(shown, None, None, "", "unreadable file"))
        return source
    documents, diagnostics = parse_yaml(text, shown)
    source.documents, source.diagnostics = documents, diagnostics
    if not documents and not diagnostics:
        source.diagnostics.append(
            Diagnostic(shown, None, None, "", "file is empty: expected at least one YAML document")
        )
    return source


def discover_yaml_files(root: Path, *, skip_dirs: tuple[str, ...] = ("modules",)) -> list[Path]:
    """YAML files under ``root`` in a stable order, skipping hidden folders and the top-level module folders."""
    found: list[Path] = []
    for path in sorted(root.rglob("*")):
        relative = path.relative_to(root)
        if any(part.startswith(".") for part in relative.parts):
            continue
        if relative.parts and relative.parts[0] in skip_dirs:
            continue
        if path.is_file() and path.suffix in YAML_SUFFIXES:
            found.append(path)
    return found
