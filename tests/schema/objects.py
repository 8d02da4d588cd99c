"""Objects and validators the schema tests share: real CRDs from crds/, minimal valid resources."""

from __future__ import annotations

import copy
from typing import Any

from idlcm import crds
from idlcm.schema import Admission, FieldError, SchemaValidator


def integrations() -> SchemaValidator:
    """The validator of the Integration CRD, as the API server and `idlcm check` use it."""
    crd = crds.find("Integration")
    assert crd is not None
    return SchemaValidator.for_crd(crd)


def external_apps() -> SchemaValidator:
    """The validator of the ExternalApp CRD."""
    crd = crds.find("ExternalApp")
    assert crd is not None
    return SchemaValidator.for_crd(crd)


def integration(**spec: Any) -> dict[str, Any]:
    """A minimal valid Integration; keyword arguments replace top-level spec fields."""
    obj: dict[str, Any] = {
        "apiVersion": "idlcm.io/v1alpha1",
        "kind": "Integration",
        "metadata": {"name": "crm-sales", "namespace": "team-sales"},
        "spec": {
            "app": "acme-crm",
            "connector": {
                "scim": {
                    "baseURL": "https://crm.example.com/scim/v2",
                    "auth": {"bearerToken": {"secretRef": {"name": "acme-crm-scim"}}},
                }
            },
        },
    }
    obj["spec"].update(copy.deepcopy(spec))
    return obj


def scim(obj: dict[str, Any]) -> dict[str, Any]:
    """The `spec.connector.scim` of an Integration, to edit in place."""
    result: dict[str, Any] = obj["spec"]["connector"]["scim"]
    return result


def messages(admission: Admission | list[FieldError]) -> list[str]:
    """The full messages of an admission's errors."""
    errors = admission.errors if isinstance(admission, Admission) else admission
    return [e.message for e in errors]
