"""The four kinds: names, scope, printer columns, and the spec/status models the CRDs are generated from."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel

from .base import GROUP
from .catalog import CatalogBundleSpec, CatalogBundleStatus, CatalogItemSpec, CatalogItemStatus
from .catalog_source import CatalogSourceSpec, CatalogSourceStatus
from .service_request import ServiceRequestSpec, ServiceRequestStatus

CATEGORY = "orchestrator"


@dataclass(frozen=True)
class PrinterColumn:
    name: str
    json_path: str
    type: Literal["string", "integer", "number", "boolean", "date"] = "string"
    priority: int = 0
    description: str = ""


def _ready_column(field: str = "status", priority: int = 0) -> PrinterColumn:
    return PrinterColumn(
        name="Ready" if field == "status" else "Message",
        json_path=f'.status.conditions[?(@.type=="Ready")].{field}',
        priority=priority,
    )


_AGE = PrinterColumn(name="Age", json_path=".metadata.creationTimestamp", type="date")


@dataclass(frozen=True)
class KindInfo:
    kind: str
    plural: str
    singular: str
    short_names: tuple[str, ...]
    scope: Literal["Namespaced", "Cluster"]
    spec: type[BaseModel]
    status: type[BaseModel]
    columns: tuple[PrinterColumn, ...]
    description: str

    @property
    def crd_name(self) -> str:
        return f"{self.plural}.{GROUP}"


CATALOG_ITEM = KindInfo(
    kind="CatalogItem",
    plural="catalogitems",
    singular="catalogitem",
    short_names=("citem",),
    scope="Cluster",
    spec=CatalogItemSpec,
    status=CatalogItemStatus,
    columns=(
        PrinterColumn("Category", ".spec.category"),
        PrinterColumn("Owner", ".spec.owner"),
        PrinterColumn("Version", ".spec.version"),
        PrinterColumn("Lifecycle", ".spec.lifecycle", priority=1),
        PrinterColumn("Requests", ".status.activeRequests", type="integer", priority=1),
        _ready_column(),
        _AGE,
    ),
    description="A service definition of the self-service catalog: fields schema, fulfillment actions, outputs.",
)
CATALOG_BUNDLE = KindInfo(
    kind="CatalogBundle",
    plural="catalogbundles",
    singular="catalogbundle",
    short_names=("cbundle",),
    scope="Cluster",
    spec=CatalogBundleSpec,
    status=CatalogBundleStatus,
    columns=(
        PrinterColumn("Category", ".spec.category"),
        PrinterColumn("Owner", ".spec.owner"),
        PrinterColumn("Version", ".spec.version"),
        _ready_column(),
        _AGE,
    ),
    description="Several catalog items requested together, wired by outputs.",
)
SERVICE_REQUEST = KindInfo(
    kind="ServiceRequest",
    plural="servicerequests",
    singular="servicerequest",
    short_names=("sr",),
    scope="Namespaced",
    spec=ServiceRequestSpec,
    status=ServiceRequestStatus,
    columns=(
        PrinterColumn("Item", ".spec.catalogItem"),
        PrinterColumn("Bundle", ".spec.bundle", priority=1),
        PrinterColumn("Environment", ".spec.environment", priority=1),
        PrinterColumn("Phase", ".status.phase"),
        _ready_column(),
        _ready_column("message", priority=1),
        _AGE,
    ),
    description="A request for a catalog item or bundle, fulfilled by the operator.",
)
CATALOG_SOURCE = KindInfo(
    kind="CatalogSource",
    plural="catalogsources",
    singular="catalogsource",
    short_names=("csrc",),
    scope="Namespaced",
    spec=CatalogSourceSpec,
    status=CatalogSourceStatus,
    columns=(
        PrinterColumn("Revision", ".status.lastAppliedRevision"),
        _ready_column(),
        _ready_column("message", priority=0),
        _AGE,
    ),
    description="Where the catalog comes from (a git-sync link or a git URL), and how its last sync went.",
)

KINDS: tuple[KindInfo, ...] = (CATALOG_ITEM, CATALOG_BUNDLE, SERVICE_REQUEST, CATALOG_SOURCE)
