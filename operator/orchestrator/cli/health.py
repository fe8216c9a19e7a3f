"""`devctl health`: is the operator healthy? One check per component, each Healthy, Warning, Degraded, Unhealthy
or Unknown, and a verdict.

Checks: the operator's Deployment and pods (by label), its ``/readyz`` and ``/healthz`` through the API server's
service proxy, our four CRDs (Established, serving the version devctl speaks), the CatalogSources' ``Ready``
condition, and the ServiceRequests that are ``Stalled``.

The verdict is Unhealthy when any check is Unhealthy, Degraded when any is Degraded or Unknown, else Healthy.
Warnings do not change it: a suspended CatalogSource, a pod that is not ready while the Deployment is available,
and requests stalled on their requester's input (InvalidFields, CatalogItemNotFound...). Requests stalled for
reasons the platform team must fix (credentials, connections, deletion timeouts...) make it Degraded.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

from ..api.base import VERSION
from ..api.conditions import READY, STALLED, Reason
from ..clients.cluster import CATALOG_SOURCES, CRDS, DEPLOYMENTS, SERVICE_REQUESTS, Cluster, ClusterError
from .common import condition
from .ops import CRD_NAMES, OperatorTarget, fatal, find_service, operator_pods

Status = Literal["Healthy", "Warning", "Degraded", "Unhealthy", "Unknown"]
Verdict = Literal["Healthy", "Degraded", "Unhealthy"]

# Stalled reasons that mean the platform is broken for everyone, not that one requester must fix their input.
PLATFORM_STALL_REASONS = frozenset(
    {
        Reason.AUTH_FAILED,
        Reason.CONNECTION_NOT_CONFIGURED,
        Reason.ACTION_TYPE_UNAVAILABLE,
        Reason.CATALOG_ITEM_INVALID,
        Reason.DELETION_TIMEOUT,
        Reason.ESCALATION_FAILED,
        Reason.STATE_LOCKED,
    }
)


@dataclass(frozen=True)
class Component:
    component: str
    status: Status
    message: str


@dataclass(frozen=True)
class HealthReport:
    namespace: str
    components: list[Component]

    @property
    def verdict(self) -> Verdict:
        statuses = {component.status for component in self.components}
        if "Unhealthy" in statuses:
            return "Unhealthy"
        if statuses & {"Degraded", "Unknown"}:
            return "Degraded"
        return "Healthy"

    @property
    def problems(self) -> list[Component]:
        return [c for c in self.components if c.status not in ("Healthy", "Warning")]

    @property
    def warnings(self) -> list[Component]:
        return [c for c in self.components if c.status == "Warning"]

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": self.verdict,
            "namespace": self.namespace,
            "components": [asdict(component) for component in self.components],
        }


# ---- one check per component (pure: objects in, Components out) -----------------------------------------------


def deployment_health(deployments: Sequence[dict[str, Any]], target: OperatorTarget) -> list[Component]:
    if not deployments:
        message = f"no Deployment labelled {target.selector} in namespace {target.namespace} (is it installed?)"
        return [Component("deployment", "Unhealthy", message)]
    components = []
    for deployment in sorted(deployments, key=lambda d: str(d["metadata"]["name"])):
        spec, status = deployment.get("spec") or {}, deployment.get("status") or {}
        wanted = int(spec.get("replicas", 1))
        available = int(status.get("availableReplicas") or 0)
        updated = int(status.get("updatedReplicas") or 0)
        observed = int(status.get("observedGeneration") or 0)
        name = f"deployment/{deployment['metadata']['name']}"
        progressing = condition(deployment, "Progressing")
        if wanted == 0:
            components.append(Component(name, "Unhealthy", "scaled to 0 replicas"))
            continue
        state: Status = "Healthy" if available >= wanted else "Unhealthy" if available == 0 else "Degraded"
        message = f"{available}/{wanted} replicas available"
        if progressing.get("status") == "False":
            state = "Unhealthy" if state == "Unhealthy" else "Degraded"
            message += f"; rollout stuck: {progressing.get('reason', '')}: {progressing.get('message', '')}"
        elif updated < wanted or observed < int(deployment["metadata"].get("generation") or 0):
            message += f"; rollout in progress ({updated}/{wanted} updated)"
        components.append(Component(name, state, message))
    return components


def _pod_problem(pod: dict[str, Any]) -> str:
    """Why a pod is not ready, as kubectl's STATUS column would say it."""
    for status in (pod.get("status") or {}).get("containerStatuses") or []:
        waiting = (status.get("state") or {}).get("waiting") or {}
        terminated = (status.get("state") or {}).get("terminated") or {}
        if waiting.get("reason"):
            return str(waiting["reason"])
        if terminated.get("reason"):
            return str(terminated["reason"])
    ready = condition(pod, "Ready")
    return str(ready.get("reason") or (pod.get("status") or {}).get("phase") or "not ready")


