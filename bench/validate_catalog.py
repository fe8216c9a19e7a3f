#!/usr/bin/env python3
"""Benchmark: how long catalog validation takes, in-process and as a cold `devctl` command.

Usage: .venv/bin/python bench/validate_catalog.py [--catalog catalog/] [--copies 50] [--runs 5] [--out FILE]

Measures (medians of --runs):
  1. the sample catalog, in-process (load + schema + semantic checks);
  2. a synthetic catalog of --copies x the sample items (renamed), in-process, to show how it scales;
  3. `devctl validate catalog-item <catalog>` as a fresh process (what a CI job or a pre-commit hook pays).
Writes a Markdown results file with the machine description and the command that produced it.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import yaml

from orchestrator.catalog.validate import load_catalog

ROOT = Path(__file__).resolve().parent.parent


def _median_seconds(action: Callable[[], object], runs: int) -> float:
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        action()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def _synthetic_catalog(source: Path, copies: int, into: Path) -> int:
    """Copy the catalog's modules and `copies` renamed copies of each item; returns the number of items."""
    shutil.copytree(source / "modules", into / "modules")
    count = 0
    for path in sorted(source.rglob("*.yaml")):
        if "modules" in path.relative_to(source).parts:
            continue
        document = yaml.safe_load(path.read_text())
        if not isinstance(document, dict) or document.get("kind") != "CatalogItem":
            continue
        for copy in range(copies):
            document["metadata"]["name"] = f"{path.stem}-{copy:04d}"[:63]
            (into / f"{path.stem}-{copy:04d}.yaml").write_text(yaml.safe_dump(document, sort_keys=False))
            count += 1
    return count


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--catalog", type=Path, default=ROOT / "catalog")
    parser.add_argument("--copies", type=int, default=50)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--out", type=Path, default=ROOT / "bench/results/validate-catalog.md")
    args = parser.parse_args()
    if args.runs < 3:
        parser.error("--runs must be at least 3 (results are medians)")

    def validate(root: Path) -> None:
        _, report = load_catalog(root)
        if report.errors:
            raise SystemExit(f"benchmark input is invalid: {report.errors[0].render()}")

    sample_items = len(load_catalog(args.catalog)[1].documents)
    sample = _median_seconds(lambda: validate(args.catalog), args.runs)
    with tempfile.TemporaryDirectory() as scratch:
        synthetic_root = Path(scratch)
        synthetic_items = _synthetic_catalog(args.catalog, args.copies, synthetic_root)
        synthetic = _median_seconds(lambda: validate(synthetic_root), args.runs)
    devctl = Path(sys.executable).parent / "devctl"
    cold = _median_seconds(
        lambda: subprocess.run(
            [str(devctl), "validate", "catalog-item", str(args.catalog)], check=True, capture_output=True
        ),
        args.runs,
    )
    command = "bench/validate_catalog.py " + " ".join(sys.argv[1:])
    lines = [
        "# Catalog validation",
        "",
        f"Command: `.venv/bin/python {command.strip()}`  ",
        f"Machine: {platform.platform()}, {os.cpu_count()} CPUs, Python {platform.python_version()}  ",
        f"Medians of {args.runs} runs.",
        "",
        "| measurement | documents | median | per document |",
        "|---|---:|---:|---:|",
        f"| sample catalog, in-process | {sample_items} | {sample * 1000:.1f} ms | "
        f"{sample / sample_items * 1000:.2f} ms |",
        f"| synthetic catalog ({args.copies} copies of each item), in-process | {synthetic_items} | "
        f"{synthetic * 1000:.1f} ms | {synthetic / synthetic_items * 1000:.2f} ms |",
        f"| `devctl validate catalog-item` cold process, sample catalog | {sample_items} | {cold * 1000:.0f} ms | - |",
        "",
        f"Scaling: per-document cost at {synthetic_items} documents is "
        f"{(synthetic / synthetic_items) / (sample / sample_items):.2f}x the cost at {sample_items}.",
        "",
    ]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
