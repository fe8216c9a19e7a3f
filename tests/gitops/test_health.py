"""GitOps health checks: the Argo CD Lua scripts and the Flux CEL expressions, judged against kstatus.

Every fixture in tests/gitops/fixtures declares what kstatus, Argo CD and Flux say about one object. The Lua runs in
a real Lua 5.1 interpreter (Argo CD's gopher-lua is Lua 5.1) with ``obj`` as a global table, in an environment
holding only what Argo CD offers; the CEL runs in a real CEL implementation (``common-expression-language``) with
Flux's evaluation order; the kstatus verdict comes from the reference in tests/gitops/kstatus.py.
"""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

import cel
import pytest
import yaml
from pydantic import BaseModel

from orchestrator.api.base import API_VERSION
from orchestrator.api.catalog import CatalogBundleStatus, CatalogItemStatus
from orchestrator.api.catalog_source import CatalogSourceStatus
from orchestrator.api.conditions import CONDITION_TYPES, Reason
from orchestrator.api.service_request import PHASES, ServiceRequestStatus

from .kstatus import compute

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = Path(__file__).parent / "fixtures"
HEALTH_DIR = ROOT / "gitops" / "argocd" / "health"
FLUX_FILE = ROOT / "gitops" / "flux" / "health-check-exprs.yaml"
DOCS = ROOT / "docs" / "gitops.md"
LUA = shutil.which("lua5.1")
requires_lua = pytest.mark.skipif(
    LUA is None, reason="lua5.1 is not installed (Debian package lua5.1; .ci/run installs it)"
)

KINDS = ("ServiceRequest", "CatalogItem", "CatalogBundle", "CatalogSource")
SCRIPT_FOR_KIND = {  # items and bundles carry the same conditions: one script serves both
    "ServiceRequest": "ServiceRequest.lua",
    "CatalogItem": "catalog-definition.lua",
    "CatalogBundle": "catalog-definition.lua",
    "CatalogSource": "CatalogSource.lua",
}
STATUS_MODELS: dict[str, type[BaseModel]] = {
    "ServiceRequest": ServiceRequestStatus,
    "CatalogItem": CatalogItemStatus,
    "CatalogBundle": CatalogBundleStatus,
    "CatalogSource": CatalogSourceStatus,
}
ARGO_STATUSES = {"Healthy", "Progressing", "Degraded", "Suspended", "Missing", "Unknown"}
# What Flux should say for each kstatus verdict (Flux has no Terminating: a deleting object is in progress).
FLUX_FOR_KSTATUS = {"Current": "Current", "InProgress": "InProgress", "Failed": "Failed", "Terminating": "InProgress"}
# What Argo CD may say for each Flux verdict: Suspended is Argo CD's word for "as asked, nothing to do" (hibernated,
# awaiting approval, a suspended source), which Flux and kstatus see as Current or InProgress.
ARGO_FOR_FLUX = {
    "Current": {"Healthy", "Suspended"},
    "InProgress": {"Progressing", "Suspended"},
    "Failed": {"Degraded"},
    "Unknown": {"Progressing"},
}
# The cases where Flux or Argo CD deliberately differ from plain kstatus (each fixture says why).
DIVERGENT = {
    "ServiceRequest/no-status",
    "CatalogItem/item-no-status",
    "CatalogBundle/bundle-no-status",
    "CatalogSource/source-no-status",
}


def _load_cases() -> list[dict[str, Any]]:
    cases = []
    for path in sorted(FIXTURES.glob("*.yaml")):
        for case in yaml.safe_load(path.read_text())["cases"]:
            cases.append({**case, "file": path.name})
    return cases


CASES = _load_cases()
CASE_IDS = [f"{case['object']['kind']}/{case['name']}" for case in CASES]


# --- Argo CD: run the Lua ----------------------------------------------------------------------------------------


