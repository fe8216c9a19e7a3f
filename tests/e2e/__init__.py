"""End-to-end tests against a real kind cluster (hack/kind-e2e.sh); skipped unless E2E_KUBECONTEXT names kind-*."""
