#!/usr/bin/env python3
"""Benchmark: throughput of JIRA-fulfilled ServiceRequests vs a no-op kopf operator, and API efficiency.

Usage: .venv/bin/python bench/operator_throughput.py [--sizes 200,1000,2000] [--runs 3] [--out FILE]

For each size N and each of --runs runs (the API emulator and the fake JIRA in threads of this process, each
operator in a process of its own, as on a cluster):
  1. ours: a fresh API emulator and fake JIRA (tickets complete a fixed --ticket-delay after creation), the JIRA
     connection Secret, the environments ConfigMap and the catalog item of tests/integration (TICKET_ITEM), and the
     real operator (``orchestrator run``, settings below). N ServiceRequests are created at once (in-process, not over
     HTTP, so they are not counted as the operator's writes); the time from the first create to the write that
     makes the last one Ready (phase Ready, Ready=True; timestamped in the emulator's store) gives requests/s.
  2. baseline: a fresh emulator and a no-op kopf operator (one ``@kopf.on.create`` handler on servicerequests that
     sets status.phase=Ready; the same kopf settings the orchestrator uses) and the same N; our throughput is
     reported as a ratio to it.
  3. API efficiency (from run 1): the operator's API writes (every POST/PUT/PATCH/DELETE the emulator served over
     HTTP) per request, split by verb and resource/subresource; JIRA calls per request (counted at the fake); the
     floor per request = one create + one status write per phase change seen in the store + one ticket create +
     the polls the ticket delay requires (ceil(delay / poll interval)); the ratio actual / floor. Then a no-op
     re-reconcile: the operator's own requeue annotation (``orchestrator.dev/requeue``, what it patches itself to
     wake a request) is set on every Ready request (in-process, uncounted) and the operator's writes are counted
     until the API is quiet for --settle seconds; and a no-op resync: the operator is restarted over the Ready
     requests and its writes are counted the same way.
Writes a Markdown results file with the machine description, the command, the settings, medians of the runs and
each target next to its measured figure; exits non-zero when a run fails (after writing what it has).
"""

from __future__ import annotations

import argparse
import base64
import collections
import copy
import math
import os
import platform
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # `tests` (the emulator, the fake JIRA, the harness) is imported from the root

import kopf  # noqa: E402
from tests.fakes.jira_server import FakeJira  # noqa: E402
from tests.integration.conftest import TICKET_ITEM, request  # noqa: E402
from tests.integration.harness import BOT, NAMESPACE, TOKEN  # noqa: E402
from tests.k8s import ApiEmulator  # noqa: E402

from orchestrator.api.service_request import REQUEUE_ANNOTATION  # noqa: E402

CRDS_DIR = ROOT / "crds"
TEAM = "team-orders"
WRITE_VERBS = frozenset({"create", "update", "patch", "delete", "deletecollection"})
TARGET_RATIO = 0.7
TARGET_WRITES = 1.5
ITEM_STATUS_INTERVAL = 10.5  # the operator's catalog.itemStatusInterval (default 10 s) and a margin


def _ours_ready(body: Mapping[str, Any]) -> bool:
    status = body.get("status") or {}
    ready = next((c for c in status.get("conditions") or [] if c.get("type") == "Ready"), None)
    return status.get("phase") == "Ready" and ready is not None and ready.get("status") == "True"


def _baseline_ready(body: Mapping[str, Any]) -> bool:
    return (body.get("status") or {}).get("phase") == "Ready"


