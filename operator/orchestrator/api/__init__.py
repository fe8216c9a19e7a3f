"""API models of every kind: the one source of truth for the CRDs, the catalog schemas and the validator.

The names below load their module on first use, so that importing one module of the package (``api.catalog``
for the validator) does not build the models of every kind.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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

_MODULE_OF = {
    **dict.fromkeys(
        ("ACTION_TYPES", "Action", "HttpAction", "JiraAction", "TerraformAction", "WorkspaceAction"), "actions"
    ),
    **dict.fromkeys(("API_VERSION", "GROUP", "PREFIX", "VERSION", "Condition", "ObjectMeta"), "base"),
    **dict.fromkeys(
        ("BundleComponent", "CatalogBundle", "CatalogBundleSpec", "CatalogItem", "CatalogItemSpec", "ItemOutput"),
        "catalog",
    ),
    **dict.fromkeys(("CatalogSource", "CatalogSourceSpec", "CatalogSourceStatus"), "catalog_source"),
    **dict.fromkeys(("ServiceRequest", "ServiceRequestSpec", "ServiceRequestStatus"), "service_request"),
}


def __getattr__(name: str) -> Any:
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


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
