"""The fake JIRA's state as REST v2 JSON, with ``self`` links the ``jira`` client maps back to its resource classes."""

from __future__ import annotations

import datetime as dt
from typing import Any
from urllib.parse import quote

from .jira_model import (
    LINK_TYPES,
    PRIORITY_IDS,
    RESOLUTIONS,
    STATUS_CATEGORIES,
    STATUSES,
    Comment,
    CustomField,
    Issue,
    Link,
    Project,
    Transition,
)
from .jira_state import JiraState

API = "/rest/api/2"
SYSTEM_FIELD_NAMES: dict[str, tuple[str, str]] = {  # id -> (name, schema type)
    "summary": ("Summary", "string"),
    "description": ("Description", "string"),
    "labels": ("Labels", "array"),
    "priority": ("Priority", "priority"),
    "components": ("Component/s", "array"),
    "issuetype": ("Issue Type", "issuetype"),
    "project": ("Project", "project"),
    "status": ("Status", "status"),
    "resolution": ("Resolution", "resolution"),
    "resolutiondate": ("Resolved", "datetime"),
    "created": ("Created", "datetime"),
    "updated": ("Updated", "datetime"),
    "duedate": ("Due Date", "date"),
    "assignee": ("Assignee", "user"),
    "reporter": ("Reporter", "user"),
    "issuelinks": ("Linked Issues", "array"),
    "comment": ("Comment", "comments-page"),
}
_CUSTOM_TYPES = {
    "string": ("string", "textfield"),
    "number": ("number", "float"),
    "option": ("option", "select"),
    "array": ("array", "labels"),
}


def timestamp(seconds: float | None) -> str | None:
    """JIRA's timestamp format: 2024-05-01T12:00:00.000+0000."""
    if seconds is None:
        return None
    moment = dt.datetime.fromtimestamp(seconds, tz=dt.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}+0000"


def user(base: str, name: str) -> dict[str, Any]:
    return {
        "self": f"{base}{API}/user?username={quote(name)}",
        "key": name,
        "name": name,
        "emailAddress": name if "@" in name else f"{name}@example.com",
        "displayName": name.split("@")[0].replace(".", " ").title(),
        "active": True,
        "timeZone": "UTC",
    }


def status(base: str, name: str) -> dict[str, Any]:
    sid, category = STATUSES[name]
    cid, cname, colour = STATUS_CATEGORIES[category]
    return {
        "self": f"{base}{API}/status/{sid}",
        "description": "",
        "iconUrl": f"{base}/images/icons/statuses/generic.png",
        "name": name,
        "id": sid,
        "statusCategory": {
            "self": f"{base}{API}/statuscategory/{cid}",
            "id": cid,
            "key": category,
            "colorName": colour,
            "name": cname,
        },
    }


def resolution(base: str, name: str) -> dict[str, Any]:
    rid = RESOLUTIONS[name]
    return {"self": f"{base}{API}/resolution/{rid}", "id": rid, "description": "", "name": name}


def priority(base: str, name: str) -> dict[str, Any]:
    pid = PRIORITY_IDS[name]
    return {
        "self": f"{base}{API}/priority/{pid}",
        "iconUrl": f"{base}/images/icons/priorities/x.svg",
        "name": name,
        "id": pid,
    }


def issue_type(state: JiraState, base: str, name: str) -> dict[str, Any]:
    tid = state.issue_type_ids[name]
    return {"self": f"{base}{API}/issuetype/{tid}", "id": tid, "description": "", "name": name, "subtask": False}


def component(base: str, name: str, cid: str) -> dict[str, Any]:
    return {"self": f"{base}{API}/component/{cid}", "id": cid, "name": name}


def project(state: JiraState, base: str, p: Project, *, full: bool = True) -> dict[str, Any]:
    out: dict[str, Any] = {"self": f"{base}{API}/project/{p.id}", "id": p.id, "key": p.key, "name": p.name}
    out["projectTypeKey"] = "software"
    if full:
        out["components"] = [component(base, n, cid) for n, cid in p.components.items()]
        out["issueTypes"] = [issue_type(state, base, n) for n in p.issue_types]
        out["priorities"] = [priority(base, n) for n in p.priorities]
    return out


def link_type(base: str, name: str) -> dict[str, Any]:
    lid, inward, outward = LINK_TYPES[name]
    return {"id": lid, "name": name, "inward": inward, "outward": outward, "self": f"{base}{API}/issueLinkType/{lid}"}


def comment(base: str, issue: Issue, c: Comment) -> dict[str, Any]:
    author = user(base, c.author)
    when = timestamp(c.created)
    return {
        "self": f"{base}{API}/issue/{issue.id}/comment/{c.id}",
        "id": c.id,
        "author": author,
        "body": c.body,
        "updateAuthor": author,
        "created": when,
        "updated": when,
    }


def comments_page(base: str, issue: Issue) -> dict[str, Any]:
    items = [comment(base, issue, c) for c in issue.comments]
    return {"comments": items, "maxResults": len(items), "total": len(items), "startAt": 0}


def _linked(state: JiraState, base: str, key: str) -> dict[str, Any]:
    other = state.issues[key]
    fields = {
        "summary": other.summary,
        "status": status(base, other.status),
        "priority": priority(base, other.priority),
        "issuetype": issue_type(state, base, other.issuetype),
    }
    return {"id": other.id, "key": other.key, "self": f"{base}{API}/issue/{other.id}", "fields": fields}


