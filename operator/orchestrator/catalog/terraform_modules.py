"""What a Terraform module declares (variables, outputs), read with python-hcl2 without running Terraform."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import hcl2


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


def read_module(path: Path) -> TerraformModule:
    """Variables and outputs of the module in ``path`` (every ``*.tf`` file, in name order).

    Raises ModuleError when the folder has no ``.tf`` files or a file does not parse.
    """
    if not path.is_dir():
        raise ModuleError(f"{path} is not a directory")
    files = sorted(path.glob("*.tf"))
    if not files:
        raise ModuleError(f"{path} holds no .tf files")
    variables: dict[str, ModuleVariable] = {}
    outputs: dict[str, ModuleOutput] = {}
    for file in files:
        try:
            with file.open(encoding="utf-8") as handle:
                document = hcl2.load(handle)
        except Exception as exc:  # python-hcl2 raises lark, value and unicode errors alike
            first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ModuleError(f"{file.name}: cannot parse HCL: {first_line}") from exc
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
