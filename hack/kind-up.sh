#!/usr/bin/env bash
# A local Platform Orchestrator on kind, for demos and the e2e suite (hack/kind-e2e.sh):
#   1. a kind cluster (created unless it exists);
#   2. the operator image and the demo fake-JIRA image built with docker and loaded into the cluster;
#   3. a catalog git repository served in the cluster by `git daemon` (Service catalog-git, port 9418), holding this
#      checkout's catalog/ (pushed from inside the pod, so no port-forward is needed);
#   4. the fake JIRA (tests/fakes/jira_server.py, tickets resolved as Done after $FAKE_JIRA_AUTO_COMPLETE seconds)
#      and its connection Secret (labelled orchestrator.dev/jira-connection=default; random token);
#   5. the Helm chart from charts/platform-orchestrator, git-sync pointed at the catalog repository.
# Needs: kind, docker, kubectl, helm, git. Re-running it upgrades everything in place.
#
#   hack/kind-up.sh                         # cluster "orchestrator", context kind-orchestrator
#   KIND_CLUSTER_NAME=demo hack/kind-up.sh  # another cluster
set -euo pipefail

cd "$(dirname "$0")/.."

CLUSTER=${KIND_CLUSTER_NAME:-orchestrator}
CONTEXT="kind-${CLUSTER}"
NAMESPACE=${ORCHESTRATOR_NAMESPACE:-orchestrator-system}
RELEASE=${HELM_RELEASE:-platform-orchestrator}
IMAGE_REPOSITORY=${IMAGE_REPOSITORY:-platform-orchestrator}
IMAGE_TAG=${IMAGE_TAG:-dev}
IMAGE="${IMAGE_REPOSITORY}:${IMAGE_TAG}"
FAKE_JIRA_IMAGE=${FAKE_JIRA_IMAGE:-platform-orchestrator-fake-jira:${IMAGE_TAG}}
FAKE_JIRA_AUTO_COMPLETE=${FAKE_JIRA_AUTO_COMPLETE:-20}
JIRA_LOGIN=bot@example.com

log() { printf '\n==> %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

for tool in kind docker kubectl helm git; do
  command -v "$tool" >/dev/null 2>&1 || die "$tool is not installed (kind-up needs kind, docker, kubectl, helm and git)"
done
case "$CLUSTER" in
  *[!a-z0-9-]* | "") die "KIND_CLUSTER_NAME must be lowercase letters, digits and dashes, got '$CLUSTER'" ;;
esac

kube() { kubectl --context "$CONTEXT" "$@"; }

log "kind cluster $CLUSTER"
if kind get clusters 2>/dev/null | grep -qx "$CLUSTER"; then
  echo "cluster $CLUSTER exists; reusing it"
else
  kind create cluster --name "$CLUSTER" --wait 120s
fi

log "images $IMAGE and $FAKE_JIRA_IMAGE"
revision=$(git rev-parse HEAD 2>/dev/null || echo unknown)
created=$(date -u +%Y-%m-%dT%H:%M:%SZ)
version=$(sed -n 's/^version = "\(.*\)"$/\1/p' pyproject.toml)
docker build --tag "$IMAGE" --build-arg "VERSION=$version" --build-arg "REVISION=$revision" \
  --build-arg "CREATED=$created" .
docker build --target fake-jira --tag "$FAKE_JIRA_IMAGE" .
kind load docker-image --name "$CLUSTER" "$IMAGE" "$FAKE_JIRA_IMAGE"

log "namespace $NAMESPACE (Pod Security: restricted)"
kube create namespace "$NAMESPACE" --dry-run=client -o yaml | kube apply -f -
kube label namespace "$NAMESPACE" --overwrite \
  pod-security.kubernetes.io/enforce=restricted pod-security.kubernetes.io/warn=restricted >/dev/null

# Restricted Pod Security for the two helper Deployments below.
read -r -d '' RESTRICTED <<'YAML' || true
          securityContext:
            runAsNonRoot: true
            runAsUser: 65532
            runAsGroup: 65532
            allowPrivilegeEscalation: false
            readOnlyRootFilesystem: true
            capabilities: {drop: [ALL]}
            seccompProfile: {type: RuntimeDefault}
YAML

log "catalog git repository (git daemon, Service catalog-git:9418)"
kube apply -n "$NAMESPACE" -f - <<YAML
apiVersion: apps/v1
kind: Deployment
metadata:
  name: catalog-git
  labels: {app.kubernetes.io/name: catalog-git, app.kubernetes.io/part-of: platform-orchestrator-demo}
spec:
  replicas: 1
  strategy: {type: Recreate}
  selector:
    matchLabels: {app.kubernetes.io/name: catalog-git}
  template:
    metadata:
      labels: {app.kubernetes.io/name: catalog-git}
    spec:
      containers:
        - name: git
          image: $IMAGE
          imagePullPolicy: IfNotPresent
          command: [sh, -c]
          args:
            - >-
              git init --quiet --bare --initial-branch=main /repos/catalog.git &&
              git -C /repos/catalog.git config daemon.receivepack true &&
              exec git daemon --reuseaddr --export-all --enable=receive-pack --base-path=/repos --port=9418 /repos
          env: [{name: HOME, value: /tmp}]
          ports: [{name: git, containerPort: 9418}]
          readinessProbe: {tcpSocket: {port: git}, periodSeconds: 2}
          resources: {requests: {cpu: 10m, memory: 32Mi}, limits: {memory: 128Mi}}
$RESTRICTED
          volumeMounts:
            - {name: repos, mountPath: /repos}
            - {name: tmp, mountPath: /tmp}
      volumes:
        - {name: repos, emptyDir: {}}
        - {name: tmp, emptyDir: {}}
