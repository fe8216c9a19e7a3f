"""The Kubernetes permissions the operator needs, declared once.

``make generate`` (hack/generate.py) writes the Helm chart's ``templates/rbac.yaml`` (a ClusterRole for what the
operator does in any namespace, a Role in the release namespace for what it does only there, and their bindings to
the operator's ServiceAccount) and the table in ``docs/rbac.md`` from :data:`RULES`; likewise the ServiceAccount, Role
and RoleBinding of the Terraform job runner's pods (``orchestrator terraform-run``, ``runner: job``) from
:data:`TERRAFORM_JOB_RULES`. tests/rbac_coverage.py records every call the operator and the job runner make to the
API emulator during the test session and checks each identity's calls against its rendered roles, that no rule goes
unused (except the ``untested`` ones, each with its reason) and that there are no wildcards.

Pure data: no Kubernetes client here.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

__all__ = [
    "CHART_TEMPLATE",
    "CONDITIONS",
    "DOCS_TABLE",
    "RULES",
    "TERRAFORM_JOB_RULES",
    "Rule",
    "generated_files",
    "helm_template",
    "markdown_table",
    "untested_grants",
    "wildcards",
]

Scope = Literal["cluster", "namespace"]
"""``cluster``: any namespace (ClusterRole + ClusterRoleBinding); ``namespace``: the operator's own namespace only."""

CHART_TEMPLATE = "charts/platform-orchestrator/templates/rbac.yaml"
DOCS_TABLE = "docs/rbac.md"
CONDITIONS = {"peering": ".Values.operator.peering"}
"""Rules gated by a chart value (``Rule.when``): rendered only when that value is set."""

ORCHESTRATOR = "orchestrator.dev"
CORE = ""
RBAC = "rbac.authorization.k8s.io"


@dataclass(frozen=True)
class Rule:
    group: str
    resources: tuple[str, ...]
    verbs: tuple[str, ...]
    scope: Scope
    why: str
    resource_names: tuple[str, ...] = ()
    when: str | None = None
    """A key of :data:`CONDITIONS`: the rule exists only with that chart value (the default values leave it out)."""
    untested: tuple[tuple[str, str], ...] = ()
    """(verb, reason): grants of this rule the test suite cannot exercise against the emulator, and why."""


RULES: tuple[Rule, ...] = (
    # The kinds the operator reconciles (kopf watches them cluster-wide).
    Rule(
        ORCHESTRATOR,
        ("servicerequests",),
        ("list", "watch", "patch"),
        "cluster",
        "kopf watches requests; finalizer, progress annotations, pending markers and wake-ups are merge patches",
    ),
    Rule(ORCHESTRATOR, ("servicerequests/status",), ("patch",), "cluster", "phase, conditions, actions, outputs"),
    Rule(
        ORCHESTRATOR,
        ("servicerequests/finalizers",),
        ("update",),
        "cluster",
        "outputs and Terraform state Secrets are owned by their request with blockOwnerDeletion "
        "(checked by the OwnerReferencesPermissionEnforcement admission plugin where it is enabled)",
    ),
    Rule(
        ORCHESTRATOR,
        ("catalogitems", "catalogbundles"),
        ("list", "watch", "patch", "delete"),
        "cluster",
        "catalog sync: indexes, server-side apply (field manager orchestrator-catalog), prune of removed items",
    ),
    Rule(ORCHESTRATOR, ("catalogitems/status",), ("patch",), "cluster", "readiness and active request counts"),
    Rule(
        ORCHESTRATOR,
        ("catalogbundles/status",),
        ("patch",),
        "cluster",
        "readiness and active request counts of bundles",
    ),
    Rule(
        ORCHESTRATOR,
        ("catalogsources",),
        ("list", "watch"),
        "cluster",
        "kopf watches CatalogSources cluster-wide (those outside the operator's namespace are reported, not synced)",
    ),
    Rule(ORCHESTRATOR, ("catalogsources",), ("get", "patch"), "namespace", "the sync daemon's state and annotations"),
    Rule(
        ORCHESTRATOR,
        ("catalogsources/status",),
        ("patch",),
        "cluster",
        "sync status (revision, errors); a CatalogSource outside the operator's namespace is told it is ignored",
    ),
    Rule(
        "apiextensions.k8s.io",
        ("customresourcedefinitions",),
        ("list", "watch"),
        "cluster",
        "kopf's resource discovery notices CRDs installed or upgraded while it runs (read-only)",
    ),
    Rule(CORE, ("events",), ("create",), "cluster", "Kubernetes Events on every transition, in the object's namespace"),
    # Secrets and configuration.
    Rule(
        CORE,
        ("secrets",),
        ("get", "list", "create", "patch"),
        "cluster",
        "connection Secrets (JIRA/HTTP, by label) and git credentials in the operator's namespace; "
        "orchestrator.dev/expose Secrets, outputs Secrets and Terraform state Secrets in request namespaces",
    ),
    Rule(CORE, ("secrets",), ("delete",), "namespace", "the input Secret of a finished Terraform Job"),
    Rule(CORE, ("configmaps",), ("get",), "namespace", "the environments ConfigMap"),
    Rule("batch", ("jobs",), ("create", "get"), "namespace", "Terraform runs with runner: job"),
    # Workspaces.
    Rule(
        CORE,
        ("namespaces",),
        ("get", "create", "patch", "delete"),
        "cluster",
        "workspace namespaces: create (never adopt a foreign one), server-side apply, hibernation stamps, delete",
    ),
    Rule(
        CORE,
        ("resourcequotas", "limitranges"),
        ("list", "patch", "delete"),
        "cluster",
        "workspace quota and limits (server-side apply; deleted when the spec drops them)",
    ),
    Rule(
        "networking.k8s.io",
        ("networkpolicies",),
        ("list", "patch", "delete"),
        "cluster",
        "workspace network isolation",
    ),
    Rule(RBAC, ("rolebindings",), ("list", "patch", "delete"), "cluster", "workspace members' RoleBindings"),
    Rule(
        RBAC,
        ("clusterroles",),
        ("bind",),
        "cluster",
        "RoleBindings to the built-in view/edit/admin ClusterRoles without holding their permissions",
        resource_names=("admin", "edit", "view"),
    ),
    Rule(
        "apps",
        ("deployments", "statefulsets"),
        ("list", "patch"),
        "cluster",
        "hibernate/resume (replicas via server-side apply) and idleness from managedFields",
    ),
    Rule(CORE, ("pods",), ("list",), "cluster", "workspace idleness: pod creation times"),
    # Several replicas (kopf peering), only with operator.peering.
    Rule(
        "kopf.dev",
        ("clusterkopfpeerings", "kopfpeerings"),
        ("get", "list", "watch", "patch"),
        "cluster",
        "kopf peering between replicas (cluster-wide, or per watched namespace with operator.watchNamespaces)",
        when="peering",
    ),
)


