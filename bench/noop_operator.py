#!/usr/bin/env python3
"""The framework's limit for bench/operator_throughput.py: a no-op kopf operator, run as its own process.

Usage: python bench/noop_operator.py --kubeconfig FILE (server and token of its current context)

One ``@kopf.on.create`` handler on ServiceRequests that sets status.phase=Ready, with the kopf settings the
orchestrator uses (annotation progress and diff-base storage under orchestrator.dev, the same finalizer name, no
other handlers). Prints ``ready`` on stdout once kopf is up; runs until SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
import threading
from pathlib import Path
from typing import Any

import kopf
import yaml

GROUP, VERSION = "orchestrator.dev", "v1alpha1"


def registry(kubeconfig: str) -> kopf.OperatorRegistry:
    result = kopf.OperatorRegistry()

    @kopf.on.login(registry=result)
    def login(**_: Any) -> kopf.ConnectionInfo:
        """The kubeconfig's current context: server and bearer token (what the emulator's kubeconfigs carry)."""
        config = yaml.safe_load(Path(kubeconfig).read_text())
        context = next(c["context"] for c in config["contexts"] if c["name"] == config["current-context"])
        cluster = next(c["cluster"] for c in config["clusters"] if c["name"] == context["cluster"])
        user = next((u["user"] for u in config["users"] if u["name"] == context.get("user")), {}) or {}
        return kopf.ConnectionInfo(
            server=cluster["server"], token=user.get("token"), default_namespace=context.get("namespace")
        )

    @kopf.on.create(GROUP, VERSION, "servicerequests", id="noop", registry=result)
    def noop(patch: kopf.Patch, **_: Any) -> None:
        patch.status["phase"] = "Ready"

    return result


def settings() -> kopf.OperatorSettings:
    result = kopf.OperatorSettings()
    result.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix="orchestrator.dev")
    result.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix="orchestrator.dev", key="last-handled-configuration"
    )
    result.persistence.finalizer = "orchestrator.dev/cleanup"
    result.posting.enabled = False
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kubeconfig", required=True)
    args = parser.parse_args()
    ready, stop = threading.Event(), threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())

    def announce() -> None:
        ready.wait()
        print("ready", flush=True)

    threading.Thread(target=announce, daemon=True).start()
    asyncio.run(
        kopf.operator(
            registry=registry(args.kubeconfig),
            settings=settings(),
            standalone=True,
            clusterwide=True,
            ready_flag=ready,
            stop_flag=stop,
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