def issue_link(state: JiraState, base: str, link: Link, seen_from: str | None = None) -> dict[str, Any]:
    """A link as listed on ``seen_from`` (only the other side), or as GET /issueLink/{id} shows it (both sides)."""
    out: dict[str, Any] = {
        "id": link.id,
        "self": f"{base}{API}/issueLink/{link.id}",
        "type": link_type(base, link.type),
    }
    if seen_from != link.outward:
        out["outwardIssue"] = _linked(state, base, link.outward)
    if seen_from != link.inward:
        out["inwardIssue"] = _linked(state, base, link.inward)
    return out


def custom_value(base: str, spec: CustomField, value: Any) -> Any:
    if value is None or spec.type != "option":
        return value
    oid = spec.options[value]
    return {"self": f"{base}{API}/customFieldOption/{oid}", "value": value, "id": oid}


def issue_fields(state: JiraState, base: str, i: Issue) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "summary": i.summary,
        "description": i.description,
        "labels": list(i.labels),
        "priority": priority(base, i.priority),
        "components": [component(base, n, state.projects[i.project].components[n]) for n in i.components],
        "issuetype": issue_type(state, base, i.issuetype),
        "project": project(state, base, state.projects[i.project], full=False),
        "status": status(base, i.status),
        "resolution": resolution(base, i.resolution) if i.resolution else None,
        "resolutiondate": timestamp(i.resolved),
        "created": timestamp(i.created),
        "updated": timestamp(i.updated),
        "duedate": i.duedate,
        "assignee": user(base, i.assignee) if i.assignee else None,
        "reporter": user(base, i.reporter),
        "creator": user(base, i.reporter),
        "issuelinks": [issue_link(state, base, link, i.key) for link in state.links_of(i.key)],
        "comment": comments_page(base, i),
    }
    for fid, spec in state.custom_fields.items():
        fields[fid] = custom_value(base, spec, i.custom.get(fid))
    return fields


def select(fields: dict[str, Any], wanted: list[str] | None) -> dict[str, Any]:
    """Honour the ``fields`` parameter: names, ``*all``/``*navigable``, and ``-name`` exclusions."""
    names = [n.strip() for item in wanted or [] for n in item.split(",") if n.strip()]
    if not names:
        return fields
    chosen = set(fields) if {"*all", "*navigable"} & set(names) else {n for n in names if n in fields}
    chosen -= {n[1:] for n in names if n.startswith("-")}
    return {k: v for k, v in fields.items() if k in chosen}


def issue(state: JiraState, base: str, i: Issue, wanted: list[str] | None = None) -> dict[str, Any]:
    return {
        "expand": "renderedFields,names,schema,operations,editmeta,changelog,versionedRepresentations",
        "id": i.id,
        "self": f"{base}{API}/issue/{i.id}",
        "key": i.key,
        "fields": select(issue_fields(state, base, i), wanted),
    }


def transition(base: str, t: Transition, *, with_fields: bool = False) -> dict[str, Any]:
    done = STATUSES[t.to][1] == "done"
    out: dict[str, Any] = {"id": t.id, "name": t.name, "to": status(base, t.to), "hasScreen": done}
    out.update({"isGlobal": False, "isInitial": False, "isAvailable": True, "isConditional": False})
    if with_fields:
        allowed = [{"self": f"{base}{API}/resolution/{rid}", "id": rid, "name": n} for n, rid in RESOLUTIONS.items()]
        resolution_field = {"required": False, "name": "Resolution", "operations": ["set"], "allowedValues": allowed}
        out["fields"] = {"resolution": resolution_field} if done else {}
    return out


def fields_list(state: JiraState) -> list[dict[str, Any]]:
    """GET /field: the system fields, then the custom ones (with clause names the client maps names from)."""
    out: list[dict[str, Any]] = []
    for fid, (name, kind) in SYSTEM_FIELD_NAMES.items():
        out.append(
            {
                "id": fid,
                "name": name,
                "custom": False,
                "orderable": True,
                "navigable": True,
                "searchable": True,
                "clauseNames": [fid],
                "schema": {"type": kind, "system": fid},
            }
        )
    for fid, spec in state.custom_fields.items():
        number = int(fid.rsplit("_", 1)[1])
        kind, plugin = _CUSTOM_TYPES.get(spec.type, ("string", "textfield"))
        out.append(
            {
                "id": fid,
                "name": spec.name,
                "custom": True,
                "orderable": True,
                "navigable": True,
                "searchable": True,
                "clauseNames": [f"cf[{number}]", spec.name],
                "schema": {
                    "type": kind,
                    "custom": f"com.atlassian.jira.plugin.system.customfieldtypes:{plugin}",
                    "customId": number,
                },
            }
        )
    return out


def server_info(base: str, deployment_type: str) -> dict[str, Any]:
    return {
        "baseUrl": base,
        "version": "9.12.2",
        "versionNumbers": [9, 12, 2],
        "deploymentType": deployment_type,
        "buildNumber": 9120002,
        "buildDate": "2024-01-01T00:00:00.000+0000",
        "serverTime": timestamp(dt.datetime.now(tz=dt.UTC).timestamp()),
        "scmInfo": "fake",
        "serverTitle": "Fake JIRA",
    }
