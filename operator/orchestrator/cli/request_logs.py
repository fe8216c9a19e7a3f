"""``devctl request logs``: one time-ordered story of a request, from what the cluster keeps about it.

Sources, merged by time:

* the request's Kubernetes Events (every phase change and action transition the operator announced);
* the actions' progress from ``status.actions`` (started, the current message, finished, the external object, the
  Terraform plan and drift summaries), the escalation, the fallback to the manual path and the hibernation;
* Terraform run output, where it is kept: a ``runner: job`` run prints its log (what ran, counts, errors — never
  variable values) in its pod, which lives in the operator's namespace until the Job's TTL removes it. Runs of the
  ``inProcess`` runner log to the operator's own log only, which devctl does not read.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import click

from ..clients.cluster import PODS, SERVICE_REQUESTS, Cluster, ClusterError
from .common import Globals
from .request_view import parse_time

TERRAFORM_RUN_LABEL = "orchestrator.dev/terraform-run"
REQUEST_UID_LABEL = "orchestrator.dev/request-uid"
ACTION_LABEL = "orchestrator.dev/action"
"""Labels the operator puts on its Terraform Jobs and their pods (actions/terraform_job.py, actions/terraform.py)."""


@dataclass(frozen=True)
class LogEntry:
    """One line of the story."""

    time: datetime
    source: str
    """``event/Normal``, ``event/Warning``, ``action/<name>``, ``request`` or ``terraform/<action>``."""
    message: str
    action: str | None = None
    """The action the line is about, when it is about one."""
    rank: int = 1
    """Order within one second (status times have whole seconds, events microseconds): an action's start (0)
    comes before the events of that second (1), the other status lines after them (2)."""

    def render(self) -> str:
        return f"{format_time(self.time)}  {self.source:<18} {self.message}"

    def to_dict(self) -> dict[str, Any]:
        return {"time": format_time(self.time), "source": self.source, "action": self.action, "message": self.message}


def format_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _when(*values: Any) -> datetime | None:
    for value in values:
        parsed = parse_time(value)
        if parsed is not None:
            return parsed
    return None


def _ref(action: Mapping[str, Any]) -> str:
    ref = action.get("externalRef") or {}
    if not ref:
        return ""
    parts = [str(ref.get(k)) for k in ("system", "id", "url") if ref.get(k)]
    return f" [{' '.join(parts)}]"


def event_entries(events: Iterable[Mapping[str, Any]]) -> list[LogEntry]:
    """Events as log lines (repeated events say how often they happened)."""
    entries = []
    for event in events:
        meta = event.get("metadata") or {}
        moment = _when(
            event.get("lastTimestamp"),
            event.get("eventTime"),
            event.get("firstTimestamp"),
            meta.get("creationTimestamp"),
        )
        if moment is None:
            continue
        count = int(event.get("count") or 1)
        message = f"{event.get('reason', '')}: {' '.join(str(event.get('message') or '').split())}"
        if count > 1:
            message += f" (x{count})"
        action = _action_in(str(event.get("message") or ""))
        entries.append(LogEntry(moment, f"event/{event.get('type') or 'Normal'}", message, action))
    return entries


def _action_in(message: str) -> str | None:
    """The action an operator event is about: its messages say ``action '<name>' ...``."""
    marker = "action '"
    start = message.find(marker)
    if start < 0:
        return None
    end = message.find("'", start + len(marker))
    return message[start + len(marker) : end] if end > 0 else None


def status_entries(obj: Mapping[str, Any]) -> list[LogEntry]:
    """The actions' transitions and the other dated facts in the request's status."""
    status = obj.get("status") or {}
    created = (obj.get("metadata") or {}).get("creationTimestamp")
    ready_since = next(
        (c.get("lastTransitionTime") for c in status.get("conditions") or [] if c.get("type") == "Ready"), None
    )
    entries: list[LogEntry] = []
    for action in status.get("actions") or []:
        name = str(action.get("name"))
        source = f"action/{name}"
        started = _when(action.get("startedAt"))
        attempts = action.get("attempts") or 0
        if started is not None:
            attempt = f", attempt {attempts}" if attempts else ""
            entries.append(LogEntry(started, source, f"started ({action.get('type')}{attempt})", name, rank=0))
        state = str(action.get("state") or "Pending").lower()
        text = f"{state}{_ref(action)}" + (f": {action['message']}" if action.get("message") else "")
        finished = _when(action.get("finishedAt"))
        if finished is not None:
            entries.append(LogEntry(finished, source, text, name, rank=2))
        elif action.get("message") or action.get("externalRef"):
            moment = _when(action.get("observedAt"), action.get("startedAt"), ready_since, created)
            if moment is not None:
                entries.append(LogEntry(moment, source, text, name, rank=2))
        for key, label in (("plan", "plan"), ("drift", "drift plan")):
            plan = action.get(key)
            moment = _when((plan or {}).get("createdAt"))
            if plan and moment is not None:
                counts = f"+{plan.get('add', 0)} ~{plan.get('change', 0)} -{plan.get('destroy', 0)}"
                entries.append(LogEntry(moment, source, f"{label} {plan.get('hash')}: {counts}", name, rank=2))
    escalation = status.get("escalation") or {}
    moment = _when(escalation.get("at"))
    if moment is not None:
        ticket = f" (ticket {escalation['ticket']})" if escalation.get("ticket") else " (ticket pending)"
        entries.append(LogEntry(moment, "request", f"escalated: {escalation.get('reason', '')}{ticket}", rank=2))
    fulfillment = status.get("fulfillment") or {}
    moment = _when(fulfillment.get("fallbackAt"))
    if moment is not None:
        fallback = f"fell back to manual: {fulfillment.get('fallbackReason', '')}"
        entries.append(LogEntry(moment, "request", fallback, rank=2))
    hibernation = status.get("hibernation") or {}
    moment = _when(hibernation.get("since"))
    if moment is not None:
        entries.append(LogEntry(moment, "request", f"hibernated ({hibernation.get('reason', '')})", rank=2))
    return entries


def pod_log_entries(text: str, source: str, action: str | None, fallback: datetime) -> list[LogEntry]:
    """Lines of a pod log read with ``timestamps=true`` (each line starts with an RFC 3339 time)."""
    entries = []
    for line in text.splitlines():
        stamp, _, rest = line.partition(" ")
        moment = parse_time(_six_digits(stamp))
        if moment is None:
            moment, rest = fallback, line
        if rest.strip():
            entries.append(LogEntry(moment, source, rest.rstrip(), action))
    return entries


def _six_digits(stamp: str) -> str:
    """Kubernetes writes nanoseconds; datetime takes at most microseconds."""
    if "." not in stamp:
        return stamp
    head, _, tail = stamp.partition(".")
    digits = "".join(c for c in tail if c.isdigit())
    return f"{head}.{digits[:6]}{tail[len(digits) :]}"


@dataclass
class TerraformLogs:
    entries: list[LogEntry] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def terraform_entries(cluster: Cluster, obj: Mapping[str, Any], operator_namespace: str) -> TerraformLogs:
    """Output of the request's Terraform Job runs that still have pods; notes say what could not be read."""
    found = TerraformLogs()
    actions = [a for a in (obj.get("status") or {}).get("actions") or [] if a.get("type") == "terraform"]
    uid = (obj.get("metadata") or {}).get("uid")
    if not actions or not uid:
        return found
    selector = f"{TERRAFORM_RUN_LABEL}=true,{REQUEST_UID_LABEL}={uid}"
    try:
        pods = cluster.list(PODS, operator_namespace, label_selector=selector)
    except ClusterError as error:
        if error.status is None:
            raise
        found.notes.append(f"Terraform run logs not read: cannot list pods in {operator_namespace}: {error}")
        return found
    if not pods:
        found.notes.append(
            "no Terraform run output: it is kept only for `runner: job` runs, in the Job's pod in "
            f"{operator_namespace} until the Job's TTL removes it (inProcess runs log to the operator's log)"
        )
    for pod in sorted(pods, key=lambda p: str((p.get("metadata") or {}).get("creationTimestamp") or "")):
        meta = pod.get("metadata") or {}
        name = str(meta.get("name"))
        action = (meta.get("labels") or {}).get(ACTION_LABEL)
        started = _when((pod.get("status") or {}).get("startTime"), meta.get("creationTimestamp"))
        try:
            text = cluster.request(
                "GET",
                PODS.path(operator_namespace, name, "log"),
                what=f"logs of pod {operator_namespace}/{name}",
                query={"timestamps": "true"},
                raw=True,
            )
        except ClusterError as error:
            if error.status is None:
                raise
            found.notes.append(f"Terraform run log of pod {operator_namespace}/{name} not read: {error}")
            continue
        source = f"terraform/{action}" if action else "terraform"
        found.entries.extend(pod_log_entries(str(text), source, action, started or datetime.now(UTC)))
    return found


