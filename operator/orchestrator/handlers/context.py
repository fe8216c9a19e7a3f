"""What the handlers share: clients and settings built once at startup and handed over through kopf's memo."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, cast

import kopf
import yaml
from pydantic import ValidationError

from .. import __version__
from ..actions.base import ActionContext, ActionRunner, CatalogRef
from ..actions.http import HttpConnections, HttpRunner, HttpTiming
from ..actions.jira import JiraConnections, JiraRunner, JiraTiming
from ..actions.terraform import InProcessEngine, ModuleCheckout, ModuleUnavailable, TerraformRunner, TerraformTiming
from ..actions.terraform_job import JobRunner, JobSettings
from ..actions.workspace import WorkspaceRunner
from ..api.base import first_problem
from ..api.catalog import CatalogItem
from ..api.environments import EnvironmentsConfig
from ..api.service_request import ActionStatus
from ..catalog.revisions import SourceUnavailable
from ..catalog.sync_plan import REVISION_ANNOTATION, SOURCE_LABEL, SOURCE_NAMESPACE_LABEL, Kind
from ..clients.git import GitSourceError
from ..clients.http import HttpConnectionPool
from ..clients.jira_pool import JiraConnectionPool
from ..clients.kubernetes import CONFIG_MAPS, SECRETS, KubernetesApi, KubernetesClient, decode_secret_data
from ..clients.ttl_cache import TtlCache
from ..config import Settings
from ..metrics import Metrics
from ..reconcile.request import CatalogLookup, RequestView, SystemInfo
from ..reconcile.status import Announcement
from ..redaction import Redactor
from .catalog_items import CatalogObjectStatus
from .catalog_sync import CatalogSync

EXPOSE_LABEL = "orchestrator.dev/expose"
# The kinds of key of kopf's "requests" index (see handlers/registry.py).
BY_ITEM, BY_PHASE, WAITING_FOR_ITEM = "item", "phase", "waiting-for-item"


def _post_event(body: Mapping[str, Any], announcement: Announcement) -> None:
    target = body if isinstance(body, kopf.Body) else kopf.Body(cast(kopf.RawBody, dict(body)))
    kopf.event(target, type=announcement.type, reason=announcement.reason, message=announcement.message[:1024])


def active_requests(indexes: Mapping[str, Any], kind: Kind, name: str) -> int:
    """ServiceRequests naming the catalog object that are not being deleted (kopf's ``requests`` index)."""
    return len(indexes["requests"].get((BY_ITEM, kind, name), []))


def terraform_runner(
    kube: KubernetesClient,
    settings: Settings,
    metrics: Metrics,
    sync: CatalogSync,
    *,
    jobs: JobRunner | None = None,
) -> TerraformRunner:
    """The Terraform runner, reading modules from the CatalogSource checkout the item came from.

    ``jobs`` replaces the job runner built from the settings (the simulation runs Jobs in process)."""
    tf = settings.terraform

    async def locate(catalog: CatalogRef | None, module: str) -> ModuleCheckout:
        revision = catalog.revision if catalog else None
        if catalog is not None and catalog.source is not None:
            try:
                revision, root = await sync.catalog_root(catalog.source[0], catalog.source[1], revision)
            except SourceUnavailable as error:
                raise ModuleUnavailable(str(error), temporary=True) from None
            except GitSourceError as error:
                raise ModuleUnavailable(str(error), temporary=not error.permanent) from None
        elif tf.module_root is not None:
            root = tf.module_root
        else:
            raise ModuleUnavailable(
                "the item was not applied by a CatalogSource and terraform.moduleRoot is not set", temporary=False
            )
        path = (root / module).resolve()
        if not path.is_relative_to(root.resolve()) or not path.is_dir():
            at = f" at revision {revision}" if revision else ""
            raise ModuleUnavailable(f"the module directory does not exist in the catalog{at}", temporary=False)
        return ModuleCheckout(path, revision)

    jobs = jobs or JobRunner(kube, job_settings(settings))
    engine = InProcessEngine(
        tf.work_dir,
        tf.max_concurrent_runs,
        tf.run_timeout,
        plugin_cache=tf.plugin_cache_dir,
        interrupt_grace=tf.interrupt_grace,
    )
    timing = TerraformTiming(run_timeout=tf.run_timeout, poll_interval=tf.job_poll_interval)
    return TerraformRunner(kube, locate, engine, jobs, timing, metrics)


def job_settings(settings: Settings) -> JobSettings:
    """Where and how the job runner's Jobs run, from the operator settings."""
    tf = settings.terraform
    return JobSettings(
        namespace=tf.job_namespace or settings.namespace,
        image=tf.job_image,
        service_account=tf.job_service_account,
        ttl_seconds=tf.job_ttl_seconds,
        timeout=tf.run_timeout,
    )


class EnvironmentsUnavailable(Exception):
    """The environments ConfigMap exists but cannot be used; the message names the key and the problem."""


def _runners(
    settings: Settings,
    metrics: Metrics,
    kube: KubernetesClient,
    jira: JiraConnections,
    http: HttpConnections,
    catalog_sync: CatalogSync,
    *,
    jobs: JobRunner | None = None,
) -> dict[str, ActionRunner]:
    """One runner per action type, over the given JIRA and HTTP connections."""
    timing = JiraTiming(
        poll_interval=settings.jira.poll_interval,
        search_grace=settings.jira.search_grace,
        auth_retry_interval=settings.jira.auth_retry_interval,
    )
    return {
        "jira": JiraRunner(jira, timing),
        "http": HttpRunner(http, HttpTiming(auth_retry_interval=settings.http.auth_retry_interval)),
        "workspace": WorkspaceRunner(kube, settings.workspace),
        "terraform": terraform_runner(kube, settings, metrics, catalog_sync, jobs=jobs),
    }


@dataclass
class OperatorContext:
    settings: Settings
    metrics: Metrics
    kube: KubernetesClient
    jira: JiraConnectionPool
    runners: Mapping[str, ActionRunner]
    system: SystemInfo
    catalog_sync: CatalogSync
    catalog_status: CatalogObjectStatus
    _environments: TtlCache[str, EnvironmentsConfig | None] = field(init=False)
    _exposed: TtlCache[str, dict[str, dict[str, str]]] = field(init=False)
    _items: dict[str, tuple[str, CatalogLookup]] = field(default_factory=dict)
    http_pool: HttpConnectionPool | None = None

    def __post_init__(self) -> None:
        self._environments = TtlCache(self.settings.secret_cache_ttl)
        self._exposed = TtlCache(self.settings.secret_cache_ttl)

    @classmethod
    def build(cls, settings: Settings, metrics: Metrics, kube: KubernetesClient) -> OperatorContext:
        pool = JiraConnectionPool(kube, settings, metrics)
        http_pool = HttpConnectionPool(kube, settings, metrics)
        catalog_sync = CatalogSync(kube, settings, metrics, _post_event)
        runners = _runners(settings, metrics, kube, pool.get, http_pool, catalog_sync)
        return cls(
            settings,
            metrics,
            kube,
            pool,
            runners,
            SystemInfo(settings.cluster_name, __version__),
            catalog_sync,
            CatalogObjectStatus(kube),
            http_pool=http_pool,
        )

    @classmethod
    def offline(
        cls,
        settings: Settings,
        metrics: Metrics,
        kube: KubernetesClient,
        *,
        jira: JiraConnections,
        http_pool: HttpConnectionPool,
        jobs: JobRunner,
    ) -> OperatorContext:
        """The operator's context over backends the caller provides (``devctl simulate``: an in-memory API, dry-run
        JIRA and HTTP, Jobs run in process): the same runners as ``build``, with the given connections.

        Escalation tickets are not opened (``jira.escalationProject`` is cleared): they would go to the JIRA of a
        connection Secret, not to the dry run.
        """
        settings = settings.model_copy(update={"jira": settings.jira.model_copy(update={"escalation_project": None})})
        catalog_sync = CatalogSync(kube, settings, metrics, _post_event)
        runners = _runners(settings, metrics, kube, jira, http_pool, catalog_sync, jobs=jobs)
        return cls(
            settings,
            metrics,
            kube,
            JiraConnectionPool(kube, settings, metrics),
            runners,
            SystemInfo(settings.cluster_name, __version__),
            catalog_sync,
            CatalogObjectStatus(kube),
            http_pool=http_pool,
        )

    def action_context(
        self,
        view: RequestView,
        scopes: Mapping[str, Any],
        redactor: Redactor,
        record_pending: Callable[[ActionStatus], Awaitable[None]],
        catalog: CatalogRef | None = None,
    ) -> ActionContext:
        """What an action runner gets for one request: identity, scopes, redaction, backoff settings."""
        return ActionContext(
            uid=view.uid,
            name=view.name,
            namespace=view.namespace,
            scopes=scopes,
            redactor=redactor,
            record_pending=record_pending,
            backoff_initial=self.settings.jira.backoff_initial_delay,
            backoff_max=self.settings.jira.backoff_max_delay,
            annotations=view.annotations,
            generation=view.generation,
            catalog=catalog,
        )

    async def close(self) -> None:
        self.jira.close()
        if self.http_pool is not None:
            await self.http_pool.close()
        if isinstance(self.kube, KubernetesApi):
            await self.kube.close()

    async def environments(self) -> EnvironmentsConfig | None:
        """The environments config from its ConfigMap (cached for ``secretCacheTtl``); None when there is none."""
        return await self._environments.get(self.settings.environments_configmap, self._read_environments)

    async def _read_environments(self) -> EnvironmentsConfig | None:
        name = self.settings.environments_configmap
        config_map = await self.kube.get(CONFIG_MAPS, name, self.settings.namespace)
        if config_map is None:
            return None
        text = (config_map.get("data") or {}).get("environments.yaml")
        where = f"ConfigMap {self.settings.namespace}/{name} key environments.yaml"
        if text is None:
            raise EnvironmentsUnavailable(f"{where} is missing")
        try:
            return EnvironmentsConfig.model_validate(yaml.safe_load(text) or {})
        except yaml.YAMLError as error:
            raise EnvironmentsUnavailable(f"{where} is not valid YAML: {error}") from None
        except ValidationError as error:
            raise EnvironmentsUnavailable(f"{where}: {first_problem(error)}") from None

    async def exposed_secrets(self, namespace: str) -> dict[str, dict[str, str]]:
        """The ``secrets`` scope: Secrets labelled orchestrator.dev/expose=true in the request's namespace.

        Read once per namespace per ``secretCacheTtl``, however many requests of the namespace reconcile meanwhile:
        listing a namespace's Secrets on every reconcile costs the API server O(Secrets) each time.
        """

        async def read() -> dict[str, dict[str, str]]:
            secrets = await self.kube.list(SECRETS, namespace, label_selector=f"{EXPOSE_LABEL}=true")
            return {str(s["metadata"]["name"]): decode_secret_data(s) for s in secrets}

        return await self._exposed.get(namespace, read)

    async def refresh_catalog_status(self, kind: Kind, body: Mapping[str, Any], indexes: Mapping[str, Any]) -> bool:
        """Bring a CatalogItem's or CatalogBundle's status up to date from kopf's indexes; True when written."""
        items = indexes["catalog_items"]
        return await self.catalog_status.update(
            kind,
            body,
            active_requests(indexes, kind, str(body["metadata"]["name"])),
            lambda item: self.catalog_item(item, items.get(item)).item,
        )

    def catalog_item(self, name: str, bodies: Any) -> CatalogLookup:
        """Look an item up in the kopf index (``bodies`` is the index's collection for ``name``, or None)."""
        body: Mapping[str, Any] | None = next(iter(bodies), None) if bodies else None
        if body is None:
            return CatalogLookup(None)
        version = str(body.get("metadata", {}).get("resourceVersion", ""))
        cached = self._items.get(name)
        if cached is not None and cached[0] == version:
            return cached[1]
        annotations = body.get("metadata", {}).get("annotations") or {}
        revision = annotations.get(REVISION_ANNOTATION) or (body.get("status") or {}).get("catalogRevision")
        try:
            item = CatalogItem.model_validate(
                {
                    "apiVersion": body.get("apiVersion"),
                    "kind": body.get("kind"),
                    "metadata": {"name": name, "labels": body.get("metadata", {}).get("labels") or {}},
                    "spec": body.get("spec") or {},
                }
            )
            labels = body.get("metadata", {}).get("labels") or {}
            source = (
                (str(labels[SOURCE_NAMESPACE_LABEL]), str(labels[SOURCE_LABEL]))
                if labels.get(SOURCE_LABEL) and labels.get(SOURCE_NAMESPACE_LABEL)
                else None
            )
            lookup = CatalogLookup.found(item, revision, source)
        except ValidationError as error:
            lookup = CatalogLookup(None, revision, problem=f"the item cannot be read ({first_problem(error)})")
        self._items[name] = (version, lookup)
        return lookup
