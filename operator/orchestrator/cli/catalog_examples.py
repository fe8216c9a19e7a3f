"""`devctl catalog get --examples`: example ServiceRequests for an item or bundle, checked by the validator.

Two examples: one with only the required fields, one with every field. Values come from the fields schema
(``catalog/samples.py``); each manifest is then checked with the same function ``devctl validate request`` uses
(``check_request_document``), and a problem the generator could not avoid is shown next to the manifest.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..api.base import API_VERSION
from ..api.catalog import CatalogBundle, CatalogItem
from ..catalog.diagnostics import DiagnosticList
from ..catalog.field_info import as_mapping
from ..catalog.samples import example_fields
from ..catalog.schema_check import build_model
from ..catalog.source_files import SourceDocument
from ..catalog.validate import RequestTargets, check_request_document
from .common import dump_json, dump_yaml


@dataclass
class Example:
    title: str
    manifest: dict[str, Any]
    problems: list[str] = field(default_factory=list)


def _target(obj: Mapping[str, Any]) -> CatalogItem | CatalogBundle | None:
    kind = obj.get("kind")
    data = {
        "apiVersion": obj.get("apiVersion", API_VERSION),
        "kind": kind,
        "metadata": {"name": as_mapping(obj.get("metadata")).get("name")},
        "spec": obj.get("spec"),
    }
    report = DiagnosticList(f"{kind}/{data['metadata']['name']}")
    if kind == "CatalogBundle":
        return build_model(CatalogBundle, data, report)
    return build_model(CatalogItem, data, report)


def build_examples(obj: Mapping[str, Any], *, namespace: str, where: str = "the cluster") -> list[Example]:
    """A minimal and a complete example request for ``obj`` (an item or bundle object), each validated."""
    name = str(as_mapping(obj.get("metadata")).get("name", "item"))
    schema = as_mapping(as_mapping(obj.get("spec")).get("fields"))
    key = "bundle" if obj.get("kind") == "CatalogBundle" else "catalogItem"
    target = _target(obj)
    targets = RequestTargets(
        where=where,
        items={name: target} if isinstance(target, CatalogItem) else {},
        bundles={name: target} if isinstance(target, CatalogBundle) else {},
    )
    examples = []
    variants = (
        ("minimal", "only the required fields; the others get their defaults", False),
        ("complete", "every field, defaults written out", True),
    )
    for suffix, title, complete in variants:
        manifest = {
            "apiVersion": API_VERSION,
            "kind": "ServiceRequest",
            "metadata": {"name": f"{name}-{suffix}"[:63].rstrip("-"), "namespace": namespace},
            "spec": {key: name, "fields": example_fields(schema, complete=complete)},
        }
        report = DiagnosticList("example")
        check_request_document(SourceDocument("example", 0, manifest), report, targets)
        problems = [f"{d.path}: {d.message}" if d.path else d.message for d in report.errors]
        examples.append(Example(f"{suffix}: {title}", manifest, problems))
    return examples


def print_examples(examples: list[Example], output: str) -> str:
    """The examples as multi-document YAML with a comment line each (or a JSON list of manifests)."""
    if output == "json":
        return dump_json([example.manifest for example in examples])
    parts = []
    for example in examples:
        header = f"# {example.title}\n"
        for problem in example.problems:
            header += f"# NOTE: the validator says {problem}; adjust this value\n"
        parts.append(header + dump_yaml(example.manifest))
    return "---\n".join(parts)