def merge(entries: Iterable[LogEntry]) -> list[LogEntry]:
    """Time order by the second, then rank (see LogEntry.rank), then the precise time; duplicates dropped."""
    unique: dict[tuple[datetime, str, str], LogEntry] = {}
    for entry in entries:
        unique.setdefault((entry.time, entry.source, entry.message), entry)
    return sorted(unique.values(), key=lambda e: (e.time.replace(microsecond=0), e.rank, e.time))


@dataclass
class LogCollector:
    """Reads every source for one request; ``only`` keeps the lines about one action."""

    cluster: Cluster
    operator_namespace: str
    only: str | None = None
    notes: list[str] = field(default_factory=list)

    def collect(self, obj: Mapping[str, Any]) -> list[LogEntry]:
        meta = obj.get("metadata") or {}
        events = self.cluster.events_for(
            "ServiceRequest", str(meta.get("name")), str(meta.get("namespace")), meta.get("uid") or None
        )
        terraform = terraform_entries(self.cluster, obj, self.operator_namespace)
        self.notes = terraform.notes
        entries = merge([*event_entries(events), *status_entries(obj), *terraform.entries])
        if self.only is not None:
            entries = [e for e in entries if e.action == self.only]
        return entries


@dataclass
class LogFollower:
    """Prints the lines it has not printed yet, each time it is given the request again."""

    collector: LogCollector
    emit: Callable[[LogEntry], None]
    seen: set[tuple[datetime, str, str]] = field(default_factory=set)

    def poll(self, obj: Mapping[str, Any]) -> None:
        for entry in self.collector.collect(obj):
            key = (entry.time, entry.source, entry.message)
            if key not in self.seen:
                self.seen.add(key)
                self.emit(entry)


