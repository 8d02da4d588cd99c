"""kopf glue: each handler turns a kopf cause into a call of the reconcile story. No business rules here."""

from __future__ import annotations

import logging
from typing import Any

import kopf
import kubernetes.client

from idlcm.crds import GROUP, VERSION
from idlcm.kube import Kube
from idlcm.reconcile import Integration, Reconciler, Requeue, Trigger
from idlcm.settings import FINALIZER, REVALIDATE_ANNOTATION, Settings
from idlcm.validation import OfflineValidator, Validator

PLURAL = "integrations"
# kopf hides annotations of its own prefix from change detection: keep it apart from idlcm.io/revalidate.
KOPF_PREFIX = f"kopf.{GROUP}"


def build_registry() -> kopf.OperatorRegistry:
    """A fresh registry with idlcm's handlers (a fresh one per operator, so tests can run several)."""
    registry = kopf.OperatorRegistry()
    resource = (GROUP, VERSION, PLURAL)

    @kopf.on.startup(registry=registry)
    async def configure(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> None:
        # Status holds only what the CRD declares (a real apiserver prunes the rest): keep kopf's
        # bookkeeping in annotations, and its finalizer in our own group.
        settings.persistence.finalizer = FINALIZER
        settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=KOPF_PREFIX)
        settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
            prefix=KOPF_PREFIX, key="last-handled-configuration"
        )
        settings.posting.level = (
            logging.WARNING
        )  # our own Events tell the story; kopf's chatter stays in logs
        settings.execution.max_workers = 8
        memo.api_client = kubernetes.client.ApiClient(memo.kube_config)
        validator: Validator = memo.get("validator") or OfflineValidator()
        memo.reconciler = Reconciler(Kube(memo.api_client), validator, memo.settings)

    @kopf.on.cleanup(registry=registry)
    async def close(memo: kopf.Memo, **_: Any) -> None:
        memo.api_client.close()  # its keep-alive connections would hold up the API server's shutdown

    @kopf.on.login(registry=registry)
    def login(memo: kopf.Memo, **_: Any) -> kopf.ConnectionInfo:
        return connection_info(memo.kube_config)

    @kopf.on.create(*resource, registry=registry, retries=None)
    async def created(body: kopf.Body, retry: int, memo: kopf.Memo, **_: Any) -> None:
        await _reconcile(memo, body, Trigger.RETRY if retry else Trigger.CREATED)

    @kopf.on.resume(*resource, registry=registry, retries=None)
    async def resumed(body: kopf.Body, retry: int, memo: kopf.Memo, **_: Any) -> None:
        await _reconcile(memo, body, Trigger.RETRY if retry else Trigger.RESUMED)

    @kopf.on.update(*resource, field="spec", registry=registry, retries=None)
    async def spec_changed(body: kopf.Body, retry: int, memo: kopf.Memo, **_: Any) -> None:
        await _reconcile(memo, body, Trigger.RETRY if retry else Trigger.SPEC_CHANGED)

    @kopf.on.update(
        *resource, field=("metadata", "annotations", REVALIDATE_ANNOTATION), registry=registry, retries=None
    )
    async def revalidate(body: kopf.Body, new: Any, retry: int, memo: kopf.Memo, **_: Any) -> None:
        if new is None:
            return  # the annotation was removed: nothing asked
        await _reconcile(memo, body, Trigger.RETRY if retry else Trigger.REVALIDATE)

    @kopf.on.delete(*resource, registry=registry)
    async def deleted(body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
        reconciler: Reconciler = memo.reconciler
        await reconciler.release(_integration(body))
        kopf.event(body, type="Normal", reason="Released", message="Integration deleted; finalizer released")

    return registry


async def _reconcile(memo: kopf.Memo, body: kopf.Body, trigger: Trigger) -> None:
    reconciler: Reconciler = memo.reconciler

    def post(kind: str, reason: str, message: str) -> None:
        kopf.event(body, type=kind, reason=reason, message=message)

    requeue = await reconciler.reconcile(_integration(body), trigger, post)
    if isinstance(requeue, Requeue):
        raise kopf.TemporaryError(requeue.reason, delay=requeue.delay)


def _integration(body: kopf.Body) -> Integration:
    meta = body.metadata
    return Integration(
        namespace=meta.namespace or "",
        name=meta.name or "",
        uid=meta.uid or "",
        generation=int(meta.get("generation") or 0),
        spec=dict(body.spec),
        status=dict(body.status),
    )


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
    config: kubernetes.client.Configuration, settings: Settings, validator: Validator | None = None
) -> kopf.Memo:
    """The operator's shared state: cluster configuration, settings, and the validation hook."""
    return kopf.Memo(kube_config=config, settings=settings, validator=validator)
