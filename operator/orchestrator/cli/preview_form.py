"""`devctl preview form`: an item's fields schema as the form a requester fills in — in the terminal, or as HTML.

Both renderings come from ``catalog/field_info.py``: one panel (terminal) or fieldset (HTML) per group of fields,
a nested object being a group of its own; each field with its label, input kind, required marker, default,
constraints and description. The HTML page is self-contained (inline style, no scripts or external assets),
every text is escaped, and the inputs carry the schema's rules as HTML attributes (required, pattern, min/max,
minlength/maxlength, step, <select> for enums) with the defaults filled in.
"""

from __future__ import annotations

import html
import json
from collections.abc import Mapping, Sequence
from typing import Any

from rich import box
from rich.console import Console, Group, RenderableType
from rich.padding import Padding
from rich.panel import Panel
from rich.text import Text

from ..catalog.field_info import FieldInfo, as_mapping, compact, describe_fields, resolve_items, schema_type

_TEXT_WIDTH = 24


def _children(fields: Sequence[FieldInfo], parent: tuple[str, ...]) -> list[FieldInfo]:
    """The direct fields of a group (``parent`` is () for the top level; array items add "[]")."""
    result = []
    for info in fields:
        path = info.path
        prefix = path[: len(parent)]
        rest = path[len(parent) :]
        if prefix == parent and (len(rest) == 1 or (len(rest) == 2 and rest[0] == "[]")):
            result.append(info)
    return result


def _item_group(info: FieldInfo) -> tuple[str, ...] | None:
    """For an array of objects, the path its item fields hang under."""
    if schema_type(info.schema) == "array":
        items = resolve_items(info.schema, info.root)
        if schema_type(items) == "object" and items.get("properties"):
            return (*info.path, "[]")
    return None


# ---- terminal ---------------------------------------------------------------------------------------------------


def _widget(info: FieldInfo) -> str:
    kind = info.input_kind
    default = info.default if info.has_default else None
    if kind == "checkbox":
        return "[x]" if default is True else "[ ]"
    if kind == "select":
        shown = compact(default) if info.has_default else "choose"
        return f"[ {shown} ▾ ]"
    if kind == "multiselect":
        chosen = set(map(compact, default or [])) if isinstance(default, list) else set()
        options = resolve_items(info.schema, info.root).get("enum") or []
        return "  ".join(f"[{'x' if compact(o) in chosen else ' '}] {compact(o)}" for o in options)
    if kind == "list":
        values = ", ".join(compact(v) for v in default) if isinstance(default, list) and default else ""
        return f"[ {values + ', ' if values else ''}+ add ]"
    if kind == "keyvalue":
        values = (
            ", ".join(f"{k}={compact(v)}" for k, v in default.items())
            if isinstance(default, Mapping) and default
            else ""
        )
        return f"[ {values + ', ' if values else ''}+ key=value ]"
    if kind == "textarea":
        return "[ " + (compact(default) if default is not None else "").ljust(_TEXT_WIDTH) + " ]…"
    text = compact(default) if default is not None else ""
    return "[ " + text.ljust(8 if kind == "number" else _TEXT_WIDTH) + " ]"


def _field_text(info: FieldInfo) -> RenderableType:
    heading = Text()
    heading.append(info.label, style="bold")
    if info.required:
        heading.append(" *", style="bold red")
    heading.append("  ")
    heading.append(_widget(info), style="cyan")
    details = [info.key, info.input_kind, info.type_label]
    if info.has_default:
        details.append(f"default {compact(info.default)}")
    else:
        examples = info.schema.get("examples")
        if isinstance(examples, list) and examples:
            details.append(f"e.g. {compact(examples[0])}")
    details.extend(info.constraints())
    parts: list[RenderableType] = [heading, Padding(Text(" · ".join(details), style="dim"), (0, 0, 0, 2))]
    if info.description:
        parts.append(Padding(Text(" ".join(info.description.split())), (0, 0, 0, 2)))
    return Group(*parts)


def _group(fields: Sequence[FieldInfo], parent: tuple[str, ...], title: str) -> Panel:
    parts: list[RenderableType] = []
    for info in _children(fields, parent):
        if parts:
            parts.append(Text(""))
        if info.is_group:
            label = info.label + (" *" if info.required else "")
            parts.append(_group(fields, info.path, f"{label} ({info.key})"))
        else:
            parts.append(_field_text(info))
            inner = _item_group(info)
            if inner is not None:
                parts.append(_group(fields, inner, f"each item of {info.label}"))
    if not parts:
        parts.append(Text("(no fields)", style="dim"))
    return Panel(Group(*parts), title=title, title_align="left", box=box.ROUNDED, padding=(0, 1))


