"""Validation checks: their results, and the hook that runs them on the Integration's connector.

`ConnectorValidator` is the validation process: the app's first validation (every read-only check, and a
canary account when `validation.canary` asks for it), then each Integration's quick check. `OfflineValidator`
checks only what needs no connection.
"""

from __future__ import annotations

import dataclasses
import secrets
from collections.abc import Collection, Mapping, Sequence
from typing import Literal, Protocol

from idlcm.api.spec import IntegrationSpec
from idlcm.connections import ConnectorPool, MissingSecretError
from idlcm.connectors.base import Account, CheckResult, Connector, failed_check
from idlcm.connectors.errors import ConnectorError, RetryableError, scrub
from idlcm.kube import Secret

Outcome = Literal["Passed", "Failed", "NeedsReview"]


@dataclasses.dataclass(frozen=True)
class Check:
    """One named check: Passed, Warning (passed, with advisory findings), Failed or Skipped, why, and whether
    a human must act."""

    name: str
    result: Literal["Passed", "Warning", "Failed", "Skipped"]
    message: str = ""
    problem_class: str | None = None
    """What went wrong, in one word (the condition reason). A failure with one needs a human unless
    `retryable`; a failure without one is retried."""
    retryable: bool = False
    """The check could not complete (network, 5xx, 429, timeout) and is retried, whatever its class."""

    @property
    def needs_human(self) -> bool:
        """A failure only a person can fix."""
        return self.result == "Failed" and self.problem_class is not None and not self.retryable

    def to_dict(self) -> dict[str, str]:
        """The `status.validation.checks[]` form."""
        out = {"name": self.name, "result": self.result, "message": self.message}
        if self.problem_class:
            out["problemClass"] = self.problem_class
        return out


@dataclasses.dataclass(frozen=True)
class Report:
    """The outcome of one validation run."""

    checks: tuple[Check, ...]

    @property
    def outcome(self) -> Outcome:
        """NeedsReview if any failure needs a human, Failed if any failure can be retried, else Passed."""
        if any(c.needs_human for c in self.checks):
            return "NeedsReview"
        return "Failed" if any(c.result == "Failed" for c in self.checks) else "Passed"

    @property
    def reason(self) -> str:
        """A condition reason: the first human problem class, else the first retryable one, else generic."""
        failed = [c for c in self.checks if c.result == "Failed" and c.problem_class]
        for check in sorted(failed, key=lambda c: not c.needs_human):
            return str(check.problem_class)
        return {"Passed": "ValidationPassed", "Failed": "ValidationFailed", "NeedsReview": "NeedsReview"}[
            self.outcome
        ]

    @property
    def message(self) -> str:
        """Which check failed and why, or a summary when all passed."""
        failed = [c for c in self.checks if c.result == "Failed"]
        if not failed:
            passed = sum(c.result in ("Passed", "Warning") for c in self.checks)
            warned = [c for c in self.checks if c.result == "Warning"]
            if not warned:
                return f"all {passed} validation checks passed"
            notes = "; ".join(f"{c.name}: {c.message}" for c in warned)
            return f"all {passed} validation checks passed, {len(warned)} with warnings ({notes})"
        return "; ".join(f"check {c.name} failed: {c.message}" for c in failed)


@dataclasses.dataclass(frozen=True)
class Target:
    """What a validation looks at: the Integration's spec and the Secrets it references."""

    namespace: str
    name: str
    spec: IntegrationSpec
    secrets: Mapping[str, Secret | None]


class Validator(Protocol):
    """Runs the app-level and the per-Integration validation checks."""

    async def validate_app(self, target: Target) -> Report:
        """Checks of the app itself, run once per app (the first validation)."""
        ...

    async def validate_integration(self, target: Target) -> Report:
        """Checks of one Integration against its (validated) app."""
        ...


