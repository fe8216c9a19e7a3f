"""The fake JIRA, driven by the real ``jira`` client: every endpoint the operator uses, validation, JQL and faults."""

from __future__ import annotations

import base64
import json
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from jira import JIRA, JIRAError

from tests.fakes.jira_server import FakeJira

ROOT = Path(__file__).resolve().parents[2]
BOT, TOKEN = "bot@example.com", "s3cret-token"
VIEWER, VIEWER_TOKEN = "viewer@example.com", "viewer-token"
API = "/rest/api/2"
TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+0000")


def task(project: str = "DBA", **fields: Any) -> dict[str, Any]:
    """Fields of a valid create, overridable."""
    base: dict[str, Any] = {"project": {"key": project}, "issuetype": {"name": "Task"}, "summary": "Provision a DB"}
    return {**base, **fields}


def answer(err: JIRAError) -> requests.Response:
    """The HTTP response a JIRAError carries (always there for errors the server answered)."""
    assert err.response is not None
    return err.response


@pytest.fixture
def fake() -> Iterator[FakeJira]:
    with FakeJira(users={BOT: TOKEN}, forbidden_users={VIEWER: VIEWER_TOKEN}) as server:
        yield server


@pytest.fixture
def jira(fake: FakeJira) -> JIRA:
    return JIRA(fake.url, basic_auth=(BOT, TOKEN), get_server_info=True, max_retries=0, timeout=5)


# -- endpoints -----------------------------------------------------------------------------------


def _create_full(jira: JIRA, fake: FakeJira) -> Any:
    issue = jira.create_issue(
        fields=task(
            summary="PostgreSQL orders for team-a",
            description="Create the database.",
            labels=["orchestrator-uid-1", "team-a"],
            priority={"name": "High"},
            components=[{"name": "PostgreSQL"}],
            customfield_10010="CC-42",
            customfield_10011={"value": "prod"},
            customfield_10013=3,
        )
    )
    f = issue.fields
    assert (issue.key, f.summary, f.description, f.labels) == (
        "DBA-1",
        "PostgreSQL orders for team-a",
        "Create the database.",
        ["orchestrator-uid-1", "team-a"],
    )
    assert (f.priority.name, [c.name for c in f.components], f.issuetype.name) == ("High", ["PostgreSQL"], "Task")
    assert (f.status.name, f.status.statusCategory.key, f.resolution) == ("Open", "new", None)
    assert (f.customfield_10010, f.customfield_10011.value, f.customfield_10013) == ("CC-42", "prod", 3)
    assert TIMESTAMP.fullmatch(f.created) and TIMESTAMP.fullmatch(f.updated)
    assert (f.issuelinks, f.comment.comments, f.reporter.name) == ([], [], BOT)
    return issue


def _create_by_names(jira: JIRA, fake: FakeJira) -> Any:
    # project/issuetype as plain strings: the client looks both up (GET project/DBA, project/<id>?expand=issueTypes)
    issue = jira.create_issue(project="OPS", issuetype="Bug", summary="Network flap")
    assert (issue.key, issue.fields.issuetype.name) == ("OPS-1", "Bug")
    assert fake.count("GET", f"{API}/project/") == 2


def _create_without_prefetch(jira: JIRA, fake: FakeJira) -> Any:
    issue = jira.create_issue(fields=task(), prefetch=False)
    assert set(issue.raw) == {"id", "key", "self"} and issue.key == "DBA-1"
    assert fake.count("GET", f"{API}/issue/") == 0


def _get_issue_fields_param(jira: JIRA, fake: FakeJira) -> Any:
    key = jira.create_issue(fields=task(), prefetch=False).key
    issue = jira.issue(key, fields="status,resolution")
    assert set(issue.raw["fields"]) == {"status", "resolution"}
    by_id = jira.issue(issue.id)
    assert by_id.key == key


def _update_issue(jira: JIRA, fake: FakeJira) -> Any:
    issue = jira.create_issue(fields=task(labels=["a"]))
    issue.update(fields={"summary": "Renamed"}, update={"labels": [{"add": "b"}, {"remove": "a"}]})
    assert (issue.fields.summary, issue.fields.labels) == ("Renamed", ["b"])


def _delete_issue(jira: JIRA, fake: FakeJira) -> Any:
    issue = jira.create_issue(fields=task())
    issue.delete()  # type: ignore[no-untyped-call]  # jira leaves Issue.delete unannotated
    with pytest.raises(JIRAError) as err:
        jira.issue(issue.key)
    assert (err.value.status_code, err.value.text) == (404, "Issue Does Not Exist")


