"""`devctl catalog list|get|search|diff`: browse the catalog in the cluster, compare two catalog folders."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from .catalog_cmd import catalog
from .common import EXIT_FAILED, EXIT_OK, cluster_errors, get_globals, global_options
from .completion import complete_names

_folder = click.Path(exists=True, file_okay=False, path_type=Path)
_catalog_option = click.option(
    "--catalog",
    "catalog_dir",
    type=_folder,
    help="Read this catalog folder instead of the cluster (offline).",
)


@catalog.command("list")
@click.option("--category", help="Only items of this category (databases, compute, ...).")
@click.option("--owner", help="Only items owned by this team.")
@click.option("--tag", help="Only items with this tag.")
@click.option("--limit", type=click.IntRange(min=1), help="At most N objects per page (server-side paging).")
@click.option("--continue", "continue_token", metavar="TOKEN", help="Resume after the page that printed TOKEN.")
@global_options
@cluster_errors
def catalog_list(
    category: str | None, owner: str | None, tag: str | None, limit: int | None, continue_token: str | None
) -> None:
    """List the catalog items and bundles in the cluster.

    Items first, then bundles; table NAME, KIND, CATEGORY, VERSION, OWNER, LIFECYCLE, READY. With --limit the
    API server pages the list; when there is more, the command prints a --continue token (on stderr for the
    table, as metadata.continue with -o json/yaml). The catalog sync labels objects only with their source, so
    --category, --owner and --tag filter each page here, client-side: a filtered page may hold fewer than N rows.

    \b
    devctl catalog list --category databases
    devctl catalog list --limit 20 -o name
    """
    from .catalog_browse import Filters, list_page, print_list

    glob = get_globals()
    glob.formats("table", "json", "yaml", "name")
    filters = Filters(category, owner, tag)
    page = list_page(glob.cluster(), filters, limit=limit, continue_token=continue_token)
    print_list(page, filters=filters, limit=limit)


@catalog.command("get")
@click.argument("name", shell_complete=complete_names("catalogitems"))
@click.option("--schema", "show_schema", is_flag=True, help="Print the fields JSON Schema (JSON; YAML with -o yaml).")
@click.option(
    "--examples", "show_examples", is_flag=True, help="Print example ServiceRequests (YAML; a list with -o json)."
)
@_catalog_option
@global_options
@cluster_errors
def catalog_get(name: str, show_schema: bool, show_examples: bool, catalog_dir: Path | None) -> None:
    """Show one catalog item or bundle: what it is, how it is fulfilled, its fields.

    Prints display name, description, owner, version, lifecycle, tags, approval, fulfillment mode and actions
    (components for a bundle), outputs, status conditions, then the fields as a table (name, type, required,
    default, allowed values or pattern, description). --schema prints the fields JSON Schema instead;
    --examples prints two example ServiceRequests (only the required fields; every field) built from the
    schema and checked with the request validator. Exit 3 when there is no such item or bundle.

    \b
    devctl catalog get postgresql-standard
    devctl catalog get dev-workspace --examples -n team-orders > request.yaml
    """
    from .catalog_browse import get_object, print_get, print_schema

    glob = get_globals()
    if show_schema and show_examples:
        raise click.UsageError("--schema and --examples are separate views; give one of them")
    if catalog_dir is not None:
        from .offline_catalog import find_entry

        found = find_entry(name, catalog_dir, kinds=("CatalogItem", "CatalogBundle"))
        obj = dict(found.entry.document.data)
        namespace = glob.request_namespace()
        where = str(catalog_dir)
    else:
        cluster = glob.cluster()
        obj = get_object(cluster, name)
        namespace = glob.request_namespace(cluster)
        where = "the cluster"
    if show_schema:
        print_schema(obj, glob.formats("table", "json", "yaml"))
    elif show_examples:
        from .catalog_examples import build_examples, print_examples

        output = glob.formats("table", "yaml", "json")
        click.echo(print_examples(build_examples(obj, namespace=namespace, where=where), output), nl=False)
    else:
        print_get(obj)


@catalog.command("search")
@click.argument("words", nargs=-1, required=True)
@_catalog_option
@global_options
@cluster_errors
def catalog_search(words: tuple[str, ...], catalog_dir: Path | None) -> None:
    """Find catalog items and bundles by words, best match first.

    A word scores where it occurs: in the name (8, exact 10), a tag (4, exact 6), the display name (2) or the
    description (1); each word counts once, at its best place, and the scores add up. Searches the cluster, or
    a catalog folder with --catalog (offline).

    \b
    devctl catalog search postgres
    devctl catalog search cache redis --catalog catalog/ -o json
    """
    from .catalog_browse import cluster_objects, folder_objects, print_search, search

    glob = get_globals()
    glob.formats("table", "json", "yaml", "name")
    objects = folder_objects(catalog_dir) if catalog_dir is not None else cluster_objects(glob.cluster())
    print_search(search(objects, words), words)


@catalog.command("diff")
@click.argument("old", type=_folder)
@click.argument("new", type=_folder)
@click.option(
    "--requests",
    "requests_dir",
    type=click.Path(exists=True, path_type=Path),
    help="Check the ServiceRequest manifests in this folder (or file) against both catalogs.",
)
@global_options
def catalog_diff(old: Path, new: Path, requests_dir: Path | None) -> None:
    """Compare two catalog folders (offline): what was added, removed and changed, and what it breaks.

    Both folders are loaded with the catalog validator. For each changed item or bundle it lists the version,
    the fields schema (added and removed fields, newly required fields, changed types, enums, patterns and
    bounds), actions added, removed or changed, outputs, mode and other spec changes; '!' marks a change that
    can reject requests valid before, and an entry changed without a higher version is flagged. With
    --requests, every ServiceRequest there is validated against the old and the new catalog; those valid
    before and invalid now are listed with the validator's message. Exit 0 when no request breaks (and the new
    catalog is valid), 1 otherwise.

    \b
    git worktree add /tmp/main main
    devctl catalog diff /tmp/main/catalog catalog/ --requests ../requests-repo/
    """
    from .catalog_diff import print_diff, run_diff

    glob = get_globals()
    output = glob.formats("table", "json", "yaml")
    result = run_diff(old, new, requests_dir)
    print_diff(result, output)
    sys.exit(EXIT_OK if result.ok else EXIT_FAILED)