class Tracker:
    """In the emulator's store: when each ServiceRequest first became Ready, and its phase changes."""

    def __init__(self, api: ApiEmulator, is_ready: Callable[[Mapping[str, Any]], bool]) -> None:
        self._api, self._is_ready = api, is_ready
        self._key = api.resource("servicerequests").key
        self.ready: dict[str, float] = {}
        self.phases: dict[str, list[str | None]] = collections.defaultdict(list)
        self._changed = threading.Condition()
        self._chained = api.store._on_change
        api.store._on_change = self._on_change  # called on the emulator's thread after every committed write

    def _on_change(self) -> None:
        now = time.perf_counter()
        change = self._api.store.history._changes[-1]
        if change.resource == self._key and change.type != "DELETED":
            name = change.new["metadata"]["name"]
            phase = (change.new.get("status") or {}).get("phase")
            seen = self.phases[name]
            if phase is not None and (not seen or seen[-1] != phase):
                seen.append(phase)
            if self._is_ready(change.new):
                with self._changed:
                    self.ready.setdefault(name, now)
                    self._changed.notify_all()
        if self._chained is not None:
            self._chained()

    def wait(self, names: Sequence[str], timeout: float) -> float:
        """perf_counter() of the last Ready; raises naming requests (and their state) not Ready within timeout."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while len(self.ready) < len(names):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._changed.wait(remaining)
            missing = [name for name in names if name not in self.ready]
            last = max(self.ready.values(), default=0.0)
        if missing:
            states = []
            for name in missing[:3]:
                status = (self._api.get("servicerequests", name, TEAM) or {}).get("status") or {}
                messages = "; ".join(
                    f"{c.get('type')}={c.get('status')} {c.get('message', '')}" for c in status.get("conditions") or []
                )
                states.append(f"{name}: phase {status.get('phase')}, {messages or 'no conditions'}")
            raise RuntimeError(f"{len(missing)} request(s) not Ready after {timeout:.0f} s: " + " | ".join(states))
        return last


def _writes(api: ApiEmulator) -> collections.Counter[str]:
    """Successful writes served over HTTP, by ``verb resource[/subresource]``."""
    counts: collections.Counter[str] = collections.Counter()
    for access, n in api.access_counts().items():
        if access.verb in WRITE_VERBS and access.code < 400:
            where = f"{access.resource}/{access.subresource}" if access.subresource else str(access.resource)
            counts[f"{access.verb} {where}"] += n
    return counts


def _quiet(api: ApiEmulator, settle: float, timeout: float) -> None:
    """Wait until the emulator has served no request for ``settle`` seconds (the operator is done reacting)."""
    deadline = time.monotonic() + timeout
    last, since = -1, time.monotonic()
    while time.monotonic() < deadline:
        served = sum(api.access_counts().values())
        if served != last:
            last, since = served, time.monotonic()
        elif time.monotonic() - since >= settle:
            return
        time.sleep(0.25)
    raise RuntimeError(f"the operator was still calling the API after {timeout:.0f} s")


def _secret(name: str, namespace: str, data: dict[str, str], labels: dict[str, str]) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": namespace, "labels": labels},
        "data": {k: base64.b64encode(v.encode()).decode() for k, v in data.items()},
    }


def _jira_path(path: str) -> str:
    """``/rest/api/2/issue/DBA-12`` -> ``issue/{key}``: calls grouped by endpoint, not by ticket."""
    return re.sub(r"/[A-Z][A-Z0-9]*-\d+", "/{key}", re.sub(r"^/rest/api/(2|3|latest)/", "", path))


def seed(api: ApiEmulator, jira_url: str) -> None:
    """What the operator needs before requests come: the JIRA connection Secret, the environments ConfigMap, the
    exposed Secret the item's sensitive output reads, and the catalog item."""
    api.create(
        _secret(
            "jira-default",
            NAMESPACE,
            {"url": jira_url, "email": BOT, "token": TOKEN, "closeStatus": "Closed"},
            {"orchestrator.dev/jira-connection": "default"},
        )
    )
    api.create(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "orchestrator-environments", "namespace": NAMESPACE},
            "data": {"environments.yaml": "default: staging\nenvironments:\n  staging: {region: eu-west-1}\n"},
        }
    )
    api.create(_secret("dns-api", TEAM, {"key": "bench-secret"}, {"orchestrator.dev/expose": "true"}))
    api.create(copy.deepcopy(TICKET_ITEM))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class OperatorProcess:
    """An operator as its own process, as on a cluster: ours (``orchestrator run``, the image's command) or the
    no-op kopf operator (bench/noop_operator.py). Its output goes to ``log``; ``stop()`` sends SIGTERM."""

    def __init__(self, command: list[str], log: Path, port: int | None = None) -> None:
        self.log, self.port = log, port
        with log.open("wb") as out:
            self.process = subprocess.Popen(
                command,
                stdout=out,
                stderr=subprocess.STDOUT,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )

    @classmethod
    def ours(cls, kubeconfig: Path, scratch: Path, poll_interval: float) -> OperatorProcess:
        script = Path(sys.executable).with_name("orchestrator")
        if not script.exists():
            raise RuntimeError(f"{script} not found: run `make install` first")
        port = _free_port()
        config = scratch / "settings.yaml"
        config.write_text(
            yaml.safe_dump(
                {
                    "namespace": NAMESPACE,
                    "probeHost": "127.0.0.1",
                    "probePort": port,
                    "secretCacheTtl": 10.0,
                    "jira": {"pollInterval": poll_interval, "callTimeout": 10.0, "searchGrace": 5.0},
                }
            )
        )
        command = [str(script), "run", "--config", str(config), "--kubeconfig", str(kubeconfig)]
        return cls(command, scratch / "operator.log", port)._wait(lambda: cls._probe(port, "/readyz"))

    @classmethod
    def noop(cls, kubeconfig: Path, scratch: Path) -> OperatorProcess:
        command = [sys.executable, str(ROOT / "bench" / "noop_operator.py"), "--kubeconfig", str(kubeconfig)]
        log = scratch / "noop-operator.log"
        return cls(command, log)._wait(lambda: "ready" in log.read_text().splitlines())

    @staticmethod
    def _probe(port: int, path: str) -> bool:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=2) as response:
                return bool(response.status == 200)
        except (urllib.error.URLError, OSError):
            return False

    def _wait(self, ready: Callable[[], bool], timeout: float = 90.0) -> OperatorProcess:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the operator exited with {self.process.returncode}: {self.tail()}")
            if ready():
                time.sleep(0.5)  # its watches are up; its startup calls are not counted
                return self
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"the operator was not ready after {timeout:.0f} s: {self.tail()}")

    def metrics(self) -> str:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/metrics", timeout=10) as response:
            return str(response.read().decode())

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-2000:]

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def _names(n: int) -> list[str]:
    return [f"bench-{i:05d}" for i in range(n)]