def _transitions(jira: JIRA, fake: FakeJira) -> Any:
    issue = jira.create_issue(fields=task())
    listed = {t["name"]: t for t in jira.transitions(issue)}
    assert set(listed) == {"Start Progress", "Done", "Close Issue", "Won't Do"}
    assert listed["Done"]["to"]["statusCategory"]["key"] == "done"
    jira.transition_issue(issue, listed["Start Progress"]["id"])
    assert jira.issue(issue.key).fields.status.statusCategory.key == "indeterminate"
    jira.transition_issue(issue, "Close Issue", fields={"resolution": {"name": "Declined"}}, comment="closing")
    closed = jira.issue(issue.key)
    assert (closed.fields.status.name, getattr(closed.fields.resolution, "name", None)) == ("Closed", "Declined")
    assert TIMESTAMP.fullmatch(closed.fields.resolutiondate)
    assert [c.body for c in closed.fields.comment.comments] == ["closing"]
    assert [t["name"] for t in jira.transitions(issue)] == ["Reopen Issue"]


def _comments(jira: JIRA, fake: FakeJira) -> Any:
    issue = jira.create_issue(fields=task())
    comment = jira.add_comment(issue, "Waiting for approval")
    assert (comment.body, comment.author.name) == ("Waiting for approval", BOT)
    assert [c.body for c in jira.comments(issue)] == ["Waiting for approval"]
    assert jira.comment(issue.key, comment.id).body == "Waiting for approval"


def _issue_link(jira: JIRA, fake: FakeJira) -> Any:
    original = jira.create_issue(fields=task())
    escalation = jira.create_issue(fields=task("OPS", summary="Escalation: DBA-1 is stuck"))
    response = jira.create_issue_link("Relates", escalation.key, original.key)
    assert response.status_code == 201
    on_original = jira.issue(original.key).fields.issuelinks
    on_escalation = jira.issue(escalation.key).fields.issuelinks
    assert [(x.type.name, x.inwardIssue.key) for x in on_original] == [("Relates", "OPS-1")]
    assert [(x.type.name, x.outwardIssue.key) for x in on_escalation] == [("Relates", "DBA-1")]
    link = jira.issue_link(on_original[0].id)
    assert (link.inwardIssue.key, link.outwardIssue.key) == ("OPS-1", "DBA-1")


def _server_info(jira: JIRA, fake: FakeJira) -> Any:
    info = jira.server_info()
    assert (info["deploymentType"], info["versionNumbers"], jira._is_cloud) == ("Server", [9, 12, 2], False)


def _myself(jira: JIRA, fake: FakeJira) -> Any:
    me = jira.myself()
    assert (me["name"], me["emailAddress"], me["active"]) == (BOT, BOT, True)


def _fields(jira: JIRA, fake: FakeJira) -> Any:
    by_id = {f["id"]: f for f in jira.fields()}
    assert by_id["customfield_10010"]["name"] == "Cost Center"
    assert by_id["customfield_10010"]["clauseNames"] == ["cf[10010]", "Cost Center"]
    assert by_id["summary"]["custom"] is False


def _project(jira: JIRA, fake: FakeJira) -> Any:
    project = jira.project("DBA")
    assert [c.name for c in project.components] == ["PostgreSQL", "MySQL", "Backup"]
    assert [t.name for t in project.issueTypes] == ["Task", "Bug", "Story", "Service Request"]
    with pytest.raises(JIRAError) as err:
        jira.project("NOPE")
    assert (err.value.status_code, err.value.text) == (404, "No project could be found with key 'NOPE'.")


def _search_server(jira: JIRA, fake: FakeJira) -> Any:
    for n in range(3):
        jira.create_issue(fields=task(labels=[f"orchestrator-{n % 2}"]), prefetch=False)
    jira.create_issue(fields=task("OPS", labels=["orchestrator-0"]), prefetch=False)
    found = jira.search_issues('labels = "orchestrator-0" AND project = DBA ORDER BY created DESC')
    assert [i.key for i in found] == ["DBA-3", "DBA-1"] and found.total == 2
    assert fake.count("GET", f"{API}/search") == 1 and fake.count("GET", f"{API}/search/jql") == 0
    page = jira.search_issues("project = DBA ORDER BY key", startAt=1, maxResults=1)
    assert ([i.key for i in page], page.startAt, page.maxResults, page.total) == (["DBA-2"], 1, 1, 3)
    raw = jira.search_issues("labels = orchestrator-1", json_result=True)
    assert (raw["total"], raw["issues"][0]["key"]) == (1, "DBA-2")
    for _ in range(120):
        fake.seed_issue("OPS", labels=["bulk"])
    fake.clear_calls()
    assert len(jira.search_issues("labels = bulk", maxResults=False)) == 120  # all, in batches of 100
    assert fake.count("GET", f"{API}/search") == 2


