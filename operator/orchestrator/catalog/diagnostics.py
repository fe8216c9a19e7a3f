"""Problems found in catalog files and requests, each pointing at a file, a line and a field path."""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Severity = Literal["error", "warning"]
PathPart = str | int
FieldPath = tuple[PathPart, ...]

_SIMPLE_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")


def format_path(path: Sequence[PathPart]) -> str:
    """``('spec', 'fulfillment', 'automated', 0, 'terraform')`` -> ``spec.fulfillment.automated[0].terraform``."""
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        elif _SIMPLE_KEY.match(part):
            text += f".{part}" if text else part
        else:
            text += f'["{part}"]'
    return text


def suggest(word: str, options: Iterable[str], *, cutoff: float = 0.6) -> str:
    """`` (did you mean 'x'?)`` for the closest option, or an empty string."""
    close = difflib.get_close_matches(word, sorted(options), n=1, cutoff=cutoff)
    return f" (did you mean '{close[0]}'?)" if close else ""


@dataclass(frozen=True, order=True)
class Diagnostic:
    """One problem. ``line``/``column`` are 1-based; ``path`` is empty for whole-file problems."""

    file: str
    line: int | None
    column: int | None
    path: str
    message: str
    severity: Severity = "error"
    document: int | None = None
    """0-based index of the YAML document in a multi-document file."""

    def reading_order(self) -> tuple[str, int, int]:
        """Sort key: by file, whole-file problems first, then by document and line."""
        return (self.file, -1 if self.document is None else self.document, self.line or 0)

    def location(self) -> str:
        where = self.file
        if self.line is not None:
            where += f":{self.line}"
            if self.column is not None:
                where += f":{self.column}"
        return where

    def render(self) -> str:
        """The one-line form: ``file:line:col: error: path: message``."""
        subject = f"{self.path}: " if self.path else ""
        return f"{self.location()}: {self.severity}: {subject}{self.message}"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class DiagnosticList:
    """Collects diagnostics for one document, locating field paths through the document's position map."""

    file: str
    positions: dict[FieldPath, tuple[int, int]] = field(default_factory=dict)
    document: int | None = None
    items: list[Diagnostic] = field(default_factory=list)

    def locate(self, path: Sequence[PathPart]) -> tuple[int | None, int | None]:
        """Line and column of the longest prefix of ``path`` present in the file."""
        probe = tuple(path)
        while True:
            if probe in self.positions:
                return self.positions[probe]
            if not probe:
                return None, None
            probe = probe[:-1]

    def error(self, path: Sequence[PathPart], message: str, *, line_offset: int = 0) -> None:
        self._add(path, message, "error", line_offset)

    def warning(self, path: Sequence[PathPart], message: str) -> None:
        self._add(path, message, "warning", 0)

    def extend(self, diagnostics: Iterable[Diagnostic]) -> None:
        self.items.extend(diagnostics)

    def _add(self, path: Sequence[PathPart], message: str, severity: Severity, line_offset: int) -> None:
        line, column = self.locate(path)
        if line is not None and line_offset:
            line, column = line + line_offset, None
        self.items.append(Diagnostic(self.file, line, column, format_path(path), message, severity, self.document))

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.items if d.severity == "error"]
