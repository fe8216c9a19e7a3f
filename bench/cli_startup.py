#!/usr/bin/env python3
"""Benchmark: how long `devctl` takes from exec to exit, for the commands people run most.

Usage: .venv/bin/python bench/cli_startup.py [--runs 11] [--out FILE] [--baseline FILE]

Each command runs as a fresh process of the installed console script (``.venv/bin/devctl``, the one ``pip install``
wrote) with the repository root as working directory, output piped (as in CI or a pre-commit hook): one untimed
warm-up run of every command, then --runs rounds that run every command once each (round-robin, so that other work
on the machine spreads over all commands alike). Wall time from start to exit, measured here; the median, p90
(nearest rank) and fastest run per command. ``python -c pass`` (the same interpreter) is the floor no command can
go below. Commands that do not exist in this version (their ``--help`` fails) are skipped and listed.

devctl keeps what each Terraform module file declares in a cache (``$DEVCTL_CACHE_DIR``, docs/cli.md), by content;
the benchmark gives it a folder of its own, filled by the warm-up run, so the figures are those of a developer's
second and later runs. The row marked "empty module cache" starts every run with a new, empty folder (a first run,
or a CI job that does not keep the folder).

Every timed run must exit 0; the command exits non-zero otherwise (after writing the results file). With
--baseline (an earlier results file of this script), the table gains a column with that file's medians.
Writes a Markdown results file with the machine description and the command that produced it.
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGET_SECONDS = 0.5
CACHE_ENV = "DEVCTL_CACHE_DIR"
FLOOR = "python -c pass"
EMPTY_CACHE = " (empty module cache)"


@dataclass(frozen=True)
class Command:
    label: str
    argv: tuple[str, ...]
    """Arguments after the program (devctl, or python for the floor)."""
    exists_check: tuple[str, ...] | None
    """Arguments whose success shows the command exists; None: always run."""
    target: float | None = TARGET_SECONDS
    fresh_cache: bool = False
    """A new, empty module cache folder for every run."""
    python: bool = False
    """Run the interpreter itself instead of devctl (the floor)."""


COMMANDS = (
    Command("devctl --help", ("--help",), ("--help",)),
    Command(
        "devctl validate catalog-item catalog/",
        ("validate", "catalog-item", "catalog/"),
        ("validate", "catalog-item", "--help"),
    ),
    Command(
        "devctl validate catalog-item catalog/" + EMPTY_CACHE,
        ("validate", "catalog-item", "catalog/"),
        ("validate", "catalog-item", "--help"),
        target=None,
        fresh_cache=True,
    ),
    Command(
        "devctl validate request examples/object-bucket.yaml --catalog catalog",
        ("validate", "request", "examples/object-bucket.yaml", "--catalog", "catalog"),
        ("validate", "request", "--help"),
    ),
    Command("devctl request --help", ("request", "--help"), ("request", "--help")),
    Command("devctl simulate --help", ("simulate", "--help"), ("simulate", "--help")),
    Command(FLOOR, ("-c", "pass"), None, target=None, python=True),
)


@dataclass
class Measured:
    command: Command
    samples: list[float] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(self.samples)

    @property
    def p90(self) -> float:
        """Nearest-rank 90th percentile (with 11 runs: the second slowest)."""
        ordered = sorted(self.samples)
        return ordered[max(math.ceil(0.9 * len(ordered)) - 1, 0)]

    @property
    def fastest(self) -> float:
        return min(self.samples)

    @property
    def verdict(self) -> str:
        if self.command.target is None or not self.samples:
            return "-"
        return "pass" if self.median < self.command.target else "FAIL"


def _program(command: Command, devctl: Path) -> list[str]:
    return [sys.executable if command.python else str(devctl)]


def _environment(cache: Path) -> dict[str, str]:
    env = dict(os.environ)
    env[CACHE_ENV] = str(cache)
    env.pop("PYTHONPROFILEIMPORTTIME", None)
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # the installed package's bytecode is part of a normal start
    return env


def _run_once(command: Command, devctl: Path, env: dict[str, str], scratch: Path) -> tuple[float, str | None]:
    if command.fresh_cache:
        env = {**env, CACHE_ENV: tempfile.mkdtemp(prefix="cache-", dir=scratch)}
    argv = [*_program(command, devctl), *command.argv]
    start = time.perf_counter()
    result = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - start
    if result.returncode != 0:
        last = (result.stderr or result.stdout).strip().splitlines()
        return elapsed, f"{command.label}: exit {result.returncode}: {last[-1] if last else 'no output'}"
    return elapsed, None


def _exists(command: Command, devctl: Path, env: dict[str, str]) -> bool:
    if command.exists_check is None:
        return True
    result = subprocess.run(
        [str(devctl), *command.exists_check], cwd=ROOT, env=env, capture_output=True, text=True, check=False
    )
    return result.returncode == 0


def measure(commands: tuple[Command, ...], runs: int, devctl: Path, scratch: Path) -> tuple[list[Measured], list[str]]:
    """Warm up every command once, then ``runs`` round-robin rounds. Returns the measured and the skipped labels."""
    env = _environment(scratch / "cache")
    present = [Measured(c) for c in commands if _exists(c, devctl, env)]
    skipped = [c.label for c in commands if all(m.command is not c for m in present)]
    for measured in present:
        _, failure = _run_once(measured.command, devctl, env, scratch)
        if failure:
            measured.failures.append(f"warm-up: {failure}")
    for _ in range(runs):
        for measured in present:
            elapsed, failure = _run_once(measured.command, devctl, env, scratch)
            measured.samples.append(elapsed)
            if failure:
                measured.failures.append(failure)
    return present, skipped


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms"


def _shown(label: str) -> str:
    """A label in Markdown: the command as code, a note after it as text."""
    if label.endswith(EMPTY_CACHE):
        return f"`{label.removesuffix(EMPTY_CACHE)}`{EMPTY_CACHE}"
    return f"`{label}`"


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


_ROW = re.compile(r"^\| (?P<label>[^|]+?) \| (?P<median>[0-9]+) ms \| (?P<p90>[0-9]+) ms \| (?P<fastest>[0-9]+) ms \|")


def parse_results(text: str) -> dict[str, dict[str, float]]:
    """The rows of a results file written by this script: label -> {median, p90, fastest} in seconds."""
    rows: dict[str, dict[str, float]] = {}
    for line in text.splitlines():
        match = _ROW.match(line)
        if match:
            rows[match["label"].replace("`", "")] = {
                key: int(match[key]) / 1000 for key in ("median", "p90", "fastest")
            }
    return rows


def report(
    measured: list[Measured],
    skipped: list[str],
    runs: int,
    load: tuple[float, float],
    baseline: dict[str, dict[str, float]] | None,
    baseline_name: str | None,
) -> list[str]:
    command = "bench/cli_startup.py " + " ".join(sys.argv[1:])
    floor = next((m for m in measured if m.command.label == FLOOR and m.samples), None)
    lines = [
        "# devctl start-up time",
        "",
        f"Command: `.venv/bin/python {command.strip()}`  ",
        f"Machine: {platform.platform()}, {os.cpu_count()} CPUs ({_cpu_model()}), Python {platform.python_version()}, "
        f"load average {load[0]:.2f} at the start, {load[1]:.2f} at the end (other work on the machine shows as the "
        "spread between median and p90)  ",
        "Each command a fresh process of the installed console script `.venv/bin/devctl`, working directory the "
        f"repository root, output piped; one untimed warm-up run each, then {runs} round-robin rounds. Wall time from "
        f"start to exit; median, p90 (nearest rank) and fastest of {runs} runs. Target: median under "
        f"{_ms(TARGET_SECONDS)}. The module cache (`${CACHE_ENV}`) is a folder of the benchmark's own, filled by the "
        "warm-up; the row marked *empty module cache* starts every run with a new, empty one.",
        "",
    ]
    with_baseline = baseline is not None
    header = "| command | median | p90 | fastest | target | verdict |"
    rule = "|---|---:|---:|---:|---:|---|"
    if with_baseline:
        header += f" median in {baseline_name} |"
        rule += "---:|"
    lines += [header, rule]
    for m in measured:
        if not m.samples:
            continue
        target = _ms(m.command.target) if m.command.target is not None else "-"
        figures = f"{_ms(m.median)} | {_ms(m.p90)} | {_ms(m.fastest)}"
        row = f"| {_shown(m.command.label)} | {figures} | {target} | {m.verdict} |"
        if baseline is not None:
            before = baseline.get(m.command.label)
            row += f" {_ms(before['median']) if before else '-'} |"
        lines.append(row)
    lines.append("")
    if floor is not None:
        lines.append(
            f"- Above the floor (`{FLOOR}`, {_ms(floor.median)}): "
            + "; ".join(
                f"{_shown(m.command.label)} +{_ms(m.median - floor.median)}"
                for m in measured
                if m is not floor and m.samples
            )
            + "."
        )
    if skipped:
        lines.append(f"- Skipped (not in this version of devctl): {', '.join(f'`{label}`' for label in skipped)}.")
    failed = [m for m in measured if m.verdict == "FAIL"]
    if failed:
        lines.append(f"- Over the target: {', '.join(_shown(m.command.label) for m in failed)}.")
    problems = [problem for m in measured for problem in m.failures]
    if problems:
        lines += ["", "## Problems", "", *(f"- {problem}" for problem in problems)]
    lines.append("")
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=11, help="timed runs per command (after one warm-up)")
    parser.add_argument("--out", type=Path, default=ROOT / "bench/results/cli-startup.md")
    parser.add_argument("--baseline", type=Path, help="an earlier results file: its medians become a column")
    parser.add_argument("--devctl", type=Path, default=Path(sys.executable).parent / "devctl")
    args = parser.parse_args()
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    if not args.devctl.is_file():
        parser.error(f"{args.devctl} not found (pip install -e . first)")
    baseline = None
    if args.baseline is not None:
        try:
            baseline = parse_results(args.baseline.read_text())
        except OSError as error:
            parser.error(f"--baseline: {error}")
        if not baseline:
            parser.error(f"--baseline: {args.baseline} holds no results table of this script")
    start_load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="cli-startup-") as scratch:
        measured, skipped = measure(COMMANDS, args.runs, args.devctl, Path(scratch))
    lines = report(
        measured,
        skipped,
        args.runs,
        (start_load, os.getloadavg()[0]),
        baseline,
        _display(args.baseline) if args.baseline is not None else None,
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines))
    print("\n".join(lines))
    return 1 if any(m.failures for m in measured) else 0


def _display(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(ROOT))
    except ValueError:
        return path.name


if __name__ == "__main__":
    sys.exit(main())