def _create_all(api: ApiEmulator, names: Sequence[str]) -> float:
    started = time.perf_counter()
    for index, name in enumerate(names):
        api.create(request(name, fields={"host": f"h{index}"}))
    return started


@dataclass
class OursRun:
    seconds: float
    writes: collections.Counter[str]
    jira_calls: collections.Counter[str]
    phase_changes: float  # mean per request
    noop_writes: collections.Counter[str]
    restart_writes: collections.Counter[str]


@dataclass
class Size:
    n: int
    ours: list[OursRun] = field(default_factory=list)
    baseline: list[float] = field(default_factory=list)
    baseline_writes: list[collections.Counter[str]] = field(default_factory=list)


def _run_ours(n: int, args: argparse.Namespace, scratch: Path) -> OursRun:
    with (
        FakeJira(users={BOT: TOKEN}, auto_complete_after=args.ticket_delay) as jira,
        ApiEmulator.running(crds_dir=CRDS_DIR) as api,
    ):
        seed(api, jira.url)
        tracker = Tracker(api, _ours_ready)
        kubeconfig = api.write_kubeconfig(scratch / f"kubeconfig-{n}", namespace=NAMESPACE)
        operator = OperatorProcess.ours(kubeconfig, scratch, args.poll_interval)
        try:
            api.reset_access()
            jira.clear_calls()
            names = _names(n)
            started = _create_all(api, names)
            last = tracker.wait(names, args.timeout)
            time.sleep(args.settle)  # writes still in flight after Ready (events) belong to the lifecycle
            writes = _writes(api)
            jira_calls = collections.Counter(f"{c.method} {_jira_path(c.path)}" for c in jira.calls)
            phase_changes = statistics.mean(len(tracker.phases[name]) for name in names)
            api.reset_access()
            for index, name in enumerate(names):
                api.patch(
                    "servicerequests",
                    name,
                    {"metadata": {"annotations": {REQUEUE_ANNOTATION: f"noop-{index}"}}},
                    TEAM,
                )
            _quiet(api, args.settle, args.timeout)
            noop_writes = _writes(api)
            # The catalog item's status.activeRequests is brought up to date every itemStatusInterval (10 s): let
            # that happen before the restart, so the resync below starts from an up-to-date cluster.
            time.sleep(ITEM_STATUS_INTERVAL)
            _quiet(api, args.settle, args.timeout)
        finally:
            operator.stop()
        # A no-op resync: the operator restarts and lists every (Ready) request again.
        api.reset_access()
        restarted = scratch / f"restart-{n}"
        restarted.mkdir(exist_ok=True)
        operator = OperatorProcess.ours(kubeconfig, restarted, args.poll_interval)
        try:
            _quiet(api, args.settle, args.timeout)
            restart_writes = _writes(api)
        finally:
            operator.stop()
        if api.internal_errors:
            raise RuntimeError(f"the API emulator failed internally: {api.internal_errors!r}")
    return OursRun(last - started, writes, jira_calls, phase_changes, noop_writes, restart_writes)


