"""What `devctl simulate` reads before anything runs: the request, its catalog item, environments and Secrets.

Everything is checked with the validator `devctl validate` uses, so a simulation never starts on input the
operator would refuse for a reason the validator already knows; problems come back as ``SimulationInputError``
with one line per problem (file, line, field).
"""

from __future__ import annotations

import base64
import binascii
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ..api.actions import Action
from ..api.catalog import CatalogItem
from ..catalog.diagnostics import Diagnostic
from ..catalog.references import item_references
from ..catalog.validate import Catalog, load_catalog, load_environments, validate_request_file
from ..config import Settings

EXPOSE_LABEL = "orchestrator.dev/expose"
UID_NAMESPACE = uuid.UUID("5d2f1a3e-7c1b-4c2e-9f0a-6b8d3e4c1a70")
"""Simulated requests without a uid get uuid5(UID_NAMESPACE, "<namespace>/<name>"): the same on every run."""


class SimulationInputError(Exception):
    """The simulation cannot start; ``details`` are the problems, one line each (validator diagnostics)."""

    def __init__(self, message: str, details: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.message = message
        self.details = list(details)


@dataclass
class Inputs:
    """The checked inputs of one simulation."""

    request: dict[str, Any]
    """The ServiceRequest manifest as it is created: namespace and uid set, no status."""
    catalog: Catalog
    item: CatalogItem | None
    """None for a bundle request (the operator does not fulfil bundles)."""
    item_file: str | None
    environments_file: Path | None
    environments_text: str | None
    exposed_secrets: list[dict[str, Any]] = field(default_factory=list)
    connection_secrets: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        return str(self.request["metadata"]["name"])

    @property
    def namespace(self) -> str:
        return str(self.request["metadata"]["namespace"])

    @property
    def uid(self) -> str:
        return str(self.request["metadata"]["uid"])

    def actions(self) -> list[Action]:
        """Every action of the item, on both fulfillment paths."""
        if self.item is None:
            return []
        fulfillment = self.item.spec.fulfillment
        return [*fulfillment.automated, *fulfillment.manual]


def _lines(diagnostics: Sequence[Diagnostic]) -> list[str]:
    return [d.render() for d in sorted(diagnostics, key=Diagnostic.reading_order)]


def environments_path(request_file: Path, given: Path | None) -> Path | None:
    """``--environment``, else ``environments.yaml`` next to the request file when it exists, else none."""
    if given is not None:
        return given
    beside = request_file.parent / "environments.yaml"
    return beside if beside.is_file() else None


def load_inputs(
    request_file: Path,
    catalog_dir: Path,
    *,
    environments_file: Path | None,
    secret_files: Sequence[Path],
    namespace: str | None,
    settings: Settings,
) -> Inputs:
    """Read and check everything; ``SimulationInputError`` names each problem."""
    environments = None
    text = None
    if environments_file is not None:
        environments, problems = load_environments(environments_file)
        if environments is None:
            raise SimulationInputError(f"the environments config {environments_file} is invalid", _lines(problems))
        text = environments_file.read_text(encoding="utf-8")
    report = validate_request_file(request_file, catalog_dir, environments=environments)
    if not report.ok():
        raise SimulationInputError(f"{request_file} is not a valid request", _lines(report.errors))
    documents = [d for d in _documents(request_file) if d is not None]
    if len(documents) != 1:
        raise SimulationInputError(f"{request_file}: simulate takes one ServiceRequest, the file has {len(documents)}")
    manifest = documents[0]
    catalog, catalog_report = load_catalog(catalog_dir)
    spec = manifest.get("spec") or {}
    item = catalog.item(str(spec["catalogItem"])) if spec.get("catalogItem") else None
    entry = catalog.items.get(item.metadata.name) if item is not None else catalog.bundles.get(str(spec.get("bundle")))
    if entry is not None:
        errors = [d for d in catalog_report.errors if d.file == entry.document.file]
        if errors:
            raise SimulationInputError(
                f"{entry.kind} '{entry.name}' is invalid: a catalog sync would not apply it", _lines(errors)
            )
    inputs = Inputs(
        request=_request(manifest, namespace),
        catalog=catalog,
        item=item,
        item_file=entry.document.file if entry is not None else None,
        environments_file=environments_file,
        environments_text=text,
    )
    _sort_secrets(inputs, secret_files, settings)
    _placeholder_secrets(inputs)
    return inputs


def _documents(path: Path) -> list[Any]:
    try:
        return list(yaml.safe_load_all(path.read_text(encoding="utf-8")))
    except (OSError, yaml.YAMLError) as error:  # the validator passed it, so only a race gets here
        raise SimulationInputError(f"{path}: cannot be read: {error}") from None


def _request(manifest: Mapping[str, Any], namespace: str | None) -> dict[str, Any]:
    metadata = dict(manifest.get("metadata") or {})
    given = metadata.get("namespace")
    if given and namespace and given != namespace:
        raise SimulationInputError(
            f"the namespace of the request ({given}) does not match -n {namespace}; leave one of them out"
        )
    metadata["namespace"] = given or namespace or "default"
    metadata["uid"] = metadata.get("uid") or str(
        uuid.uuid5(UID_NAMESPACE, f"{metadata['namespace']}/{metadata['name']}")
    )
    for server_field in ("resourceVersion", "generation", "creationTimestamp", "managedFields", "deletionTimestamp"):
        metadata.pop(server_field, None)
    return {
        "apiVersion": manifest.get("apiVersion"),
        "kind": manifest.get("kind"),
        "metadata": metadata,
        "spec": dict(manifest.get("spec") or {}),
    }


def _secret_documents(path: Path) -> Iterator[tuple[int, Mapping[str, Any]]]:
    try:
        documents = list(yaml.safe_load_all(path.read_text(encoding="utf-8")))
    except OSError as error:
        raise SimulationInputError(f"{path}: cannot be read: {error.strerror}") from None
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f":{mark.line + 1}" if mark is not None else ""
        raise SimulationInputError(f"{path}{where}: not valid YAML: {getattr(error, 'problem', error)}") from None
    for index, document in enumerate(documents, 1):
        if document is None:
            continue
        if isinstance(document, Mapping) and document.get("kind") == "List":
            for item in document.get("items") or []:
                yield index, item
        else:
            yield index, document


def _checked_secret(path: Path, index: int, document: Any) -> dict[str, Any]:
    where = f"{path} (document {index})"
    if not isinstance(document, Mapping) or document.get("kind") != "Secret":
        kind = document.get("kind") if isinstance(document, Mapping) else type(document).__name__
        raise SimulationInputError(f"{where}: expected a Secret manifest, got {kind!r}")
    metadata = document.get("metadata") or {}
    if not isinstance(metadata, Mapping) or not metadata.get("name"):
        raise SimulationInputError(f"{where}: metadata.name is required")
    name = str(metadata["name"])
    for key, value in (document.get("data") or {}).items():
        try:
            base64.b64decode(str(value), validate=True).decode("utf-8")
        except (binascii.Error, ValueError):
            raise SimulationInputError(f"{where}: Secret {name}: data.{key} is not base64-encoded text") from None
    for section in ("data", "stringData"):
        if not isinstance(document.get(section) or {}, Mapping):
            raise SimulationInputError(f"{where}: Secret {name}: {section} must be a mapping")
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": document.get("type") or "Opaque",
        "metadata": {
            "name": name,
            "labels": {str(k): str(v) for k, v in (metadata.get("labels") or {}).items()},
            "annotations": dict(metadata.get("annotations") or {}),
        },
        "data": {str(k): str(v) for k, v in (document.get("data") or {}).items()},
        "stringData": {str(k): str(v) for k, v in (document.get("stringData") or {}).items()},
    }