ENDPOINTS: list[tuple[str, Callable[[JIRA, FakeJira], Any]]] = [
    ("create-issue-all-fields", _create_full),
    ("create-issue-by-names", _create_by_names),
    ("create-issue-no-prefetch", _create_without_prefetch),
    ("get-issue-fields-param-and-id", _get_issue_fields_param),
    ("update-issue", _update_issue),
    ("delete-issue-then-404", _delete_issue),
    ("transitions", _transitions),
    ("comments", _comments),
    ("issue-link-both-sides", _issue_link),
    ("server-info", _server_info),
    ("myself", _myself),
    ("fields", _fields),
    ("project", _project),
    ("search-server-paging", _search_server),
]


@pytest.mark.parametrize("scenario", [s for _, s in ENDPOINTS], ids=[i for i, _ in ENDPOINTS])
def test_endpoint_with_real_client(scenario: Callable[[JIRA, FakeJira], Any], jira: JIRA, fake: FakeJira) -> None:
    scenario(jira, fake)


def test_cloud_deployment_routes_search_to_search_jql(fake: FakeJira) -> None:
    fake.deployment_type = "Cloud"
    jira = fake.client()
    for _ in range(3):
        jira.create_issue(fields=task(labels=["x"]), prefetch=False)
    first = jira.search_issues("labels = x ORDER BY key", maxResults=2)
    assert [i.key for i in first] == ["DBA-1", "DBA-2"] and first.nextPageToken
    rest = jira.enhanced_search_issues("labels = x ORDER BY key", nextPageToken=first.nextPageToken)
    assert [i.key for i in rest] == ["DBA-3"]
    assert fake.count("GET", f"{API}/search/jql") == 2
    v3 = requests.post(
        f"{fake.url}/rest/api/3/search/jql", json={"jql": "labels = x", "fields": ["labels"]}, auth=(BOT, TOKEN)
    ).json()
    assert (len(v3["issues"]), v3["isLast"], v3["issues"][0]["fields"]) == (3, True, {"labels": ["x"]})


# -- validation ----------------------------------------------------------------------------------

VALIDATION: list[tuple[str, dict[str, Any], dict[str, str]]] = [
    ("unknown-project", task("NOPE"), {"project": "valid project is required"}),
    ("missing-project", {"issuetype": {"name": "Task"}, "summary": "x"}, {"project": "project is required"}),
    ("unknown-issue-type", task(issuetype={"name": "Incident"}), {"issuetype": "valid issue type is required"}),
    (
        "missing-summary",
        {"project": {"key": "DBA"}, "issuetype": {"name": "Task"}},
        {"summary": "You must specify a summary of the issue."},
    ),
    (
        "summary-newline",
        task(summary="a\nb"),
        {"summary": "The summary is invalid because it contains newline characters."},
    ),
    ("summary-too-long", task(summary="x" * 256), {"summary": "Summary must be less than 255 characters."}),
    ("unknown-priority", task(priority={"name": "Blocker"}), {"priority": "Priority name 'Blocker' is not valid"}),
    ("priority-not-object", task(priority="High"), {"priority": "data was not an object"}),
    (
        "unknown-component",
        task(components=[{"name": "Oracle"}]),
        {"components": "Component name 'Oracle' is not valid"},
    ),
    ("label-with-space", task(labels=["a b"]), {"labels": "The label 'a b' contains spaces which is invalid."}),
    (
        "unknown-custom-field",
        task(customfield_19999="x"),
        {
            "customfield_19999": "Field 'customfield_19999' cannot be set. "
            "It is not on the appropriate screen, or unknown."
        },
    ),
    (
        "custom-field-wrong-type",
        task(customfield_10013="three"),
        {"customfield_10013": "Operation value must be a number"},
    ),
    (
        "custom-option-unknown",
        task(customfield_10011={"value": "qa"}),
        {"customfield_10011": "Option value 'qa' is not valid"},
    ),
    ("unknown-assignee", task(assignee={"name": "mallory"}), {"assignee": "User 'mallory' does not exist."}),
    (
        "status-not-settable",
        task(status={"name": "Done"}),
        {"status": "Field 'status' cannot be set. It is not on the appropriate screen, or unknown."},
    ),
]


