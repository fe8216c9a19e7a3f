"""`devctl version` and `devctl metrics`, and how devctl finds the operator in a cluster (shared with `health`).

The operator is found the way the Helm chart installs it: in its namespace, the Deployment, its pods and its Service
carry the label ``app.kubernetes.io/name=platform-orchestrator``; the Service's port named ``http`` is the operator's
probe port (``/healthz``, ``/readyz``, ``/metrics``), reached through the API server's service proxy, so no
port-forward and no network route to the pods is needed (only RBAC ``get services/proxy``).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families

from .. import __version__
from ..api.schema import BUNDLE_VERSION_ANNOTATION
from ..clients.cluster import (
    CATALOG_BUNDLES,
    CATALOG_ITEMS,
    CATALOG_SOURCES,
    CRDS,
    PODS,
    SERVICE_REQUESTS,
    SERVICES,
    Cluster,
    ClusterError,
)
from .ops_cmd import DEFAULT_PORT, DEFAULT_SELECTOR

OPERATOR_CONTAINER = "operator"  # the chart's name for the operator's container (git-sync runs beside it)
VERSION_LABEL = "app.kubernetes.io/version"
BUILD_INFO = "orchestrator_build_info"
CRD_NAMES = tuple(
    sorted(
        f"{kind.plural}.{kind.group}" for kind in (SERVICE_REQUESTS, CATALOG_ITEMS, CATALOG_BUNDLES, CATALOG_SOURCES)
    )
)


def fatal(error: ClusterError) -> bool:
    """Whether an error ends the whole command: the cluster is unreachable or does not accept our credentials."""
    return error.status in (None, 401)


@dataclass(frozen=True)
class OperatorTarget:
    """Where the operator runs: its namespace, the label its objects carry, its Service and port (None: find it)."""

    namespace: str
    selector: str = DEFAULT_SELECTOR
    service: str | None = None
    port: str = DEFAULT_PORT


def _port_keys(service: dict[str, Any]) -> list[str]:
    ports = (service.get("spec") or {}).get("ports") or []
    return [str(port.get("name") or port.get("port")) for port in ports] + [str(port.get("port")) for port in ports]


def find_service(cluster: Cluster, target: OperatorTarget) -> tuple[str, str]:
    """The operator's Service and port: ``--service`` as given, else the Service labelled with the selector.

    Among several labelled Services the first (by name) that has the port wins; a Service without that port but
    with a single port is reached on that one. Raises ClusterError (status 404) when no Service carries the label.
    """
    if target.service:
        return target.service, target.port
    services = sorted(
        cluster.list(SERVICES, target.namespace, label_selector=target.selector),
        key=lambda service: str(service["metadata"]["name"]),
    )
    if not services:
        raise ClusterError(
            f"no Service labelled {target.selector} in namespace {target.namespace} "
            "(name the operator's Service with --service, or its namespace with -n)",
            status=404,
        )
    with_port = [service for service in services if target.port in _port_keys(service)]
    if with_port:
        return str(with_port[0]["metadata"]["name"]), target.port
    chosen = services[0]
    ports = (chosen.get("spec") or {}).get("ports") or []
    port = str(ports[0].get("name") or ports[0].get("port")) if len(ports) == 1 else target.port
    return str(chosen["metadata"]["name"]), port


def operator_get(cluster: Cluster, target: OperatorTarget, path: str) -> str:
    """GET a path of the operator's probe port through the API server's service proxy (text)."""
    service, port = find_service(cluster, target)
    return cluster.service_proxy(target.namespace, service, port, path)


def operator_pods(cluster: Cluster, target: OperatorTarget) -> list[dict[str, Any]]:
    pods = cluster.list(PODS, target.namespace, label_selector=target.selector)
    return sorted(pods, key=lambda pod: str(pod["metadata"]["name"]))


def operator_container(pod: dict[str, Any]) -> dict[str, Any]:
    """The container named ``operator``, else the pod's first container (empty when the pod has none)."""
    containers = (pod.get("spec") or {}).get("containers") or []
    named = [c for c in containers if c.get("name") == OPERATOR_CONTAINER]
    return dict(named[0] if named else containers[0] if containers else {})