def render_terminal(obj: Mapping[str, Any], console: Console) -> None:
    spec = as_mapping(obj.get("spec"))
    meta = as_mapping(obj.get("metadata"))
    name = str(meta.get("name", ""))
    heading = Text()
    heading.append(str(spec.get("displayName") or name), style="bold")
    heading.append(f"  {name} {spec.get('version', '')}".rstrip())
    if spec.get("description"):
        heading.append("\n" + " ".join(str(spec["description"]).split()))
    approval = as_mapping(spec.get("approval"))
    if approval.get("required"):
        heading.append(f"\nNeeds approval (risk class {approval.get('riskClass', 'low')}).", style="yellow")
    heading.append("\n* required", style="dim")
    console.print(Panel(heading, box=box.ROUNDED, padding=(0, 1)))
    fields = describe_fields(spec.get("fields") or {})
    console.print(_group(fields, (), "Fields"))


# ---- HTML ---------------------------------------------------------------------------------------------------------

_STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:0;background:#f6f7f9;color:#1d2330}
main{max-width:46rem;margin:2rem auto;padding:0 1rem}
h1{font-size:1.5rem;margin-bottom:.25rem}.meta{color:#5b6475;margin-top:0}
fieldset{border:1px solid #cfd5df;border-radius:.5rem;margin:1rem 0;padding:.5rem 1rem;background:#fff}
legend{font-weight:600;padding:0 .25rem}.field{margin:.75rem 0}
label{display:block;font-weight:600}.req{color:#b42318;margin-left:.2rem}
input[type=text],input[type=number],input[type=email],input[type=url],input[type=date],select,textarea{
width:100%;box-sizing:border-box;padding:.4rem;border:1px solid #aab3c2;border-radius:.3rem;font:inherit}
input:invalid,textarea:invalid{border-color:#b42318}
.hint{color:#5b6475;font-size:.85rem;margin:.2rem 0}.desc{margin:.2rem 0}
button{padding:.5rem 1.25rem;font:inherit;border-radius:.3rem;border:0;background:#2456d3;color:#fff}
""".strip()

_INPUT_TYPES = {"text": "text", "email": "email", "url": "url", "date": "date", "datetime": "text", "number": "number"}


def html_pattern(pattern: str) -> str:
    """A JSON Schema pattern (matched anywhere, as ``re.search``) as an HTML ``pattern`` (matched whole, in
    JavaScript's ``v`` mode): anchors become implicit, and punctuation that ``v`` mode reserves inside
    character classes is escaped."""
    anchored = pattern.startswith("^") and pattern.endswith("$") and not pattern.endswith("\\$")
    body = pattern[1:-1] if anchored else f".*(?:{pattern}).*"
    out: list[str] = []
    in_class = False
    index = 0
    while index < len(body):
        char = body[index]
        if char == "\\" and index + 1 < len(body):
            out.append(body[index : index + 2])
            index += 2
            continue
        if in_class:
            if char == "]":
                in_class = False
            elif char == "-":
                previous = body[index - 1]
                following = body[index + 1] if index + 1 < len(body) else "]"
                char = "\\-" if previous == "[" or following == "]" else "-"
            elif char in "()[{}/|":
                char = "\\" + char
        elif char == "[":
            in_class = True
            out.append(char)
            if body[index + 1 : index + 2] == "^":
                out.append("^")
                index += 1
            index += 1
            continue
        out.append(char)
        index += 1
    return "".join(out)


def _attr(name: str, value: Any) -> str:
    return f' {name}="{html.escape(str(value), quote=True)}"'


def _input_html(info: FieldInfo, control_id: str) -> str:
    schema = info.schema
    kind = info.input_kind
    name = info.name
    required = info.required and kind != "checkbox"
    common = _attr("id", control_id) + _attr("name", name) + (" required" if required else "")
    default = info.default if info.has_default else None
    if kind == "select":
        options = []
        if not info.required or not info.has_default:
            options.append('<option value="">(choose)</option>')
        for value in info.enum or []:
            selected = " selected" if info.has_default and value == default else ""
            options.append(f"<option{_attr('value', compact(value))}{selected}>{html.escape(compact(value))}</option>")
        return f"<select{common}>{''.join(options)}</select>"
    if kind == "multiselect":
        chosen = list(default) if isinstance(default, list) else []
        items = resolve_items(schema, info.root)
        options = [
            f"<option{_attr('value', compact(v))}{' selected' if v in chosen else ''}>"
            f"{html.escape(compact(v))}</option>"
            for v in items.get("enum") or []
        ]
        return f"<select multiple{common}>{''.join(options)}</select>"
    if kind == "checkbox":
        return f'<input type="checkbox"{common}{_attr("value", "true")}{" checked" if default is True else ""}>'
    if kind in ("list", "keyvalue", "textarea"):
        attrs = _attr("data-kind", {"list": "list", "keyvalue": "map", "textarea": "text"}[kind]) + _attr("rows", 3)
        if kind == "list":
            items = resolve_items(schema, info.root)
            if isinstance(items.get("pattern"), str):
                attrs += _attr("data-item-pattern", html_pattern(items["pattern"]))
            text = "\n".join(compact(v) for v in default) if isinstance(default, list) else ""
            attrs += _attr("placeholder", "one item per line")
        elif kind == "keyvalue":
            text = "\n".join(f"{k}={compact(v)}" for k, v in default.items()) if isinstance(default, Mapping) else ""
            attrs += _attr("placeholder", "key=value, one per line")
        else:
            text = compact(default) if default is not None else ""
            for key, attr in (("minLength", "minlength"), ("maxLength", "maxlength")):
                if isinstance(schema.get(key), int):
                    attrs += _attr(attr, schema[key])
        return f"<textarea{common}{attrs}>{html.escape(text)}</textarea>"
    attrs = _attr("type", _INPUT_TYPES.get(kind, "text"))
    if kind == "number":
        integer = schema_type(schema) == "integer"
        for key, attr in (("minimum", "min"), ("maximum", "max")):
            if isinstance(schema.get(key), int | float):
                attrs += _attr(attr, schema[key])
        step = schema.get("multipleOf", 1 if integer else "any")
        attrs += _attr("step", step)
    else:
        if isinstance(schema.get("pattern"), str):
            attrs += _attr("pattern", html_pattern(schema["pattern"]))
            attrs += _attr("title", f"must match {schema['pattern']}")
        for key, attr in (("minLength", "minlength"), ("maxLength", "maxlength")):
            if isinstance(schema.get(key), int):
                attrs += _attr(attr, schema[key])
    if default is not None:
        attrs += _attr("value", compact(default))
    else:
        examples = schema.get("examples")
        if isinstance(examples, list) and examples:
            attrs += _attr("placeholder", compact(examples[0]))
    return f"<input{attrs}{common}>"


def _field_html(info: FieldInfo) -> str:
    control_id = "f-" + info.name.replace("[]", "-item").replace(".", "-")
    marker = '<span class="req" aria-hidden="true">*</span>' if info.required and info.input_kind != "checkbox" else ""
    hints = [info.type_label]
    if info.has_default:
        hints.append(f"default {compact(info.default)}")
    hints.extend(info.constraints())
    parts = [
        '<div class="field">',
        f'<label for="{control_id}">{html.escape(info.label)}{marker}</label>',
        _input_html(info, control_id),
        f'<p class="hint">{html.escape(" · ".join(hints))}</p>',
    ]
    if info.description:
        parts.append(f'<p class="desc">{html.escape(info.description)}</p>')
    parts.append("</div>")
    return "".join(parts)


def _fieldset_html(fields: Sequence[FieldInfo], parent: tuple[str, ...], legend: str) -> str:
    parts = [f"<fieldset><legend>{html.escape(legend)}</legend>"]
    for info in _children(fields, parent):
        if info.is_group:
            parts.append(_fieldset_html(fields, info.path, info.label + (" *" if info.required else "")))
        else:
            parts.append(_field_html(info))
            inner = _item_group(info)
            if inner is not None:
                parts.append(_fieldset_html(fields, inner, f"Each item of {info.label}"))
    parts.append("</fieldset>")
    return "\n".join(parts)


def render_html(obj: Mapping[str, Any]) -> str:
    spec = as_mapping(obj.get("spec"))
    name = str(as_mapping(obj.get("metadata")).get("name", ""))
    title = str(spec.get("displayName") or name)
    fields = describe_fields(spec.get("fields") or {})
    description = (
        f'<p class="desc">{html.escape(" ".join(str(spec["description"]).split()))}</p>'
        if spec.get("description")
        else ""
    )
    meta = f"{name} {spec.get('version', '')} · owner {spec.get('owner', '?')}"
    data = _attr("data-item", name) + _attr("data-version", spec.get("version", ""))
    return "\n".join(
        [
            "<!DOCTYPE html>",
            '<html lang="en">',
            "<head>",
            '<meta charset="utf-8">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            f"<title>{html.escape(title)} — request form</title>",
            f"<style>{_STYLE}</style>",
            "</head>",
            "<body><main>",
            f"<h1>{html.escape(title)}</h1>",
            f'<p class="meta">{html.escape(meta)}</p>',
            description,
            f'<form method="post" action="#"{data}>',
            _fieldset_html(fields, (), "Fields"),
            '<p class="hint"><span class="req">*</span> required</p>',
            '<button type="submit">Request</button>',
            "</form>",
            f"<!-- generated by devctl preview form from the fields schema: {html.escape(json.dumps(name))} -->",
            "</main></body>",
            "</html>",
            "",
        ]
    )
