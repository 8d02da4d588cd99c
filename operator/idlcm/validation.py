"""Validation checks: their results, and the hook that runs them (the connector's checks plug in here)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Literal, Protocol

from idlcm.api.spec import IntegrationSpec
from idlcm.kube import Secret

Outcome = Literal["Passed", "Failed", "NeedsReview"]


@dataclasses.dataclass(frozen=True)
class Check:
    """One named check: Passed, Failed or Skipped, why, and whether a human must act."""

    name: str
    result: Literal["Passed", "Failed", "Skipped"]
    message: str = ""
    problem_class: str | None = None
    """Set when a human must fix it (e.g. InvalidSpec, MissingSecret); unset failures are retried."""

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
        failed = [c for c in self.checks if c.result == "Failed"]
        if any(c.problem_class for c in failed):
            return "NeedsReview"
        return "Failed" if failed else "Passed"

    @property
    def reason(self) -> str:
        """A condition reason: the first human problem class, else a generic one."""
        for check in self.checks:
            if check.result == "Failed" and check.problem_class:
                return check.problem_class
        return {"Passed": "ValidationPassed", "Failed": "ValidationFailed", "NeedsReview": "NeedsReview"}[
            self.outcome
        ]

    @property
    def message(self) -> str:
        """Which check failed and why, or a summary when all passed."""
        failed = [c for c in self.checks if c.result == "Failed"]
        if not failed:
            passed = sum(c.result == "Passed" for c in self.checks)
            return f"all {passed} validation checks passed"
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


def secret_checks(target: Target) -> list[Check]:
    """Every referenced Secret exists in the Integration's namespace and holds the keys it names."""
    missing: list[str] = []
    for name, keys in _secret_keys(target.spec).items():
        secret = target.secrets.get(name)
        if secret is None:
            missing.append(f"Secret {target.namespace}/{name} not found")
            continue
        missing.extend(
            f"Secret {target.namespace}/{name} has no key {key!r}" for key in keys if key not in secret.data
        )
    if missing:
        # Retried: GitOps tools often create the Secret just after the Integration.
        return [Check("credentials", "Failed", "; ".join(missing))]
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


class OfflineValidator:
    """The placeholder hook: checks what needs no connection (credentials present); connector checks skip."""

    async def validate_app(self, target: Target) -> Report:
        """Credentials present; the connection checks arrive with the SCIM connector."""
        skipped = Check("connectivity", "Skipped", "no connector checks in this build")
        return Report((*secret_checks(target), skipped))

    async def validate_integration(self, target: Target) -> Report:
        """The spec was understood and its credentials are present."""
        return Report((Check("spec", "Passed", "spec understood"), *secret_checks(target)))