def _run_baseline(n: int, args: argparse.Namespace, scratch: Path) -> tuple[float, collections.Counter[str]]:
    with ApiEmulator.running(crds_dir=CRDS_DIR) as api:
        tracker = Tracker(api, _baseline_ready)
        kubeconfig = api.write_kubeconfig(scratch / f"kubeconfig-noop-{n}", token="bench")  # kopf logs in with it
        operator = OperatorProcess.noop(kubeconfig, scratch)
        try:
            api.reset_access()
            names = _names(n)
            started = _create_all(api, names)
            last = tracker.wait(names, args.timeout)
            time.sleep(args.settle)
            writes = _writes(api)
        finally:
            operator.stop()
        if api.internal_errors:
            raise RuntimeError(f"the API emulator failed internally: {api.internal_errors!r}")
    return last - started, writes


def _median_range(values: Sequence[float], fmt: Callable[[float], str]) -> str:
    return f"{fmt(statistics.median(values))} ({fmt(min(values))}-{fmt(max(values))})"


def _per_request(counts: Sequence[collections.Counter[str]], n: int) -> dict[str, float]:
    """Median over runs of each key's count per request."""
    keys = sorted({key for c in counts for key in c})
    return {key: statistics.median(c[key] / n for c in counts) for key in keys}