def image_tag(image: str) -> str | None:
    """``registry:5000/org/app:1.2.3@sha256:...`` -> ``1.2.3``; None without a tag."""
    image = image.split("@", 1)[0]
    name, _, tag = image.rpartition(":")
    return tag if name and "/" not in tag else None


# ---- metrics --------------------------------------------------------------------------------------------------


def parse_metrics(text: str, *, source: str) -> list[Metric]:
    """The metric families of a Prometheus text exposition; ValueError naming ``source`` when it is not one."""
    try:
        return list(text_string_to_metric_families(text))
    except (ValueError, TypeError, IndexError, KeyError) as error:
        raise ValueError(f"{source} is not Prometheus text: {error}") from None


def compile_filter(pattern: str | None) -> re.Pattern[str] | None:
    """The --filter regular expression; ValueError with a readable message when it does not compile."""
    if pattern is None:
        return None
    try:
        return re.compile(pattern)
    except re.error as error:
        raise ValueError(f"{pattern!r} is not a regular expression: {error}") from None


def _names(family: Metric) -> set[str]:
    names = {family.name, *(sample.name for sample in family.samples)}
    if family.type == "counter":
        names.add(f"{family.name}_total")
    elif family.type == "info":
        names.add(f"{family.name}_info")
    return names


def select_families(families: Iterable[Metric], pattern: re.Pattern[str] | None) -> list[Metric]:
    """The families whose name (or the name of one of their samples) matches ``pattern`` (``re.search``)."""
    return [family for family in families if pattern is None or any(pattern.search(n) for n in _names(family))]


class _Families:
    def __init__(self, families: Sequence[Metric]) -> None:
        self._families = families

    def collect(self) -> Iterable[Metric]:
        return self._families