def to_lua(value: Any) -> str:
    """A Lua 5.1 literal for a JSON-like value, the way Argo CD hands ``obj`` to the script (null fields absent)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        escaped = "".join(
            chr(byte) if 32 <= byte < 127 and chr(byte) not in '"\\' else f"\\{byte}" for byte in value.encode()
        )
        return f'"{escaped}"'
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"[{to_lua(str(k))}] = {to_lua(v)}" for k, v in value.items() if v is not None) + "}"
    if isinstance(value, list):
        if any(item is None for item in value):
            raise ValueError("a null inside a list has no Lua table equivalent")
        return "{" + ", ".join(to_lua(item) for item in value) + "}"
    raise TypeError(f"no Lua literal for {type(value).__name__}")


# The script runs with only what Argo CD's Lua VM offers to health checks: obj and the safe base library.
HARNESS = """
local env = {{obj = {obj}, ipairs = ipairs, pairs = pairs, next = next, type = type, tostring = tostring,
  tonumber = tonumber, select = select, unpack = unpack, error = error, pcall = pcall,
  string = string, table = table, math = math}}
local chunk = assert(loadfile({path}))
setfenv(chunk, env)
local hs = chunk()
if type(hs) ~= "table" then
  io.write("<the script did not return a table>\\n")
else
  io.write(tostring(hs.status), "\\n", tostring(hs.message))