@pytest.mark.parametrize(("fields", "errors"), [(f, e) for _, f, e in VALIDATION], ids=[i for i, _, _ in VALIDATION])
def test_create_validation_answers_400_in_jira_shape(
    jira: JIRA, fake: FakeJira, fields: dict[str, Any], errors: dict[str, str]
) -> None:
    with pytest.raises(JIRAError) as err:
        if "project" in fields:
            jira.create_issue(fields=fields)
        else:  # create_issue itself raises KeyError without a project: post what it would have posted
            jira._session.post(f"{jira.server_url}{API}/issue", data=json.dumps({"fields": fields}))
    assert err.value.status_code == 400
    assert answer(err.value).json() == {"errorMessages": [], "errors": errors}
    assert fake.issues == {}


def test_transition_errors(jira: JIRA) -> None:
    issue = jira.create_issue(fields=task())
    cases: list[tuple[dict[str, Any], dict[str, Any]]] = [
        (
            {"transition": {"id": "51"}},
            {"errorMessages": ["Transition id '51' is not valid for this issue."], "errors": {}},
        ),
        (
            {"transition": {"id": "21"}, "fields": {"resolution": {"name": "Nope"}}},
            {"errorMessages": [], "errors": {"resolution": "Resolution 'Nope' is not valid"}},
        ),
        (
            {"transition": {"id": "11"}, "fields": {"resolution": {"name": "Done"}}},
            {
                "errorMessages": [],
                "errors": {
                    "resolution": "Field 'resolution' cannot be set. It is not on the appropriate screen, or unknown."
                },
            },
        ),
        ({}, {"errorMessages": ["Missing 'transition' identifier"], "errors": {}}),
    ]
    for body, expected in cases:
        response = requests.post(f"{jira.server_url}{API}/issue/{issue.key}/transitions", json=body, auth=(BOT, TOKEN))
        assert (response.status_code, response.json()) == (400, expected)
    with pytest.raises(JIRAError) as err:
        jira.transition_issue(issue, "999")
    assert err.value.status_code == 400
    assert jira.issue(issue.key).fields.status.name == "Open"


def test_empty_comment_and_unknown_link_type(jira: JIRA) -> None:
    issue = jira.create_issue(fields=task())
    with pytest.raises(JIRAError) as err:
        jira.add_comment(issue, "  ")
    assert (err.value.status_code, err.value.text) == (400, "Comment body can not be empty!")
    with pytest.raises(JIRAError) as err:
        jira.create_issue_link("Causes", issue.key, issue.key)
    assert (err.value.status_code, err.value.text) == (404, "No issue link type with name 'Causes' found.")


# -- JQL -----------------------------------------------------------------------------------------

JQL: list[tuple[str, str, list[str]]] = [
    ("label-quoted", 'labels = "orchestrator-a"', ["DBA-1", "OPS-1"]),
    ("label-bare", "labels = orchestrator-a", ["DBA-1", "OPS-1"]),
    ("label-in", 'labels in ("orchestrator-b", "nope")', ["DBA-2"]),
    ("label-and-project", 'labels = "orchestrator-a" AND project = OPS', ["OPS-1"]),
    ("lowercase-keywords", 'labels = "orchestrator-a" and project = dba order by created desc', ["DBA-1"]),
    ("key", "key = DBA-2", ["DBA-2"]),
    ("order-by-created-desc", "project in (DBA, OPS) ORDER BY created DESC", ["OPS-1", "DBA-2", "DBA-1"]),
    ("not-in", "labels not in (orchestrator-a)", ["DBA-2"]),
    ("or-and-parens", "(project = OPS OR key = DBA-2) AND labels is not EMPTY", ["DBA-2", "OPS-1"]),
    ("status-category", "statusCategory = Done", ["DBA-2"]),
    ("unresolved", "resolution = Unresolved ORDER BY key", ["DBA-1", "OPS-1"]),
    ("summary-contains", 'summary ~ "orders"', ["DBA-1"]),
    ("empty-query", "", ["DBA-1", "DBA-2", "OPS-1"]),
]


