"""Semantic checks of schema-valid catalog documents: what a JSON Schema cannot say.

Fields schema sanity, unique names, dependencies without cycles, templates that compile and refer only to
what exists, Terraform modules that exist and declare the variables we pass, quantities Kubernetes accepts.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..api.actions import Action, HttpAction, JiraAction, TerraformAction, WorkspaceAction
from ..api.catalog import CatalogBundle, CatalogItem, ItemOutput
from ..api.quantity import QuantityError, parse_quantity
from .diagnostics import DiagnosticList, FieldPath
from .fields import apply_defaults, schema_problems, value_problems
from .references import OutputProducer, ReferenceContext, check_template, is_template
from .terraform_modules import ModuleError, TerraformModule, TerraformParseCache, read_module


@dataclass
class ModuleCache:
    """Reads each module folder once per validation run (with ``parsed``, unchanged files are not even parsed)."""

    root: Path
    parsed: TerraformParseCache | None = None
    _cache: dict[str, TerraformModule | ModuleError] = field(default_factory=dict)

    def get(self, module: str) -> TerraformModule | ModuleError:
        if module not in self._cache:
            folder = self.root / module
            if not folder.is_dir():
                self._cache[module] = ModuleError(f"module '{module}' not found in the catalog (no folder {folder})")
            else:
                try:
                    self._cache[module] = read_module(folder, self.parsed)
                except ModuleError as exc:
                    self._cache[module] = ModuleError(f"module '{module}': {exc}")
        return self._cache[module]


@dataclass
class CheckOptions:
    modules: ModuleCache | None
    """None when the Terraform modules are not at hand (an object read from the cluster): module checks are skipped."""
    strict: bool = False


# ---- helpers shared by items and bundles ---------------------------------------------------------------------


def _check_fields_schema(schema: Mapping[str, Any], report: DiagnosticList, *, strict: bool) -> bool:
    problems = schema_problems(schema)
    for path, message in problems:
        report.error(("spec", "fields", *path), message)
    if strict and not problems:
        for name, sub in (schema.get("properties") or {}).items():
            if isinstance(sub, Mapping) and not sub.get("description"):
                report.warning(("spec", "fields", "properties", name), "field has no description")
    return not problems


def _dependency_problems(
    names: Sequence[str], depends_on: Mapping[str, Sequence[str]], what: str
) -> Iterator[tuple[int, int | None, str]]:
    """(index of the entry, index in its dependsOn or None, message) for unknown names, self-references, cycles."""
    known = set(names)
    for index, name in enumerate(names):
        for position, dependency in enumerate(depends_on.get(name, ())):
            if dependency == name:
                yield index, position, f"{what} '{name}' depends on itself"
            elif dependency not in known:
                yield index, position, f"no {what} named '{dependency}'"
    state: dict[str, int] = {}
    stack: list[str] = []
    reported: set[frozenset[str]] = set()

    def visit(name: str) -> Iterator[tuple[int, int | None, str]]:
        state[name] = 1
        stack.append(name)
        for dependency in depends_on.get(name, ()):
            if dependency not in known or dependency == name:
                continue
            if state.get(dependency) == 1:
                cycle = [*stack[stack.index(dependency) :], dependency]
                key = frozenset(cycle)
                if key not in reported:
                    reported.add(key)
                    yield names.index(cycle[0]), None, "dependency cycle: " + " -> ".join(cycle)
            elif dependency not in state:
                yield from visit(dependency)
        stack.pop()
        state[name] = 2

    for name in names:
        if name not in state:
            yield from visit(name)


def dependency_closure(name: str, depends_on: Mapping[str, Sequence[str]]) -> set[str]:
    """Every name ``name`` depends on, directly or transitively (cycles tolerated)."""
    seen: set[str] = set()
    pending = list(depends_on.get(name, ()))
    while pending:
        current = pending.pop()
        if current not in seen:
            seen.add(current)
            pending.extend(depends_on.get(current, ()))
    return seen


def _strings(value: Any, path: FieldPath) -> Iterator[tuple[FieldPath, str]]:
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, Mapping):
        for key, sub in value.items():
            yield from _strings(sub, (*path, key))
    elif isinstance(value, list):
        for index, sub in enumerate(value):
            yield from _strings(sub, (*path, index))


def _report_template(
    report: DiagnosticList, path: FieldPath, source: str, context: ReferenceContext, *, expression: bool = False
) -> None:
    for template_line, message in check_template(source, context, expression=expression):
        offset = template_line if "\n" in source.strip("\n") or source.startswith("\n") else template_line - 1
        report.error(path, message, line_offset=max(offset, 0))


def _check_outputs(
    outputs: Sequence[ItemOutput], context: ReferenceContext, report: DiagnosticList, *, strict: bool
) -> None:
    seen: dict[str, int] = {}
    for index, output in enumerate(outputs):
        path: FieldPath = ("spec", "outputs", index)
        if output.name in seen:
            report.error(
                (*path, "name"), f"duplicate output name '{output.name}' (also spec.outputs[{seen[output.name]}])"
            )
        seen.setdefault(output.name, index)
        _report_template(report, (*path, "value"), output.value, context)
        if strict and not output.description:
            report.warning(path, f"output '{output.name}' has no description")


# ---- items -----------------------------------------------------------------------------------------------------


def _producer(action: Action, lane: str, options: CheckOptions) -> OutputProducer:
    block = action.block()
    keys: frozenset[str] | None
    if isinstance(block, JiraAction):
        keys = frozenset({"key", "url", *block.outputs})
    elif isinstance(block, TerraformAction):
        module = options.modules.get(block.module) if options.modules is not None else None
        keys = frozenset(module.outputs) if isinstance(module, TerraformModule) else None
    elif isinstance(block, WorkspaceAction):
        keys = frozenset({"namespace"})
    else:
        keys = frozenset({"status", *block.outputs})
    return OutputProducer(action.name, keys, lane=lane)


def _check_terraform(block: TerraformAction, path: FieldPath, report: DiagnosticList, options: CheckOptions) -> None:
    if options.modules is None:
        return
    module = options.modules.get(block.module)
    if isinstance(module, ModuleError):
        report.error((*path, "module"), str(module))
        return
    declared = module.variables
    for name in block.variables:
        if name not in declared:
            listing = ", ".join(sorted(declared)) or "none"
            report.error(
                (*path, "variables", name),
                f"variable '{name}' is not declared by module {block.module} (it declares: {listing})",
            )
    for name in module.required_variables:
        if name not in block.variables:
            report.error((*path, "variables"), f"module {block.module} requires variable '{name}' (it has no default)")


def _check_quantity(value: Any, path: FieldPath, report: DiagnosticList, *, count: bool = False) -> None:
    if value is None or is_template(value):
        return
    try:
        amount = parse_quantity(value)
    except QuantityError as exc:
        report.error(path, str(exc))
        return
    if count and amount != amount.to_integral_value():
        report.error(path, f"'{value}' must be a whole number of objects")


def _check_workspace(block: WorkspaceAction, path: FieldPath, report: DiagnosticList) -> None:
    if block.quota is not None:
        for name in ("cpu", "memory", "storage"):
            _check_quantity(getattr(block.quota, name), (*path, "quota", name), report)
        _check_quantity(block.quota.pods, (*path, "quota", "pods"), report, count=True)
    if block.limits is not None:
        for group in ("default", "default_request", "max"):
            amounts = getattr(block.limits, group)
            if amounts is not None:
                wire = "defaultRequest" if group == "default_request" else group
                _check_quantity(amounts.cpu, (*path, "limits", wire, "cpu"), report)
                _check_quantity(amounts.memory, (*path, "limits", wire, "memory"), report)


def _check_http(block: HttpAction, path: FieldPath, report: DiagnosticList) -> None:
    if not is_template(block.url) and block.connection is None and not block.url.startswith(("http://", "https://")):
        report.error(
            (*path, "url"), f"'{block.url}' is not an absolute http(s) URL; set 'connection' for a relative path"
        )
    for name, pointer in block.outputs.items():
        if pointer and not pointer.startswith("/"):
            report.error((*path, "outputs", name), f"'{pointer}' is not a JSON pointer (it must start with '/')")
    for index, code in enumerate(block.success_codes):
        if not 100 <= code <= 599:
            report.error((*path, "successCodes", index), f"{code} is not an HTTP status code")


def _check_actions(
    lane: str,
    actions: Sequence[Action],
    item: CatalogItem,
    report: DiagnosticList,
    options: CheckOptions,
    producers: Mapping[str, OutputProducer],
) -> None:
    names = [action.name for action in actions]
    depends_on = {action.name: action.depends_on for action in actions}
    for index, position, message in _dependency_problems(names, depends_on, "action"):
        where: FieldPath = ("spec", "fulfillment", lane, index)
        report.error((*where, "dependsOn", position) if position is not None else (*where, "dependsOn"), message)
    fields_schema = item.spec.fields
    for index, action in enumerate(actions):
        path: FieldPath = ("spec", "fulfillment", lane, index)
        earlier = set(names[:index]) | dependency_closure(action.name, depends_on)
        earlier.discard(action.name)
        context = ReferenceContext(
            fields_schema=fields_schema,
            visible_outputs={name: producers[name] for name in earlier if name in producers},
            all_outputs=producers,
            lane=lane,
        )
        if action.when is not None:
            _report_template(report, (*path, "when"), action.when, context, expression=True)
        block = action.block()
        block_path: FieldPath = (*path, action.type)
        raw_block = block.model_dump(by_alias=True, exclude_none=True)
        if isinstance(block, JiraAction):
            raw_block.pop("outputs", None)
            ticket_context = ReferenceContext(
                fields_schema, context.visible_outputs, producers, extra_scopes=frozenset({"ticket"}), lane=lane
            )
            for name, source in block.outputs.items():
                _report_template(report, (*block_path, "outputs", name), source, ticket_context)
        for value_path, source in _strings(raw_block, block_path):
            _report_template(report, value_path, source, context)
        if isinstance(block, TerraformAction):
            _check_terraform(block, block_path, report, options)
        elif isinstance(block, WorkspaceAction):
            _check_workspace(block, block_path, report)
        elif isinstance(block, HttpAction):
            _check_http(block, block_path, report)


def check_item(item: CatalogItem, report: DiagnosticList, options: CheckOptions) -> None:
    """Add every semantic problem of a schema-valid item to ``report``."""
    spec = item.spec
    if options.strict and not spec.description:
        report.warning(("spec",), "item has no description")
    fields_ok = _check_fields_schema(spec.fields, report, strict=options.strict)
    fulfillment = spec.fulfillment
    lanes = {"automated": fulfillment.automated, "manual": fulfillment.manual}
    if not lanes[fulfillment.mode]:
        report.error(
            ("spec", "fulfillment", fulfillment.mode),
            f"mode is '{fulfillment.mode}' but no {fulfillment.mode} actions are listed",
        )
    if fulfillment.fallback_to_manual and not fulfillment.manual:
        report.error(
            ("spec", "fulfillment", "fallbackToManual"), "fallbackToManual needs manual actions to fall back to"
        )
    if fulfillment.fallback_to_manual and fulfillment.mode == "manual":
        report.error(
            ("spec", "fulfillment", "fallbackToManual"), "fallbackToManual only applies when mode is 'automated'"
        )
    first_seen: dict[str, str] = {}
    for lane, actions in lanes.items():
        for index, action in enumerate(actions):
            where = f"spec.fulfillment.{lane}[{index}]"
            if action.name in first_seen:
                report.error(
                    ("spec", "fulfillment", lane, index, "name"),
                    f"duplicate action name '{action.name}' (also {first_seen[action.name]})",
                )
            else:
                first_seen[action.name] = where
    if not fields_ok:
        return  # template references are checked against the fields schema, which is broken
    producers: dict[str, OutputProducer] = {}
    for lane, actions in lanes.items():
        for action in actions:
            producers.setdefault(action.name, _producer(action, lane, options))  # duplicates are reported above
    for lane, actions in lanes.items():
        _check_actions(lane, actions, item, report, options, producers)
    outputs_context = ReferenceContext(spec.fields, producers, producers)
    _check_outputs(spec.outputs, outputs_context, report, strict=options.strict)


# ---- bundles ---------------------------------------------------------------------------------------------------


def check_bundle(
    bundle: CatalogBundle,
    report: DiagnosticList,
    options: CheckOptions,
    lookup_item: Callable[[str], CatalogItem | None] | None,
) -> None:
    """Add every semantic problem of a schema-valid bundle to ``report``.

    ``lookup_item`` finds the catalog's items by name; None when the catalog is not known (a lone file), in
    which case component items and their fields are not checked.
    """
    spec = bundle.spec
    if options.strict and not spec.description:
        report.warning(("spec",), "bundle has no description")
    fields_ok = _check_fields_schema(spec.fields, report, strict=options.strict)
    names = [component.name for component in spec.components]
    depends_on = {component.name: component.depends_on for component in spec.components}
    seen: dict[str, int] = {}
    for index, component in enumerate(spec.components):
        if component.name in seen:
            report.error(
                ("spec", "components", index, "name"),
                f"duplicate component name '{component.name}' (also spec.components[{seen[component.name]}])",
            )
        seen.setdefault(component.name, index)
    for index, position, message in _dependency_problems(names, depends_on, "component"):
        where: FieldPath = ("spec", "components", index, "dependsOn")
        report.error((*where, position) if position is not None else where, message)
    items: dict[str, CatalogItem | None] = {}
    for index, component in enumerate(spec.components):
        if lookup_item is None:
            continue
        item = lookup_item(component.item)
        items[component.name] = item
        path: FieldPath = ("spec", "components", index)
        if item is None:
            report.error((*path, "item"), f"no catalog item named '{component.item}'")
            continue
        if item.spec.lifecycle == "deprecated" and options.strict:
            report.warning((*path, "item"), f"item '{component.item}' is deprecated")
        _check_component_fields(component.fields, item, (*path, "fields"), report)
    if not fields_ok:
        return
    producers = {
        component.name: OutputProducer(
            component.name,
            frozenset(o.name for o in items[component.name].spec.outputs)  # type: ignore[union-attr]
            if items.get(component.name) is not None
            else None,
            kind="component",
        )
        for component in spec.components
    }
    for index, component in enumerate(spec.components):
        earlier = (set(names[:index]) | dependency_closure(component.name, depends_on)) - {component.name}
        context = ReferenceContext(spec.fields, {n: producers[n] for n in earlier if n in producers}, producers)
        path = ("spec", "components", index)
        if component.when is not None:
            _report_template(report, (*path, "when"), component.when, context, expression=True)
        for value_path, source in _strings(component.fields, (*path, "fields")):
            _report_template(report, value_path, source, context)
    _check_outputs(spec.outputs, ReferenceContext(spec.fields, producers, producers), report, strict=options.strict)


def _check_component_fields(
    values: Mapping[str, Any], item: CatalogItem, path: FieldPath, report: DiagnosticList
) -> None:
    """Literal component fields must satisfy the item's schema; templated ones are checked when rendered."""
    schema = item.spec.fields
    literal = {name: value for name, value in values.items() if not _contains_template(value)}
    templated = set(values) - set(literal)
    # Templated values stand in as present; their type is only known once rendered.
    for problem_path, message in value_problems(schema, apply_defaults(schema, literal)):
        if problem_path and problem_path[0] in templated:
            continue
        if message.startswith("missing required field") and problem_path and problem_path[-1] in templated:
            continue
        report.error((*path, *problem_path), f"item '{item.metadata.name}': {message}")


def _contains_template(value: Any) -> bool:
    return any(is_template(text) for _, text in _strings(value, ()))