def _report(sizes: list[Size], args: argparse.Namespace, total: float, load: tuple[float, ...]) -> list[str]:
    polls = math.ceil(args.ticket_delay / args.poll_interval)
    command = "bench/operator_throughput.py " + " ".join(sys.argv[1:])
    lines = [
        "# Operator throughput and API efficiency vs a no-op kopf operator",
        "",
        f"Command: `.venv/bin/python {command.strip()}`  ",
        f"Machine: {platform.platform()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, kopf "
        f"{getattr(kopf, '__version__', '?')}, load average {load[0]:.2f} at the start, {os.getloadavg()[0]:.2f} at "
        "the end (other work on the machine shows as spread between runs)  ",
        "Setup: each operator in its own process, as on a cluster (ours: `orchestrator run --config --kubeconfig`, "
        "the image's command; the baseline: bench/noop_operator.py); the API emulator and the fake JIRA in threads "
        f"of the benchmark's process ({os.cpu_count()} CPUs for all of them: the emulator's own handling is part of "
        "every figure). Catalog item `dns-ticket` (tests/integration TICKET_ITEM: one JIRA action, a sensitive "
        "output, so one outputs Secret per request), N requests created at once in-process. Operator "
        f"settings: `jira.pollInterval` {args.poll_interval} s, `jira.callTimeout` 10 s, `jira.searchGrace` 5 s, "
        "`secretCacheTtl` 10 s, everything else default. Fake JIRA completes each ticket "
        f"{args.ticket_delay} s after its creation. Baseline: kopf with one `on.create` handler setting "
        "status.phase=Ready, the same kopf settings (annotations progress/diff-base, finalizer name).  ",
        f"Medians of {args.runs} run(s) (fastest-slowest in brackets). Time = first create to the store write that "
        "made the last request Ready.",
        "",
        "## Throughput",
        "",
        "| N | ours: time to all Ready | ours: requests/s | no-op kopf: time | no-op kopf: requests/s | ratio |",
        "|---:|---:|---:|---:|---:|---:|",
    ]

    def secs(v: float) -> str:
        return f"{v:.1f} s"

    def rate(v: float) -> str:
        return f"{v:.0f}"

    def ratio(v: float) -> str:
        return f"{v:.2f}x"

    for size in sizes:
        if not size.ours or not size.baseline:
            continue
        ours = [r.seconds for r in size.ours]
        ratios = [(size.n / o) / (size.n / b) for o, b in zip(ours, size.baseline, strict=False)]
        lines.append(
            f"| {size.n} | {_median_range(ours, secs)} | {_median_range([size.n / o for o in ours], rate)} | "
            f"{_median_range(size.baseline, secs)} | {_median_range([size.n / b for b in size.baseline], rate)} | "
            f"{_median_range(ratios, ratio)} |"
        )
    lines += [
        "",
        "The ticket delay is a floor on ours: no request can be Ready before "
        f"{args.ticket_delay} s + one poll; the ratio is per run (ours and the baseline run back to back).",
        "",
        "## API efficiency (per request, medians over runs)",
        "",
        f"Floor per request (the issue's): 1 create + one status write per phase change (phases seen in the store) "
        f"+ 1 ticket create + ceil({args.ticket_delay} / {args.poll_interval}) = {polls} poll(s). The create is the "
        "client's (made in-process, counted as 1); the operator's writes are counted over HTTP at the emulator "
        f"until Ready + {args.settle} s; JIRA calls at the fake JIRA.",
        "",
    ]
    for size in sizes:
        if not size.ours:
            continue
        n = size.n
        writes = _per_request([r.writes for r in size.ours], n)
        jira = _per_request([r.jira_calls for r in size.ours], n)
        phases = statistics.median(r.phase_changes for r in size.ours)
        k8s_total = statistics.median(sum(r.writes.values()) / n for r in size.ours)
        jira_total = statistics.median(sum(r.jira_calls.values()) / n for r in size.ours)
        floor_jira = 1 + polls
        lines += [f"### N = {n}", "", "| write / call | per request |", "|---|---:|"]
        lines += [f"| k8s: {key} | {value:.2f} |" for key, value in writes.items()]
        lines += [f"| JIRA: {key} | {value:.2f} |" for key, value in jira.items()]
        if size.baseline_writes:
            for key, value in _per_request(size.baseline_writes, n).items():
                lines.append(f"| (no-op kopf) k8s: {key} | {value:.2f} |")
        noop = [sum(r.noop_writes.values()) for r in size.ours]
        noop_kinds = [f"{k} {v:.2f}" for k, v in _per_request([r.noop_writes for r in size.ours], n).items()]
        floor = 1 + phases + floor_jira
        actual = 1 + k8s_total + jira_total
        restart = [sum(r.restart_writes.values()) for r in size.ours]
        restart_kinds = [f"{k} {v * n:.0f}" for k, v in _per_request([r.restart_writes for r in size.ours], n).items()]
        lines += [
            "",
            f"- **Against the floor** (1 create + {phases:.2f} status writes, one per phase change + 1 ticket create "
            f"+ {polls} poll(s) = {floor:.2f} calls): 1 create + {k8s_total:.2f} operator writes + {jira_total:.2f} "
            f"JIRA calls = {actual:.2f} calls per request, **{actual / floor:.2f}x** (target <= {TARGET_WRITES}x: "
            f"{'met' if actual / floor <= TARGET_WRITES else 'MISSED'}).",
            f"- Kubernetes alone: {1 + k8s_total:.2f} writes vs {1 + phases:.2f}, "
            f"{(1 + k8s_total) / (1 + phases):.2f}x; "
            f"JIRA alone: {jira_total:.2f} calls vs {floor_jira}, {jira_total / floor_jira:.2f}x.",
            f"- No-op re-reconcile (the requeue annotation on all {n} Ready requests, until the API is quiet for "
            f"{args.settle} s): operator writes per run {noop} ({'; '.join(noop_kinds) or 'none'} per request).",
            f"- No-op resync (the operator restarted over the {n} Ready requests, until quiet for {args.settle} s): "
            f"operator writes per run {restart} ({'; '.join(restart_kinds) or 'none'} in all, median per run).",
            "",
        ]
    lines += ["## Targets", "", "| target | measured | |", "|---|---|---|"]
    for size in sizes:
        if size.n == 1000 and size.ours and size.baseline:
            value = statistics.median(b / o.seconds for o, b in zip(size.ours, size.baseline, strict=False))
            verdict = "met" if value >= TARGET_RATIO else "MISSED"
            lines.append(f"| throughput >= {TARGET_RATIO}x no-op kopf at N=1000 | {value:.2f}x | {verdict} |")
    if not any(s.n == 1000 and s.ours for s in sizes):
        lines.append(f"| throughput >= {TARGET_RATIO}x no-op kopf at N=1000 | not measured in this run | - |")
    for size in sizes:
        if size.ours:
            k8s = statistics.median(sum(r.writes.values()) / size.n for r in size.ours)
            jira_calls = statistics.median(sum(r.jira_calls.values()) / size.n for r in size.ours)
            phases = statistics.median(r.phase_changes for r in size.ours)
            value = (1 + k8s + jira_calls) / (1 + phases + 1 + polls)
            lines.append(
                f"| API calls <= {TARGET_WRITES}x the floor (N={size.n}) | {value:.2f}x | "
                f"{'met' if value <= TARGET_WRITES else 'MISSED'} |"
            )
            most = max(sum(r.noop_writes.values()) for r in size.ours)
            lines.append(
                f"| 0 writes on a no-op re-reconcile (N={size.n}) | {most} | {'met' if most == 0 else 'MISSED'} |"
            )
            most = max(sum(r.restart_writes.values()) for r in size.ours)
            lines.append(
                f"| 0 writes on a no-op resync, restarted operator (N={size.n}) | {most} | "
                f"{'met' if most == 0 else 'MISSED'} |"
            )
    lines += ["", f"Whole benchmark: {total:.0f} s.", ""]
    return lines


