"""Pydantic models of the Integration and ExternalApp resources (checked against `crds/` by the tests)."""

from idlcm.api.spec import Account, IntegrationSpec
from idlcm.api.status import AccountsSummary, IntegrationStatus, ValidationCheck, ValidationRun

__all__ = [
    "Account",
    "AccountsSummary",
    "IntegrationSpec",
    "IntegrationStatus",
    "ValidationCheck",
    "ValidationRun",
]
