"""The admission step of custom resources: `idlcm.schema` prunes, defaults and validates (422 with causes)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from idlcm import schema
from idlcm.crds import CRDVersion


@dataclasses.dataclass(frozen=True)
class Outcome:
    """What admission made of an object: the object to store, or the 422 Status body refusing it."""

    obj: dict[str, Any]
    refusal: dict[str, Any] | None
    pruned: tuple[str, ...]

    def warnings(self) -> list[str]:
        """`unknown field "spec.foo"` for each pruned field (a `Warning:` header, or the Strict 400)."""
        return [schema.unknown_field(path) for path in self.pruned]

    def strict_error(self) -> str:
        """The message of the 400 that `fieldValidation=Strict` answers when fields were pruned."""
        return schema.strict_decoding_error(self.pruned)


def admit(crd: CRDVersion, obj: Mapping[str, Any], old: Mapping[str, Any] | None) -> Outcome:
    """Prune, default and validate a custom resource against its CRD version's schema and CEL rules."""
    admission = schema.SchemaValidator.for_crd(crd).admit(obj, old)
    refusal = None
    if not admission.ok:
        name = str(obj.get("metadata", {}).get("name", ""))
        refusal = schema.invalid_status(crd.kind, crd.group, name, admission.errors)
    return Outcome(admission.obj, refusal, tuple(admission.pruned))