def add_run_arguments(parser: argparse.ArgumentParser, *, settle: str, timeout: float) -> None:
    """The options the operator benchmarks share: runs, the operator's JIRA poll interval, the fake JIRA's delay."""
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--poll-interval", type=float, default=0.5, help="jira.pollInterval of the operator (s)")
    parser.add_argument("--ticket-delay", type=float, default=1.0, help="the fake JIRA completes tickets after (s)")
    parser.add_argument("--settle", type=float, default=2.0, help=settle)
    parser.add_argument("--timeout", type=float, default=timeout, help="seconds for the requests to be Ready")


def check_run_arguments(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Refuse (exit 2, one line) values of the shared options no run can use."""
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    for name in ("poll_interval", "ticket_delay", "timeout"):
        if getattr(args, name) <= 0:
            parser.error(f"--{name.replace('_', '-')} must be a positive number of seconds")
    if args.settle < 0:
        parser.error("--settle must not be negative")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="200,1000,2000", help="comma-separated numbers of requests (N)")
    add_run_arguments(parser, settle="seconds after Ready before counting writes", timeout=600.0)
    parser.add_argument("--out", type=Path, default=ROOT / "bench/results/operator-throughput.md")
    args = parser.parse_args()
    try:
        sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    except ValueError:
        parser.error(f"--sizes must be comma-separated integers, got {args.sizes!r}")
    if not sizes or min(sizes) < 1:
        parser.error("--sizes needs at least one positive number")
    check_run_arguments(parser, args)

    load = os.getloadavg()
    started = time.perf_counter()
    results = [Size(n) for n in sizes]
    problems: list[str] = []
    with tempfile.TemporaryDirectory(prefix="bench-operator-throughput-") as scratch:
        for size in results:
            for run in range(args.runs):
                try:
                    size.ours.append(_run_ours(size.n, args, Path(scratch)))
                    seconds, writes = _run_baseline(size.n, args, Path(scratch))
                    size.baseline.append(seconds)
                    size.baseline_writes.append(writes)
                except RuntimeError as error:
                    problems.append(f"N={size.n} run {run + 1}: {error}")
                    break
                print(
                    f"N={size.n} run {run + 1}: ours {size.ours[-1].seconds:.1f} s, no-op kopf {seconds:.1f} s",
                    file=sys.stderr,
                )
    lines = _report(results, args, time.perf_counter() - started, load)
    if problems:
        lines += ["**Problems:**", "", *(f"- {p}" for p in problems), ""]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines))
    print("\n".join(lines))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