def pods_health(pods: Sequence[dict[str, Any]], target: OperatorTarget) -> Component:
    live = [
        pod
        for pod in pods
        if not pod["metadata"].get("deletionTimestamp")
        and (pod.get("status") or {}).get("phase") not in ("Succeeded", "Failed")
    ]
    if not live:
        return Component("pods", "Unhealthy", f"no running pod labelled {target.selector}")
    ready = [
        p
        for p in live
        if (p.get("status") or {}).get("phase") == "Running" and condition(p, "Ready").get("status") == "True"
    ]
    restarts = sum(
        int(status.get("restartCount") or 0)
        for pod in live
        for status in (pod.get("status") or {}).get("containerStatuses") or []
    )
    message = f"{len(ready)}/{len(live)} ready"
    not_ready = [p for p in live if p not in ready]
    if not_ready:
        message += ": " + ", ".join(f"{p['metadata']['name']} {_pod_problem(p)}" for p in not_ready)
    if restarts:
        message += f"; {restarts} restart{'s' if restarts != 1 else ''}"
    state: Status = "Healthy" if not not_ready else "Unhealthy" if not ready else "Warning"
    return Component("pods", state, message)


def crd_health(name: str, crd: dict[str, Any] | None) -> Component:
    component = f"crd/{name}"
    if crd is None:
        return Component(component, "Unhealthy", "not installed (kubectl apply -f crds/, or install the Helm chart)")
    established = condition(crd, "Established")
    versions = (crd.get("spec") or {}).get("versions") or []
    served = [str(v["name"]) for v in versions if v.get("served")]
    storage = next((str(v["name"]) for v in versions if v.get("storage")), "?")
    if established.get("status") != "True":
        why = established.get("message") or established.get("reason") or "no Established condition"
        return Component(component, "Unhealthy", f"not established: {why}")
    if VERSION not in served:
        return Component(component, "Unhealthy", f"does not serve {VERSION} (serves {', '.join(served) or 'nothing'})")
    return Component(component, "Healthy", f"established; serves {', '.join(served)} (storage {storage})")


def source_health(sources: Sequence[dict[str, Any]], target: OperatorTarget) -> list[Component]:
    if not sources:
        message = f"no CatalogSource in namespace {target.namespace}: the catalog is not synced from git"
        return [Component("catalogsources", "Warning", message)]
    components = []
    for source in sorted(sources, key=lambda s: str(s["metadata"]["name"])):
        name = f"catalogsource/{source['metadata']['name']}"
        status = source.get("status") or {}
        ready = condition(source, READY)
        revision = str(status.get("lastAppliedRevision") or "")[:12]
        if (source.get("spec") or {}).get("suspend"):
            components.append(Component(name, "Warning", "suspended (spec.suspend: true)"))
        elif ready.get("status") == "True":
            components.append(Component(name, "Healthy", f"synced revision {revision or '?'}"))
        elif ready.get("status") == "False":
            message = f"{ready.get('reason', 'NotReady')}: {ready.get('message', '')}".rstrip(": ")
            if revision:
                message += f" (still serving revision {revision})"
            components.append(Component(name, "Degraded", message))
        else:
            components.append(Component(name, "Degraded", "not synced yet (no Ready condition)"))
    return components


