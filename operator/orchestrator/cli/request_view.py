"""Reading ServiceRequest objects as devctl shows them: ages, the list table, status summaries, settlement,
plans awaiting approval, GitOps ownership, CSV export. Pure functions over the objects the API returns."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from .common import condition

KIND_NAME = "servicerequest.orchestrator.dev"
"""How ``-o name`` names a request (kubectl's resource.group/name form)."""
LIST_HEADERS = ("NAME", "ITEM", "PHASE", "READY", "AGE", "MESSAGE")
PHASE_NAMES = (
    "Pending",
    "Validating",
    "AwaitingApproval",
    "Provisioning",
    "Ready",
    "Failed",
    "Aborted",
    "Hibernated",
    "Deleting",
)
"""The phases of api.service_request.Phase (restated so that listing does not import the pydantic models)."""


def parse_time(value: Any) -> datetime | None:
    """An RFC 3339 timestamp from the API (``Z`` or an offset; fractions allowed), as an aware datetime."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def human_age(delta: timedelta) -> str:
    """kubectl's age format (k8s.io/apimachinery duration.HumanDuration): 45s, 5m30s, 3h, 2d4h, 400d, 3y20d."""
    seconds = int(delta.total_seconds())
    if seconds < -1:
        return "<invalid>"
    if seconds < 0:
        return "0s"
    if seconds < 120:
        return f"{seconds}s"
    minutes = seconds // 60
    if minutes < 10:
        rest = seconds % 60
        return f"{minutes}m" if rest == 0 else f"{minutes}m{rest}s"
    if minutes < 180:
        return f"{minutes}m"
    hours = seconds // 3600
    if hours < 8:
        rest = minutes % 60
        return f"{hours}h" if rest == 0 else f"{hours}h{rest}m"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        rest = hours % 24
        return f"{hours // 24}d" if rest == 0 else f"{hours // 24}d{rest}h"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    if hours < 24 * 365 * 8:
        days = (hours // 24) % 365
        return f"{hours // 24 // 365}y" if days == 0 else f"{hours // 24 // 365}y{days}d"
    return f"{hours // 24 // 365}y"


def age(obj: Mapping[str, Any], now: datetime) -> str:
    created = parse_time((obj.get("metadata") or {}).get("creationTimestamp"))
    return human_age(now - created) if created is not None else "<unknown>"


def name_of(obj: Mapping[str, Any]) -> str:
    return str((obj.get("metadata") or {}).get("name", ""))


def namespace_of(obj: Mapping[str, Any]) -> str:
    return str((obj.get("metadata") or {}).get("namespace", ""))


def item_of(obj: Mapping[str, Any]) -> str:
    """The catalog item (or bundle) a request names."""
    spec = obj.get("spec") or {}
    return str(spec.get("catalogItem") or spec.get("bundle") or "")


def phase_of(obj: Mapping[str, Any]) -> str:
    """The phase; a request the operator has not written yet is Pending (the status model's default)."""
    return str((obj.get("status") or {}).get("phase") or "Pending")


def ready_of(obj: Mapping[str, Any]) -> str:
    """The Ready condition's status (True/False/Unknown), or "-" before the operator wrote one."""
    return str(condition(obj, "Ready").get("status") or "-")


def message_of(obj: Mapping[str, Any]) -> str:
    """The Ready condition's message: what the request is doing or waiting for, or why it failed."""
    return " ".join(str(condition(obj, "Ready").get("message") or "").split())


def canonical_phase(value: str) -> str | None:
    """``ready`` -> ``Ready``; None when it is not a phase."""
    return next((p for p in PHASE_NAMES if p.lower() == value.lower()), None)


def filter_requests(
    objects: Iterable[Mapping[str, Any]],
    *,
    phases: Sequence[str] = (),
    item: str | None = None,
    since: float | None = None,
    now: datetime,
) -> list[dict[str, Any]]:
    """Requests in one of ``phases``, for ``item``, created within ``since`` seconds of ``now``; sorted by
    namespace and name."""
    wanted = {p.lower() for p in phases}
    found = []
    for obj in objects:
        if wanted and phase_of(obj).lower() not in wanted:
            continue
        if item and item_of(obj) != item:
            continue
        if since is not None:
            created = parse_time((obj.get("metadata") or {}).get("creationTimestamp"))
            if created is None or now - created > timedelta(seconds=since):
                continue
        found.append(dict(obj))
    return sorted(found, key=lambda o: (namespace_of(o), name_of(o)))


def list_rows(
    objects: Iterable[Mapping[str, Any]], *, now: datetime, all_namespaces: bool
) -> tuple[tuple[str, ...], list[list[str]]]:
    """Headers and rows of ``devctl request list`` (NAMESPACE first with -A)."""
    headers = (("NAMESPACE",) if all_namespaces else ()) + LIST_HEADERS
    rows = []
    for obj in objects:
        row = [name_of(obj), item_of(obj) or "-", phase_of(obj), ready_of(obj), age(obj, now), message_of(obj)]
        rows.append(([namespace_of(obj)] if all_namespaces else []) + row)
    return headers, rows


SHRINK_ORDER = (("MESSAGE", 10), ("ITEM", 12), ("NAMESPACE", 10), ("PHASE", 9), ("NAME", 12))
"""Which columns of the list give way first when the table is too wide, and how far (the rest never shrinks)."""


def fit_rows(headers: Sequence[str], rows: Sequence[Sequence[str]], max_width: int) -> list[list[str]]:
    """Rows with cells shortened (with "…") so that the table fits ``max_width``: the message gives way first,
    then the item, the namespace, the phase and, last, the name; READY and AGE are never cut."""
    from .common import shorten

    widths = [max([len(h), *(len(r[i]) for r in rows)]) for i, h in enumerate(headers)]
    excess = sum(widths) + 3 * (len(widths) - 1) - max_width
    for column, minimum in SHRINK_ORDER:
        if excess <= 0:
            break
        if column not in headers:
            continue
        index = list(headers).index(column)
        floor = max(minimum, len(column))
        cut = min(excess, max(0, widths[index] - floor))
        widths[index] -= cut
        excess -= cut
    return [[shorten(cell, widths[i]) for i, cell in enumerate(row)] for row in rows]


# ---- settlement -----------------------------------------------------------------------------------------------

Settled = Literal["ready", "failed", "pending"]


@dataclass(frozen=True)
class Settlement:
    """Where a request stands for someone waiting on it."""

    state: Settled
    phase: str
    reason: str
    message: str


def settlement(obj: Mapping[str, Any], *, phase: str | None = None) -> Settlement:
    """``ready`` when Ready=True for the current generation (and, with ``phase``, in that phase); ``failed`` when
    Stalled=True for the current generation or the phase is Failed/Aborted; else ``pending``.

    Conditions written for an older generation do not count: after a spec change the operator has yet to look.
    """
    generation = (obj.get("metadata") or {}).get("generation")
    status = obj.get("status") or {}
    current_phase = phase_of(obj)
    ready, stalled = condition(obj, "Ready"), condition(obj, "Stalled")
    if status.get("observedGeneration") != generation:
        return Settlement("pending", current_phase, "", "waiting for the operator to look at the current spec")
    if stalled.get("status") == "True" and stalled.get("observedGeneration", generation) == generation:
        return Settlement("failed", current_phase, str(stalled.get("reason") or ""), str(stalled.get("message") or ""))
    if current_phase in ("Failed", "Aborted"):
        return Settlement("failed", current_phase, str(ready.get("reason") or ""), str(ready.get("message") or ""))
    if ready.get("status") == "True" and (phase is None or current_phase == phase):
        return Settlement("ready", current_phase, str(ready.get("reason") or ""), str(ready.get("message") or ""))
    return Settlement("pending", current_phase, str(ready.get("reason") or ""), str(ready.get("message") or ""))


def status_summary(obj: Mapping[str, Any]) -> dict[str, Any]:
    """What ``devctl request status`` reports, as data."""
    status = obj.get("status") or {}
    meta = obj.get("metadata") or {}
    conditions = {
        c.get("type"): {k: c.get(k) for k in ("status", "reason", "message") if c.get(k) is not None}
        for c in status.get("conditions") or []
    }
    return {
        "name": meta.get("name"),
        "namespace": meta.get("namespace"),
        "item": item_of(obj),
        "phase": phase_of(obj),
        "ready": ready_of(obj),
        "message": message_of(obj),
        "generation": meta.get("generation"),
        "observedGeneration": status.get("observedGeneration"),
        "conditions": conditions,
        "actions": [
            {
                k: action.get(k)
                for k in ("name", "type", "state", "attempts", "message", "externalRef")
                if action.get(k) is not None
            }
            for action in status.get("actions") or []
        ],
    }


# ---- user operations ------------------------------------------------------------------------------------------


def awaiting_plans(obj: Mapping[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(action, plan) for every Terraform action whose plan waits for approval."""
    return [
        (str(action.get("name")), dict(action["plan"]))
        for action in (obj.get("status") or {}).get("actions") or []
        if action.get("state") == "Waiting" and isinstance(action.get("plan"), dict) and action["plan"].get("hash")
    ]


def select_plan(obj: Mapping[str, Any], wanted: str | None) -> tuple[str, dict[str, Any]]:
    """The plan to approve: the one awaiting approval, or the one whose hash starts with ``wanted``.

    Raises ValueError with a message for people when there is none, or no single one.
    """
    plans = awaiting_plans(obj)
    if not plans:
        raise ValueError(f"no plan awaits approval on {name_of(obj)} (phase {phase_of(obj)})")
    if wanted:
        matching = [(action, plan) for action, plan in plans if str(plan["hash"]).startswith(wanted)]
        if len(matching) == 1:
            return matching[0]
        awaiting = ", ".join(f"{plan['hash']} (action {action})" for action, plan in plans)
        if not matching:
            raise ValueError(f"plan {wanted} is not awaiting approval; awaiting: {awaiting}")
        raise ValueError(f"{wanted} matches more than one plan awaiting approval ({awaiting}); give more of the hash")
    if len(plans) > 1:
        awaiting = ", ".join(f"{plan['hash']} (action {action})" for action, plan in plans)
        raise ValueError(f"more than one plan awaits approval: {awaiting}; choose one with --hash")
    return plans[0]


def plan_summary(action: str, plan: Mapping[str, Any]) -> str:
    counts = f"+{plan.get('add', 0)} ~{plan.get('change', 0)} -{plan.get('destroy', 0)}"
    made = f", made {plan['createdAt']}" if plan.get("createdAt") else ""
    return f"plan {plan.get('hash')} of action '{action}': {counts} (add, change, destroy){made}"


def retriable_actions(obj: Mapping[str, Any]) -> list[str]:
    """Actions the operator re-runs on a retry: the Failed and Aborted ones."""
    return [
        str(a.get("name"))
        for a in (obj.get("status") or {}).get("actions") or []
        if a.get("state") in ("Failed", "Aborted")
    ]


GITOPS_MARKERS: tuple[tuple[str, str, str], ...] = (
    ("label", "argocd.argoproj.io/instance", "Argo CD"),
    ("annotation", "argocd.argoproj.io/tracking-id", "Argo CD"),
    ("label", "kustomize.toolkit.fluxcd.io/name", "Flux"),
    ("label", "helm.toolkit.fluxcd.io/name", "Flux"),
    ("label", "app.kubernetes.io/instance", "Argo CD (label tracking) or Helm"),
)
"""Labels and annotations that GitOps tools stamp on the objects they sync from git."""


def gitops_manager(obj: Mapping[str, Any]) -> str | None:
    """Who syncs this object from git, e.g. "Flux (label kustomize.toolkit.fluxcd.io/name=apps)"; None if nobody
    we know of."""
    meta = obj.get("metadata") or {}
    for where, key, tool in GITOPS_MARKERS:
        values = meta.get("labels" if where == "label" else "annotations") or {}
        if key in values:
            return f"{tool} ({where} {key}={values[key]})"
    return None


def has_workspace_action(obj: Mapping[str, Any], item: Mapping[str, Any] | None) -> bool:
    """Whether the request has something to hibernate: a workspace action in its status or in its item."""
    if any(a.get("type") == "workspace" for a in (obj.get("status") or {}).get("actions") or []):
        return True
    fulfillment = ((item or {}).get("spec") or {}).get("fulfillment") or {}
    return any(a.get("type") == "workspace" for path in ("automated", "manual") for a in fulfillment.get(path) or [])


# ---- export ---------------------------------------------------------------------------------------------------


def export_csv(objects: Sequence[Mapping[str, Any]], *, now: datetime) -> str:
    """namespace,name,item,phase,ready,age, then one ``output.<key>`` column per output key of any request
    (sorted); rows sorted by namespace and name. Only status.outputs: sensitive outputs live in Secrets."""
    keys = sorted({str(k) for obj in objects for k in ((obj.get("status") or {}).get("outputs") or {})})
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["namespace", "name", "item", "phase", "ready", "age", *(f"output.{k}" for k in keys)])
    for obj in sorted(objects, key=lambda o: (namespace_of(o), name_of(o))):
        outputs = (obj.get("status") or {}).get("outputs") or {}
        row = [namespace_of(obj), name_of(obj), item_of(obj), phase_of(obj), ready_of(obj), age(obj, now)]
        writer.writerow(row + [_cell(outputs.get(k)) for k in keys])
    return buffer.getvalue()


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True, separators=(",", ":"))
    return str(value)


def exported(obj: Mapping[str, Any]) -> dict[str, Any]:
    """A request for export: without managedFields (server bookkeeping, not information about the request)."""
    result = dict(obj)
    meta = dict(result.get("metadata") or {})
    meta.pop("managedFields", None)
    result["metadata"] = meta
    return result
