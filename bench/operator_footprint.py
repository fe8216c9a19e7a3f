#!/usr/bin/env python3
"""Benchmark: the operator's memory and event-loop lag with many live ServiceRequests.

Usage: .venv/bin/python bench/operator_footprint.py [--live 1000,5000] [--runs 3] [--out FILE]

Per run: the API emulator and the fake JIRA (tickets complete --ticket-delay after creation) in this process, seeded
as in bench/operator_throughput.py, and the operator as its own process, started the way the image starts it
(``orchestrator run --config FILE --kubeconfig FILE``), so its memory is its own. Requests are created in steps,
each step's new requests at once, until the number of live requests reaches each figure of --live (1000, then 4000
more for 5000); after each step, when all are Ready:
  - peak RSS: the kernel's high-water mark of the operator process (``VmHWM`` in /proc/PID/status) and its RSS
    then (``VmRSS``);
  - event-loop lag during the step: the operator's own ``orchestrator_event_loop_lag_seconds`` histogram (scraped
    from its /metrics before and after the step; the difference is the step), p99 interpolated within buckets as
    Prometheus' histogram_quantile() does, and the largest lag seen (``orchestrator_event_loop_lag_max_seconds``).
Then a fresh operator is started over all the live (Ready) requests and its peak RSS taken once the API is quiet:
what holding that many requests costs, apart from absorbing a burst of them.
Writes a Markdown results file with the machine, the command, medians of the runs and each target next to its figure.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.operator_throughput import (  # noqa: E402
    OperatorProcess,
    Tracker,
    _names,
    _ours_ready,
    _quiet,
    add_run_arguments,
    check_run_arguments,
    seed,
)
from tests.fakes.jira_server import FakeJira  # noqa: E402
from tests.integration.conftest import request  # noqa: E402
from tests.integration.harness import BOT, NAMESPACE, TOKEN  # noqa: E402
from tests.k8s import ApiEmulator  # noqa: E402

CRDS_DIR = ROOT / "crds"
TARGET_RSS_MB = 250.0
TARGET_LAG_P99 = 0.1
LAG = "orchestrator_event_loop_lag_seconds"


@dataclass
class Step:
    live: int
    seconds: float
    peak_rss_mb: float
    rss_mb: float
    lag_p99: float
    lag_max: float
    lag_samples: int


@dataclass
class Run:
    steps: list[Step] = field(default_factory=list)
    takeover_peak_mb: float = 0.0  # a fresh operator started over all the live (Ready) requests
    takeover_rss_mb: float = 0.0
    takeover_seconds: float = 0.0


def _proc_kib(pid: int, key: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"no {key} in /proc/{pid}/status")


def _lag_buckets(text: str) -> dict[float, float]:
    """Cumulative bucket counts of the lag histogram, by upper bound (+Inf as inf)."""
    buckets: dict[float, float] = {}
    for match in re.finditer(rf'^{LAG}_bucket{{le="([^"]+)"}} (\S+)$', text, re.MULTILINE):
        buckets[float(match.group(1))] = float(match.group(2))
    if not buckets:
        raise RuntimeError(f"the operator's /metrics has no {LAG} histogram")
    return buckets


def _gauge(text: str, name: str) -> float:
    match = re.search(rf"^{name} (\S+)$", text, re.MULTILINE)
    return float(match.group(1)) if match else float("nan")


def quantile(q: float, buckets: dict[float, float]) -> float:
    """histogram_quantile(q, ...) over cumulative buckets: linear interpolation within the bucket holding rank q."""
    bounds = sorted(buckets)
    total = buckets[bounds[-1]]
    if total <= 0:
        return float("nan")
    rank = q * total
    lower_bound, lower_count = 0.0, 0.0
    for bound in bounds:
        count = buckets[bound]
        if count >= rank:
            if bound == float("inf"):
                return lower_bound  # Prometheus returns the largest finite bound
            return lower_bound + (bound - lower_bound) * (rank - lower_count) / max(count - lower_count, 1e-12)
        lower_bound, lower_count = bound, count
    return bounds[-2] if len(bounds) > 1 else float("nan")


def _one_run(args: argparse.Namespace, live: list[int], scratch: Path) -> Run:
    run = Run()
    with (
        FakeJira(users={BOT: TOKEN}, auto_complete_after=args.ticket_delay) as jira,
        ApiEmulator.running(crds_dir=CRDS_DIR) as api,
    ):
        seed(api, jira.url)
        tracker = Tracker(api, _ours_ready)
        kubeconfig = api.write_kubeconfig(scratch / "kubeconfig", namespace=NAMESPACE)
        process = OperatorProcess.ours(kubeconfig, scratch, args.poll_interval)
        pid = process.process.pid
        try:
            names = _names(max(live))
            created = 0
            for target in live:
                before = process.metrics()
                batch = names[created:target]
                started = time.perf_counter()
                for index, name in enumerate(batch, start=created):
                    api.create(request(name, fields={"host": f"h{index}"}))
                last = tracker.wait(names[:target], args.timeout)
                created = target
                time.sleep(args.settle)
                after = process.metrics()
                first, second = _lag_buckets(before), _lag_buckets(after)
                delta = {bound: second[bound] - first.get(bound, 0.0) for bound in second}
                lag_max = _gauge(after, "orchestrator_event_loop_lag_max_seconds")
                run.steps.append(
                    Step(
                        live=target,
                        seconds=last - started,
                        peak_rss_mb=_proc_kib(pid, "VmHWM") / 1024,
                        rss_mb=_proc_kib(pid, "VmRSS") / 1024,
                        lag_p99=min(quantile(0.99, delta), lag_max),
                        lag_max=lag_max,
                        lag_samples=int(delta[max(delta)]),
                    )
                )
                print(
                    f"live={target}: {run.steps[-1].seconds:.1f} s, peak RSS {run.steps[-1].peak_rss_mb:.0f} MB, "
                    f"lag p99 {run.steps[-1].lag_p99 * 1000:.0f} ms",
                    file=sys.stderr,
                )
        finally:
            process.stop()
        # Holding the requests rather than absorbing a burst of them: a fresh operator takes over every live request
        # (lists, indexes and looks at each; all are Ready, so it writes nothing) until the API is quiet.
        takeover = scratch / "takeover"
        takeover.mkdir()
        started = time.perf_counter()
        process = OperatorProcess.ours(kubeconfig, takeover, args.poll_interval)
        try:
            _quiet(api, args.settle, args.timeout)
            run.takeover_seconds = time.perf_counter() - started
            run.takeover_peak_mb = _proc_kib(process.process.pid, "VmHWM") / 1024
            run.takeover_rss_mb = _proc_kib(process.process.pid, "VmRSS") / 1024
        finally:
            process.stop()
        if api.internal_errors:
            raise RuntimeError(f"the API emulator failed internally: {api.internal_errors!r}")
    return run


def _report(runs: list[Run], args: argparse.Namespace, live: list[int], total: float, load: float) -> list[str]:
    command = "bench/operator_footprint.py " + " ".join(sys.argv[1:])
    lines = [
        "# Operator footprint: memory and event-loop lag with many live ServiceRequests",
        "",
        f"Command: `.venv/bin/python {command.strip()}`  ",
        f"Machine: {platform.platform()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, load average "
        f"{load:.2f} at the start, {os.getloadavg()[0]:.2f} at the end  ",
        "Setup: the operator in its own process (`orchestrator run --config --kubeconfig`, as in the image); the API "
        "emulator and the fake JIRA in the benchmark's process. Catalog item `dns-ticket` (one JIRA action, a "
        f"sensitive output, so one outputs Secret per request). `jira.pollInterval` {args.poll_interval} s, tickets "
        f"complete {args.ticket_delay} s after creation. Requests are created in steps (each step's new requests at "
        f"once) up to {', '.join(str(n) for n in live)} live requests; figures are taken when all are Ready "
        f"(+{args.settle} s).  ",
        f"Medians of {len(runs)} run(s) (lowest-highest in brackets). Peak RSS is the kernel's high-water mark "
        "(VmHWM) of the operator process since it started; lag is the operator's own "
        f"`{LAG}` histogram over the step (a 100 ms timer, lateness observed), p99 interpolated within buckets "
        "(capped at the largest lag seen, which bounds it).",
        "",
        "| live requests | new in the step | step time to all Ready | peak RSS | RSS after | loop lag p99 | "
        "loop lag max (since start) | lag samples |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]

    def span(values: list[float], fmt: str) -> str:
        return f"{fmt.format(statistics.median(values))} ({fmt.format(min(values))}-{fmt.format(max(values))})"

    previous = 0
    for index, target in enumerate(live):
        steps = [r.steps[index] for r in runs if len(r.steps) > index]
        if not steps:
            continue
        lines.append(
            f"| {target} | {target - previous} | {span([s.seconds for s in steps], '{:.1f} s')} | "
            f"{span([s.peak_rss_mb for s in steps], '{:.0f} MB')} | {span([s.rss_mb for s in steps], '{:.0f} MB')} | "
            f"{span([s.lag_p99 * 1000 for s in steps], '{:.0f} ms')} | "
            f"{span([s.lag_max * 1000 for s in steps], '{:.0f} ms')} | "
            f"{statistics.median(s.lag_samples for s in steps):.0f} |"
        )
        previous = target
    if runs:
        lines += [
            "",
            f"A fresh operator taking over the {live[-1]} live requests (all Ready; started after the steps, measured "
            f"when the API has been quiet for {args.settle} s): peak RSS "
            f"{span([r.takeover_peak_mb for r in runs], '{:.0f} MB')}, RSS then "
            f"{span([r.takeover_rss_mb for r in runs], '{:.0f} MB')}, start to quiet "
            f"{span([r.takeover_seconds for r in runs], '{:.1f} s')}.",
        ]
    lines += ["", "## Targets", "", "| target | measured | |", "|---|---|---|"]
    for index, target in enumerate(live):
        steps = [r.steps[index] for r in runs if len(r.steps) > index]
        if not steps:
            continue
        rss = statistics.median(s.peak_rss_mb for s in steps)
        lines.append(
            f"| peak RSS <= {TARGET_RSS_MB:.0f} MB at {target} live requests (through the bursts) | {rss:.0f} MB | "
            f"{'met' if rss <= TARGET_RSS_MB else 'MISSED'} |"
        )
    if runs:
        rss = statistics.median(r.takeover_peak_mb for r in runs)
        lines.append(
            f"| peak RSS <= {TARGET_RSS_MB:.0f} MB holding {live[-1]} live requests (fresh operator taking over) | "
            f"{rss:.0f} MB | {'met' if rss <= TARGET_RSS_MB else 'MISSED'} |"
        )
    if runs and runs[0].steps:
        lag = statistics.median(r.steps[0].lag_p99 for r in runs if r.steps)
        lines.append(
            f"| event-loop lag p99 <= {TARGET_LAG_P99 * 1000:.0f} ms during the {live[0]} burst | "
            f"{lag * 1000:.0f} ms | "
            f"{'met' if lag <= TARGET_LAG_P99 else 'MISSED'} |"
        )
    lines += ["", f"Whole benchmark: {total:.0f} s.", ""]
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--live", default="1000,5000", help="comma-separated, increasing numbers of live requests")
    add_run_arguments(parser, settle="seconds after the last Ready before measuring", timeout=1200.0)
    parser.add_argument("--out", type=Path, default=ROOT / "bench/results/operator-footprint.md")
    args = parser.parse_args()
    try:
        live = [int(s) for s in args.live.split(",") if s.strip()]
    except ValueError:
        parser.error(f"--live must be comma-separated integers, got {args.live!r}")
    if not live or min(live) < 1 or live != sorted(set(live)):
        parser.error("--live needs increasing positive numbers")
    check_run_arguments(parser, args)
    if not Path("/proc/self/status").exists():
        parser.error("this benchmark reads /proc/PID/status (Linux)")
    load = os.getloadavg()[0]
    started = time.perf_counter()
    runs: list[Run] = []
    problems: list[str] = []
    with tempfile.TemporaryDirectory(prefix="bench-operator-footprint-") as scratch:
        for number in range(args.runs):
            folder = Path(scratch) / f"run-{number + 1}"
            folder.mkdir()
            try:
                runs.append(_one_run(args, live, folder))
            except RuntimeError as error:
                problems.append(f"run {number + 1}: {error}")
                break
    lines = _report(runs, args, live, time.perf_counter() - started, load)
    if problems:
        lines += ["**Problems:**", "", *(f"- {p}" for p in problems), ""]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines))
    print("\n".join(lines))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
