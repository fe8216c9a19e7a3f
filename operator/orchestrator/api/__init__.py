"""API models of every kind: the one source of truth for the CRDs, the catalog schemas and the validator."""

from .actions import ACTION_TYPES, Action, HttpAction, JiraAction, TerraformAction, WorkspaceAction
from .base import API_VERSION, GROUP, PREFIX, VERSION, Condition, ObjectMeta
from .catalog import (
    BundleComponent,
    CatalogBundle,
    CatalogBundleSpec,
    CatalogItem,
    CatalogItemSpec,
    ItemOutput,
)
from .catalog_source import CatalogSource, CatalogSourceSpec, CatalogSourceStatus
from .service_request import ServiceRequest, ServiceRequestSpec, ServiceRequestStatus

__all__ = [
    "ACTION_TYPES",
    "API_VERSION",
    "GROUP",
    "PREFIX",
    "VERSION",
    "Action",
    "BundleComponent",
    "CatalogBundle",
    "CatalogBundleSpec",
    "CatalogItem",
    "CatalogItemSpec",
    "CatalogSource",
    "CatalogSourceSpec",
    "CatalogSourceStatus",
    "Condition",
    "HttpAction",
    "ItemOutput",
    "JiraAction",
    "ObjectMeta",
    "ServiceRequest",
    "ServiceRequestSpec",
    "ServiceRequestStatus",
    "TerraformAction",
    "WorkspaceAction",
]