---
apiVersion: v1
kind: Service
metadata:
  name: catalog-git
  labels: {app.kubernetes.io/name: catalog-git}
spec:
  selector: {app.kubernetes.io/name: catalog-git}
  ports: [{name: git, port: 9418, targetPort: git}]
YAML
kube rollout status -n "$NAMESPACE" deployment/catalog-git --timeout=180s

log "pushing catalog/ to git://catalog-git.$NAMESPACE.svc:9418/catalog.git"
# Push from inside the pod: the bare repository is local there. A push of the same tree makes no new commit.
tar -cf - catalog | kube exec -i -n "$NAMESPACE" deployment/catalog-git -- sh -ec '
  rm -rf /tmp/work && mkdir /tmp/work && cd /tmp/work
  if git clone --quiet /repos/catalog.git . 2>/dev/null && git rev-parse --verify -q HEAD >/dev/null; then
    git rm -r -q --ignore-unmatch catalog
  else
    rm -rf /tmp/work && mkdir /tmp/work && cd /tmp/work && git init -q --initial-branch=main
  fi
  tar -xf - && git add -A catalog
  if git diff --cached --quiet 2>/dev/null && git rev-parse --verify -q HEAD >/dev/null; then
    echo "catalog unchanged"
  else
    git -c user.name=kind-up -c user.email=kind-up@localhost commit -q -m "catalog from the checkout"
  fi
  git push -q /repos/catalog.git HEAD:refs/heads/main
  git rev-parse HEAD
'

log "fake JIRA (Service fake-jira:8080) and its connection Secret"
if ! kube get secret -n "$NAMESPACE" jira-demo >/dev/null 2>&1; then
  token=$(od -An -N24 -tx1 /dev/urandom | tr -d ' \n')
  kube create secret generic jira-demo -n "$NAMESPACE" \
    --from-literal=url="http://fake-jira.${NAMESPACE}.svc:8080" \
    --from-literal=email="$JIRA_LOGIN" --from-literal=token="$token" >/dev/null
  unset token
fi
kube label secret -n "$NAMESPACE" jira-demo --overwrite orchestrator.dev/jira-connection=default >/dev/null
kube apply -n "$NAMESPACE" -f - <<YAML
apiVersion: apps/v1
kind: Deployment
metadata:
  name: fake-jira
  labels: {app.kubernetes.io/name: fake-jira, app.kubernetes.io/part-of: platform-orchestrator-demo}
spec:
  replicas: 1
  strategy: {type: Recreate}
  selector:
    matchLabels: {app.kubernetes.io/name: fake-jira}
  template:
    metadata:
      labels: {app.kubernetes.io/name: fake-jira}
    spec:
      containers:
        - name: jira
          image: $FAKE_JIRA_IMAGE
          imagePullPolicy: IfNotPresent
          env:
            - {name: JIRA_LOGIN, valueFrom: {secretKeyRef: {name: jira-demo, key: email}}}
            - {name: JIRA_TOKEN, valueFrom: {secretKeyRef: {name: jira-demo, key: token}}}
          args: [--port, "8080", --user, "\$(JIRA_LOGIN):\$(JIRA_TOKEN)", --auto-complete-after, "$FAKE_JIRA_AUTO_COMPLETE"]
          ports: [{name: http, containerPort: 8080}]
          readinessProbe: {tcpSocket: {port: http}, periodSeconds: 2}
          resources: {requests: {cpu: 10m, memory: 32Mi}, limits: {memory: 128Mi}}
$RESTRICTED
YAML
kube apply -n "$NAMESPACE" -f - <<YAML
apiVersion: v1
kind: Service
metadata:
  name: fake-jira
  labels: {app.kubernetes.io/name: fake-jira}
spec:
  selector: {app.kubernetes.io/name: fake-jira}
  ports: [{name: http, port: 8080, targetPort: http}]
YAML
kube rollout status -n "$NAMESPACE" deployment/fake-jira --timeout=180s

log "Helm release $RELEASE from charts/platform-orchestrator"
values=$(mktemp)
trap 'rm -f "$values"' EXIT
cat >"$values" <<YAML
image:
  repository: $IMAGE_REPOSITORY
  tag: "$IMAGE_TAG"
  pullPolicy: IfNotPresent
operator:
  clusterName: $CLUSTER
  settings:
    jira:
      pollInterval: 5s
    observeInterval: 30s
jira:
  connectionSecrets: [jira-demo]
gitSync:
  repo: git://catalog-git.$NAMESPACE.svc:9418/catalog.git
  ref: main
  period: 10s
catalogSource:
  directory: catalog
  interval: 1m
environments:
  default: dev
  environments:
$(sed -n '/^environments:$/,$p' examples/environments.yaml | tail -n +2 | sed 's/^/  /')
YAML
helm upgrade --install "$RELEASE" charts/platform-orchestrator --kube-context "$CONTEXT" --namespace "$NAMESPACE" \
  --values "$values" --wait --timeout 5m

log "ready"
cat <<TEXT
Context:   $CONTEXT (kubectl config use-context $CONTEXT)
Namespace: $NAMESPACE
Try:       .venv/bin/devctl --context $CONTEXT health --components
           .venv/bin/devctl --context $CONTEXT catalog list
           .venv/bin/devctl --context $CONTEXT request submit dev-workspace --field name=demo --field owners=devs -n default --wait
Catalog:   kubectl --context $CONTEXT -n $NAMESPACE exec -it deployment/catalog-git -- sh   (repository /repos/catalog.git)
E2E:       E2E_KUBECONTEXT=$CONTEXT .venv/bin/pytest tests/e2e
Delete:    kind delete cluster --name $CLUSTER
TEXT
