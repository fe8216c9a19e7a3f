"""`devctl health`, `devctl version`, `devctl metrics`, `devctl completion`: operating the operator."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import click

from .common import (
    DEFAULT_OPERATOR_NAMESPACE,
    EXIT_FAILED,
    EXIT_OK,
    EXIT_UNREACHABLE,
    CliError,
    cluster_errors,
    cluster_failure,
    emit,
    fail,
    get_globals,
    global_options,
    print_table,
)

if TYPE_CHECKING:
    from .ops import OperatorTarget

F = TypeVar("F", bound=Callable[..., Any])
SHELLS = ("bash", "zsh", "fish")
# The Helm chart's contract (docs/cli.md): labels on the Deployment, its pods and the Service; the probe port's name.
DEFAULT_SELECTOR = "app.kubernetes.io/name=platform-orchestrator"
DEFAULT_PORT = "http"


def _operator_options(function: F) -> F:
    """Where the operator is: -l/--selector, --service, --port (namespace: -n, $DEVCTL_OPERATOR_NAMESPACE)."""
    options = [
        click.option(
            "-l",
            "--selector",
            default=DEFAULT_SELECTOR,
            show_default=True,
            envvar="DEVCTL_OPERATOR_SELECTOR",
            help="Label selector of the operator's Deployment, pods and Service ($DEVCTL_OPERATOR_SELECTOR).",
        ),
        click.option(
            "--service",
            default=None,
            envvar="DEVCTL_OPERATOR_SERVICE",
            help="The operator's Service ($DEVCTL_OPERATOR_SERVICE; default: the Service matching --selector).",
        ),
        click.option(
            "--port",
            default=DEFAULT_PORT,
            show_default=True,
            envvar="DEVCTL_OPERATOR_PORT",
            help="Name or number of the Service port serving /readyz and /metrics ($DEVCTL_OPERATOR_PORT).",
        ),
    ]
    for option in reversed(options):
        function = option(function)
    return function


def _target(selector: str, service: str | None, port: str) -> OperatorTarget:
    from .ops import OperatorTarget

    namespace = get_globals().namespace or os.environ.get("DEVCTL_OPERATOR_NAMESPACE") or DEFAULT_OPERATOR_NAMESPACE
    return OperatorTarget(namespace=namespace, selector=selector, service=service or None, port=port)


@click.command("health")
@click.option("--components", is_flag=True, help="Print every check as a table (COMPONENT, STATUS, MESSAGE).")
@_operator_options
@global_options
@cluster_errors
def health(components: bool, selector: str, service: str | None, port: str) -> None:
    """Check the operator's health: its pods, probes, CRDs, catalog sources and stalled requests.

    Exit 0 when healthy, 1 when degraded or unhealthy, 5 when the cluster cannot be reached. Looks in the
    operator's namespace (-n, else $DEVCTL_OPERATOR_NAMESPACE, else orchestrator-system) at the
    Deployment and pods matching --selector, at /readyz and /healthz of the operator's Service (through the API
    server's service proxy), at the four CRDs (Established, serving v1alpha1), at the CatalogSources' Ready
    condition and at the ServiceRequests that are Stalled. Prints a summary line and the checks that did not pass;
    --components prints all of them.

    \b
    devctl health
    devctl health --components -n platform
    """
    from .health import check_health, summary

    glob = get_globals()
    glob.formats("table", "json", "yaml")
    report = check_health(glob.cluster(), _target(selector, service, port))

    def table() -> None:
        click.echo(summary(report))
        rows = report.components if components else report.problems + report.warnings
        if rows:
            print_table(("COMPONENT", "STATUS", "MESSAGE"), [(c.component, c.status, c.message) for c in rows])

    emit(report.to_dict(), table=table)
    sys.exit(EXIT_OK if report.verdict == "Healthy" else EXIT_FAILED)


@click.command("version")
@click.option("--full", is_flag=True, help="Also the API server's version, the kubeconfig context and the server URL.")
@_operator_options
@global_options
def version(full: bool, selector: str, service: str | None, port: str) -> None:
    """Print the versions of devctl, of the operator and of the CRDs in the cluster.

    The operator's version comes from its orchestrator_build_info metric (read through the API server's service
    proxy), else from its pods' app.kubernetes.io/version label, else from their image tag. Differences between
    devctl, the operator and the CRD bundle are reported as warnings. When the cluster cannot be reached, prints
    devctl's version, says so and exits 5.

    \b
    devctl version
    devctl version --full -o yaml
    """
    from .. import __version__
    from ..clients.cluster import ClusterError
    from .ops import skew_warnings, version_report

    glob = get_globals()
    glob.formats("table", "json", "yaml")
    try:
        report = version_report(glob.cluster(), _target(selector, service, port), full=full)
    except CliError as error:  # the kubeconfig cannot be used
        failure = error
    except ClusterError as error:
        failure = cluster_failure(error)
        if error.status is None:
            failure = CliError(f"the cluster is unreachable: {error}", exit_code=EXIT_UNREACHABLE, hint=failure.hint)
    else:
        emit(report, table=lambda: _print_version(report))
        for warning in skew_warnings(report):
            click.echo(f"warning: {warning}", err=True)
        return
    data = {"client": {"version": __version__}, "cluster": {"error": failure.message}}
    emit(data, table=lambda: click.echo(f"Client Version:    {__version__}"))
    raise failure


def _print_version(report: dict[str, Any]) -> None:
    operator = report["operator"]
    click.echo(f"Client Version:    {report['client']['version']}")
    pods = len(operator["pods"])
    where = f"{pods} pod{'s' if pods != 1 else ''} in {operator['namespace']}"
    sources = {"metrics": "orchestrator_build_info metric", "label": "pod label", "image": "image tag"}
    if operator["versions"]:
        versions = ", ".join(operator["versions"])
        click.echo(f"Operator Version:  {versions} (from the {sources[operator['source']]}; {where})")
    else:
        click.echo(f"Operator Version:  unknown ({where})")
    if operator["source"] != "metrics":
        for note in operator["notes"]:
            click.echo(f"  note: {note}")
    click.echo("CRDs:")
    rows = []
    for crd in report["crds"]:
        if crd["installed"] is None:
            rows.append((crd["name"], "?", "?", crd.get("error", "")))
        elif not crd["installed"]:
            rows.append((crd["name"], "-", "-", "not installed"))
        else:
            rows.append((crd["name"], ",".join(crd["served"]), crd["storage"] or "-", crd["bundleVersion"] or "-"))
    print_table(("  NAME", "SERVED", "STORAGE", "BUNDLE"), [("  " + row[0], *row[1:]) for row in rows])
    server = report.get("server")
    if server:
        click.echo(f"Server Version:    {server['version']} ({server['platform']})")
        click.echo(f"Context:           {server['context'] or '-'}")
        click.echo(f"API Server:        {server['url']}")


@click.command("metrics")
@click.option(
    "--filter",
    "pattern",
    metavar="REGEX",
    help="Keep the metric families whose name matches REGEX (a search: anchor with ^ and $).",
)
@_operator_options
@global_options
@cluster_errors
def metrics(pattern: str | None, selector: str, service: str | None, port: str) -> None:
    """Print the operator's Prometheus metrics, optionally only some families.

    Reads /metrics of the operator's Service through the API server's service proxy. Prints the Prometheus
    text, with the HELP and TYPE lines of each family kept; -o json|yaml prints the parsed families with their
    samples, -o name the family names. Prints nothing (and says so) when --filter matches no family.

    \b
    devctl metrics --filter '^orchestrator_catalog_sync'
    devctl metrics --filter service_requests -o json
    """
    from .ops import compile_filter, families_to_data, operator_get, parse_metrics, render_text, select_families

    glob = get_globals()
    glob.formats("table", "json", "yaml", "name")
    try:
        regex = compile_filter(pattern)
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint="--filter") from None
    target = _target(selector, service, port)
    text = operator_get(glob.cluster(), target, "/metrics")
    try:
        families = parse_metrics(text, source=f"/metrics of the operator in {target.namespace}")
    except ValueError as error:
        fail(str(error))
    selected = select_families(families, regex)
    emit(
        families_to_data(selected),
        table=lambda: click.echo(render_text(selected), nl=False),
        names=[family.name for family in selected],
    )
    if not selected:
        click.echo(f"No metric family matches --filter {pattern!r}." if pattern else "No metrics.", err=True)


@click.command("completion")
@click.argument("shell", type=click.Choice(SHELLS))
@global_options
def completion(shell: str) -> None:
    """Print the shell completion script for bash, zsh or fish.

    Completes commands, subcommands, flags, and names from the cluster where a command offers them (e.g. the
    CatalogSources of catalog refresh). Load it in your shell's startup file:

    \b
    bash (4.4+):  echo 'eval "$(devctl completion bash)"' >> ~/.bashrc
    zsh:          echo 'eval "$(devctl completion zsh)"' >> ~/.zshrc
    fish:         devctl completion fish > ~/.config/fish/completions/devctl.fish
    """
    from click.shell_completion import get_completion_class

    root = click.get_current_context().find_root().command
    shell_class = get_completion_class(shell)
    if shell_class is None:  # click knows all three; guard against a click without one of them
        fail(f"no completion support for {shell} in this click version")
    click.echo(shell_class(root, {}, "devctl", "_DEVCTL_COMPLETE").source())