class ConnectorValidator:
    """The validation process, run on the connector of each Integration (from a shared pool)."""

    def __init__(self, pool: ConnectorPool) -> None:
        self._pool = pool
        # Integration -> the Secret versions whose credentials the app refused once: the next refusal of the
        # same versions needs a human (the first may catch a Secret mid-rotation).
        self._refused: dict[tuple[str, str], str] = {}

    async def validate_app(self, target: Target) -> Report:
        """Credentials present, every read-only check of the app (discovery included), then the canary."""
        checks = secret_checks(target)
        if _passed(checks):
            attributes = mapped_attributes(target.spec)
            checks.extend(await self._connector_checks(target, attributes, discovery=True))
            if not target.spec.validation.canary:
                checks.append(Check("canary", "Skipped", "not run: validation.canary is false"))
            elif not _passed(checks):
                checks.append(Check("canary", "Skipped", "not run: an earlier check failed"))
            else:
                checks.append(await canary(self._pool.get(target), target))
        return self._settle(target, checks)

    async def validate_integration(self, target: Target) -> Report:
        """Quick: spec understood, credentials present, and this Integration's own credentials accepted
        (no conformance run, no writes); its mapped attributes are checked against the app's schema."""
        checks = [Check("spec", "Passed", "spec understood"), *secret_checks(target)]
        if _passed(checks):
            attributes = mapped_attributes(target.spec)
            checks.extend(await self._connector_checks(target, attributes, discovery=False))
        return self._settle(target, checks)

    async def _connector_checks(
        self, target: Target, attributes: Collection[str], *, discovery: bool
    ) -> list[Check]:
        try:
            connector = self._pool.get(target)
        except MissingSecretError as exc:  # a Secret changed since `secret_checks` read it
            return [Check("credentials", "Failed", exc.message, "MissingSecret", retryable=True)]
        except ConnectorError as exc:
            result = failed_check("connectivity", exc, "InvalidSpec")
            name = {"TLSError": "tls", "InvalidSpec": "spec"}.get(result.problem_class or "", result.name)
            return [_check(dataclasses.replace(result, name=name))]
        return [_check(r) for r in await connector.validate(attributes, discovery=discovery)]

    def _settle(self, target: Target, checks: Sequence[Check]) -> Report:
        """The report, with no secret value in any message, and refused credentials retried once."""
        values = _secret_values(target)
        checks = [dataclasses.replace(c, message=scrub(c.message, values)) for c in checks]
        key = (target.namespace, target.name)
        refused = [c for c in checks if c.needs_human and c.problem_class == "InvalidCredentials"]
        others = [c for c in checks if c.needs_human and c.problem_class != "InvalidCredentials"]
        versions = _secret_versions(target)
        if not refused or others or self._refused.get(key) == versions:
            self._refused.pop(key, None)
            return Report(tuple(checks))
        self._refused[key] = versions
        note = " (retried once: the Secret may be mid-rotation)"
        return Report(
            tuple(
                dataclasses.replace(c, retryable=True, message=c.message + note) if c in refused else c
                for c in checks
            )
        )


# Written for every account, whatever the spec says: the ownership stamp and deactivation.
ALWAYS_MAPPED = frozenset({"user_name", "external_id", "active"})
OPTIONAL = ("display_name", "given_name", "family_name", "email", "title", "department", "groups")
"""Written when the spec sets them."""


def mapped_attributes(spec: IntegrationSpec) -> frozenset[str]:
    """The account attributes this Integration writes: the ones always written, those its inline accounts
    set, and displayName for the canary. (Accounts from ConfigMaps are read later, by the operations.)"""
    found = set(ALWAYS_MAPPED)
    for account in spec.accounts:
        found.update(name for name in OPTIONAL if getattr(account, name))
    if spec.validation.canary:
        found.add("display_name")
    return frozenset(found)


async def canary(connector: Connector, target: Target) -> Check:
    """Create, patch and delete a temporary account; the delete is tried whatever happened before it."""
    tag = secrets.token_hex(4)
    probe = Account(
        user_name=f"idlcm-canary-{tag}",
        external_id=f"idlcm-canary:{target.namespace}/{target.name}:{tag}",
        display_name="idlcm canary: a temporary account, deleted at once",
        active=False,
    )
    created: Account | None = None
    failure: tuple[str, ConnectorError] | None = None
    try:
        created = await connector.create(probe)
        await connector.update(created, {"display_name": "idlcm canary: patched"})
    except ConnectorError as exc:
        failure = ("create" if created is None else "patch", exc)
    lost = failure is not None and created is None and isinstance(failure[1], RetryableError)
    left = await _delete(connector, created, probe.user_name, look_up=lost)
    if failure is None:
        if left is None:
            return Check("canary", "Passed", f"created, patched and deleted the account {probe.user_name}")
        failure = ("delete", left)
    step, error = failure
    result = failed_check("canary", error, "CanaryRejected")
    problem = "CanaryWriteForbidden" if result.problem_class == "PermissionDenied" else result.problem_class
    message = f"{step} of the canary account {probe.user_name}: {error.message}"
    if left is not None and step != "delete":
        message += f"; deleting it failed too ({left.message})"
    if left is not None:
        message += f": delete {probe.user_name} from the app by hand"
    return Check("canary", "Failed", message, problem, retryable=result.retryable)


