"""Serve the API emulator until Ctrl-C: ``python -m tests.k8s --port 8001 [--crds crds/] [--load examples/x.yaml]``."""

from __future__ import annotations

import argparse
import sys
import threading
from pathlib import Path

from .emulator import ApiEmulator


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.k8s", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8001, help="0 picks a free port (default: 8001)")
    parser.add_argument(
        "--crds",
        type=Path,
        default=Path("crds") if Path("crds").is_dir() else None,
        help="a CRD YAML file or folder (default: ./crds if present)",
    )
    parser.add_argument("--load", type=Path, action="append", default=[], help="YAML objects to create (repeatable)")
    parser.add_argument("--kubeconfig", type=Path, help="also write a kubeconfig pointing at the emulator here")
    parser.add_argument(
        "--strict-namespaces",
        action="store_true",
        help="reject objects in namespaces that do not exist, as a real cluster does",
    )
    args = parser.parse_args(argv)

    api = ApiEmulator(crds_dir=args.crds, host=args.host, port=args.port, strict_namespaces=args.strict_namespaces)
    api.start()
    try:
        for path in args.load:
            for obj in api.load(path):
                meta = obj["metadata"]
                where = f"{meta['namespace']}/" if meta.get("namespace") else ""
                print(f"loaded {obj['kind']} {where}{meta['name']}")
        if args.kubeconfig:
            print(f"kubeconfig: {api.write_kubeconfig(args.kubeconfig)}")
        print(f"Kubernetes API emulator serving at {api.url}")
        print(f"  kubectl --server {api.url} get sr -A")
        print(f"  kubectl --server {api.url} apply --validate=false -f examples/redis-standard.yaml")
        print("Press Ctrl-C to stop.", flush=True)
        threading.Event().wait()
    except KeyboardInterrupt:
        print("stopping", file=sys.stderr)
    finally:
        api.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
