"""The Integration and ExternalApp status as the operator writes it."""

from __future__ import annotations

from typing import Literal

from idlcm.api._base import Model

CheckResult = Literal["Passed", "Warning", "Failed", "Skipped"]


class ValidationCheck(Model):
    """One named validation check and its outcome."""

    name: str
    result: CheckResult
    message: str | None = None
    problem_class: str | None = None


class ValidationRun(Model):
    """The last validation run of an Integration."""

    start_time: str | None = None
    end_time: str | None = None
    result: Literal["Passed", "Failed", "NeedsReview"] | None = None
    attempt: int | None = None
    checks: tuple[ValidationCheck, ...] = ()


class AccountsSummary(Model):
    """How many accounts are declared and provisioned; `summary` feeds the ACCOUNTS column."""

    desired: int = 0
    provisioned: int = 0
    deprovisioned: int = 0
    failed: int = 0

    @property
    def summary(self) -> str:
        """`provisioned/desired`, e.g. `12/12`."""
        return f"{self.provisioned}/{self.desired}"

    def dump(self) -> dict[str, object]:
        """The wire form, with the derived `summary` string."""
        return {**super().dump(), "summary": self.summary}


class IntegrationStatus(Model):
    """The parts of status that the reconcile story reads back."""

    status: str | None = None
    message: str | None = None
    reason: str | None = None
    observed_generation: int | None = None
    validation: ValidationRun | None = None
    secret_versions: dict[str, str] = {}