FOLLOW_INTERVAL = 2.0


def logs(glob: Globals, name: str, *, follow: bool, tail: int | None, action: str | None) -> int:
    """Print the request's log lines (``--follow``: and new ones until it settles); the exit code."""
    from .common import EXIT_TIMEOUT, CliError, dump_json, dump_yaml, fail
    from .request_submit import operator_namespace
    from .request_view import settlement

    output = glob.formats("table", "json", "yaml")
    if follow and output == "yaml":
        raise click.UsageError("--follow prints JSON lines with -o json, or text; -o yaml needs the whole log")
    cluster = glob.cluster()
    namespace = glob.request_namespace(cluster)
    obj = cluster.get(SERVICE_REQUESTS, name, namespace)
    known = [str(a.get("name")) for a in (obj.get("status") or {}).get("actions") or []]
    if action is not None and action not in known and not follow:
        fail(f"{name} has no action named '{action}' (actions: {', '.join(known) or 'none yet'})")
    collector = LogCollector(cluster, operator_namespace(), only=action)
    entries = collector.collect(obj)
    shown = entries[-tail:] if tail else ([] if tail == 0 else entries)
    if not follow:
        if output == "table":
            for entry in shown:
                click.echo(entry.render())
            if not entries:
                click.echo(f"no log lines for {name} yet (phase {settlement(obj).phase})", err=True)
            for note in collector.notes:
                click.echo(f"note: {note}", err=True)
        else:
            data = {"entries": [e.to_dict() for e in shown], "notes": collector.notes}
            click.echo(dump_json(data) if output == "json" else dump_yaml(data), nl=output == "json")
        return 0

    def emit(entry: LogEntry) -> None:
        click.echo(json.dumps(entry.to_dict(), sort_keys=True) if output == "json" else entry.render())

    for entry in shown:
        emit(entry)
    follower = LogFollower(collector, emit, {(e.time, e.source, e.message) for e in entries})
    deadline = time.monotonic() + glob.timeout if glob.timeout is not None else None
    while settlement(obj).state == "pending":
        if deadline is not None and time.monotonic() >= deadline:
            raise CliError(f"timed out following {name} (phase {settlement(obj).phase})", exit_code=EXIT_TIMEOUT)
        pause = FOLLOW_INTERVAL if deadline is None else max(0.0, min(FOLLOW_INTERVAL, deadline - time.monotonic()))
        time.sleep(pause)
        try:
            obj = cluster.get(SERVICE_REQUESTS, name, namespace)
        except ClusterError as error:
            if error.status == 404:
                click.echo(f"{name} was deleted", err=True)
                return 0
            raise
        follower.poll(obj)
    return 0