end
"""


def argocd_health(obj: Mapping[str, Any]) -> tuple[str, str]:
    """(hs.status, hs.message) from the kind's health.lua, run by lua5.1."""
    assert LUA is not None
    script = HEALTH_DIR / SCRIPT_FOR_KIND[obj["kind"]]
    program = HARNESS.format(obj=to_lua(obj), path=to_lua(str(script)))
    done = subprocess.run([LUA, "-"], input=program, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, f"lua5.1 failed on {script.name}: {done.stderr}"
    status, _, message = done.stdout.partition("\n")
    return status, message


# --- Flux: evaluate the CEL --------------------------------------------------------------------------------------


def flux_exprs() -> dict[str, dict[str, Any]]:
    kustomization = yaml.safe_load(FLUX_FILE.read_text())
    return {entry["kind"]: entry for entry in kustomization["spec"]["healthCheckExprs"]}


def flux_health(obj: Mapping[str, Any], entry: Mapping[str, Any]) -> str:
    """Flux's verdict (fluxcd/pkg runtime/cel StatusEvaluator.Evaluate): a stale observedGeneration is InProgress;
    then inProgress, failed, current in order, the first true wins; none is InProgress. An evaluation error (a field
    that does not exist) makes kstatus report Unknown, and Flux keeps waiting."""
    status = obj.get("status")
    observed = status.get("observedGeneration") if isinstance(status, Mapping) else None
    generation = (obj.get("metadata") or {}).get("generation")
    if observed is not None and generation is not None and observed != generation:
        return "InProgress"
    activation = dict(obj)  # Flux binds the object's top-level fields: apiVersion, kind, metadata, spec, status
    for key, verdict in (("inProgress", "InProgress"), ("failed", "Failed"), ("current", "Current")):
        source = entry.get(key)
        if not source:
            continue
        program = cel.compile(source)  # a syntax error fails the test: it is not a runtime "Unknown"
        try:
            result = program.execute(activation)
        except RuntimeError:
            return "Unknown"
        assert isinstance(result, bool), f"{key} must be a boolean expression, got {result!r}"
        if result:
            return verdict
    return "InProgress"


# --- the fixtures themselves ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_fixture_kstatus_is_what_kstatus_computes(case: dict[str, Any]) -> None:
    assert compute(case["object"]) == case["expect"]["kstatus"]


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_fixture_status_is_what_the_operator_writes(case: dict[str, Any]) -> None:
    obj = case["object"]
    assert obj["apiVersion"] == API_VERSION and obj["kind"] in KINDS
    status = obj.get("status")
    if status is None:
        return
    STATUS_MODELS[obj["kind"]].model_validate(status)
    reasons = {value for name, value in vars(Reason).items() if name.isupper()}
    for condition in status["conditions"]:
        assert condition["type"] in CONDITION_TYPES
        assert condition["reason"] in reasons, f"{condition['reason']} is not a reason the operator writes"
    # Ready, Reconciling and Stalled: the operator writes all three, and at most one is True.
    summary = {c["type"]: c["status"] for c in status["conditions"] if c["type"] in ("Ready", "Reconciling", "Stalled")}
    assert set(summary) == {"Ready", "Reconciling", "Stalled"}
    assert list(summary.values()).count("True") <= 1


def test_fixtures_cover_every_phase_and_state() -> None:
    requests = [c for c in CASES if c["object"]["kind"] == "ServiceRequest"]
    phases = {(c["object"].get("status") or {}).get("phase") for c in requests}
    assert set(PHASES) - {"Validating"} <= phases | {None}
    assert "Validating" in phases
    assert any("status" not in c["object"] for c in requests)
    assert any(c["expect"]["kstatus"] == "InProgress" and "stale" in c["name"] for c in requests)
    for kind in KINDS:
        verdicts = {c["expect"]["kstatus"] for c in CASES if c["object"]["kind"] == kind}
        assert {"Current", "InProgress", "Failed"} <= verdicts, kind
    sources = {c["name"] for c in CASES if c["object"]["kind"] == "CatalogSource"}
    assert {"source-synced", "source-invalid-revision", "source-suspended", "source-stale"} <= sources
    argo = {c["expect"]["argocd"] for c in CASES}
    assert argo == {"Healthy", "Progressing", "Degraded", "Suspended"}


# --- the verdicts ------------------------------------------------------------------------------------------------


@requires_lua
@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_argocd_lua_health(case: dict[str, Any]) -> None:
    status, message = argocd_health(case["object"])
    assert status == case["expect"]["argocd"], message
    assert message and message != "nil"
    assert case["expect"].get("argocdMessage", "") in message


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_flux_cel_health(case: dict[str, Any]) -> None:
    entry = flux_exprs()[case["object"]["kind"]]
    assert flux_health(case["object"], entry) == case["expect"]["flux"]


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_verdicts_agree_with_kstatus(case: dict[str, Any]) -> None:
    expect = case["expect"]
    case_id = f"{case['object']['kind']}/{case['name']}"
    assert expect["argocd"] in ARGO_FOR_FLUX[expect["flux"]], "Argo CD and Flux disagree"
    if case_id in DIVERGENT:
        assert case.get("divergence"), "a divergent case explains itself"
        assert expect["flux"] != FLUX_FOR_KSTATUS[expect["kstatus"]]
    else:
        assert "divergence" not in case
        assert expect["flux"] == FLUX_FOR_KSTATUS[expect["kstatus"]]
        if expect["argocd"] == "Healthy":
            assert expect["kstatus"] == "Current"
        if expect["argocd"] == "Degraded":
            assert expect["kstatus"] == "Failed"


EDGE_OBJECTS: dict[str, dict[str, Any]] = {
    "empty-status": {"status": {}},
    "empty-conditions": {"status": {"observedGeneration": 1, "conditions": []}},
    "bare-conditions": {"status": {"conditions": [{"type": "Ready", "status": "True"}]}},
    "unknown-ready": {"status": {"conditions": [{"type": "Ready", "status": "Unknown", "reason": "X"}]}},
    "no-generation": {"metadata": {"name": "x"}, "status": {"observedGeneration": 4, "conditions": []}},
    "no-metadata": {"metadata": None},
}


@requires_lua
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("edge", sorted(EDGE_OBJECTS))
def test_argocd_lua_survives_partial_objects(kind: str, edge: str) -> None:
    obj: dict[str, Any] = {"apiVersion": API_VERSION, "kind": kind, "metadata": {"name": "x", "generation": 1}}
    obj.update(EDGE_OBJECTS[edge])
    status, message = argocd_health(obj)
    assert status in ARGO_STATUSES and message
    expected_flux = flux_health(obj, flux_exprs()[kind])
    assert status in ARGO_FOR_FLUX[expected_flux] or (edge == "empty-conditions" and status == "Progressing")
    if edge == "bare-conditions":
        assert status == "Healthy" and compute(obj) == "Current"
    if edge == "unknown-ready":
        assert status == "Progressing" and compute(obj) == "InProgress"


# --- the shipped snippets ------------------------------------------------------------------------------------------


def _gitops_health() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gitops_health", ROOT / "hack" / "gitops_health.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_argocd_snippets_are_generated_from_the_lua() -> None:
    generator = _gitops_health()
    for name, text in generator.generated_files(ROOT).items():
        assert (ROOT / name).read_text() == text, f"{name} is out of date: run `make generate`"
    scripts = {kind: (HEALTH_DIR / SCRIPT_FOR_KIND[kind]).read_text() for kind in KINDS}
    keys = {f"resource.customizations.health.orchestrator.dev_{kind}": lua for kind, lua in scripts.items()}
    configmap = yaml.safe_load((ROOT / "gitops" / "argocd" / "argocd-cm.yaml").read_text())
    assert (configmap["kind"], configmap["metadata"]["name"]) == ("ConfigMap", "argocd-cm")
    assert configmap["data"] == keys
    values = yaml.safe_load((ROOT / "gitops" / "argocd" / "values-argo-cd.yaml").read_text())
    assert values == {"configs": {"cm": keys}}


def test_flux_snippet_has_every_kind() -> None:
    kustomization = yaml.safe_load(FLUX_FILE.read_text())
    assert kustomization["apiVersion"] == "kustomize.toolkit.fluxcd.io/v1"
    assert kustomization["kind"] == "Kustomization" and kustomization["spec"]["wait"] is True
    entries = kustomization["spec"]["healthCheckExprs"]
    assert sorted(e["kind"] for e in entries) == sorted(KINDS)
    for entry in entries:
        assert entry["apiVersion"] == API_VERSION
        assert set(entry) <= {"apiVersion", "kind", "inProgress", "failed", "current"} and entry["current"]
        for key in ("inProgress", "failed", "current"):
            cel.compile(entry[key])


def test_docs_show_the_shipped_checks() -> None:
    text = DOCS.read_text()
    assert (HEALTH_DIR / "ServiceRequest.lua").read_text() in text
    entry = flux_exprs()["ServiceRequest"]
    for key in ("inProgress", "failed", "current"):
        assert " ".join(entry[key].split()) in " ".join(text.split()), key


def test_docs_phase_table_matches_the_fixtures() -> None:
    rows = {}
    for line in DOCS.read_text().splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) == 6 and cells[0].endswith("`") and " `" in cells[0]:
            kind, name = cells[0].split(" `")
            rows[f"{kind}/{name.rstrip('`')}"] = tuple(cells[3:])
    expected = {
        case_id: (case["expect"]["kstatus"], case["expect"]["argocd"], case["expect"]["flux"])
        for case_id, case in zip(CASE_IDS, CASES, strict=True)
    }
    assert rows == expected