def _sort_secrets(inputs: Inputs, paths: Sequence[Path], settings: Settings) -> None:
    """Connection Secrets (labelled as JIRA or HTTP connections) go to the operator's namespace; every other
    Secret becomes an exposed Secret of the request's namespace."""
    connection_labels = (settings.jira.connection_label, settings.http.connection_label)
    seen: dict[tuple[bool, str], Path] = {}
    for path in paths:
        for index, document in _secret_documents(path):
            secret = _checked_secret(path, index, document)
            labels = secret["metadata"]["labels"]
            is_connection = any(label in labels for label in connection_labels)
            name = secret["metadata"]["name"]
            if (is_connection, name) in seen:
                raise SimulationInputError(f"{path}: Secret {name} is also given in {seen[(is_connection, name)]}")
            seen[(is_connection, name)] = path
            if is_connection:
                inputs.connection_secrets.append(secret)
                continue
            if labels.get(EXPOSE_LABEL) != "true":
                labels[EXPOSE_LABEL] = "true"
                inputs.warnings.append(
                    f"Secret {name} ({path}) has no label {EXPOSE_LABEL}=true; the simulation exposes it anyway, "
                    "the operator would not"
                )
            inputs.exposed_secrets.append(secret)


def secret_references(item: CatalogItem) -> dict[str, set[str]]:
    """The Secrets (and their keys) the item's templates read: ``secrets['dns-api'].token`` -> {dns-api: {token}}."""
    found: dict[str, set[str]] = {}
    for path in item_references(item, "secrets"):
        if len(path) > 1:
            keys = found.setdefault(path[1], set())
            if len(path) > 2:
                keys.add(path[2])
    return found


def placeholder_value(secret: str, key: str) -> str:
    return f"dry-run-placeholder-{secret}-{key}"


def _placeholder_secrets(inputs: Inputs) -> None:
    """A Secret a template reads but nobody supplied gets placeholder values (never shown: they are redacted)."""
    if inputs.item is None:
        return
    supplied = {s["metadata"]["name"] for s in inputs.exposed_secrets}
    for name, keys in sorted(secret_references(inputs.item).items()):
        if name in supplied:
            continue
        inputs.warnings.append(f"secrets['{name}'] not supplied: using placeholder values")
        inputs.exposed_secrets.append(
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "type": "Opaque",
                "metadata": {"name": name, "labels": {EXPOSE_LABEL: "true"}},
                "stringData": {key: placeholder_value(name, key) for key in sorted(keys)},
            }
        )
