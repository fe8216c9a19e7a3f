"""Build the published schemas from the models: JSON Schema 2020-12 for catalog files, structural CRDs.

Pure functions returning plain data; ``hack/generate.py`` writes them to ``schema/`` and ``crds/``, and the
validator uses the same builders in-process, so the files and the checks can never disagree.
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel
from pydantic.json_schema import GenerateJsonSchema, JsonSchemaValue
from pydantic_core import core_schema

from .. import __version__
from .actions import ACTION_TYPES
from .base import GROUP, VERSION
from .catalog import CatalogBundle, CatalogItem
from .service_request import ServiceRequest

if TYPE_CHECKING:
    from .kinds import KindInfo

SCHEMA_BASE_URL = "https://orchestrator.dev/schema/"
COMMON_TYPES = "common-types.json"
CATALOG_ITEM_SCHEMA = "catalog-item-v2.json"
CATALOG_BUNDLE_SCHEMA = "catalog-bundle-v2.json"
SERVICE_REQUEST_SCHEMA = "service-request.json"
# Which release of the CRD bundle is installed (`devctl version` compares it with the operator's version).
BUNDLE_VERSION_ANNOTATION = "orchestrator.dev/bundle-version"

JsonDict = dict[str, Any]


class _Generator(GenerateJsonSchema):
    """Optional fields are simply optional: a ``None`` default is not published as ``null`` being allowed."""

    def nullable_schema(self, schema: core_schema.NullableSchema) -> JsonSchemaValue:
        return self.generate_inner(schema["schema"])

    def default_schema(self, schema: core_schema.WithDefaultSchema) -> JsonSchemaValue:
        result = super().default_schema(schema)
        if result.get("default", 0) is None:
            result.pop("default")
        return result


# Rules a JSON Schema can say but a model field cannot: each action carries exactly the block of its type.
_ACTION_BLOCK_RULES: list[JsonDict] = [
    {
        "if": {"properties": {"type": {"const": kind}}, "required": ["type"]},
        "then": {"required": [kind], "properties": {other: False for other in ACTION_TYPES if other != kind}},
    }
    for kind in ACTION_TYPES
]
_EXTRA_JSON_SCHEMA: dict[str, JsonDict] = {"Action": {"allOf": _ACTION_BLOCK_RULES}}

# The same rules for the API server, as CEL (x-kubernetes-validations); keyed by model name.
_CEL_RULES: dict[str, list[JsonDict]] = {
    "Action": [
        {
            "rule": f"has(self.{kind}) == (self.type == '{kind}')",
            "message": f"the '{kind}' block must be set exactly when type is '{kind}'",
        }
        for kind in ACTION_TYPES
    ],
    "ServiceRequestSpec": [
        {
            "rule": "has(self.catalogItem) != has(self.bundle)",
            "message": "exactly one of catalogItem and bundle must be set",
        }
    ],
    "CatalogSourceSpec": [
        {"rule": "has(self.path) != has(self.git)", "message": "exactly one of path and git must be set"}
    ],
    "GitRef": [
        {
            "rule": "(has(self.branch) ? 1 : 0) + (has(self.tag) ? 1 : 0) + (has(self.commit) ? 1 : 0) <= 1",
            "message": "set at most one of branch, tag and commit",
        }
    ],
}
# Lists of objects keyed by a field: server-side apply merges them per key.
_LIST_MAP_KEYS: dict[str, str] = {"Condition": "type", "ActionStatus": "name", "ComponentStatus": "name"}


def _clean(node: Any, *, in_properties: bool = False) -> Any:
    """Drop pydantic's generated titles; keep everything else."""
    if isinstance(node, dict):
        return {
            key: _clean(value, in_properties=(key in ("properties", "$defs") and not in_properties))
            for key, value in node.items()
            if in_properties or key != "title"
        }
    if isinstance(node, list):
        return [_clean(item) for item in node]
    return node


def model_schema(model: type[BaseModel]) -> JsonDict:
    """The model's JSON Schema (2020-12) with local ``$defs``, titles dropped and our extra rules added."""
    schema: JsonDict = _clean(model.model_json_schema(by_alias=True, mode="validation", schema_generator=_Generator))
    for name, extra in _EXTRA_JSON_SCHEMA.items():
        if name in schema.get("$defs", {}):
            schema["$defs"][name].update(copy.deepcopy(extra))
    return schema


def _retarget(node: Any, local: set[str]) -> Any:
    if isinstance(node, dict):
        result = {key: _retarget(value, local) for key, value in node.items()}
        ref = result.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/$defs/") and ref.removeprefix("#/$defs/") not in local:
            result["$ref"] = COMMON_TYPES + ref
        return result
    if isinstance(node, list):
        return [_retarget(item, local) for item in node]
    return node


def catalog_schemas() -> dict[str, JsonDict]:
    """``schema/*.json``: the catalog item and bundle file schemas and the definitions they share.

    Each document's own spec stays in its file; every other definition lives in common-types.json.
    """
    documents = {
        CATALOG_ITEM_SCHEMA: CatalogItem,
        CATALOG_BUNDLE_SCHEMA: CatalogBundle,
        SERVICE_REQUEST_SCHEMA: ServiceRequest,
    }
    common: JsonDict = {}
    result: dict[str, JsonDict] = {}
    for filename, model in documents.items():
        schema = model_schema(model)
        defs = schema.pop("$defs", {})
        local = {f"{model.__name__}Spec"}
        for name, definition in defs.items():
            if name not in local:
                common[name] = _retarget(definition, local=set())
        own = {name: _retarget(defs[name], local) for name in sorted(local & defs.keys())}
        result[filename] = {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "$id": SCHEMA_BASE_URL + filename,
            "title": model.__name__,
            **_retarget(schema, local),
            **({"$defs": own} if own else {}),
        }
    result[COMMON_TYPES] = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_BASE_URL + COMMON_TYPES,
        "title": "Platform Orchestrator common types",
        "$defs": dict(sorted(common.items())),
    }
    return result


