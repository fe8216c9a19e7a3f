"""devctl: the developer and platform-team CLI.

Exit codes (docs/cli.md): 0 ok; 1 failed or invalid; 2 usage error; 3 not found; 4 timed out waiting;
5 cluster unreachable, unauthorized or forbidden.

Only click and the command modules (which import nothing heavy at import time) load at start-up; each command
imports what it needs when it runs.
"""

from __future__ import annotations

import gc
import sys
from typing import Any

import click

from .. import __version__
from . import catalog_browse_cmd  # noqa: F401  (adds list, get, search and diff to the catalog group)
from .catalog_cmd import catalog
from .common import EXIT_FAILED, get_globals, root_options
from .ops_cmd import completion, health, metrics, version
from .preview_cmd import preview, test_group
from .request_cmd import request
from .simulate_cmd import simulate
from .validate_cmd import validate
from .workspace_cmd import workspace

COMMANDS: list[click.Command] = [
    catalog,
    validate,
    health,
    version,
    metrics,
    completion,
    preview,
    test_group,
    request,
    workspace,
    simulate,
]


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="devctl", help="Print devctl's version and exit.")
@root_options
def cli() -> None:
    """Platform Orchestrator's CLI: browse the catalog, request services, validate and simulate catalog changes.

    Cluster commands use kubectl's kubeconfig rules (--kubeconfig, $KUBECONFIG, --context, -n). Exit codes:
    0 ok, 1 failed or invalid, 2 usage error, 3 not found, 4 timed out, 5 cluster unreachable or forbidden.

    The global flags below are accepted before or after the command: devctl request list -n team-a -o json.
    """


for _command in COMMANDS:
    cli.add_command(_command)


def main(argv: list[str] | None = None) -> Any:
    """Entry point: usage errors exit 2 (click), unexpected failures exit 1 with one line, never a traceback
    unless -v/--verbose."""
    # devctl is short-lived (bench/results/cli-startup.md): garbage-collect young objects every 10000 allocations
    # instead of 700 while pydantic, jsonschema and the catalog load (~20 ms), and keep the interpreter's full
    # collection at exit from walking every object devctl made (~50 ms): they all live until the process ends.
    gc.set_threshold(10_000, 10, 10)
    try:
        return cli.main(args=argv, prog_name="devctl", standalone_mode=True)
    except SystemExit:
        raise
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        sys.exit(130)
    except Exception as exc:  # last resort: a bug of ours must still not print a traceback at users
        if "-v" in sys.argv or "--verbose" in sys.argv:
            raise
        click.echo(
            f"devctl: internal error: {type(exc).__name__}: {exc} (please report this; -v shows where)", err=True
        )
        sys.exit(EXIT_FAILED)
    finally:
        gc.freeze()


__all__ = ["cli", "get_globals", "main"]
