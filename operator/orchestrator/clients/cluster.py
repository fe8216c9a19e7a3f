"""Blocking Kubernetes access for devctl, with kubectl's rules: ``--kubeconfig``, ``$KUBECONFIG``, ``--context``.

The operator uses the async client in ``kubernetes.py``; a CLI command is one short conversation with the API
server, for which the official client's synchronous API is the plain choice.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Mapping
from typing import Any

GROUP, VERSION = "orchestrator.dev", "v1alpha1"


class ClusterError(Exception):
    """The cluster could not be reached or refused the call; the message is one line for people."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class Cluster:
    """The custom objects of the orchestrator.dev API group."""

    def __init__(self, kubeconfig: str | None = None, context: str | None = None, *, timeout: float = 30.0) -> None:
        from kubernetes import client, config

        try:
            api_client = config.new_client_from_config(  # type: ignore[no-untyped-call]
                config_file=kubeconfig, context=context
            )
        except (config.ConfigException, OSError, TypeError, ValueError) as error:
            where = kubeconfig or "the default kubeconfig ($KUBECONFIG or ~/.kube/config)"
            raise ClusterError(f"cannot load {where}: {error}") from None
        self._objects = client.CustomObjectsApi(api_client)
        self._timeout = timeout

    def _call(self, what: str, method: Any, *args: Any, **kwargs: Any) -> dict[str, Any]:
        from kubernetes.client.exceptions import ApiException
        from urllib3.exceptions import HTTPError

        try:
            result: dict[str, Any] = method(*args, _request_timeout=self._timeout, **kwargs)
            return result
        except ApiException as error:
            message = error.reason or ""
            with contextlib.suppress(ValueError, AttributeError):
                message = json.loads(error.body or "{}").get("message") or message
            raise ClusterError(f"{what}: {message} (HTTP {error.status})", status=error.status) from None
        except (HTTPError, OSError) as error:
            raise ClusterError(f"{what}: cannot reach the API server: {error}") from None

    def list(self, plural: str, namespace: str | None = None) -> list[dict[str, Any]]:
        if namespace is None:
            result = self._call(f"list {plural}", self._objects.list_cluster_custom_object, GROUP, VERSION, plural)
        else:
            result = self._call(
                f"list {plural} in {namespace}",
                self._objects.list_namespaced_custom_object,
                GROUP,
                VERSION,
                namespace,
                plural,
            )
        return list(result.get("items") or [])

    def get(self, plural: str, name: str, namespace: str) -> dict[str, Any]:
        return self._call(
            f"get {plural} {namespace}/{name}",
            self._objects.get_namespaced_custom_object,
            GROUP,
            VERSION,
            namespace,
            plural,
            name,
        )

    def annotate(self, plural: str, name: str, namespace: str, annotations: Mapping[str, str]) -> dict[str, Any]:
        """Set annotations with a merge patch (never touching the spec a GitOps tool owns)."""
        return self._call(
            f"annotate {plural} {namespace}/{name}",
            self._objects.patch_namespaced_custom_object,
            GROUP,
            VERSION,
            namespace,
            plural,
            name,
            {"metadata": {"annotations": dict(annotations)}},
        )
