"""Typed operator settings: defaults, then a YAML config file, then ``ORCHESTRATOR_*`` environment variables.

Environment variables name a field by its path in upper snake case: ``ORCHESTRATOR_JIRA__POLL_INTERVAL=30s`` sets
``jira.pollInterval`` (double underscore between levels). Durations accept ``30s``, ``5m``, ``1h`` or plain seconds.
Bad settings raise ``ConfigError`` naming the source and field, never a traceback from deep inside.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic.alias_generators import to_camel

ENV_PREFIX = "ORCHESTRATOR_"
CONFIG_FILE_ENV = "ORCHESTRATOR_CONFIG"
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}


class ConfigError(Exception):
    """Settings that cannot be used; the message names the source and the field."""


def parse_duration(value: Any) -> float:
    """Seconds from ``30s``/``5m``/``1h``/``250ms`` or a number."""
    if isinstance(value, bool):
        raise ValueError("expected a duration such as 30s, 5m or 1h")
    if isinstance(value, int | float):
        seconds = float(value)
    else:
        match = _DURATION.match(str(value))
        if match is None:
            raise ValueError(f"'{value}' is not a duration (use e.g. 30s, 5m, 1h)")
        seconds = float(match.group(1)) * _UNITS[match.group(2)]
    if seconds < 0:
        raise ValueError("a duration cannot be negative")
    return seconds


class _Settings(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True)


class _Durations(_Settings):
    """Accepts duration strings in every float field whose name ends in interval/timeout/deadline/period."""

    @field_validator("*", mode="before")
    @classmethod
    def _durations(cls, value: Any, info: Any) -> Any:
        name = str(info.field_name)
        if name.endswith(("interval", "timeout", "deadline", "period", "grace", "reset", "delay", "lag")):
            return parse_duration(value)
        return value


class JiraSettings(_Durations):
    """How the operator talks to JIRA."""

    connection_label: str = "orchestrator.dev/jira-connection"
    """Secrets in the operator namespace with this label are JIRA connections; the label value is the name."""
    poll_interval: float = 30.0
    """How often an open ticket is polled."""
    call_timeout: float = 10.0
    """Timeout of every HTTP call to JIRA (connect and read)."""
    search_grace: float = 15.0
    """After an unknown create outcome, how long a label search may lag before the operator creates again."""
    backoff_initial_delay: float = 5.0
    backoff_max_delay: float = 300.0
    auth_retry_interval: float = 600.0
    """A request stalled on JIRA authentication is re-checked this often (the connection Secret may be fixed)."""
    breaker_failure_threshold: int = Field(default=5, ge=1)
    """Consecutive temporary failures that open a connection's circuit breaker."""
    breaker_reset: float = 60.0
    """How long an open breaker rejects calls before letting one probe through."""
    escalation_connection: str = "default"
    escalation_project: str | None = None
    """Project of manual-support tickets opened by the escalate annotation; escalation is refused when unset."""
    escalation_issue_type: str = "Task"
    max_workers: int = Field(default=8, ge=1, le=256)
    """Threads for blocking JIRA calls (bounded, so a slow JIRA cannot exhaust the operator)."""


class CatalogSettings(_Durations):
    """How CatalogSources are synced."""

    cache_dir: Path = Path("/var/cache/orchestrator")
    """Writable folder for the git clones of CatalogSources with spec.git (mount a volume here)."""
    git_timeout: float = 120.0
    """Timeout of one git clone or fetch."""
    apply_concurrency: int = Field(default=8, ge=1, le=64)
    """Server-side applies and prunes in flight at once during a sync."""
    retry_initial_delay: float = 5.0
    """First retry after a temporary sync failure (doubling up to the source's interval)."""
    item_status_interval: float = 10.0
    """How often CatalogItem/CatalogBundle status.activeRequests is brought up to date (one write per change)."""


class TerraformSettings(_Durations):
    """How Terraform actions run."""

    work_dir: Path = Path("/var/lib/orchestrator/terraform")
    """Writable scratch folder for per-request working directories (mount an emptyDir here)."""
    max_concurrent_runs: int = Field(default=2, ge=1, le=64)
    """Terraform commands in flight at once in the operator (the inProcess runner's bounded worker pool)."""
    run_timeout: float = 1800.0
    """Longest one init+plan+apply (or destroy) may take before it is reported as failed (temporary)."""
    module_root: Path | None = None
    """Catalog directory modules are read from for items that no CatalogSource applied (applied by hand)."""
    job_namespace: str | None = None
    """Namespace of the job runner's Jobs and their Secrets; the operator's namespace when unset."""
    job_image: str = "ghcr.io/platform-orchestrator/operator:latest"
    """Image of the job runner's Jobs (the operator image; it carries ``orchestrator terraform-run``)."""
    job_service_account: str = "orchestrator-terraform"
    job_poll_interval: float = 5.0
    """How often a running Job is checked."""
    job_ttl_seconds: int = Field(default=3600, ge=0)
    """ttlSecondsAfterFinished of the job runner's Jobs."""
    plugin_cache_dir: Path | None = None
    """Shared provider plugin cache (``TF_PLUGIN_CACHE_DIR``) across runs; every run downloads providers when unset."""
    interrupt_grace: float = 10.0
    """After the run timeout, how long Terraform may take to stop gracefully (SIGINT) before it is killed."""


