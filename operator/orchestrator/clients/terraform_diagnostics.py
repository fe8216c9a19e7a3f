"""Terraform's JSON diagnostics turned into one error class, one line and a retry meaning.

Commands run with ``-json`` print one event per line; errors are ``{"type": "diagnostic", "diagnostic":
{"severity", "summary", "detail", "range", "snippet"}}``. The snippet's ``values`` hold the values of the expressions
involved (variable values among them): they are never read, except the *name* of a ``var.<name>`` traversal.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal

ErrorKind = Literal["provider", "config", "validation", "apply", "stale-plan", "state", "timeout", "internal"]
CommandName = Literal["init", "plan", "show", "apply", "destroy", "output"]

MAX_MESSAGE = 500

_NETWORK = re.compile(
    r"could not connect|dial tcp|no such host|i/o timeout|timed out|timeout awaiting|connection refused|"
    r"connection reset|tls handshake|temporary failure|network is unreachable|giving up after \d+ attempt|"
    r"\b(?:429|502|503|504)\b",
    re.IGNORECASE,
)
_VALIDATION_SUMMARIES = (
    "invalid value for variable",
    "invalid value for input variable",
    "no value for required variable",
    "precondition failed",
    "postcondition failed",
    "check block assertion failed",
)
_CONTEXT = re.compile(r'^(resource|data|module|output|variable)\s+"([^"]+)"(?:\s+"([^"]+)")?')
_GENERIC_INIT = "terraform encountered problems during initiali"


@dataclass(frozen=True)
class Diagnostic:
    severity: str
    summary: str
    detail: str
    filename: str | None
    line: int | None
    context: str | None
    variables: tuple[str, ...]
    """Names of the ``var.<name>`` traversals the diagnostic shows (never their values)."""


@dataclass(frozen=True)
class Classified:
    kind: ErrorKind
    message: str
    temporary: bool
    address: str | None


def json_events(stdout: str) -> Iterator[dict[str, Any]]:
    """The JSON objects of a ``-json`` command's output (one per line; other lines are skipped)."""
    for line in stdout.splitlines():
        line = line.strip()
        if not line.startswith("{"):
            continue
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if isinstance(event, dict):
            yield event


def diagnostics(stdout: str) -> list[Diagnostic]:
    found: list[Diagnostic] = []
    for event in json_events(stdout):
        raw = event.get("diagnostic")
        if event.get("type") != "diagnostic" or not isinstance(raw, Mapping):
            continue
        range_ = _submapping(raw, "range")
        snippet = _submapping(raw, "snippet")
        start = _submapping(range_, "start")
        traversals = [
            str(value.get("traversal", "")) for value in snippet.get("values") or [] if isinstance(value, Mapping)
        ]
        found.append(
            Diagnostic(
                severity=str(raw.get("severity", "")),
                summary=_one_line(str(raw.get("summary", ""))),
                detail=str(raw.get("detail", "")),
                filename=str(range_["filename"]) if range_.get("filename") else None,
                line=int(start["line"]) if isinstance(start.get("line"), int) else None,
                context=str(snippet["context"]) if snippet.get("context") else None,
                variables=tuple(t.removeprefix("var.") for t in traversals if re.fullmatch(r"var\.\w+", t)),
            )
        )
    return found


def _submapping(parent: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = parent.get(key)
    return value if isinstance(value, Mapping) else {}


def errored_address(stdout: str) -> str | None:
    """The resource an ``apply_errored`` event names, if any."""
    for event in json_events(stdout):
        if event.get("type") == "apply_errored":
            resource = (event.get("hook") or {}).get("resource") or {}
            if resource.get("addr"):
                return str(resource["addr"])
    return None


def classify(module: str, command: CommandName, stdout: str, stderr: str) -> Classified:
    """The error class of a failed command, from its diagnostics (JSON) or, failing that, its plain stderr."""
    errors = [d for d in diagnostics(stdout) if d.severity == "error"]
    if not errors:
        text = _plain_error(stderr) or _plain_error(stdout) or f"`terraform {command}` failed without a message"
        kind: ErrorKind = "apply" if command in ("apply", "destroy") else "config"
        if command == "init" and "provider" in text.lower():
            kind = "provider"
        return Classified(kind, _clip(f"{module}: {text}"), bool(_NETWORK.search(text)), None)
    specific = [d for d in errors if not d.summary.lower().startswith(_GENERIC_INIT)] or errors
    chosen = specific[0]
    kind, temporary = _kind(command, chosen)
    address = _address(chosen) or (errored_address(stdout) if kind == "apply" else None)
    where = _where(chosen, None if kind == "config" else address)
    detail = _first_paragraph(chosen.detail)
    text = f"{module}: {where}{chosen.summary}" + (f": {detail}" if detail else "")
    if len(specific) > 1:
        text += f" (and {len(specific) - 1} more error{'s' if len(specific) > 2 else ''})"
    return Classified(kind, _clip(text), temporary, address)


def _kind(command: CommandName, diagnostic: Diagnostic) -> tuple[ErrorKind, bool]:
    summary = diagnostic.summary.lower()
    text = f"{diagnostic.summary} {diagnostic.detail}"
    network = bool(_NETWORK.search(text))
    if summary.startswith("saved plan is stale"):
        return "stale-plan", False
    if "state lock" in summary:
        return "state", True
    if any(marker in summary for marker in _VALIDATION_SUMMARIES):
        return ("apply" if command in ("apply", "destroy") else "validation"), False
    if "backend" in text.lower() and diagnostic.filename is None:
        return "state", network
    if "state" in summary and diagnostic.filename is None:
        return "state", network
    if command == "init" and "provider" in text.lower() and diagnostic.filename is None:
        return "provider", network
    if command in ("apply", "destroy"):
        return "apply", False
    if network and diagnostic.filename is None:
        return ("provider" if "provider" in text.lower() else "state"), True
    return "config", False


def _address(diagnostic: Diagnostic) -> str | None:
    if diagnostic.summary.lower().startswith(("invalid value for", "no value for required variable")):
        if diagnostic.variables:
            return f"var.{diagnostic.variables[0]}"
        named = re.search(r'variable "([^"]+)"', diagnostic.detail)
        return f"var.{named.group(1)}" if named else None
    match = _CONTEXT.match(diagnostic.context or "")
    if match is None:
        return None
    block, first, second = match.groups()
    if block == "resource" and second:
        return f"{first}.{second}"
    if block == "data" and second:
        return f"data.{first}.{second}"
    return {"module": "module.", "output": "output.", "variable": "var."}.get(block, "") + first


def _where(diagnostic: Diagnostic, address: str | None) -> str:
    if address and address.startswith("var."):
        return f'variable "{address[4:]}": '
    if address:
        return f"{address}: "
    if diagnostic.filename and diagnostic.line is not None:
        return f"{diagnostic.filename}:{diagnostic.line}: "
    return ""


def _first_paragraph(detail: str) -> str:
    return _one_line(detail.strip().split("\n\n", 1)[0])


def _plain_error(text: str) -> str:
    """The first meaningful lines of Terraform's boxed plain-text error output."""
    lines = [re.sub(r"^[│╷╵\s]+", "", line).strip() for line in text.splitlines()]
    lines = [line for line in lines if line]
    return _one_line(" ".join(lines[:3]).removeprefix("Error: "))


def _one_line(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def _clip(text: str) -> str:
    return text if len(text) <= MAX_MESSAGE else text[: MAX_MESSAGE - 1] + "…"