# --- the kstatus reference itself ----------------------------------------------------------------------------------


def _with(conditions: list[dict[str, str]], **status: Any) -> dict[str, Any]:
    return {"metadata": {"generation": 2}, "status": {"conditions": conditions, **status}}


@pytest.mark.parametrize(
    ("obj", "verdict"),
    [
        ({"metadata": {"generation": 1}}, "Current"),
        ({"metadata": {"generation": 1, "deletionTimestamp": "2025-01-01T00:00:00Z"}}, "Terminating"),
        (_with([{"type": "Ready", "status": "True"}], observedGeneration=1), "InProgress"),
        (_with([{"type": "Ready", "status": "True"}]), "Current"),
        (_with([{"type": "Ready", "status": "Unknown"}]), "InProgress"),
        (_with([{"type": "Ready", "status": "False"}]), "InProgress"),
        (_with([{"type": "Stalled", "status": "True"}, {"type": "Ready", "status": "True"}]), "Failed"),
        (_with([{"type": "Reconciling", "status": "True"}, {"type": "Stalled", "status": "True"}]), "InProgress"),
        (_with([{"type": "Drifted", "status": "True"}]), "Current"),
    ],
)
def test_kstatus_reference(obj: dict[str, Any], verdict: str) -> None:
    assert compute(obj) == verdict