TERRAFORM_JOB_RULES: tuple[Rule, ...] = (
    # `orchestrator terraform-run` (cli/terraform_run.py) in the Jobs of `runner: job`, as terraform.jobServiceAccount.
    # Everything is in the Jobs' namespace (the release namespace); the Secrets' names are generated per run, so
    # resourceNames cannot narrow these rules.
    Rule(
        CORE,
        ("secrets",),
        ("get", "create", "patch"),
        "namespace",
        "read the run's spec Secret and an existing result; write the result Secret (replace one of an older lock)",
    ),
    Rule("batch", ("jobs",), ("get",), "namespace", "its own Job (JOB_NAME), so the result Secret is owned by it"),
)
"""The permissions of the Terraform job runner's ServiceAccount (its own Role in the release namespace)."""


def untested_grants(rules: Iterable[Rule] = RULES) -> set[tuple[str, str, str]]:
    """(group, resource, verb) that the coverage test accepts as unused, each declared with its reason."""
    return {(rule.group, resource, verb) for rule in rules for verb, _ in rule.untested for resource in rule.resources}


def wildcards(rules: Iterable[Rule] = (*RULES, *TERRAFORM_JOB_RULES)) -> list[str]:
    """Any ``*`` in a group, resource, verb or resource name (there must be none)."""
    return [
        f"{rule.group}/{','.join(rule.resources)}: {value}"
        for rule in rules
        for value in (rule.group, *rule.resources, *rule.verbs, *rule.resource_names)
        if "*" in value
    ]


def _flow(values: Iterable[str]) -> str:
    return "[" + ", ".join(json.dumps(value) for value in values) + "]"


def _rules_yaml(scope: Scope, rules: Iterable[Rule] = RULES) -> list[str]:
    lines: list[str] = []
    for rule in rules:
        if rule.scope != scope:
            continue
        body = [
            f"  # {rule.why}",
            f"  - apiGroups: {_flow([rule.group])}",
            f"    resources: {_flow(rule.resources)}",
        ]
        if rule.resource_names:
            body.append(f"    resourceNames: {_flow(rule.resource_names)}")
        body.append(f"    verbs: {_flow(rule.verbs)}")
        if rule.when is not None:
            body = [f"  {{{{- if {CONDITIONS[rule.when]} }}}}", *body, "  {{- end }}"]
        lines += body
    return lines


FULLNAME = '{{ include "platform-orchestrator.fullname" . }}'
JOB_ACCOUNT = '{{ include "platform-orchestrator.terraformJobServiceAccountName" . }}'


def _metadata(namespaced: bool, name: str = FULLNAME) -> list[str]:
    lines = ["metadata:", f"  name: {name}"]
    if namespaced:
        lines.append("  namespace: {{ .Release.Namespace }}")
    return [*lines, "  labels:", '    {{- include "platform-orchestrator.labels" . | nindent 4 }}']


def _binding(
    kind: str,
    role_kind: str,
    name: str = FULLNAME,
    account: str = '{{ include "platform-orchestrator.serviceAccountName" . }}',
) -> list[str]:
    return [
        "---",
        "apiVersion: rbac.authorization.k8s.io/v1",
        f"kind: {kind}",
        *_metadata(kind == "RoleBinding", name),
        "roleRef:",
        "  apiGroup: rbac.authorization.k8s.io",
        f"  kind: {role_kind}",
        f"  name: {name}",
        "subjects:",
        "  - kind: ServiceAccount",
        f"    name: {account}",
        "    namespace: {{ .Release.Namespace }}",
    ]


