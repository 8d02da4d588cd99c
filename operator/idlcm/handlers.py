"""kopf glue: each handler turns a kopf cause into a call of the reconcile story. No business rules here."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Mapping, Sequence
from typing import Any

import kopf
import kubernetes.client

from idlcm import backoff, lease, readiness
from idlcm.connections import ConnectorPool
from idlcm.connectors.errors import ConnectorError
from idlcm.crds import GROUP, VERSION
from idlcm.kopfstorage import BoundedProgressStorage, DigestDiffBaseStorage
from idlcm.kube import Kube, Secret, unanswered
from idlcm.metrics import Metrics
from idlcm.reconcile import Integration, Reconciler
from idlcm.schedule import Trigger
from idlcm.settings import FINALIZER, REVALIDATE_ANNOTATION, SYNC_NOW_ANNOTATION, Settings
from idlcm.shards import Shard
from idlcm.validation import Validator

PLURAL = "integrations"
# kopf hides annotations of its own prefix from change detection: keep it apart from idlcm.io/revalidate.
KOPF_PREFIX = f"kopf.{GROUP}"
WATCHED_RESOURCES = ((GROUP, PLURAL), ("", "secrets"), ("", "configmaps"))
"""(group, plural) of what the handlers below watch: ready once each has listed once (readiness.py)."""
WATCHED_ANNOTATIONS = (REVALIDATE_ANNOTATION, SYNC_NOW_ANNOTATION)
"""The annotations whose changes the handlers below react to: kopf's diff base keeps only these."""

RELEASING = "releasing the finalizer"
"""How the delete handler's last Event ends: kopf's write that removes the finalizer comes after it."""

RefKey = tuple[str, str, str]
"""(kind, namespace, name) of a Secret or ConfigMap that Integrations read."""

logger = logging.getLogger(__name__)


