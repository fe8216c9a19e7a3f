"""The container image, the kind scripts and the CI workflows, checked without Docker or a cluster."""
