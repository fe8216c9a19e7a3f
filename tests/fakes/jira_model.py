"""The fake JIRA's vocabulary: statuses, workflow, projects, issues, and the validation of issue fields.

Validation failures name the field and use the words JIRA Server uses, so a client sees the same
``{"errorMessages": [...], "errors": {"field": "message"}}`` answers it would get from a real instance.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Container, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

STATUS_CATEGORIES: dict[str, tuple[int, str, str]] = {  # key -> (id, name, colour)
    "new": (2, "To Do", "blue-gray"),
    "indeterminate": (4, "In Progress", "yellow"),
    "done": (3, "Done", "green"),
}
STATUSES: dict[str, tuple[str, str]] = {  # name -> (id, status category key)
    "Open": ("1", "new"),
    "In Progress": ("3", "indeterminate"),
    "Done": ("10001", "done"),
    "Closed": ("6", "done"),
}
RESOLUTIONS: dict[str, str] = {"Done": "10000", "Won't Do": "10001", "Duplicate": "10002"}
RESOLUTIONS.update({"Cannot Reproduce": "10003", "Declined": "10004"})
ISSUE_TYPE_IDS: dict[str, str] = {
    "Bug": "1",
    "Task": "3",
    "Epic": "10000",
    "Story": "10001",
    "Service Request": "10100",
}
PRIORITY_IDS: dict[str, str] = {"Highest": "1", "High": "2", "Medium": "3", "Low": "4", "Lowest": "5"}
LINK_TYPES: dict[str, tuple[str, str, str]] = {  # name -> (id, inward, outward)
    "Blocks": ("10000", "is blocked by", "blocks"),
    "Cloners": ("10001", "is cloned by", "clones"),
    "Duplicate": ("10002", "is duplicated by", "duplicates"),
    "Relates": ("10003", "relates to", "relates to"),
}
CANNOT_SET = "Field '{}' cannot be set. It is not on the appropriate screen, or unknown."


@dataclass(frozen=True)
class Transition:
    id: str
    name: str
    to: str
    sources: tuple[str, ...]
    resolution: str | None = None  # set when the target is a done status and the request names none


TRANSITIONS: tuple[Transition, ...] = (
    Transition("11", "Start Progress", "In Progress", ("Open",)),
    Transition("21", "Done", "Done", ("Open", "In Progress"), "Done"),
    Transition("31", "Close Issue", "Closed", ("Open", "In Progress"), "Done"),
    Transition("41", "Stop Progress", "Open", ("In Progress",)),
    Transition("51", "Reopen Issue", "Open", ("Done", "Closed")),
    Transition("61", "Won't Do", "Closed", ("Open", "In Progress"), "Won't Do"),
)


class ApiError(Exception):
    """An error answer: HTTP status plus JIRA's error body."""

    def __init__(
        self,
        status: int,
        messages: Iterable[str] = (),
        errors: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.status = status
        self.messages = list(messages)
        self.errors = dict(errors or {})
        self.headers = dict(headers or {})
        super().__init__(f"HTTP {status}: {self.messages or self.errors}")

    def body(self) -> dict[str, Any]:
        return {"errorMessages": self.messages, "errors": self.errors}


def not_found(what: str = "Issue Does Not Exist") -> ApiError:
    return ApiError(404, [what])


@dataclass
class Project:
    key: str
    id: str
    name: str
    issue_types: list[str]
    components: dict[str, str]  # name -> id
    priorities: list[str]


@dataclass
class CustomField:
    id: str
    name: str
    type: str = "string"  # string | number | option | array
    options: dict[str, str] = field(default_factory=dict)  # option value -> id


DEFAULT_PROJECTS: dict[str, dict[str, Any]] = {
    "DBA": {"name": "Database Administration", "components": ["PostgreSQL", "MySQL", "Backup"]},
    "OPS": {"name": "Operations", "components": ["Kubernetes", "Network", "Storage"]},
}
DEFAULT_CUSTOM_FIELDS: dict[str, Any] = {
    "customfield_10010": "Cost Center",
    "customfield_10011": {"name": "Environment", "type": "option", "options": ["dev", "staging", "prod"]},
    "customfield_10012": "Requested By",
    "customfield_10013": {"name": "Story Points", "type": "number"},
}


@dataclass
class Comment:
    id: str
    author: str
    body: str
    created: float


@dataclass
class Issue:
    id: str
    key: str
    project: str
    issuetype: str
    summary: str
    description: str | None
    labels: list[str]
    priority: str
    components: list[str]
    assignee: str | None
    reporter: str
    duedate: str | None
    custom: dict[str, Any]
    created: float
    created_mono: float
    updated: float
    status: str = "Open"
    resolution: str | None = None
    resolved: float | None = None
    comments: list[Comment] = field(default_factory=list)

    @property
    def category(self) -> str:
        return STATUSES[self.status][1]

    @property
    def number(self) -> int:
        return int(self.key.rsplit("-", 1)[1])


@dataclass
class Link:
    id: str
    type: str
    inward: str  # issue keys; the inward issue shows the link with an 'outwardIssue' and vice versa
    outward: str


def build_projects(config: Mapping[str, Mapping[str, Any]], type_ids: dict[str, str]) -> dict[str, Project]:
    projects: dict[str, Project] = {}
    component_ids = itertools.count(10000)
    for n, (key, spec) in enumerate(config.items()):
        projects[key] = Project(
            key=key,
            id=str(spec.get("id", 10000 + n)),
            name=str(spec.get("name", key)),
            issue_types=list(spec.get("issue_types", ["Task", "Bug", "Story", "Service Request"])),
            components={name: str(next(component_ids)) for name in spec.get("components", [])},
            priorities=list(spec.get("priorities", ["High", "Medium", "Low"])),
        )
        unknown = [p for p in projects[key].priorities if p not in PRIORITY_IDS]
        if unknown:
            raise ValueError(f"project {key}: priorities must be among {', '.join(PRIORITY_IDS)}, not {unknown}")
        for name in projects[key].issue_types:
            type_ids.setdefault(name, str(10200 + len(type_ids)))
    return projects


def build_custom_fields(config: Mapping[str, Any]) -> dict[str, CustomField]:
    fields: dict[str, CustomField] = {}
    option_ids = itertools.count(10100)
    for fid, spec in config.items():
        if not re.fullmatch(r"customfield_\d+", fid):
            raise ValueError(f"custom field ids look like customfield_10010, not {fid!r}")
        if isinstance(spec, str):
            spec = {"name": spec}
        options = {value: str(next(option_ids)) for value in spec.get("options", [])}
        fields[fid] = CustomField(fid, spec["name"], spec.get("type", "string"), options)
    return fields


def default_priority(project: Project) -> str:
    return "Medium" if "Medium" in project.priorities else project.priorities[0]


def reference(value: Any, what: str) -> tuple[str, str]:
    """('name'|'id'|'key', value) of a reference object such as {"name": "High"}; raise for other shapes."""
    if not isinstance(value, dict):
        raise ValueError("data was not an object")
    for attr in ("key", "name", "id", "value", "accountId"):
        if value.get(attr) not in (None, ""):
            return attr, str(value[attr])
    raise ValueError(f"Could not find valid 'id' or 'name' in {what} object.")


def check_fields(
    fields: dict[str, Any],
    project: Project | None,
    custom_fields: Mapping[str, CustomField],
    people: Container[str],
    errors: dict[str, str],
    *,
    creating: bool,
) -> dict[str, Any]:
    """Validate the settable fields; collect messages in ``errors``; return the values to store."""
    values: dict[str, Any] = {"custom": {}}
    for name, value in fields.items():
        if name in ("project", "issuetype") and creating:
            continue
        try:
            if name == "summary":
                if not isinstance(value, str) or not value.strip():
                    raise ValueError("You must specify a summary of the issue.")
                if "\n" in value or "\r" in value:
                    raise ValueError("The summary is invalid because it contains newline characters.")
                if len(value) > 255:
                    raise ValueError("Summary must be less than 255 characters.")
            elif name in ("description", "duedate"):
                if value is not None and not isinstance(value, str):
                    raise ValueError("data was not a string")
                if name == "duedate" and value and not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
                    raise ValueError(f"Error parsing date string: {value}")
            elif name == "labels":
                value = check_labels(value)
            elif name == "priority":
                value = _check_priority(value, project)
            elif name == "components":
                value = _check_components(value, project)
            elif name == "assignee":
                value = None if value is None else _check_user(value, people)
            elif name in custom_fields:
                values["custom"][name] = _check_custom(custom_fields[name], value)
                continue
            else:
                raise ValueError(CANNOT_SET.format(name))
        except ValueError as exc:
            errors.setdefault(name, str(exc))
            continue
        values[name] = value
    return values


def check_labels(value: Any) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError("data was not an array of strings")
    for label in value:
        if not label or any(c.isspace() for c in label):
            raise ValueError(f"The label '{label}' contains spaces which is invalid.")
        if len(label) > 255:
            raise ValueError("The label must not exceed 255 characters.")
    return list(dict.fromkeys(value))


def _check_priority(value: Any, project: Project | None) -> str:
    attr, ref = reference(value, "priority")
    allowed = project.priorities if project else list(PRIORITY_IDS)
    name = next((n for n in allowed if ref == (PRIORITY_IDS.get(n) if attr == "id" else n)), None)
    if name is None:
        raise ValueError(f"Priority {'id' if attr == 'id' else 'name'} '{ref}' is not valid")
    return name


def _check_components(value: Any, project: Project | None) -> list[str]:
    if not isinstance(value, list):
        raise ValueError("data was not an array")
    names = []
    for item in value:
        attr, ref = reference(item, "component")
        known = project.components if project else {}
        name = next((n for n, cid in known.items() if ref == (cid if attr == "id" else n)), None)
        if name is None:
            raise ValueError(f"Component {'id' if attr == 'id' else 'name'} '{ref}' is not valid")
        names.append(name)
    return names


def _check_user(value: Any, people: Container[str]) -> str:
    _, name = reference(value, "user")
    if name not in people:
        raise ValueError(f"User '{name}' does not exist.")
    return name


def _check_custom(spec: CustomField, value: Any) -> Any:
    if value is None:
        return None
    if spec.type == "number":
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError("Operation value must be a number")
        return value
    if spec.type == "option":
        attr, ref = reference(value, spec.id)
        if attr == "id":
            ref = next((v for v, oid in spec.options.items() if oid == ref), "")
        if ref not in spec.options:
            raise ValueError(f"Option value '{ref}' is not valid")
        return ref
    if spec.type == "array":
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ValueError("Operation value must be an array of strings")
        return list(value)
    if not isinstance(value, str):
        raise ValueError("Operation value must be a string")
    return value
