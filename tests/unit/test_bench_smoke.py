"""The benchmark harness keeps working (tiny sizes; the figures themselves live in bench/results/)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_validate_catalog_benchmark_runs(tmp_path: Path) -> None:
    out = tmp_path / "result.md"
    result = subprocess.run(
        [sys.executable, str(ROOT / "bench/validate_catalog.py"), "--copies", "2", "--runs", "3", "--out", str(out)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    text = out.read_text()
    assert "| sample catalog, in-process | 8 |" in text
    assert "| synthetic catalog (2 copies of each item), in-process | 14 |" in text


def test_catalog_sync_benchmark_runs(tmp_path: Path) -> None:
    out = tmp_path / "result.md"
    result = subprocess.run(
        [sys.executable, str(ROOT / "bench/catalog_sync.py"), "--sizes", "20", "--runs", "3", "--out", str(out)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    text = out.read_text()
    assert "| cold sync (empty cluster) | 20 |" in text
    assert "| catalogitems 20, catalogsources/status 1 |" in text
    assert "| no-op resync, restarted operator | 20 |" in text
    assert "| no-op resync, running operator | 20 |" in text
    assert "| one item changed | 20 |" in text
    assert "| catalogitems 1, catalogsources/status 1 |" in text
