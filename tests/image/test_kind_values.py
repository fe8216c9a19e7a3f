"""The values hack/kind-up.sh installs the chart with are accepted by the chart (strict lint) and wire git-sync to
the in-cluster catalog repository, the fake JIRA connection Secret and the locally built image."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "charts" / "platform-orchestrator"


def _kind_up_values() -> dict[str, Any]:
    """The script's values heredoc, expanded by bash with the script's default settings."""
    script = (ROOT / "hack" / "kind-up.sh").read_text(encoding="utf-8")
    match = re.search(r'^cat >"\$values" <<YAML\n(.*?)^YAML$', script, re.MULTILINE | re.DOTALL)
    assert match, "hack/kind-up.sh: values heredoc not found"
    defaults = re.findall(r"^([A-Z_]+)=(\S+)$", script, re.MULTILINE)
    program = "\n".join(f"{name}={value}" for name, value in defaults) + f"\ncat <<YAML\n{match.group(1)}YAML\n"
    done = subprocess.run(["bash", "-euc", program], cwd=ROOT, env={"PATH": "/usr/bin:/bin"}, capture_output=True,
                          text=True, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr
    values = yaml.safe_load(done.stdout)
    assert isinstance(values, dict)
    return values


def test_kind_values_lint_strict_and_render() -> None:
    import helm_python

    values = _kind_up_values()
    report = helm_python.lint(str(CHART), values, strict=True, namespace="orchestrator-system")
    assert not report["errors"], report["errors"]
    assert not [m for m in report["messages"] if m["severity"] >= 2], report["messages"]

    manifests = helm_python.Chart.load(str(CHART)).render(
        values, name="platform-orchestrator", namespace="orchestrator-system", is_install=True
    )
    objects = [
        doc
        for path, text in manifests.items()
        if not path.endswith("NOTES.txt")
        for doc in yaml.safe_load_all(text)
        if doc
    ]
    deployment = next(o for o in objects if o["kind"] == "Deployment")
    containers = {c["name"]: c for c in deployment["spec"]["template"]["spec"]["containers"]}
    assert containers["operator"]["image"] == "platform-orchestrator:dev"
    sidecar = next(c for name, c in containers.items() if name != "operator")
    flags = " ".join(sidecar.get("args", []) + sidecar.get("command", []))
    env = {e["name"]: e.get("value") for e in sidecar.get("env", [])}
    assert "git://catalog-git.orchestrator-system.svc:9418/catalog.git" in flags + " " + " ".join(
        map(str, env.values())
    )
    environments = yaml.safe_dump(objects)
    assert "eu-central-1" in environments, "the environments of examples/environments.yaml are not in the ConfigMap"
    notes = "".join(text for path, text in manifests.items() if path.endswith("NOTES.txt"))
    assert "jira-demo" in notes, "the JIRA connection Secret is not listed in the release notes"