@pytest.mark.parametrize(("jql", "keys"), [(q, k) for _, q, k in JQL], ids=[i for i, _, _ in JQL])
def test_jql_subset(fake: FakeJira, jira: JIRA, jql: str, keys: list[str]) -> None:
    jira.create_issue(fields=task(summary="orders db", labels=["orchestrator-a"]), prefetch=False)
    jira.create_issue(fields=task(labels=["orchestrator-b"]), prefetch=False)
    jira.create_issue(fields=task("OPS", labels=["orchestrator-a"]), prefetch=False)
    fake.complete("DBA-2")
    assert [i.key for i in jira.search_issues(jql)] == keys


BAD_JQL: list[tuple[str, str, str]] = [
    ("unknown-field", "assignee = bob", "Field 'assignee' does not exist or you do not have permission to view it."),
    ("unsupported-operator", "labels ~ x", "The operator '~' is not supported by the 'labels' field."),
    ("unterminated-string", 'labels = "abc', "Error in the JQL Query: The quoted string 'abc' has not been completed."),
    ("dangling-and", "labels = x AND", "Error in the JQL Query: Expecting a field name but got end of query."),
    ("unknown-project", "project = NOPE", "The value 'NOPE' does not exist for the field 'project'."),
    ("unknown-key", "key = DBA-99", "An issue with key 'DBA-99' does not exist for field 'key'."),
    ("bad-order-by", "ORDER BY rank", "Not able to sort using field 'rank'."),
]


@pytest.mark.parametrize(("jql", "message"), [(q, m) for _, q, m in BAD_JQL], ids=[i for i, _, _ in BAD_JQL])
def test_unsupported_or_invalid_jql_is_a_400(jira: JIRA, jql: str, message: str) -> None:
    with pytest.raises(JIRAError) as err:
        jira.search_issues(jql)
    assert err.value.status_code == 400
    assert str(err.value.text).startswith(message)


def test_validate_query_false_turns_unknown_values_into_warnings(jira: JIRA) -> None:
    result = jira.search_issues("project = NOPE", validate_query=False, json_result=True)
    assert (result["total"], result["warningMessages"]) == (
        0,
        ["The value 'NOPE' does not exist for the field 'project'."],
    )


# -- authentication ------------------------------------------------------------------------------

AUTH: list[tuple[str, dict[str, Any], int]] = [
    ("basic-ok", {"basic_auth": (BOT, TOKEN)}, 200),
    ("bearer-ok", {"token_auth": TOKEN}, 200),
    ("wrong-token", {"basic_auth": (BOT, "wrong")}, 401),
    ("unknown-user", {"basic_auth": ("eve@example.com", TOKEN)}, 401),
    ("wrong-bearer", {"token_auth": "nope"}, 401),
    ("anonymous", {}, 401),
    ("forbidden-user", {"basic_auth": (VIEWER, VIEWER_TOKEN)}, 403),
]


@pytest.mark.parametrize(("auth", "status"), [(a, s) for _, a, s in AUTH], ids=[i for i, _, _ in AUTH])
def test_authentication(fake: FakeJira, auth: dict[str, Any], status: int) -> None:
    client = JIRA(fake.url, get_server_info=False, max_retries=0, timeout=5, **auth)
    if status == 200:
        assert client.myself()["name"] == BOT
        return
    with pytest.raises(JIRAError) as err:
        client.myself()
    assert err.value.status_code == status
    messages = {
        401: "You are not authenticated. Authentication required to perform this operation.",
        403: "You do not have the permission to perform this operation.",
    }
    assert answer(err.value).json() == {"errorMessages": [messages[status]], "errors": {}}
    if status == 401:
        assert answer(err.value).headers["WWW-Authenticate"].startswith("Basic")


def test_server_info_is_anonymous_but_wrong_credentials_fail_the_constructor(fake: FakeJira) -> None:
    assert JIRA(fake.url, max_retries=0, timeout=5).server_info()["deploymentType"] == "Server"
    with pytest.raises(JIRAError) as err:
        JIRA(fake.url, basic_auth=(BOT, "wrong"), max_retries=0, timeout=5)
    assert err.value.status_code == 401


