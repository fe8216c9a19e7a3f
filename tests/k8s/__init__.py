"""A Kubernetes API emulator for tests without a cluster, built on kmock's ``KubernetesEmulator``.

It serves kmock's bundled built-in resources plus our CRDs over real HTTP from a background thread, with the
kube-apiserver semantics the operator relies on (see test_conformance.py)::

    with ApiEmulator.running(crds_dir="crds") as api:          # or the `k8s_api` pytest fixture
        api.create({"apiVersion": "orchestrator.dev/v1alpha1", "kind": "ServiceRequest",
                    "metadata": {"name": "db", "namespace": "team-a"}, "spec": {"catalogItem": "pg"}})
        with run_operator(api, registry):                      # kopf in its own thread, logged in to `api`
            api.wait_for("sr", "db", "team-a", condition=lambda o: o and o.get("status", {}).get("phase"))
        print(api.events("team-a"), api.write_counts())

Pytest fixtures (registered in tests/conftest.py): ``k8s_api``, ``k8s_kubeconfig``, ``kubectl``, ``kopf_operator``.
Standalone: ``python -m tests.k8s --port 8001 [--crds crds/] [--load examples/x.yaml]``.

Field management follows kube-apiserver (fieldmanager.py, on a port of structured-merge-diff in fieldsets.py): every
write keeps ``metadata.managedFields`` (``Update`` entries for ``?fieldManager=`` or the User-Agent's product; the
helpers above write as ``emulator``), and server-side apply (``PATCH`` ``application/apply-patch+yaml``, a required
``?fieldManager=``, ``?force=true``) merges per the CRD schema (``x-kubernetes-list-type``/``-map-type``), removes what
a manager stopped applying unless another owns it, answers 409 ``FieldManagerConflict`` and is a no-op when nothing
changes. Not emulated there: schemas of built-in kinds (their lists are atomic), kubectl's last-applied migration of
the ``kubectl`` manager. Elsewhere: CRD schemas only shape field tracking (no validation, pruning or defaulting).
"""

from .emulator import ApiEmulator
from .errors import KubernetesError
from .kopf_thread import OperatorThread, operator_settings, run_operator
from .resources import Registry, Resource, read_crd_documents, resources_from_crd
from .rest import RestClient
from .server import Access, EmulatorHandler
from .store import Store
from .tables import jsonpath

__all__ = [
    "Access",
    "ApiEmulator",
    "EmulatorHandler",
    "KubernetesError",
    "OperatorThread",
    "Registry",
    "Resource",
    "RestClient",
    "Store",
    "jsonpath",
    "operator_settings",
    "read_crd_documents",
    "resources_from_crd",
    "run_operator",
]
