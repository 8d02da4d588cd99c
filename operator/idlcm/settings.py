"""Operator settings: one typed object, read once at start-up (from the environment and the CLI)."""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Mapping
from typing import Any

from idlcm import lease
from idlcm.backoff import BackoffPolicy
from idlcm.connectors.transport import DEFAULT_MAX_RESPONSE_BYTES

GROUP = "idlcm.io"
FINALIZER = f"{GROUP}/finalizer"
REVALIDATE_ANNOTATION = f"{GROUP}/revalidate"
SYNC_NOW_ANNOTATION = f"{GROUP}/sync-now"


@dataclasses.dataclass(frozen=True)
class Settings:
    """How the operator behaves; every field has a production default."""

    validation_backoff: BackoffPolicy = dataclasses.field(
        default_factory=lambda: BackoffPolicy(base=10.0, factor=2.0, cap=600.0, max_attempts=6)
    )
    """Retries of a validation that could not complete (network, 5xx, timeout) before UnderReview."""

    operation_backoff: BackoffPolicy = dataclasses.field(
        default_factory=lambda: BackoffPolicy(base=5.0, factor=2.0, cap=300.0, max_attempts=6)
    )
    """Retries of a security operation that failed with a retryable error before Failed."""

    app_validation_stale_after: float = 300.0
    """A claim on an app validation older than this (its owner gone or crashed) is taken over."""

    field_validation: str = "Warn"
    """How the API server treats undeclared status fields: Warn drops them with a warning, Strict refuses
    the write (tests use Strict, so that a field missing from the CRD fails loudly)."""

    tick: float = 5.0
    """Seconds between periodic looks at each Integration: due retries, syncs and re-validations."""

    seed: int | None = None
    """Seed of the backoff jitter; None draws from the system (tests set it for determinism)."""

    request_timeout: float = 30.0
    """Seconds an app has to answer one request (connect, send, each read); a slower answer is retried."""

    max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES
    """The largest answer read from an app; a larger one fails the request (InvalidResponse)."""

    concurrent_reconciles: int = 32
    """Integrations worked on at once (validation, operations); the others wait their turn. Bounds the
    memory and CPU a burst of new Integrations takes (a thousand at once: one working set each)."""

    peering_lifetime: int = 60
    """Seconds a replica counts as alive after its last keep-alive in the peering object (kopf's lifetime):
    with several replicas, how long a standby waits to take over from one that died without saying so."""

    lease_seconds: int = 60
    """Seconds a run's lease on an Integration lasts without renewal (renewed every third of it while the
    run writes to the app): how long another replica waits after a holder died mid-run."""

    identity: str = dataclasses.field(default_factory=lease.identity)
    """This process's name as a lease holder (`<pod>/<random>`; the pod from `POD_ID`)."""

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Defaults, overridden by `IDLCM_*` variables (e.g. `IDLCM_OPERATION_BACKOFF_BASE=1`); SettingsError
        names a variable whose value is not a number in its range."""
        env = os.environ if environ is None else environ
        defaults = cls()

        def number(name: str, default: float, kind: type[int] | type[float] = float, least: float = 0) -> Any:
            raw = env.get(name)
            if raw is None or raw.strip() == "":
                return default
            try:
                value = kind(raw.strip())
            except ValueError:
                raise SettingsError(
                    f"{name}={raw!r}: not {'a whole' if kind is int else 'a'} number"
                ) from None
            if not math.isfinite(value):
                raise SettingsError(f"{name}={raw!r}: not a finite number")
            if value < least:
                raise SettingsError(f"{name}={raw!r}: must be at least {least:g}")
            return value

        def policy(prefix: str, default: BackoffPolicy) -> BackoffPolicy:
            return BackoffPolicy(
                base=number(f"{prefix}_BASE", default.base, least=0.001),
                factor=number(f"{prefix}_FACTOR", default.factor, least=1),
                cap=number(f"{prefix}_CAP", default.cap, least=0.001),
                max_attempts=number(f"{prefix}_MAX_ATTEMPTS", default.max_attempts, int, least=1),
            )

        field_validation = env.get("IDLCM_FIELD_VALIDATION") or defaults.field_validation
        if field_validation not in ("Strict", "Warn", "Ignore"):
            raise SettingsError(f"IDLCM_FIELD_VALIDATION={field_validation!r}: one of Strict, Warn, Ignore")
        seed = number("IDLCM_SEED", -1, int)
        return cls(
            validation_backoff=policy("IDLCM_VALIDATION_BACKOFF", defaults.validation_backoff),
            operation_backoff=policy("IDLCM_OPERATION_BACKOFF", defaults.operation_backoff),
            app_validation_stale_after=number(
                "IDLCM_APP_VALIDATION_STALE_AFTER", defaults.app_validation_stale_after, least=1
            ),
            field_validation=field_validation,
            tick=number("IDLCM_TICK", defaults.tick, least=0.01),
            seed=None if seed < 0 else seed,
            request_timeout=number("IDLCM_REQUEST_TIMEOUT", defaults.request_timeout, least=0.1),
            max_response_bytes=number(
                "IDLCM_MAX_RESPONSE_BYTES", defaults.max_response_bytes, int, least=1024
            ),
            concurrent_reconciles=number(
                "IDLCM_CONCURRENT_RECONCILES", defaults.concurrent_reconciles, int, least=1
            ),
            peering_lifetime=number("IDLCM_PEERING_LIFETIME", defaults.peering_lifetime, int, least=1),
            lease_seconds=number("IDLCM_LEASE_SECONDS", defaults.lease_seconds, int, least=3),
            identity=lease.identity(env),
        )


class SettingsError(ValueError):
    """An `IDLCM_*` variable with a value the operator cannot use (the message names it, and why)."""
