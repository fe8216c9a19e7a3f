"""`devctl request ...`: ask for a catalog item and follow the request (submit, list, status, logs, operations)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from .common import EXIT_FAILED, EXIT_OK, cluster_errors, get_globals, global_options


@click.group(short_help="Request services and follow them (submit, list, logs, retry...).")
def request() -> None:
    """Request services from the catalog and follow them: submit, list, get, status, logs, and the user
    operations retry, abort, escalate and approve-plan.

    Requests live in a namespace: -n, else the kubeconfig context's namespace, else 'default'.
    """


@request.command("submit", short_help="Request a catalog item (validated locally first).")
@click.argument("item")
@click.option("--field", "fields", multiple=True, metavar="KEY=VALUE", help="A field value (YAML scalar; a.b=c nests).")
@click.option(
    "-f",
    "--values",
    "values_files",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="YAML file of field values (or a ServiceRequest manifest: its spec.fields); repeatable.",
)
@click.option("--name", help="Name of the request (default: generated, '<item>-xxxxx').")
@click.option("--environment", help="Environment (default: the operator's default environment).")
@click.option("--dry-run", is_flag=True, help="Validate locally and on the server (dryRun=All); create nothing.")
@click.option("--wait", is_flag=True, help="Wait until Ready (exit 0), Failed/Stalled (1) or --timeout (4).")
@click.option("--follow-logs", is_flag=True, help="Print the request's log lines while waiting (implies --wait).")
@global_options
@cluster_errors
def request_submit(
    item: str,
    fields: tuple[str, ...],
    values_files: tuple[Path, ...],
    name: str | None,
    environment: str | None,
    dry_run: bool,
    wait: bool,
    follow_logs: bool,
) -> None:
    """Request ITEM: build a ServiceRequest from -f files and --field values, check it, create it.

    The request is checked locally first with the validator of `devctl validate request`, against the item as the
    cluster holds it (and the operator's environments, when you may read them); an invalid request is not created
    (exit 1). --field values are YAML scalars (replicas=3 is a number, enabled=true a boolean); dotted keys build
    nested objects (db.size=small). --wait gives up after --timeout (default 10m).

    \b
    devctl request submit postgresql-standard --field dbName=orders --field size=medium -n team-orders --wait
    devctl request submit dev-workspace -f workspace.yaml --name checkout --dry-run -o yaml
    """
    from .request_submit import submit

    code = submit(
        get_globals(),
        item,
        field_flags=fields,
        values_files=values_files,
        name=name,
        environment=environment,
        dry_run=dry_run,
        wait=wait,
        follow_logs=follow_logs,
    )
    sys.exit(code)


@request.command("init", short_help="Print a commented ServiceRequest skeleton for an item.")
@click.argument("item")
@click.option(
    "--catalog",
    "catalog_dir",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="Read the item from this catalog folder instead of the cluster (offline).",
)
@click.option("-f", "--file", "out", type=click.Path(dir_okay=False, path_type=Path), help="Write to this file.")
@click.option("--name", help="metadata.name to write (default: my-<item>).")
@global_options
@cluster_errors
def request_init(item: str, catalog_dir: Path | None, out: Path | None, name: str | None) -> None:
    """Print a commented ServiceRequest skeleton for ITEM, for a requests repository (Argo CD, Flux).

    Every field appears with its description, type, allowed values and default as comments; required fields come
    first and are marked REQUIRED. Once they are filled in, `devctl validate request` accepts the file. The item
    comes from the cluster, or offline from --catalog DIR.

    \b
    devctl request init dev-workspace -n team-orders -f requests/checkout.yaml
    devctl request init postgresql-standard --catalog catalog/
    """
    from .request_init import init

    init(get_globals(), item, catalog_dir=catalog_dir, out=out, name=name)


@request.command("list", short_help="List requests (filters: phase, item, age).")
@click.option("-A", "--all-namespaces", is_flag=True, help="Requests of every namespace.")
@click.option("--phase", "phases", multiple=True, help="Only these phases (repeatable or comma-separated).")
@click.option("--item", help="Only requests for this catalog item (or bundle).")
@click.option("--since", help="Only requests created within this long (30m, 2h, 7d).")
@global_options
@cluster_errors
def request_list(all_namespaces: bool, phases: tuple[str, ...], item: str | None, since: str | None) -> None:
    """List requests: NAME, ITEM, PHASE, READY, AGE, MESSAGE (NAMESPACE first with -A).

    \b
    devctl request list -n team-orders --phase Failed,Provisioning
    devctl request list -A --item postgresql-standard --since 24h -o name
    """
    from .request_manage import list_requests

    list_requests(get_globals(), all_namespaces=all_namespaces, phases=phases, item=item, since=since)


@request.command("get", short_help="Show one request (actions, events).")
@click.argument("name")
@click.option("--actions", is_flag=True, help="A table of the actions (state, attempts, times, external object).")
@click.option("--events", is_flag=True, help="The request's Kubernetes Events.")
@global_options
@cluster_errors
def request_get(name: str, actions: bool, events: bool) -> None:
    """Show one request: item, phase, conditions, outputs, escalation; optionally its actions and events.

    -o json|yaml prints the object (a List with its Events when --events is given).

    \b
    devctl request get orders-db --actions --events
    devctl request get orders-db -o yaml
    """
    from .request_manage import get

    get(get_globals(), name, actions=actions, events=events)


@request.command("status", short_help="Phase, conditions and actions; --watch until settled.")
@click.argument("name")
@click.option("--watch", "-w", is_flag=True, help="Print again on every change until the request settles.")
@click.option("--interval", default="2s", show_default=True, help="How often --watch looks.")
@global_options
@cluster_errors
def request_status(name: str, watch: bool, interval: str) -> None:
    """The request's phase, Ready/Reconciling/Stalled and each action's state in a few lines.

    --watch ends when the request settles: exit 0 Ready, 1 Failed/Stalled, 4 at --timeout (no limit without it).

    \b
    devctl request status orders-db
    devctl request status orders-db --watch --interval 5s
    """
    from .request_manage import status

    sys.exit(status(get_globals(), name, watch=watch, interval=interval))


@request.command("logs", short_help="Events, action transitions and Terraform output in time order.")
@click.argument("name")
@click.option("--follow", "-f", is_flag=True, help="Keep printing new lines until the request settles.")
@click.option("--tail", type=click.IntRange(min=0), help="Only the last N lines.")
@click.option("--action", help="Only the lines about this action.")
@global_options
@cluster_errors
def request_logs(name: str, follow: bool, tail: int | None, action: str | None) -> None:
    """The request's story in time order: its Events, its actions' transitions and messages (external objects,
    Terraform plans), escalation and fallback, and Terraform run output where the cluster keeps it.

    Terraform output is kept only for `runner: job` runs, in the Job's pod in the operator's namespace
    ($DEVCTL_OPERATOR_NAMESPACE, else orchestrator-system) until the Job's TTL removes it.

    \b
    devctl request logs orders-db
    devctl request logs orders-db --follow --action provision
    """
    from .request_logs import logs

    sys.exit(logs(get_globals(), name, follow=follow, tail=tail, action=action))


@request.command("retry", short_help="Re-run the failed actions.")
@click.argument("name")
@click.option("--action", help="Check that this is the failed action being retried (the operator retries all).")
@global_options
@cluster_errors
def request_retry(name: str, action: str | None) -> None:
    """Re-run the request's Failed and Aborted actions (annotation orchestrator.dev/retry with a new token).

    The operator retries every failed action of a request together; --action NAME refuses when other actions
    have failed as well, instead of retrying more than you asked for.

    \b
    devctl request retry orders-db
    """
    from .request_operations import retry

    retry(get_globals(), name, action=action)


@request.command("abort", short_help="Stop a request (asks for confirmation).")
@click.argument("name")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation (needed when stdin is not a terminal).")
@click.option("--reason", help="Why (default: who aborted it with devctl).")
@global_options
@cluster_errors
def request_abort(name: str, yes: bool, reason: str | None) -> None:
    """Stop the request: work in progress is aborted and open tickets are commented (annotation
    orchestrator.dev/abort). Asks for confirmation on a terminal.

    \b
    devctl request abort orders-db --reason "not needed any more" --yes
    """
    from .request_operations import abort

    abort(get_globals(), name, yes=yes, reason=reason)


@request.command("escalate", short_help="Ask platform support for help (opens a ticket).")
@click.argument("name")
@click.option("--reason", required=True, help="What is wrong and what you need (goes into the ticket).")
@global_options
@cluster_errors
def request_escalate(name: str, reason: str) -> None:
    """Ask platform support for help: the operator opens one manual-support ticket per reason, linked to the
    request's tickets (annotation orchestrator.dev/escalate).

    \b
    devctl request escalate orders-db --reason "the ticket was rejected, we need the DB by Friday"
    """
    from .request_operations import escalate

    escalate(get_globals(), name, reason=reason)


@request.command("approve-plan", short_help="Approve the Terraform plan awaiting approval.")
@click.argument("name")
@click.option("--hash", "plan_hash", help="The plan's hash (or a unique prefix); default: the plan awaiting approval.")
@global_options
@cluster_errors
def request_approve_plan(name: str, plan_hash: str | None) -> None:
    """Approve the Terraform plan awaiting approval (approvePlan: manual): prints its summary and sets
    orchestrator.dev/approve-plan to its hash. Refuses when no plan awaits.

    \b
    devctl request approve-plan orders-db
    devctl request approve-plan orders-db --hash 3f9a2c
    """
    from .request_operations import approve_plan

    approve_plan(get_globals(), name, plan_hash=plan_hash)


@request.command("export", short_help="Export requests as YAML, JSON or CSV.")
@click.option("-A", "--all-namespaces", is_flag=True, help="Requests of every namespace.")
@click.option("--phase", "phases", multiple=True, help="Only these phases (repeatable or comma-separated).")
@global_options
@cluster_errors
def request_export(all_namespaces: bool, phases: tuple[str, ...]) -> None:
    """Export requests: -o yaml (default) or json as a List, or -o csv with namespace, name, item, phase, ready,
    age and one column per output (status.outputs; sensitive outputs stay in their Secrets).

    \b
    devctl request export -A -o csv > requests.csv
    devctl request export --phase Ready -o json
    """
    from .request_manage import export

    export(get_globals(), all_namespaces=all_namespaces, phases=phases)


@request.group("batch", short_help="Several requests at once.")
def request_batch() -> None:
    """Several requests at once."""


@request_batch.command("submit", short_help="Validate and create every manifest of a folder.")
@click.option(
    "--dir",
    "directory",
    required=True,
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="Folder of ServiceRequest manifests (*.yaml).",
)
@click.option("--parallel", default=4, show_default=True, type=click.IntRange(min=1, max=64), help="At a time.")
@click.option("--dry-run", is_flag=True, help="Validate and ask the server (dryRun=All); create nothing.")
@global_options
@cluster_errors
def request_batch_submit(directory: Path, parallel: int, dry_run: bool) -> None:
    """Validate every *.yaml ServiceRequest manifest in a folder, then create the valid ones, N at a time.

    Prints FILE, NAME, RESULT (created, invalid, failed) and MESSAGE per manifest; exit 1 when any failed.
    Manifests without a namespace go to -n (else the context's namespace).

    \b
    devctl request batch submit --dir requests/ --parallel 8 -n team-orders
    """
    from .request_batch import batch_submit

    sys.exit(EXIT_OK if batch_submit(get_globals(), directory, parallel=parallel, dry_run=dry_run) else EXIT_FAILED)
