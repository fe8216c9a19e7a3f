#!/usr/bin/env python3
"""Write crds/, schema/ (API models) and gitops/argocd/ (its Lua); with --check, report drift instead (exit 1)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from gitops_health import generated_files as gitops_files
from orchestrator.api.rbac import generated_files as rbac_files
from orchestrator.api.render import generated_files

ROOT = Path(__file__).resolve().parent.parent
CHART_CRDS = "charts/platform-orchestrator/crds"
GENERATED_DIRS = ("crds", "schema", CHART_CRDS)


def chart_crd_files(files: dict[str, str]) -> dict[str, str]:
    """The Helm chart ships the same CRDs as crds/ (byte for byte; Helm installs them, never upgrades them)."""
    return {f"{CHART_CRDS}/{name[len('crds/') :]}": text for name, text in files.items() if name.startswith("crds/")}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="exit 1 if a checked-in file differs")
    args = parser.parse_args()
    wanted = {**generated_files(), **gitops_files(ROOT)}
    wanted.update(chart_crd_files(wanted))
    wanted.update(rbac_files())  # the chart's templates/rbac.yaml and docs/rbac.md
    stale = sorted(
        str(path.relative_to(ROOT))
        for directory in GENERATED_DIRS
        for path in (ROOT / directory).glob("*")
        if path.is_file() and str(path.relative_to(ROOT)) not in wanted
    )
    drift = [name for name, text in wanted.items() if not (ROOT / name).is_file() or (ROOT / name).read_text() != text]
    if args.check:
        for name in [*drift, *stale]:
            print(f"out of date: {name} (run `make generate`)", file=sys.stderr)
        return 1 if drift or stale else 0
    for name in drift:
        (ROOT / name).parent.mkdir(parents=True, exist_ok=True)
        (ROOT / name).write_text(wanted[name])
        print(f"wrote {name}")
    for name in stale:
        (ROOT / name).unlink()
        print(f"removed {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
