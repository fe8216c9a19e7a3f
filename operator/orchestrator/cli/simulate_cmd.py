"""`devctl simulate`: the operator's fulfilment of one ServiceRequest, run offline (engine: cli/simulate.py)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from .common import EXIT_FAILED, CliError, get_globals, global_options

CATALOG_ENV = "DEVCTL_CATALOG"
_file = click.Path(exists=True, dir_okay=False, path_type=Path)


@click.command("simulate")
@click.argument("request_file", metavar="REQUEST.yaml", type=_file)
@click.option(
    "--catalog",
    "catalog_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help=f"Catalog root folder (items, bundles, modules/) [default: ${CATALOG_ENV}, else ./catalog].",
)
@click.option(
    "--environment",
    "environments_file",
    type=_file,
    help="The operator's environments config [default: environments.yaml next to the request file, if any].",
)
@click.option(
    "--secret-file",
    "secret_files",
    multiple=True,
    type=_file,
    help="Secret manifests (repeatable): exposed Secrets of the request's namespace, or JIRA/HTTP connection "
    "Secrets (by their connection label).",
)
@click.option("--cluster-name", default="simulation", show_default=True, help="The system.clusterName template value.")
@click.option("--stop-at-approval", is_flag=True, help="Stop at the first approval gate (exit 0) instead of approving.")
@click.option("--keep-workdir", is_flag=True, help="Keep the scratch folder (Terraform state and inputs per action).")
@global_options
def simulate(
    request_file: Path,
    catalog_dir: Path | None,
    environments_file: Path | None,
    secret_files: tuple[Path, ...],
    cluster_name: str,
    stop_at_approval: bool,
    keep_workdir: bool,
) -> None:
    """Run the operator's fulfilment of a ServiceRequest offline and show what it would do.

    The request is checked with the validator of `devctl validate request`, then the operator's own reconcile
    runs until the request settles, against backends that never leave this machine: an in-memory Kubernetes API,
    JIRA and HTTP in dry run (the exact ticket payload and HTTP request are shown; a ticket is assumed completed
    by a person, an HTTP call answers with its first success code), the real Terraform engine on the catalog's
    modules in a scratch folder, workspaces as the manifests they would apply. Waits are skipped. Approval gates
    are passed with the annotations the operator reads, unless --stop-at-approval. Secrets a template reads that
    no --secret-file supplies get placeholder values; secret values are never printed.

    Prints the steps, the status the operator would write and the outputs (-o json|yaml: one document).
    Exit 0 when the request becomes Ready (or stops at an approval gate with --stop-at-approval), 1 when it ends
    Failed or Stalled or the input is invalid, 2 on usage errors.

    \b
    devctl simulate examples/postgresql-standard.yaml --catalog catalog
    devctl simulate examples/dns-record.yaml --secret-file dns-api-secret.yaml -o yaml
    """
    import asyncio

    from .simulate import SimulationInputError, SimulationOptions
    from .simulate import simulate as run_simulation

    glob = get_globals()
    output = glob.formats("table", "json", "yaml")
    catalog = catalog_dir or Path(os.environ.get(CATALOG_ENV) or "catalog")
    if not catalog.is_dir():
        source = "--catalog" if catalog_dir else (f"${CATALOG_ENV}" if os.environ.get(CATALOG_ENV) else "the default")
        raise click.BadParameter(
            f"{catalog} is not a folder ({source}); name the catalog root with --catalog DIR", param_hint="--catalog"
        )
    from .simulate_inputs import environments_path

    options = SimulationOptions(
        request_file=request_file,
        catalog_dir=catalog,
        environments_file=environments_path(request_file, environments_file),
        secret_files=secret_files,
        cluster_name=cluster_name,
        namespace=glob.namespace,
        stop_at_approval=stop_at_approval,
        keep_workdir=keep_workdir,
    )
    try:
        result = asyncio.run(run_simulation(options))
    except SimulationInputError as error:
        for line in error.details:
            click.echo(line, err=True)
        raise CliError(error.message, exit_code=EXIT_FAILED) from None
    if output == "table":
        from .simulate_report import print_report

        print_report(result.document)
    else:
        from .common import emit

        emit(result.document)
    if result.workdir is not None:
        click.echo(f"work folder kept: {result.workdir} (Terraform state holds sensitive values)", err=True)
    if result.exit_code != 0 and output != "table":  # the table ends with the verdict already
        click.echo(f"devctl: simulation ended {result.verdict}", err=True)
    sys.exit(result.exit_code)
