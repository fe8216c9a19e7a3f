"""Dynamic shell completion of object names: click ``shell_complete`` callbacks that ask the cluster.

Usage in a command module: ``@click.argument("name", shell_complete=complete_names("catalogitems"))``.
Light at import time like the command modules (the cluster client is imported when a completion runs). A
completion must never print into the user's shell: any failure (no kubeconfig, unreachable cluster, forbidden)
completes nothing.
"""

from __future__ import annotations

import os
from collections.abc import Callable

import click
from click.shell_completion import CompletionItem

from .common import DEFAULT_OPERATOR_NAMESPACE, Globals

COMPLETION_TIMEOUT = 5.0  # seconds per API call; a <TAB> that hangs longer is worse than no completion
Completer = Callable[[click.Context, click.Parameter, str], list[CompletionItem]]


def complete_names(plural: str, *, operator_namespace: bool = False) -> Completer:
    """Complete the names of our kind ``plural`` (``servicerequests``, ``catalogitems``, ``catalogsources``...).

    Namespaced kinds are listed in -n, else the context's namespace (kubectl's rule), or with
    ``operator_namespace`` in -n, else $DEVCTL_OPERATOR_NAMESPACE, else orchestrator-system. The global flags
    already typed on the command line (--kubeconfig, --context, -n) are honoured; names already given to a
    multi-value argument are not offered again.
    """

    def complete(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[CompletionItem]:
        from ..clients.cluster import Cluster

        root = ctx.find_root().obj  # completion runs outside click's context stack: no get_globals() here
        glob = root if isinstance(root, Globals) else Globals()
        kubeconfig = glob.kubeconfig or os.environ.get("KUBECONFIG") or None
        try:
            cluster = Cluster(
                kubeconfig.split(os.pathsep)[0] if kubeconfig else None, glob.context, timeout=COMPLETION_TIMEOUT
            )
            if operator_namespace:
                namespace = glob.namespace or os.environ.get("DEVCTL_OPERATOR_NAMESPACE") or DEFAULT_OPERATOR_NAMESPACE
            else:
                namespace = glob.request_namespace(cluster)
            page = cluster.list_page(plural, namespace, limit=500)
            names = sorted(str(obj["metadata"]["name"]) for obj in page.get("items") or [])
        except Exception:  # whatever went wrong, the shell gets no completions rather than an error text
            return []
        given = ctx.params.get(param.name or "") if param.multiple or param.nargs != 1 else None
        taken = set(given or ())
        return [CompletionItem(name) for name in names if name.startswith(incomplete) and name not in taken]

    return complete
