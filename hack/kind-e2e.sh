#!/usr/bin/env bash
# The end-to-end suite on kind: hack/kind-up.sh (cluster, images, catalog repository, fake JIRA, Helm chart), then
# pytest tests/e2e against the context kind-$KIND_CLUSTER_NAME. Extra arguments go to pytest.
#
#   hack/kind-e2e.sh                      # cluster "orchestrator"
#   SKIP_KIND_UP=1 hack/kind-e2e.sh -k ticket   # reuse what kind-up installed; one test
#   KIND_DELETE=1 hack/kind-e2e.sh        # delete the cluster afterwards (CI)
set -euo pipefail

cd "$(dirname "$0")/.."

CLUSTER=${KIND_CLUSTER_NAME:-orchestrator}
PYTEST=${PYTEST:-.venv/bin/pytest}

if [ ! -x "$PYTEST" ]; then
  echo "error: $PYTEST not found: run 'make install' first (or set PYTEST)" >&2
  exit 1
fi

if [ "${SKIP_KIND_UP:-0}" != 1 ]; then
  KIND_CLUSTER_NAME="$CLUSTER" hack/kind-up.sh
fi

if [ "${KIND_DELETE:-0}" = 1 ]; then
  trap 'kind delete cluster --name "$CLUSTER"' EXIT
fi

export E2E_KUBECONTEXT="kind-${CLUSTER}"
export E2E_OPERATOR_NAMESPACE="${ORCHESTRATOR_NAMESPACE:-orchestrator-system}"
export CHECKPOINT_DISABLE=1
status=0
"$PYTEST" tests/e2e -m e2e -v -rs "$@" || status=$?
if [ "$status" -ne 0 ]; then
  echo "e2e failed (exit $status); operator logs:" >&2
  kubectl --context "$E2E_KUBECONTEXT" -n "$E2E_OPERATOR_NAMESPACE" logs \
    -l app.kubernetes.io/name=platform-orchestrator --all-containers --tail=200 >&2 || true
fi
exit "$status"
