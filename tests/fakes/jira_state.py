"""What the fake JIRA holds: issues, comments and links, behind one lock, and the operations on them.

``jira_model`` has the vocabulary and field validation, ``jira_render`` turns this state into REST v2 JSON and
``jira_api`` puts it behind the REST routes. Failures raise ``ApiError`` with the status and JIRA's error shape.
"""

from __future__ import annotations

import heapq
import itertools
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from . import jira_jql
from .jira_model import (
    CANNOT_SET,
    DEFAULT_CUSTOM_FIELDS,
    DEFAULT_PROJECTS,
    ISSUE_TYPE_IDS,
    LINK_TYPES,
    PRIORITY_IDS,
    RESOLUTIONS,
    STATUS_CATEGORIES,
    STATUSES,
    TRANSITIONS,
    ApiError,
    Comment,
    Issue,
    Link,
    Project,
    Transition,
    build_custom_fields,
    build_projects,
    check_fields,
    check_labels,
    default_priority,
    not_found,
    reference,
)


def _apply_label_op(labels: list[str], verb: str, arg: Any) -> Any:
    if verb == "add":
        return labels if arg in labels else [*labels, arg]
    if verb == "remove":
        return [x for x in labels if x != arg]
    return arg  # set: validated with the rest


class JiraState:
    """The data and the rules; every public method takes the lock."""

    def __init__(
        self,
        projects: Mapping[str, Mapping[str, Any]] | None = None,
        custom_fields: Mapping[str, Any] | None = None,
        people: Iterable[str] = (),
    ) -> None:
        self.lock = threading.RLock()
        self.issue_type_ids = dict(ISSUE_TYPE_IDS)
        self.projects = build_projects(DEFAULT_PROJECTS if projects is None else projects, self.issue_type_ids)
        self.custom_fields = build_custom_fields(DEFAULT_CUSTOM_FIELDS if custom_fields is None else custom_fields)
        self.people = set(people)
        self.issues: dict[str, Issue] = {}
        self._by_id: dict[str, str] = {}  # issue id -> key
        self.links: dict[str, Link] = {}
        self.auto_complete_after: float | None = None
        self.search_lag: float = 0.0
        self._ids = itertools.count(10000)
        self._numbers: dict[str, int] = dict.fromkeys(self.projects, 0)
        self._comment_ids = itertools.count(10000)
        self._link_ids = itertools.count(10000)
        self._due: list[tuple[float, str]] = []  # (monotonic due time, issue id) for auto-complete

    def clear(self) -> None:
        """Forget issues and links; keys start again at <PROJECT>-1."""
        with self.lock:
            self.issues.clear()
            self._by_id.clear()
            self.links.clear()
            self._due.clear()
            self._numbers = dict.fromkeys(self.projects, 0)

    # -- lookups --------------------------------------------------------------------------------

    def get(self, key_or_id: str) -> Issue:
        with self.lock:
            self.tick()
            issue = self.issues.get(key_or_id.upper()) or self.issues.get(self._by_id.get(key_or_id, ""))
            if issue is None:
                raise not_found()
            return issue

    def find_project(self, key_or_id: str) -> Project | None:
        return next((p for p in self.projects.values() if key_or_id in (p.key, p.id)), None)

    def project(self, key_or_id: str) -> Project:
        project = self.find_project(key_or_id)
        if project is None:
            raise not_found(f"No project could be found with key '{key_or_id}'.")
        return project

    @staticmethod
    def _resolve(fields: dict[str, Any], name: str, errors: dict[str, str], find: Any) -> Any:
        """Resolve a required reference field (project, issuetype) with ``find(attr, ref)``; record JIRA's errors."""
        if name not in fields:
            errors[name] = f"{'issue type' if name == 'issuetype' else name} is required"
            return None
        try:
            attr, ref = reference(fields[name], name)
        except ValueError as exc:
            errors[name] = str(exc)
            return None
        found = find(attr, ref)
        if found is None:
            errors[name] = f"valid {'issue type' if name == 'issuetype' else name} is required"
        return found

    def tick(self) -> None:
        """Complete the tickets whose auto-complete time has come (lazily, whenever state is read)."""
        with self.lock:
            now = time.monotonic()
            while self._due and self._due[0][0] <= now:
                due, issue_id = heapq.heappop(self._due)
                issue = self.issues.get(self._by_id.get(issue_id, ""))
                if issue is not None and issue.category != "done":
                    moment = time.time() - (now - due)
                    issue.status, issue.resolution, issue.resolved, issue.updated = "Done", "Done", moment, moment

    # -- create / update / delete ---------------------------------------------------------------

    def create(self, body: Any, reporter: str) -> Issue:
        fields = body.get("fields") if isinstance(body, dict) else None
        if not isinstance(fields, dict):
            raise ApiError(400, ["Can not deserialize the request: a JSON object with a 'fields' object is required."])
        errors: dict[str, str] = {}
        project = self._resolve(fields, "project", errors, lambda attr, ref: self.find_project(ref))
        issuetype: str | None = None
        if project is not None:
            ids = self.issue_type_ids
            issuetype = self._resolve(
                fields,
                "issuetype",
                errors,
                lambda attr, ref: next(
                    (n for n in project.issue_types if ref == (ids[n] if attr == "id" else n)), None
                ),
            )
        elif "issuetype" not in fields:
            errors["issuetype"] = "issue type is required"
        if not fields.get("summary"):
            errors["summary"] = "You must specify a summary of the issue."
        values = check_fields(fields, project, self.custom_fields, self.people, errors, creating=True)
        if errors:
            raise ApiError(400, errors=errors)
        assert project is not None and issuetype is not None
        with self.lock:
            self._numbers[project.key] += 1
            now, mono = time.time(), time.monotonic()
            issue = Issue(
                id=str(next(self._ids)),
                key=f"{project.key}-{self._numbers[project.key]}",
                project=project.key,
                issuetype=issuetype,
                summary=values["summary"],
                description=values.get("description"),
                labels=values.get("labels", []),
                priority=values.get("priority") or default_priority(project),
                components=values.get("components", []),
                assignee=values.get("assignee"),
                reporter=reporter,
                duedate=values.get("duedate"),
                custom=values.get("custom", {}),
                created=now,
                created_mono=mono,
                updated=now,
            )
            self.issues[issue.key] = issue
            self._by_id[issue.id] = issue.key
            if self.auto_complete_after is not None:
                heapq.heappush(self._due, (mono + self.auto_complete_after, issue.id))
            return issue

    def update(self, key: str, body: Any, user: str) -> None:
        """PUT /issue/{key}: ``fields`` (set) and ``update`` (labels add/remove/set, comment add)."""
        if not isinstance(body, dict):
            raise ApiError(400, ["Can not deserialize the request: a JSON object is required."])
        with self.lock:
            issue = self.get(key)
            project = self.projects[issue.project]
            errors: dict[str, str] = {}
            fields = dict(body.get("fields") or {})
            values = check_fields(fields, project, self.custom_fields, self.people, errors, creating=False)
            labels = list(values.get("labels", issue.labels))
            comments: list[str] = []
            for name, ops in (body.get("update") or {}).items():
                if name not in ("labels", "comment"):
                    errors[name] = CANNOT_SET.format(name)
                elif not isinstance(ops, list) or not all(isinstance(op, dict) and len(op) == 1 for op in ops):
                    errors[name] = f"Operations on '{name}' must be a list of objects like {{\"add\": value}}."
                else:
                    for op in ops:
                        ((verb, arg),) = op.items()
                        if name == "comment" and verb == "add" and isinstance(arg, dict) and arg.get("body"):
                            comments.append(str(arg["body"]))
                        elif name == "labels" and verb in ("add", "remove", "set"):
                            labels = _apply_label_op(labels, verb, arg)
                        else:
                            errors[name] = f"Operation '{verb}' is not supported for field '{name}'."
            try:
                labels = check_labels(labels)
            except ValueError as exc:
                errors.setdefault("labels", str(exc))
            if errors:
                raise ApiError(400, errors=errors)
            custom = values.pop("custom")
            for name, value in values.items():
                setattr(issue, name, value)
            issue.labels = labels
            issue.custom.update(custom)
            for text in comments:
                self.add_comment(issue.key, {"body": text}, user)
            issue.updated = time.time()

    def delete(self, key: str) -> None:
        with self.lock:
            issue = self.get(key)
            del self.issues[issue.key]
            del self._by_id[issue.id]
            for link_id in [i for i, link in self.links.items() if issue.key in (link.inward, link.outward)]:
                del self.links[link_id]

    # -- workflow -------------------------------------------------------------------------------

    def transitions(self, key: str) -> list[Transition]:
        issue = self.get(key)
        return [t for t in TRANSITIONS if issue.status in t.sources]

    def transition(self, key: str, body: Any, user: str) -> None:
        with self.lock:
            issue = self.get(key)
            ref = body.get("transition") if isinstance(body, dict) else None
            tid = str(ref.get("id", "")) if isinstance(ref, dict) else ""
            if not tid:
                raise ApiError(400, ["Missing 'transition' identifier"])
            transition = next((t for t in self.transitions(issue.key) if t.id == tid), None)
            if transition is None:
                raise ApiError(400, [f"Transition id '{tid}' is not valid for this issue."])
            done = STATUSES[transition.to][1] == "done"
            resolution = transition.resolution if done else None
            for name, value in (body.get("fields") or {}).items():
                if name != "resolution" or not done:
                    raise ApiError(400, errors={name: CANNOT_SET.format(name)})
                try:
                    attr, ref_value = reference(value, "resolution")
                except ValueError as exc:
                    raise ApiError(400, errors={"resolution": str(exc)}) from None
                resolution = next(
                    (n for n, rid in RESOLUTIONS.items() if ref_value == (rid if attr == "id" else n)), None
                )
                if resolution is None:
                    raise ApiError(400, errors={"resolution": f"Resolution '{ref_value}' is not valid"})
            operations = (body.get("update") or {}).get("comment", [])
            comments = [op["add"] for op in operations if isinstance(op, dict) and "add" in op]
            if not all(isinstance(c, dict) and str(c.get("body") or "").strip() for c in comments):
                raise ApiError(400, errors={"comment": "Comment body can not be empty!"})
            now = time.time()
            issue.status, issue.resolution, issue.updated = transition.to, resolution, now
            issue.resolved = now if done else None
            for comment in comments:
                self.add_comment(issue.key, comment, user)

    def set_status(self, key: str, status: str, resolution: str | None = None) -> None:
        """Test helper: move a ticket to any status, with exactly the resolution given (None clears it)."""
        if status not in STATUSES:
            raise ValueError(f"unknown status {status!r}; known: {', '.join(STATUSES)}")
        if resolution is not None and resolution not in RESOLUTIONS:
            raise ValueError(f"unknown resolution {resolution!r}; known: {', '.join(RESOLUTIONS)}")
        with self.lock:
            issue = self.get(key)
            now = time.time()
            issue.status, issue.resolution, issue.updated = status, resolution, now
            issue.resolved = now if resolution else None

    # -- comments and links ---------------------------------------------------------------------

    def add_comment(self, key: str, body: Any, author: str) -> Comment:
        text = body.get("body") if isinstance(body, dict) else None
        if not isinstance(text, str) or not text.strip():
            raise ApiError(400, errors={"comment": "Comment body can not be empty!"})
        with self.lock:
            issue = self.get(key)
            comment = Comment(str(next(self._comment_ids)), author, text, time.time())
            issue.comments.append(comment)
            issue.updated = comment.created
            return comment

    def link(self, body: Any) -> Link:
        if not isinstance(body, dict):
            raise ApiError(400, ["Can not deserialize the request: a JSON object is required."])
        try:
            _, type_ref = reference(body.get("type"), "type")
            _, inward = reference(body.get("inwardIssue"), "inwardIssue")
            _, outward = reference(body.get("outwardIssue"), "outwardIssue")
        except ValueError as exc:
            raise ApiError(400, [str(exc)]) from None
        link_type = next((n for n, (lid, *_) in LINK_TYPES.items() if type_ref in (n, lid)), None)
        if link_type is None:
            raise not_found(f"No issue link type with name '{type_ref}' found.")
        with self.lock:
            source, target = self.get(inward), self.get(outward)
            link = Link(str(next(self._link_ids)), link_type, source.key, target.key)
            self.links[link.id] = link
            return link

    def links_of(self, key: str) -> list[Link]:
        return [link for link in self.links.values() if key in (link.inward, link.outward)]

    # -- search ---------------------------------------------------------------------------------

    def search(self, jql: str, *, validate: bool = True) -> tuple[list[Issue], list[str]]:
        """Issues matching ``jql`` that the (possibly lagging) index has seen, and warnings."""
        try:
            query = jira_jql.parse(jql)
        except jira_jql.JqlError as exc:
            raise ApiError(400, [str(exc)]) from None
        with self.lock:
            self.tick()
            problems = self._unknown_values(query)
            if problems and validate:
                raise ApiError(400, problems)
            visible_before = time.monotonic() - self.search_lag
            found = [
                issue
                for issue in self.issues.values()
                if issue.created_mono <= visible_before and jira_jql.matches(query.where, self._lookup(issue))
            ]
        found.sort(key=lambda i: int(i.id))
        for name, descending in reversed(query.order_by):
            if name == "key":
                found.sort(key=lambda i: (i.project, i.number), reverse=descending)
            else:
                found.sort(key=lambda i: (getattr(i, name), int(i.id)), reverse=descending)
        return found, problems

    def _lookup(self, issue: Issue) -> Callable[[str], list[str]]:
        def values(name: str) -> list[str]:
            if name == "labels":
                return issue.labels
            if name == "project":
                project = self.projects[issue.project]
                return [project.key, project.name, project.id]
            if name == "key":
                return [issue.key, issue.id]
            if name == "status":
                return [issue.status, STATUSES[issue.status][0]]
            if name == "statusCategory":
                cid, cname, _ = STATUS_CATEGORIES[issue.category]
                return [issue.category, cname, str(cid)]
            if name == "resolution":
                return [issue.resolution, RESOLUTIONS[issue.resolution]] if issue.resolution else []
            if name == "issuetype":
                return [issue.issuetype, self.issue_type_ids[issue.issuetype]]
            if name == "priority":
                return [issue.priority, PRIORITY_IDS[issue.priority]]
            if name == "component":
                return issue.components
            return [issue.summary]

        return values

    def _unknown_values(self, query: jira_jql.Query) -> list[str]:
        """JIRA's 400s for '=' against values that do not exist (a project key that is not there, ...)."""
        known: dict[str, set[str]] = {
            "project": {x for p in self.projects.values() for x in (p.key, p.name, p.id)},
            "status": {x for name, (sid, _) in STATUSES.items() for x in (name, sid)},
            "statusCategory": {x for k, (cid, n, _) in STATUS_CATEGORIES.items() for x in (k, n, str(cid))},
            "resolution": {*RESOLUTIONS, *RESOLUTIONS.values(), "Unresolved"},
            "issuetype": {x for pair in self.issue_type_ids.items() for x in pair},
            "priority": {x for pair in PRIORITY_IDS.items() for x in pair},
            "component": {c for p in self.projects.values() for c in p.components},
        }
        problems = []
        for name, allowed in known.items():
            lowered = {a.lower() for a in allowed}
            for value in jira_jql.referenced(query.where, name):
                if value.lower() not in lowered:
                    problems.append(f"The value '{value}' does not exist for the field '{name}'.")
        for value in jira_jql.referenced(query.where, "key"):
            if value.upper() not in self.issues and value not in self._by_id:
                problems.append(f"An issue with key '{value}' does not exist for field 'key'.")
        return problems