# ---- CRDs -------------------------------------------------------------------------------------------------------

_DROPPED_KEYWORDS = {"examples", "$schema", "$id", "default", "allOf", "const"}


def _structural(node: JsonDict, defs: JsonDict, *, def_name: str | None = None) -> JsonDict:
    """Turn a pydantic JSON Schema node into a Kubernetes structural schema node (refs inlined)."""
    if "$ref" in node:
        name = node["$ref"].removeprefix("#/$defs/")
        merged = {**defs[name], **{k: v for k, v in node.items() if k != "$ref"}}
        return _structural(merged, defs, def_name=name)
    if "anyOf" in node:
        variants = [v.get("type") for v in node["anyOf"]]
        if sorted(map(str, variants)) == ["integer", "string"]:
            base = {k: v for k, v in node.items() if k not in ("anyOf", *_DROPPED_KEYWORDS)}
            return {**base, "x-kubernetes-int-or-string": True}
        raise ValueError(f"no structural form for anyOf {variants} in {def_name or 'schema'}")
    result: JsonDict = {}
    for key, value in node.items():
        if key in _DROPPED_KEYWORDS:
            continue
        if key == "const":
            continue
        if key == "properties":
            result[key] = {prop: _structural(sub, defs) for prop, sub in value.items()}
        elif key == "items":
            result[key] = _structural(value, defs)
        elif key == "additionalProperties":
            if isinstance(value, dict) and value and "properties" not in node:
                result[key] = _structural(value, defs)
        else:
            result[key] = value
    if "const" in node:
        result["enum"] = [node["const"]]
        result.setdefault("type", "string")
    if "type" not in result and "x-kubernetes-int-or-string" not in result:
        # free-form content: any JSON value (e.g. an HTTP body or a templated variable)
        return {
            **({"description": result["description"]} if "description" in result else {}),
            "x-kubernetes-preserve-unknown-fields": True,
        }
    if result.get("type") == "object" and "properties" not in result and "additionalProperties" not in result:
        result["x-kubernetes-preserve-unknown-fields"] = True
    if result.get("type") == "object" and node.get("additionalProperties") == {}:
        result.pop("additionalProperties", None)
        result["x-kubernetes-preserve-unknown-fields"] = True
    if def_name in _CEL_RULES:
        result["x-kubernetes-validations"] = copy.deepcopy(_CEL_RULES[def_name])
    if result.get("type") == "array" and isinstance(node.get("items"), dict):
        item_ref = node["items"].get("$ref", "").removeprefix("#/$defs/")
        if item_ref in _LIST_MAP_KEYS:
            result["x-kubernetes-list-type"] = "map"
            result["x-kubernetes-list-map-keys"] = [_LIST_MAP_KEYS[item_ref]]
    return result


def _open_api_schema(model: type[BaseModel]) -> JsonDict:
    raw = model.model_json_schema(by_alias=True, mode="validation", schema_generator=_Generator)
    raw = _clean(raw)
    defs = raw.pop("$defs", {})
    return _structural(raw, defs, def_name=model.__name__)


def crd(info: KindInfo) -> JsonDict:
    """The apiextensions.k8s.io/v1 CustomResourceDefinition of one kind."""
    from .kinds import CATEGORY  # the CRD side of the package; the validator does not need it

    spec_schema = _open_api_schema(info.spec)
    status_schema = _open_api_schema(info.status)
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {
            "name": info.crd_name,
            "labels": {"app.kubernetes.io/part-of": "platform-orchestrator"},
            "annotations": {BUNDLE_VERSION_ANNOTATION: __version__},
        },
        "spec": {
            "group": GROUP,
            "names": {
                "kind": info.kind,
                "listKind": f"{info.kind}List",
                "plural": info.plural,
                "singular": info.singular,
                "shortNames": list(info.short_names),
                "categories": [CATEGORY],
            },
            "scope": info.scope,
            "versions": [
                {
                    "name": VERSION,
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "additionalPrinterColumns": [
                        {
                            "name": column.name,
                            "type": column.type,
                            "jsonPath": column.json_path,
                            **({"priority": column.priority} if column.priority else {}),
                            **({"description": column.description} if column.description else {}),
                        }
                        for column in info.columns
                    ],
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "description": info.description,
                            "required": ["spec"],
                            "properties": {
                                "apiVersion": {"type": "string"},
                                "kind": {"type": "string"},
                                "metadata": {"type": "object"},
                                "spec": spec_schema,
                                "status": status_schema,
                            },
                        }
                    },
                }
            ],
        },
    }


def crds() -> dict[str, JsonDict]:
    """``crds/<plural>.orchestrator.dev.yaml`` for every kind."""
    from .kinds import KINDS

    return {f"{info.crd_name}.yaml": crd(info) for info in KINDS}