async def _delete(
    connector: Connector, created: Account | None, user_name: str, *, look_up: bool
) -> ConnectorError | None:
    """Delete the canary account (looked up first when its create got no answer); the error if it failed."""
    try:
        if created is None and look_up:
            created = await connector.find_account(user_name=user_name)
        if created is not None:
            await connector.delete(created)
    except ConnectorError as exc:
        return exc
    return None


def secret_checks(target: Target) -> list[Check]:
    """Every referenced Secret exists in the Integration's namespace and holds the keys it names."""
    missing: list[str] = []
    for name, keys in _secret_keys(target.spec).items():
        secret = target.secrets.get(name)
        if secret is None:
            missing.append(f"Secret {target.namespace}/{name} not found")
            continue
        missing.extend(
            f"Secret {target.namespace}/{name} {secret.lacks(key)}" for key in keys if secret.lacks(key)
        )
    if missing:
        # Retried: GitOps tools often create the Secret just after the Integration.
        return [Check("credentials", "Failed", "; ".join(missing), "MissingSecret", retryable=True)]
    return [Check("credentials", "Passed", "referenced Secrets found")]


def _secret_keys(spec: IntegrationSpec) -> dict[str, Sequence[str]]:
    scim = spec.connector.scim
    auth = scim.auth
    keys: dict[str, list[str]] = {}
    if auth.bearer_token:
        keys.setdefault(auth.bearer_token.secret_ref.name, []).append(auth.bearer_token.secret_ref.key)
    if auth.basic:
        ref = auth.basic.secret_ref
        keys.setdefault(ref.name, []).extend([ref.username_key, ref.password_key])
    if auth.oauth2_client_credentials:
        oref = auth.oauth2_client_credentials.secret_ref
        keys.setdefault(oref.name, []).extend([oref.client_id_key, oref.client_secret_key])
    if scim.tls.ca_secret_ref:
        keys.setdefault(scim.tls.ca_secret_ref.name, []).append(scim.tls.ca_secret_ref.key)
    return dict(keys)


def _secret_values(target: Target) -> list[str]:
    """The values no message may show: tokens, passwords and client secrets (not usernames or CAs)."""
    auth = target.spec.connector.scim.auth
    refs: list[tuple[str, str]] = []
    if auth.bearer_token:
        refs.append((auth.bearer_token.secret_ref.name, auth.bearer_token.secret_ref.key))
    if auth.basic:
        refs.append((auth.basic.secret_ref.name, auth.basic.secret_ref.password_key))
    if auth.oauth2_client_credentials:
        oref = auth.oauth2_client_credentials.secret_ref
        refs.append((oref.name, oref.client_secret_key))
    values = []
    for name, key in refs:
        secret = target.secrets.get(name)
        if secret is not None and secret.data.get(key):
            values.append(secret.data[key])
    return values


def _secret_versions(target: Target) -> str:
    return ",".join(
        f"{name}={s.resource_version if s is not None else '-'}" for name, s in sorted(target.secrets.items())
    )


def _passed(checks: Sequence[Check]) -> bool:
    return all(c.result != "Failed" for c in checks)


def _check(result: CheckResult) -> Check:
    if result.skipped:
        return Check(result.name, "Skipped", result.message)
    if result.passed:
        return Check(result.name, "Warning" if result.warning else "Passed", result.message)
    return Check(result.name, "Failed", result.message, result.problem_class, retryable=result.retryable)


class OfflineValidator:
    """The placeholder hook: checks what needs no connection (credentials present); connector checks skip."""

    async def validate_app(self, target: Target) -> Report:
        """Credentials present; nothing is asked of the app."""
        skipped = Check("connectivity", "Skipped", "offline validator: no connector checks")
        return Report((*secret_checks(target), skipped))

    async def validate_integration(self, target: Target) -> Report:
        """The spec was understood and its credentials are present."""
        return Report((Check("spec", "Passed", "spec understood"), *secret_checks(target)))
