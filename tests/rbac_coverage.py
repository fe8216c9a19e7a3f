"""RBAC coverage: every API call the operator makes in the test session must be allowed by the chart's roles.

A pytest plugin (registered in tests/conftest.py). The operator under test logs in with :data:`OPERATOR_TOKEN`
(``operator_kubeconfig`` in tests/integration/conftest.py writes it into the operator's kubeconfig; kopf and our
own client both send it as ``Authorization: Bearer``), so its requests are told apart from the test code's (devctl,
kubectl, the Job kubelet and the fixtures use token-less kubeconfigs or the store directly). The Terraform job runner
(``orchestrator terraform-run`` in a Job, run by tests/k8s/jobs.py's JobKubelet or in process) logs in with
:data:`TERRAFORM_JOB_TOKEN` (``terraform_job_kubeconfig`` in tests/integration/conftest.py) and is checked the same
way against the Role of its own ServiceAccount (terraform.jobServiceAccount). A listener on every API
emulator (``tests.k8s.server.ACCESS_LISTENERS``) records each of its calls as (verb, group, resource[/subresource],
namespace, name); writing a RoleBinding that refers to a ClusterRole also records the ``bind`` check that
kube-apiserver makes on that ClusterRole.

At the end of the session each identity's calls are checked against the Roles rendered from the Helm chart that are
bound to its ServiceAccount (helm_python, release namespace = the test operator's namespace):

- every call is allowed (ClusterRole rules anywhere, Role rules only in the release namespace) -- always;
- no rule uses ``*`` -- always;
- every (verb, resource) of every rule was used at least once, except those declared ``untested`` with a reason in
  ``orchestrator.api.rbac`` -- only in a *full run*: every test module of tests/integration collected, nothing
  deselected, the session not stopped early (``-x``/``--maxfail``). ``RBAC_COVERAGE=strict`` forces the unused check,
  ``RBAC_COVERAGE=off`` turns the whole check off (e.g. while debugging one test with a broken chart);
  ``RBAC_COVERAGE_REPORT=FILE`` writes the recorded calls to FILE, one a line.

A failed check prints the offending calls or rules and fails the session's exit code.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import pytest

from tests.k8s.server import ACCESS_LISTENERS, Served

OPERATOR_TOKEN = "platform-orchestrator-operator-token"
"""The bearer token of the operator under test (the stand-in for its ServiceAccount's token)."""
TERRAFORM_JOB_TOKEN = "platform-orchestrator-terraform-job-token"
"""The bearer token of the Terraform job runner (the stand-in for terraform.jobServiceAccount's token)."""
OPERATOR, TERRAFORM_JOB = "operator", "terraform job runner"
IDENTITIES = {OPERATOR_TOKEN: OPERATOR, TERRAFORM_JOB_TOKEN: TERRAFORM_JOB}

ROOT = Path(__file__).resolve().parent.parent
CHART = ROOT / "charts" / "platform-orchestrator"
INTEGRATION = Path(__file__).resolve().parent / "integration"
RELEASE = "rbac-coverage"
RBAC_GROUP = "rbac.authorization.k8s.io"
ROLE_KINDS = ("ClusterRole", "Role")


class Call(NamedTuple):
    """One authorization check, as kube-apiserver's RBAC authorizer sees it (namespace None: cluster scope)."""

    verb: str
    group: str
    resource: str  # "plural" or "plural/subresource"
    namespace: str | None
    name: str | None

    def __str__(self) -> str:
        where = f"namespace {self.namespace}" if self.namespace else "cluster-wide"
        group = self.group or "core"
        return f"{self.verb} {self.resource} ({group}) {where}" + (f" name={self.name}" if self.name else "")


@dataclass(frozen=True)
class RenderedRule:
    kind: str  # ClusterRole | Role
    namespace: str | None  # the Role's namespace
    groups: tuple[str, ...]
    resources: tuple[str, ...]
    verbs: tuple[str, ...]
    names: tuple[str, ...]

    def allows(self, call: Call) -> bool:
        if self.kind == "Role" and call.namespace != self.namespace:
            return False
        if call.group not in self.groups or call.resource not in self.resources or call.verb not in self.verbs:
            return False
        return not self.names or (call.name is not None and call.name in self.names)

    def grants(self) -> Iterator[tuple[str, str, str, str | None]]:
        """Every (kind, group, resource, verb, name) this rule grants, for the "no unused rule" check."""
        for group in self.groups:
            for resource in self.resources:
                for verb in self.verbs:
                    for name in self.names or (None,):
                        yield (group, resource, verb, name)


def call_from(served: Served) -> list[Call]:
    """The RBAC checks a served request needed (none for non-resource URLs such as discovery)."""
    access = served.access
    if access.group is None or access.resource is None:
        return []  # /api, /apis, /version...: allowed to every authenticated user by system:discovery
    resource = f"{access.resource}/{access.subresource}" if access.subresource else access.resource
    cluster_scoped = access.group == "" and access.resource == "namespaces"
    namespace = None if cluster_scoped else access.namespace
    calls = [Call(access.verb, access.group, resource, namespace, served.name)]
    data = served.data
    if (
        access.group == RBAC_GROUP
        and access.resource in ("rolebindings", "clusterrolebindings")
        and access.subresource is None
        and access.verb in ("create", "update", "patch")
        and isinstance(data, Mapping)
    ):
        ref = data.get("roleRef")
        if isinstance(ref, Mapping) and ref.get("kind") == "ClusterRole" and ref.get("name"):
            calls.append(Call("bind", RBAC_GROUP, "clusterroles", None, str(ref["name"])))
    if access.verb in ("create", "update", "patch") and isinstance(data, Mapping):
        calls += owner_checks(data, namespace)
    return calls


def owner_checks(data: Mapping[str, Any], namespace: str | None) -> list[Call]:
    """OwnerReferencesPermissionEnforcement: setting blockOwnerDeletion needs ``update`` on the owner's finalizers.

    The owner's resource is taken as its kind in lower case plus ``s`` (true of every kind the operator owns with)."""
    metadata = data.get("metadata")
    owners = metadata.get("ownerReferences") if isinstance(metadata, Mapping) else None
    calls = []
    for owner in owners if isinstance(owners, list) else []:
        if isinstance(owner, Mapping) and owner.get("blockOwnerDeletion") is True:
            api_version, kind = str(owner.get("apiVersion", "")), str(owner.get("kind", ""))
            group = api_version.rsplit("/", 1)[0] if "/" in api_version else ""
            resource = f"{kind.lower()}s/finalizers"
            calls.append(Call("update", group, resource, namespace, str(owner.get("name") or "") or None))
    return calls


def identity(served: Served) -> str | None:
    """:data:`OPERATOR`, :data:`TERRAFORM_JOB` or None (the test code itself), from the bearer token."""
    header = next((v for k, v in served.headers.items() if k.lower() == "authorization"), "")
    return IDENTITIES.get(header.removeprefix("Bearer ")) if header.startswith("Bearer ") else None


def is_operator(served: Served) -> bool:
    return identity(served) == OPERATOR


def account_of(documents: list[dict[str, Any]], who: str) -> str:
    """The ServiceAccount the chart gives ``who``: the Deployment's for the operator; for the job runner, the
    terraform.jobServiceAccount of the operator settings the chart renders (what the operator puts into its Jobs)."""
    import yaml

    if who == OPERATOR:
        deployment = next(doc for doc in documents if doc.get("kind") == "Deployment")
        return str(deployment["spec"]["template"]["spec"].get("serviceAccountName") or "default")
    config = next(doc for doc in documents if doc.get("kind") == "ConfigMap" and "config.yaml" in doc.get("data", {}))
    return str(yaml.safe_load(config["data"]["config.yaml"])["terraform"]["jobServiceAccount"])


def render_rules(namespace: str, chart: Path = CHART, who: str = OPERATOR) -> list[RenderedRule]:
    """The rules of the Roles and ClusterRoles the chart renders with its default values, bound to ``who``'s
    ServiceAccount (:func:`account_of`)."""
    import helm_python
    import yaml

    rendered = helm_python.Chart.load(chart).render(name=RELEASE, namespace=namespace, is_install=True)
    manifests = [text for path, text in rendered.items() if path.endswith((".yaml", ".yml"))]  # not NOTES.txt
    documents = [doc for text in manifests for doc in yaml.safe_load_all(text) if isinstance(doc, dict) and doc]
    subject = {"kind": "ServiceAccount", "name": account_of(documents, who), "namespace": namespace}
    bound = {
        (doc["roleRef"]["kind"], doc["roleRef"]["name"], doc["metadata"].get("namespace"))
        for doc in documents
        if doc.get("kind") in ("ClusterRoleBinding", "RoleBinding") and subject in (doc.get("subjects") or [])
    }
    rules: list[RenderedRule] = []
    for doc in documents:
        if doc.get("kind") not in ROLE_KINDS:
            continue
        meta = doc["metadata"]
        role_namespace = meta.get("namespace") if doc["kind"] == "Role" else None
        if (doc["kind"], meta["name"], role_namespace) not in bound:
            continue  # a role nobody is bound to grants nothing
        for rule in doc.get("rules") or []:
            rules.append(
                RenderedRule(
                    kind=doc["kind"],
                    namespace=role_namespace,
                    groups=tuple(rule.get("apiGroups") or ()),
                    resources=tuple(rule.get("resources") or ()),
                    verbs=tuple(rule.get("verbs") or ()),
                    names=tuple(rule.get("resourceNames") or ()),
                )
            )
    return rules


def wildcards(rules: Iterable[RenderedRule]) -> list[str]:
    found = []
    for rule in rules:
        for field, values in (("apiGroups", rule.groups), ("resources", rule.resources), ("verbs", rule.verbs)):
            if any("*" in value for value in values):
                found.append(f"{rule.kind} rule {field} {list(values)}")
    return found


def disallowed(calls: Iterable[Call], rules: list[RenderedRule]) -> list[Call]:
    return sorted({call for call in calls if not any(rule.allows(call) for rule in rules)}, key=str)


def unused(calls: Iterable[Call], rules: list[RenderedRule], who: str = OPERATOR) -> list[str]:
    """Grants of the rules that no recorded call needed and that the declaration does not excuse."""
    from orchestrator.api.rbac import RULES, TERRAFORM_JOB_RULES, untested_grants

    excused = untested_grants(TERRAFORM_JOB_RULES if who == TERRAFORM_JOB else RULES)
    calls = list(calls)
    found = []
    for rule in rules:
        for group, resource, verb, name in rule.grants():
            if (group, resource, verb) in excused:
                continue
            probe = [
                c
                for c in calls
                if (c.group, c.resource, c.verb) == (group, resource, verb) and (name is None or c.name == name)
            ]
            if not any(rule.allows(c) for c in probe):
                scope = f"Role in {rule.namespace}" if rule.kind == "Role" else "ClusterRole"
                named = f" name={name}" if name else ""
                found.append(f"{verb} {resource} ({group or 'core'}){named} [{scope}]")
    return sorted(set(found))


class Recorder:
    def __init__(self) -> None:
        self.calls: set[Call] = set()
        """The operator's calls."""
        self.job_calls: set[Call] = set()
        """The Terraform job runner's calls."""
        self._lock = threading.Lock()

    def __call__(self, served: Served) -> None:
        who = identity(served)
        if who is None:
            return
        calls = call_from(served)
        with self._lock:
            (self.calls if who == OPERATOR else self.job_calls).update(calls)


class RbacCoverage:
    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.recorder = Recorder()
        self.mode = os.environ.get("RBAC_COVERAGE", "").strip().lower()
        self.deselected = 0
        self.collected_files: set[Path] = set()

    @pytest.hookimpl
    def pytest_sessionstart(self, session: pytest.Session) -> None:
        ACCESS_LISTENERS.append(self.recorder)

    @pytest.hookimpl
    def pytest_deselected(self, items: list[pytest.Item]) -> None:
        self.deselected += len(items)

    @pytest.hookimpl
    def pytest_collection_finish(self, session: pytest.Session) -> None:
        self.collected_files = {Path(item.path).resolve() for item in session.items}

    def full_run(self, session: pytest.Session) -> bool:
        if self.mode == "strict":
            return True
        modules = {path.resolve() for path in INTEGRATION.glob("test_*.py")}
        return (
            bool(modules)
            and modules <= self.collected_files
            and not self.deselected
            and not session.shouldstop
            and not session.shouldfail
        )

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        if self.recorder in ACCESS_LISTENERS:
            ACCESS_LISTENERS.remove(self.recorder)
        recorded = {OPERATOR: set(self.recorder.calls), TERRAFORM_JOB: set(self.recorder.job_calls)}
        if report := os.environ.get("RBAC_COVERAGE_REPORT"):  # the recorded calls, one a line, for reading
            lines = [f"{who}: {call}\n" for who, calls in recorded.items() for call in sorted(calls, key=str)]
            Path(report).write_text("".join(lines), encoding="utf-8")
        if self.mode == "off":
            return
        for who, calls in recorded.items():
            if calls:  # nothing to check for an identity that made no call in this session
                self.check(session, who, calls)

    def check(self, session: pytest.Session, who: str, calls: set[Call]) -> None:
        from tests.integration.harness import NAMESPACE

        problems: list[str] = []
        try:
            rules = render_rules(NAMESPACE, who=who)
        except Exception as error:  # a chart that does not render is a failure of this check, said plainly
            rules, problems = [], [f"the chart does not render: {error}"]
        if rules:
            problems += [f"wildcard: {w}" for w in wildcards(rules)]
            problems += [f"not allowed by the {who}'s roles: {call}" for call in disallowed(calls, rules)]
            if self.full_run(session):
                problems += [f"unused rule (no {who} call needed it): {g}" for g in unused(calls, rules, who)]
        elif not problems:
            problems.append(f"the chart renders no Role or ClusterRole bound to the {who}")
        reporter = self.config.pluginmanager.get_plugin("terminalreporter")
        scope = "full run" if rules and self.full_run(session) else "partial run: unused rules not checked"
        if reporter is not None:
            reporter.write_sep("-", f"RBAC coverage ({len(calls)} distinct {who} calls; {scope})")
            for line in problems:
                reporter.write_line(line, red=True)
            if not problems:
                reporter.write_line(f"every {who} call is allowed by the chart's roles")
        if problems and session.exitstatus == pytest.ExitCode.OK:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_configure(config: pytest.Config) -> None:
    config.pluginmanager.register(RbacCoverage(config), "rbac-coverage")


def recorded_calls(config: pytest.Config, who: str = OPERATOR) -> set[Call]:
    """The operator's (or the job runner's) calls recorded so far in this session (for tests of the plugin itself)."""
    plugin: Any = config.pluginmanager.get_plugin("rbac-coverage")
    if plugin is None:
        return set()
    return set(plugin.recorder.calls if who == OPERATOR else plugin.recorder.job_calls)