def test_non_json_body_is_rejected(fake: FakeJira) -> None:
    url = f"{fake.url}{API}/issue"
    form = requests.post(url, data={"summary": "x"}, auth=(BOT, TOKEN))
    broken = requests.post(url, data="{not json", headers={"Content-Type": "application/json"}, auth=(BOT, TOKEN))
    assert (form.status_code, broken.status_code) == (415, 400)
    assert requests.get(f"{fake.url}{API}/nothing-here", auth=(BOT, TOKEN)).status_code == 404
    assert requests.get(f"{fake.url}/status").json() == {"state": "RUNNING"}


# -- faults --------------------------------------------------------------------------------------

CREATE = f"{API}/issue"


def _fault_status(status: int, **inject: Any) -> Callable[[FakeJira, JIRA], None]:
    def scenario(fake: FakeJira, jira: JIRA) -> None:
        fake.inject(method="POST", path=CREATE, status=status, times=1, **inject)
        with pytest.raises(JIRAError) as err:
            jira.create_issue(fields=task())
        assert err.value.status_code == status
        assert fake.issues == {}
        assert jira.create_issue(fields=task()).key == "DBA-1"  # times=1: the next call goes through
        if status == 429:
            assert answer(err.value).headers["Retry-After"] == str(inject.get("retry_after", 1))
            assert "Retry-After" in str(err.value)  # JIRAError's text carries the response headers
        if status == 401:
            assert answer(err.value).headers["X-Seraph-LoginReason"] == "AUTHENTICATED_FAILED"

    return scenario


def _drop_after_commit(fake: FakeJira, jira: JIRA) -> None:
    fake.inject(method="POST", path=CREATE, drop_after_commit=True, times=1)
    with pytest.raises(requests.exceptions.ConnectionError):
        jira.create_issue(fields=task(labels=["orchestrator-uid-7"]))
    assert [i["key"] for i in fake.issues_with_label("orchestrator-uid-7")] == ["DBA-1"]
    adopted = jira.search_issues('labels = "orchestrator-uid-7"')
    assert [i.key for i in adopted] == ["DBA-1"]
    create = next(c for c in fake.calls if c.method == "POST")
    assert (create.status, create.dropped, create.fault) == (201, True, True)


def _drop_before_processing(fake: FakeJira, jira: JIRA) -> None:
    fake.inject(method="POST", path=CREATE, drop=True, times=1)
    with pytest.raises(requests.exceptions.ConnectionError):
        jira.create_issue(fields=task())
    assert fake.issues == {}
    assert fake.calls[-1].status is None and fake.calls[-1].dropped


def _delay_then_timeout(fake: FakeJira, jira: JIRA) -> None:
    fake.inject(method="GET", path=f"{API}/issue/*", delay=0.5, times=1)
    key = jira.create_issue(fields=task(), prefetch=False).key
    slow = fake.client(timeout=0.1)
    with pytest.raises(requests.exceptions.ReadTimeout):
        slow.issue(key)


def _delay_then_answer(fake: FakeJira, jira: JIRA) -> None:
    fake.inject(method="GET", path=f"{API}/myself", delay=0.2, times=1)
    started = time.monotonic()
    assert jira.myself()["name"] == BOT
    assert time.monotonic() - started >= 0.2
    assert fake.calls[-1].duration >= 0.2


def _until_removed(fake: FakeJira, jira: JIRA) -> None:
    fault = fake.inject(method="GET", path=f"{API}/myself", status=503)
    for _ in range(3):
        with pytest.raises(JIRAError):
            jira.myself()
    assert (fault.hits, fault.remaining, fake.faults) == (3, None, [fault])
    fault.remove()
    assert jira.myself()["name"] == BOT


def _when_predicate_and_clear(fake: FakeJira, jira: JIRA) -> None:
    fake.inject(method="GET", path=f"{API}/search", status=500, when=lambda r: "adopt" in r.query["jql"][0])
    assert jira.search_issues("labels = other").total == 0
    with pytest.raises(JIRAError) as err:
        jira.search_issues("labels = adopt")
    assert (err.value.status_code, err.value.text) == (500, "Internal server error")
    fake.clear_faults()
    assert jira.search_issues("labels = adopt").total == 0


FAULTS: list[tuple[str, Callable[[FakeJira, JIRA], None]]] = [
    ("429-retry-after-default", _fault_status(429)),
    ("429-retry-after-30", _fault_status(429, retry_after=30)),
    ("503", _fault_status(503)),
    ("500", _fault_status(500)),
    ("401", _fault_status(401)),
    ("403", _fault_status(403)),
    ("drop-after-commit", _drop_after_commit),
    ("drop-before-processing", _drop_before_processing),
    ("delay-client-timeout", _delay_then_timeout),
    ("delay-then-answer", _delay_then_answer),
    ("until-removed", _until_removed),
    ("when-predicate-and-clear", _when_predicate_and_clear),
]