class HttpSettings(_Durations):
    """How HTTP actions call APIs."""

    connection_label: str = "orchestrator.dev/http-connection"
    """Secrets in the operator namespace with this label are HTTP connections; the label value is the name."""
    call_timeout: float = 30.0
    """Timeout of one HTTP call (connect and read)."""
    breaker_failure_threshold: int = Field(default=5, ge=1)
    breaker_reset: float = 60.0
    auth_retry_interval: float = 600.0
    """An HTTP action stalled on authentication or a missing connection is re-checked this often."""
    max_response_bytes: int = Field(default=1_048_576, ge=1024)
    """Largest response body read from an HTTP call; a larger one fails the action."""


class WorkspaceSettings(_Durations):
    """How workspace actions manage namespaces."""

    field_manager: str = "orchestrator-workspace"
    """Field manager of the workspace's objects (also tells the operator's own writes from users' activity)."""
    poll_interval: float = 5.0
    """How often a terminating namespace is looked at again (deletion, a namespace being recreated)."""
    conflict_retry_interval: float = 60.0
    """How often a NamespaceConflict (or missing permission) is re-checked; the fix happens in the cluster."""
    max_observation_interval: float = 300.0
    """Upper bound of the idleness check period (which is otherwise a quarter of hibernateAfter)."""
    system_managers: tuple[str, ...] = ("kube-controller-manager", "kubelet", "kube-scheduler")
    """Field managers whose writes are not user activity (controllers reacting to the workload, not people)."""

    @field_validator("system_managers", mode="before")
    @classmethod
    def _comma_separated(cls, value: Any) -> Any:
        return tuple(m.strip() for m in value.split(",") if m.strip()) if isinstance(value, str) else value


class Settings(_Durations):
    """Everything the operator process is configured with."""

    namespace: str = "orchestrator-system"
    """The operator's own namespace: JIRA connection Secrets and the environments ConfigMap live here."""
    watch_namespaces: list[str] = Field(default_factory=list)
    """Namespaces to watch for ServiceRequests; empty means cluster-wide."""
    cluster_name: str = "kubernetes"
    """The ``system.clusterName`` template value."""
    environments_configmap: str = "orchestrator-environments"
    """ConfigMap (in ``namespace``) whose key ``environments.yaml`` is the environments config."""
    probe_host: str = "0.0.0.0"
    probe_port: int = Field(default=8080, ge=0, le=65535)
    """One port for /healthz, /readyz and /metrics (0 picks a free port, for tests)."""
    deletion_deadline: float = 600.0
    """After this long in deletion, a request that cannot finish its cleanup reports Stalled."""
    secret_cache_ttl: float = 10.0
    """How long connection Secrets and the environments ConfigMap are cached between reads."""
    peering: str | None = None
    """kopf peering name for running several replicas (one active); standalone when unset."""
    jira: JiraSettings = Field(default_factory=JiraSettings)
    catalog: CatalogSettings = Field(default_factory=CatalogSettings)
    terraform: TerraformSettings = Field(default_factory=TerraformSettings)
    http: HttpSettings = Field(default_factory=HttpSettings)
    workspace: WorkspaceSettings = Field(default_factory=WorkspaceSettings)
    observe_interval: float = 60.0
    """How often Ready requests are looked at (Terraform drift, workspace idleness); per-action intervals apply."""


def _env_overrides(environ: Mapping[str, str]) -> dict[str, Any]:
    overrides: dict[str, Any] = {}
    for key, raw in environ.items():
        if not key.startswith(ENV_PREFIX) or key == CONFIG_FILE_ENV:
            continue
        parts = [part.lower() for part in key[len(ENV_PREFIX) :].split("__")]
        target = overrides
        for part in parts[:-1]:
            target = target.setdefault(part, {})
        value: Any = raw
        if parts[-1] == "watch_namespaces":
            value = [ns.strip() for ns in raw.split(",") if ns.strip()]
        target[parts[-1]] = value
    return overrides


def _merge(base: dict[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = _merge(dict(merged[key]), value)
        else:
            merged[key] = value
    return merged


def _snake(data: Any) -> Any:
    if isinstance(data, Mapping):
        return {re.sub(r"(?<!^)(?=[A-Z])", "_", str(k)).lower(): _snake(v) for k, v in data.items()}
    return data


def load_settings(config_file: Path | None = None, environ: Mapping[str, str] | None = None) -> Settings:
    """Settings from defaults, the config file (or ``$ORCHESTRATOR_CONFIG``) and the environment, in that order."""
    environ = os.environ if environ is None else environ
    data: dict[str, Any] = {}
    source = "defaults"
    path = config_file or (Path(environ[CONFIG_FILE_ENV]) if environ.get(CONFIG_FILE_ENV) else None)
    if path is not None:
        source = str(path)
        try:
            loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
        except OSError as error:
            raise ConfigError(f"{path}: cannot read the config file: {error.strerror}") from None
        except yaml.YAMLError as error:
            raise ConfigError(f"{path}: not valid YAML: {error}") from None
        if loaded is not None and not isinstance(loaded, Mapping):
            raise ConfigError(f"{path}: the config file must be a mapping of settings")
        data = _snake(loaded or {})
    env = _env_overrides(environ)
    if env:
        source = f"{source} and {ENV_PREFIX}* environment variables"
    try:
        return Settings.model_validate(_merge(data, env))
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(to_camel(str(p)) for p in e['loc'])}: {e['msg']}" for e in error.errors(include_url=False)
        )
        raise ConfigError(f"invalid settings ({source}): {problems}") from None