def _terraform_job_objects() -> list[str]:
    """The job runner's ServiceAccount (terraform.jobServiceAccount.create) and its Role + RoleBinding (rbac.create)."""
    return [
        "{{- if .Values.terraform.jobServiceAccount.create }}",
        "---",
        "apiVersion: v1",
        "kind: ServiceAccount",
        *_metadata(True, JOB_ACCOUNT),
        "  {{- with .Values.terraform.jobServiceAccount.annotations }}",
        "  annotations:",
        "    {{- toYaml . | nindent 4 }}",
        "  {{- end }}",
        "automountServiceAccountToken: true",
        "{{- end }}",
        "{{- if .Values.rbac.create }}",
        "---",
        "apiVersion: rbac.authorization.k8s.io/v1",
        "kind: Role",
        *_metadata(True, JOB_ACCOUNT),
        "rules:",
        *_rules_yaml("namespace", TERRAFORM_JOB_RULES),
        *_binding("RoleBinding", "Role", JOB_ACCOUNT, JOB_ACCOUNT),
        "{{- end }}",
    ]


def helm_template() -> str:
    """templates/rbac.yaml of the chart: the ClusterRole and Role with their bindings, gated by rbac.create; then the
    Terraform job runner's ServiceAccount, Role and RoleBinding."""
    lines = [
        "{{- /* Generated by `make generate` from operator/orchestrator/api/rbac.py. Do not edit. */}}",
        "{{- if .Values.rbac.create }}",
        "apiVersion: rbac.authorization.k8s.io/v1",
        "kind: ClusterRole",
        *_metadata(False),
        "rules:",
        *_rules_yaml("cluster"),
        *_binding("ClusterRoleBinding", "ClusterRole"),
        "---",
        "apiVersion: rbac.authorization.k8s.io/v1",
        "kind: Role",
        *_metadata(True),
        "rules:",
        *_rules_yaml("namespace"),
        *_binding("RoleBinding", "Role"),
        "{{- end }}",
        *_terraform_job_objects(),
    ]
    return "\n".join(lines) + "\n"


def _table_row(rule: Rule) -> str:
    scope = "cluster" if rule.scope == "cluster" else "operator namespace"
    if rule.when is not None:
        scope += f" (only with `{CONDITIONS[rule.when].removeprefix('.Values.')}`)"
    resources = ", ".join(f"`{r}`" for r in rule.resources)
    if rule.resource_names:
        resources += " named " + ", ".join(f"`{n}`" for n in rule.resource_names)
    verbs = ", ".join(rule.verbs)
    return f"| {scope} | `{rule.group or 'core'}` | {resources} | {verbs} | {rule.why} |"


def markdown_table() -> str:
    """docs/rbac.md: the same rules as a table, for people."""
    rows = [
        "# Operator RBAC",
        "",
        "Generated by `make generate` from `operator/orchestrator/api/rbac.py`; the Helm chart's",
        "`templates/rbac.yaml` comes from the same list (values `rbac.create`, `serviceAccount.create`/`name`).",
        "*Cluster* rules are in a ClusterRole bound cluster-wide; *operator namespace* rules in a Role in the release",
        "namespace. The test suite records every API call the operator makes and fails if one is not allowed here,",
        "if a rule goes unused, or if a rule has a wildcard.",
        "",
        "| scope | API group | resources | verbs | why |",
        "|---|---|---|---|---|",
    ]
    rows += [_table_row(rule) for rule in RULES]
    rows += [
        "",
        "## Terraform job runner",
        "",
        "Terraform actions with `runner: job` run `orchestrator terraform-run` in a Job whose pod uses its own",
        "ServiceAccount (value `terraform.jobServiceAccount.name`, default `<fullname>-terraform`; created with",
        "`terraform.jobServiceAccount.create`; the chart renders the same name into the operator's",
        "`terraform.jobServiceAccount` setting). With `rbac.create` it gets a Role of the same name in the release",
        "namespace, and nothing else. Its calls are recorded and checked like the operator's, under its own identity.",
        "",
        "| scope | API group | resources | verbs | why |",
        "|---|---|---|---|---|",
    ]
    rows += [_table_row(rule) for rule in TERRAFORM_JOB_RULES]
    untested = [(rule, verb, why) for rule in (*RULES, *TERRAFORM_JOB_RULES) for verb, why in rule.untested]
    if untested:
        rows += ["", "Grants the test suite cannot exercise:", ""]
        rows += [f"- {verb} on {', '.join(rule.resources)}: {why}" for rule, verb, why in untested]
    return "\n".join(rows) + "\n"


def generated_files() -> dict[str, str]:
    """Relative path -> content, for hack/generate.py."""
    return {CHART_TEMPLATE: helm_template(), DOCS_TABLE: markdown_table()}