def build_registry(
    options: Settings,
    shard: Shard | None = None,
    *,
    namespaces: Sequence[str] = (),
    health: str | None = None,
) -> kopf.OperatorRegistry:
    """A fresh registry with idlcm's handlers (a fresh one per operator, so tests can run several); with a
    shard, it sees only the Integrations the shard's label selector matches. `namespaces`: those the
    operator serves (none: cluster-wide); `health`: the URL of the health endpoint (readiness.py), if any."""
    registry = kopf.OperatorRegistry()
    resource = (GROUP, VERSION, PLURAL)

    @kopf.on.startup(registry=registry)
    async def configure(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> None:
        # Status holds only what the CRD declares (a real apiserver prunes the rest): keep kopf's
        # bookkeeping in annotations, and its finalizer in our own group.
        settings.persistence.finalizer = FINALIZER
        # Both bounded (kopfstorage.py): the API server takes 256 KiB of annotations, a spec may be larger.
        settings.persistence.progress_storage = BoundedProgressStorage(prefix=KOPF_PREFIX)
        settings.persistence.diffbase_storage = DigestDiffBaseStorage(
            prefix=KOPF_PREFIX, annotations=WATCHED_ANNOTATIONS
        )
        # Our own Events tell the story; kopf's chatter stays in the logs.
        settings.posting.level = logging.WARNING
        settings.peering.lifetime = memo.settings.peering_lifetime
        if shard is not None:  # filtered by the API server: other shards' Integrations never arrive here
            settings.watching.label_selectors[GROUP, PLURAL] = shard.selector
        memo.api_client = kubernetes.client.ApiClient(memo.kube_config)
        memo.connectors = ConnectorPool(
            timeout=memo.settings.request_timeout,
            max_response_bytes=memo.settings.max_response_bytes,
            observer=memo.metrics.outbound,
        )
        validator: Validator = memo.validator or _default_validator(memo.connectors)
        kube = Kube(memo.api_client, field_validation=memo.settings.field_validation)
        memo.reconciler = Reconciler(kube, validator, memo.connectors, memo.settings, memo.metrics)
        if namespaces:
            # Namespaced, its RBAC reads no CustomResourceDefinitions or Namespaces: without this kopf
            # tries to list them cluster-wide, is refused (an error line per attempt), and falls back
            # only after about a minute. The namespaces are given, not patterns: nothing to discover.
            settings.scanning.disabled = True
        watches = readiness.Watches(WATCHED_RESOURCES, namespaces)
        readiness.track(settings, watches)
        memo.health = readiness.Endpoint(health, watches) if health else None
        if memo.health is not None:
            try:
                await memo.health.start()
            except OSError as e:
                raise kopf.PermanentError(f"cannot serve the health endpoint {health}: {e}") from None

    @kopf.on.cleanup(registry=registry)
    async def close(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> None:
        readiness.untrack(settings)
        if memo.get("health") is not None:
            await memo.health.stop()
        await memo.reconciler.aclose()
        await memo.connectors.aclose()
        memo.api_client.close()  # its keep-alive connections would hold up the API server's shutdown

    @kopf.on.login(registry=registry)
    def login(memo: kopf.Memo, **_: Any) -> kopf.ConnectionInfo:
        return connection_info(memo.kube_config)

    @kopf.on.create(*resource, registry=registry)
    async def created(body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
        await _reconcile(memo, body, Trigger.CREATED)

    @kopf.on.resume(*resource, registry=registry)
    async def resumed(body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
        await _reconcile(memo, body, Trigger.RESUMED)

    @kopf.on.update(*resource, field="spec", registry=registry)
    async def spec_changed(body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
        await _reconcile(memo, body, Trigger.SPEC_CHANGED)

    @kopf.on.update(*resource, field=("metadata", "annotations", REVALIDATE_ANNOTATION), registry=registry)
    async def revalidate(body: kopf.Body, new: Any, memo: kopf.Memo, **_: Any) -> None:
        if new is not None:  # a removed annotation asks for nothing
            await _reconcile(memo, body, Trigger.REVALIDATE)

    @kopf.on.update(*resource, field=("metadata", "annotations", SYNC_NOW_ANNOTATION), registry=registry)
    async def sync_now(body: kopf.Body, new: Any, memo: kopf.Memo, **_: Any) -> None:
        if new is not None:
            await _reconcile(memo, body, Trigger.SYNC_DUE)

    @kopf.timer(*resource, interval=options.tick, registry=registry)
    async def tick(body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
        await _reconcile(memo, body, Trigger.TICK)

    # async: kopf would run a plain function in its thread pool, on every event of every Integration.
    @kopf.index(*resource, id="references", registry=registry)
    async def references(namespace: str | None, name: str, spec: kopf.Spec, **_: Any) -> dict[RefKey, str]:
        """(kind, namespace, name) of every Secret and ConfigMap an Integration reads -> the Integration."""
        keys: dict[RefKey, str] = {}
        namespace = namespace or ""
        for secret in _secret_names(spec):
            keys[("Secret", namespace, secret)] = name
        for source in spec.get("accountsFrom") or ():
            ref = (source or {}).get("configMapRef") or {}
            if ref.get("name"):
                keys[("ConfigMap", namespace, ref["name"])] = name
        return keys

    @kopf.on.event("", "v1", "secrets", registry=registry)
    async def secret_changed(
        type: str, namespace: str | None, name: str, body: kopf.Body, memo: kopf.Memo, **kwargs: Any
    ) -> None:
        if not type or not namespace:
            return  # the initial listing: nothing changed
        index: kopf.Index[RefKey, str] = kwargs["references"]
        meta = body.get("metadata") or {}
        secret = Secret.decode(name, meta.get("resourceVersion") or "", body.get("data") or {})
        for integration in index.get(("Secret", namespace, name), ()):
            # Re-applied with the same data (kubectl adds its last-applied annotation), or a change of a key
            # this Integration does not read: nothing to validate again. A deletion always is news.
            if type != "DELETED" and memo.connectors.reads_new_data(namespace, integration, secret) is False:
                logger.info(
                    "Secret %s/%s changed, but not in the keys %s reads: nothing to validate again",
                    namespace,
                    name,
                    integration,
                )
                continue
            await _reconcile_by_name(
                memo, namespace, integration, Trigger.SECRET_CHANGED, secret=(name, meta)
            )

    @kopf.on.event("", "v1", "configmaps", registry=registry)
    async def configmap_changed(
        type: str, namespace: str | None, name: str, memo: kopf.Memo, **kwargs: Any
    ) -> None:
        if not type or not namespace:
            return
        index: kopf.Index[RefKey, str] = kwargs["references"]
        for integration in index.get(("ConfigMap", namespace, name), ()):
            await _reconcile_by_name(memo, namespace, integration, Trigger.ACCOUNTS_CHANGED)

    @kopf.on.delete(*resource, registry=registry)
    async def deleted(body: kopf.Body, retry: int, memo: kopf.Memo, **_: Any) -> None:
        try:
            await _soon_when_unanswered(memo, _release(memo, body, retry))
        except lease.Busy as e:  # another replica is at it: kopf runs this again (the body will be fresh)
            raise kopf.TemporaryError(str(e), delay=min(e.delay, memo.settings.tick)) from None

    return registry


async def _reconcile(memo: kopf.Memo, body: Mapping[str, Any], trigger: Trigger) -> None:
    reconciler: Reconciler = memo.reconciler
    settings: Settings = memo.settings

    def post(kind: str, reason: str, message: str) -> None:
        kopf.event(body, type=kind, reason=reason, message=message)  # type: ignore[arg-type]

    obj = _integration(body)
    while True:
        try:
            await _soon_when_unanswered(memo, reconciler.reconcile(obj, trigger, post))
            return
        except lease.Busy as e:
            # Normal with several replicas (a rolling update): wait here, not as a kopf error and retry.
            if trigger == Trigger.TICK:
                return  # the next tick looks again
            delay = min(e.delay, settings.tick)
            logger.info("%s; looking again in %.1fs", e, delay)
            await asyncio.sleep(delay)
        fresh = await reconciler.kube.get_integration(obj.namespace, obj.name)
        if fresh is None or (fresh.get("metadata") or {}).get("deletionTimestamp"):
            return
        obj = _integration(fresh)


async def _soon_when_unanswered(memo: kopf.Memo, work: Awaitable[None]) -> None:
    """Run the work; if the Kubernetes API did not answer, have kopf run the handler again after a tick
    (for any other exception kopf waits 60 s: a status left InProgress for a minute after a short outage)."""
    try:
        await work
    except lease.LeaseLost as e:
        logger.warning("stopped writing to the app: %s", e)
        raise kopf.TemporaryError(str(e), delay=memo.settings.tick) from None
    except Exception as e:
        if not unanswered(e):
            raise
        message = f"the Kubernetes API did not answer ({type(e).__name__}); trying again"
        raise kopf.TemporaryError(message, delay=memo.settings.tick) from e


async def _reconcile_by_name(
    memo: kopf.Memo,
    namespace: str,
    name: str,
    trigger: Trigger,
    *,
    secret: tuple[str, Mapping[str, Any]] | None = None,
) -> None:
    """Run the story for an Integration named by an index (a Secret or ConfigMap it reads has changed)."""
    kube: Kube = memo.reconciler.kube
    body = await kube.get_integration(namespace, name)
    if body is None or body.get("metadata", {}).get("deletionTimestamp"):
        return
    if secret is not None:
        secret_name, meta = secret
        seen = ((body.get("status") or {}).get("secretVersions") or {}).get(secret_name)
        if seen == meta.get("resourceVersion"):
            return  # the version the last validation used: nothing new
    await _reconcile(memo, body, trigger)


async def _release(memo: kopf.Memo, body: kopf.Body, retry: int) -> None:
    """Deprovision (per deletionPolicy) and let go; a failing app blocks deletion only for a bounded time."""
    reconciler: Reconciler = memo.reconciler
    settings: Settings = memo.settings
    obj = _integration(body)
    spec, status = body.spec, body.status
    ever_validated = bool(
        status.get("lastSyncTime") or (status.get("validation") or {}).get("result") == "Passed"
    )
    deprovision = (
        spec.get("deletionPolicy", "Deprovision") == "Deprovision"
        and not spec.get("suspend")
        and not spec.get("dryRun")
        and ever_validated
    )

    def post(kind: str, reason: str, message: str) -> None:
        kopf.event(body, type=kind, reason=reason, message=message)

    try:
        left = await reconciler.release(obj, deprovision=deprovision, post_event=post)
    except ConnectorError as e:
        left = [f"all accounts ({e.message})"]
    if left and not backoff.exhausted(settings.operation_backoff, retry + 1):
        delay = backoff.ceiling(settings.operation_backoff, retry + 1)
        raise kopf.TemporaryError(f"deprovisioning failed for {len(left)} accounts; retrying", delay=delay)
    # kopf removes the finalizer after this handler returns, in a write of its own that may yet be refused:
    # the Events say what has happened (the accounts) and what comes next, never that the release happened.
    if left:
        await reconciler.release(obj, deprovision=False)
        shown = "; ".join(left[:10]) + (f" and {len(left) - 10} more" if len(left) > 10 else "")
        post("Warning", "DeprovisionIncomplete", f"left behind: {shown}; {RELEASING}")
    elif deprovision:
        post("Normal", "Deprovisioned", f"accounts deprovisioned; {RELEASING}")
    else:
        reason = "suspended" if spec.get("suspend") or spec.get("dryRun") else "deletionPolicy/validation"
        post("Normal", "Released", f"accounts left in place ({reason}); {RELEASING}")
    reconciler.forget(obj.uid)
    memo.connectors.forget(obj.namespace, obj.name)
    memo.metrics.integration_gone(obj.namespace, obj.name)


def _secret_names(spec: Mapping[str, Any]) -> list[str]:
    scim = (spec.get("connector") or {}).get("scim") or {}
    auth = scim.get("auth") or {}
    names = [((auth.get(m) or {}).get("secretRef") or {}).get("name") for m in auth]
    names.append(((scim.get("tls") or {}).get("caSecretRef") or {}).get("name"))
    return [n for n in names if n]


def _integration(body: Mapping[str, Any]) -> Integration:
    meta = body.get("metadata") or {}
    return Integration(
        namespace=meta.get("namespace") or "",
        name=meta.get("name") or "",
        uid=meta.get("uid") or "",
        generation=int(meta.get("generation") or 0),
        spec=dict(body.get("spec") or {}),
        status=dict(body.get("status") or {}),
        resource_version=meta.get("resourceVersion"),
    )


def _default_validator(connectors: ConnectorPool) -> Validator:
    from idlcm.validation import ConnectorValidator

    validator: Validator = ConnectorValidator(connectors)
    return validator


def connection_info(config: kubernetes.client.Configuration) -> kopf.ConnectionInfo:
    """kopf's credentials from the same client configuration the reconcile story uses."""
    header = config.get_api_key_with_prefix("BearerToken") or config.get_api_key_with_prefix("authorization")
    scheme, _, token = (header or "").rpartition(" ")
    return kopf.ConnectionInfo(
        server=config.host,
        ca_path=config.ssl_ca_cert,
        insecure=not config.verify_ssl,
        username=config.username or None,
        password=config.password or None,
        scheme=scheme or None,
        token=token or None,
        certificate_path=config.cert_file,
        private_key_path=config.key_file,
    )


def memo_for(
    config: kubernetes.client.Configuration,
    settings: Settings,
    validator: Validator | None = None,
    metrics: Metrics | None = None,
) -> kopf.Memo:
    """The operator's shared state: cluster configuration, settings, the validation hook and metrics."""
    return kopf.Memo(kube_config=config, settings=settings, validator=validator, metrics=metrics or Metrics())