def requests_health(requests: Sequence[dict[str, Any]]) -> Component:
    stalled = Counter(
        str(condition(request, STALLED).get("reason") or "Unknown")
        for request in requests
        if condition(request, STALLED).get("status") == "True"
    )
    total = sum(stalled.values())
    if not total:
        return Component("servicerequests", "Healthy", f"{len(requests)} ServiceRequests, none stalled")
    reasons = ", ".join(f"{reason} {count}" for reason, count in sorted(stalled.items()))
    state: Status = "Degraded" if set(stalled) & PLATFORM_STALL_REASONS else "Warning"
    return Component("servicerequests", state, f"{total} of {len(requests)} stalled ({reasons})")


# ---- gathering -------------------------------------------------------------------------------------------------


def _guarded(component: str, check: Callable[[], list[Component]]) -> list[Component]:
    """Run one check; a refused call (403, 5xx...) makes it Unknown, an unreachable cluster ends the command."""
    try:
        return check()
    except ClusterError as error:
        if fatal(error):
            raise
        return [Component(component, "Unknown", str(error))]


def _probe(cluster: Cluster, target: OperatorTarget, service: str, port: str, path: str) -> Component:
    name = path.strip("/")
    try:
        answer = cluster.service_proxy(target.namespace, service, port, path).strip()
    except ClusterError as error:
        if fatal(error):
            raise
        return Component(name, "Unhealthy", str(error))
    return Component(name, "Healthy", f"{answer or 'ok'} (service {service}:{port})")


def _probes(cluster: Cluster, target: OperatorTarget) -> list[Component]:
    try:
        service, port = find_service(cluster, target)
    except ClusterError as error:
        if fatal(error):
            raise
        return [Component("service", "Unhealthy", str(error))]
    return [_probe(cluster, target, service, port, path) for path in ("/readyz", "/healthz")]


def _crds(cluster: Cluster) -> list[Component]:
    components = []
    for name in CRD_NAMES:
        try:
            crd: dict[str, Any] | None = cluster.get(CRDS, name)
        except ClusterError as error:
            if fatal(error):
                raise
            if error.status != 404:
                components.append(Component(f"crd/{name}", "Unknown", str(error)))
                continue
            crd = None
        components.append(crd_health(name, crd))
    return components


def check_health(cluster: Cluster, target: OperatorTarget) -> HealthReport:
    """Every check, the operator's own first. ClusterError only when the cluster is unreachable or rejects us."""
    namespace = target.namespace
    crds = _crds(cluster)  # asked first: an unreachable cluster or a bad login ends the command here
    components = _guarded(
        "deployment",
        lambda: deployment_health(cluster.list(DEPLOYMENTS, namespace, label_selector=target.selector), target),
    )
    components += _guarded("pods", lambda: [pods_health(operator_pods(cluster, target), target)])
    components += _guarded("service", lambda: _probes(cluster, target))
    components += crds
    components += _guarded("catalogsources", lambda: source_health(cluster.list(CATALOG_SOURCES, namespace), target))
    components += _guarded("servicerequests", lambda: [requests_health(cluster.list(SERVICE_REQUESTS))])
    return HealthReport(namespace, components)


def summary(report: HealthReport) -> str:
    """One line: the verdict and what it rests on."""
    problems, warnings = report.problems, report.warnings
    head = f"{report.verdict}: operator in namespace {report.namespace}"
    if not problems:
        checked = f"{len(report.components)} checks passed"
        return f"{head}, {checked}" + (f" ({len(warnings)} with warnings)" if warnings else "")
    return f"{head}: {len(problems)} of {len(report.components)} checks failed"