def render_text(families: Sequence[Metric]) -> str:
    """Families back to the Prometheus text format (HELP and TYPE lines included)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Families(families))
    return generate_latest(registry).decode("utf-8")


def _number(value: float) -> float | str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return value


def families_to_data(families: Iterable[Metric]) -> list[dict[str, Any]]:
    """Parsed families as JSON-able data (NaN and infinities as the strings Prometheus writes for them)."""
    result = []
    for family in families:
        samples = []
        for sample in family.samples:
            entry: dict[str, Any] = {"name": sample.name, "labels": dict(sample.labels), "value": _number(sample.value)}
            if sample.timestamp is not None:
                entry["timestamp"] = float(sample.timestamp)
            samples.append(entry)
        result.append(
            {"name": family.name, "type": family.type, "help": family.documentation, "samples": samples}
            | ({"unit": family.unit} if family.unit else {})
        )
    return result


# ---- version --------------------------------------------------------------------------------------------------


def operator_version(cluster: Cluster, target: OperatorTarget) -> dict[str, Any]:
    """What the operator runs: from its build-info metric, else its pods' version label, else their image tag.

    ClusterError is raised only when the cluster cannot be reached; anything else that is missing is a note.
    """
    notes: list[str] = []
    pods: list[dict[str, Any]] = []
    try:
        found = operator_pods(cluster, target)
    except ClusterError as error:
        if fatal(error):
            raise
        notes.append(f"pods: {error}")
        found = []
    for pod in found:
        container = operator_container(pod)
        image = str(container.get("image") or "")
        pods.append(
            {
                "name": pod["metadata"]["name"],
                "image": image,
                "imageTag": image_tag(image),
                "versionLabel": (pod["metadata"].get("labels") or {}).get(VERSION_LABEL),
            }
        )
    if not found and not notes:
        notes.append(f"no pod labelled {target.selector} in namespace {target.namespace}")
    reported: list[str] = []
    try:
        text = operator_get(cluster, target, "/metrics")
        for family in parse_metrics(text, source="the operator's /metrics"):
            if family.name == BUILD_INFO:
                reported += [s.labels["version"] for s in family.samples if s.labels.get("version") and s.value]
        if not reported:
            notes.append(f"the operator's /metrics has no {BUILD_INFO}")
    except ClusterError as error:
        if fatal(error):
            raise
        notes.append(f"metrics: {error}")
    except ValueError as error:
        notes.append(str(error))
    candidates: list[tuple[str, list[str]]] = [
        ("metrics", reported),
        ("label", [p["versionLabel"] for p in pods if p["versionLabel"]]),
        ("image", [p["imageTag"] for p in pods if p["imageTag"]]),
    ]
    source, versions = next(((s, sorted(set(v))) for s, v in candidates if v), (None, []))
    return {
        "namespace": target.namespace,
        "version": versions[0] if len(versions) == 1 else None,
        "versions": versions,
        "source": source,
        "pods": pods,
        "notes": notes,
    }


def crd_versions(cluster: Cluster) -> list[dict[str, Any]]:
    """Each of our CRDs: installed or not, served and storage versions, the CRD bundle's version annotation.

    ClusterError is raised only when the cluster cannot be reached; a CRD that cannot be read (403) says why.
    """
    result: list[dict[str, Any]] = []
    for name in CRD_NAMES:
        try:
            crd = cluster.get(CRDS, name)
        except ClusterError as error:
            if fatal(error):
                raise
            entry = {"name": name, "installed": False, "served": [], "storage": None, "bundleVersion": None}
            result.append(entry if error.status == 404 else {**entry, "installed": None, "error": str(error)})
            continue
        versions = (crd.get("spec") or {}).get("versions") or []
        result.append(
            {
                "name": name,
                "installed": True,
                "served": [str(v["name"]) for v in versions if v.get("served")],
                "storage": next((str(v["name"]) for v in versions if v.get("storage")), None),
                "bundleVersion": (crd["metadata"].get("annotations") or {}).get(BUNDLE_VERSION_ANNOTATION),
            }
        )
    return result


def version_report(cluster: Cluster, target: OperatorTarget, *, full: bool) -> dict[str, Any]:
    """Client, operator and CRD versions; with ``full`` also the API server's version, context and URL."""
    report: dict[str, Any] = {"client": {"version": __version__}}
    report["crds"] = crd_versions(cluster)  # first: an unreachable cluster fails here, before anything slow
    report["operator"] = operator_version(cluster, target)
    if full:
        server = cluster.request("GET", "/version", what="get the API server's version")
        report["server"] = {
            "version": server.get("gitVersion"),
            "platform": server.get("platform"),
            "context": cluster.context_name,
            "url": cluster.server,
        }
    return report


def skew_warnings(report: dict[str, Any]) -> list[str]:
    """Differences people should know about: operator vs devctl, CRD bundle vs operator."""
    warnings: list[str] = []
    client = report["client"]["version"]
    operator = report.get("operator") or {}
    if len(operator.get("versions") or []) > 1:
        warnings.append(f"the operator's pods run different versions: {', '.join(operator['versions'])}")
    running = operator.get("version")
    if running and running != client:
        warnings.append(f"devctl is {client} but the operator runs {running}")
    bundles = sorted({str(c["bundleVersion"]) for c in report.get("crds") or [] if c.get("bundleVersion")})
    reference = running or client
    if bundles and bundles != [reference]:
        whose = "the operator" if running else "devctl"
        warnings.append(f"the CRDs are from bundle {', '.join(bundles)} but {whose} is {reference}")
    missing = [c["name"] for c in report.get("crds") or [] if c.get("installed") is False]
    if missing:
        warnings.append(f"CRDs not installed: {', '.join(missing)}")
    return warnings