@pytest.mark.parametrize("scenario", [s for _, s in FAULTS], ids=[i for i, _ in FAULTS])
def test_fault_injection(scenario: Callable[[FakeJira, JIRA], None], fake: FakeJira, jira: JIRA) -> None:
    scenario(fake, jira)


def test_search_lag_hides_fresh_issues(fake: FakeJira, jira: JIRA) -> None:
    fake.search_lag = 1.0
    key = jira.create_issue(fields=task(labels=["fresh"])).key
    assert jira.issue(key).key == key  # GET by key is immediate
    assert jira.search_issues("labels = fresh").total == 0
    time.sleep(1.05)
    assert [i.key for i in jira.search_issues("labels = fresh")] == [key]
    assert fake.seed_issue(labels=["seeded"]) == "DBA-2"  # seeded issues are indexed at once by default
    assert jira.search_issues("labels = seeded").total == 1


def test_auto_complete_after(fake: FakeJira, jira: JIRA) -> None:
    fake.auto_complete_after = 0.5
    key = jira.create_issue(fields=task()).key
    assert jira.issue(key).fields.status.statusCategory.key == "new"
    time.sleep(0.55)
    done = jira.issue(key)
    assert (done.fields.status.name, getattr(done.fields.resolution, "name", None)) == ("Done", "Done")
    assert jira.search_issues("statusCategory = done").total == 1


# -- helpers and lifecycle -----------------------------------------------------------------------


def test_helpers(fake: FakeJira, jira: JIRA) -> None:
    secret = "hunter2-very-secret"
    key = jira.create_issue(fields=task(labels=["orchestrator-u1"], description="no secrets here")).key
    with pytest.raises(JIRAError):
        jira.create_issue(fields=task(summary=f"leak {secret}", labels=["bad label"]))
    assert fake.find_text(secret) == ["request #3 POST /rest/api/2/issue"]  # only the rejected create carried it
    assert len(fake.create_bodies) == 2 and fake.find_text(TOKEN) == []  # credentials are never stored
    assert fake.count("POST", CREATE) == 2 and fake.count("POST", CREATE, status=400) == 1
    fake.set_status(key, "In Progress")
    assert fake.issue(key)["fields"]["status"]["statusCategory"]["key"] == "indeterminate"
    fake.complete(key, "Won't Do", status="Closed")
    fields = fake.issues[key]["fields"]
    assert (fields["status"]["name"], fields["resolution"]["name"]) == ("Closed", "Won't Do")
    fake.add_comment(key, "done by hand", author="alice")
    assert jira.comments(key)[0].author.name == "alice"
    assert [i["key"] for i in fake.issues_with_label("orchestrator-u1")] == [key]
    fake.delete_issue(key)
    with pytest.raises(KeyError):
        fake.delete_issue(key)
    fake.reset()
    assert (fake.issues, fake.calls, fake.seed_issue()) == ({}, [], "DBA-1")


def test_concurrent_creates_get_unique_keys(fake: FakeJira) -> None:
    def worker() -> None:
        client = fake.client()
        for _ in range(10):
            client.create_issue(fields=task(), prefetch=False)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(fake.issues, key=lambda k: int(k.split("-")[1])) == [f"DBA-{n}" for n in range(1, 81)]


def test_stop_cuts_kept_alive_connections() -> None:
    fake = FakeJira().start()
    jira = fake.client()
    assert jira.myself()["name"] == BOT
    fake.stop()
    with pytest.raises(requests.exceptions.ConnectionError):
        jira.myself()


def test_standalone_command() -> None:
    command = [sys.executable, "-m", "tests.fakes.jira_server", "--host", "127.0.0.1", "--port", "0"]
    command += ["--user", f"{BOT}:{TOKEN}", "--auto-complete-after", "30", "--quiet"]
    proc = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        url = re.search(r"http://\S+", line)
        assert url, line
        auth = base64.b64encode(f"{BOT}:{TOKEN}".encode()).decode()
        me = requests.get(f"{url[0]}{API}/myself", headers={"Authorization": f"Basic {auth}"}, timeout=5)
        assert me.json()["name"] == BOT
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=5) == 0
