"""Field errors shaped like the API server's (`field.Error`), and the 422 `Status` built from them."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from idlcm.schema import gofmt

REQUIRED = "FieldValueRequired"
INVALID = "FieldValueInvalid"
NOT_SUPPORTED = "FieldValueNotSupported"
DUPLICATE = "FieldValueDuplicate"
TYPE_INVALID = "FieldValueTypeInvalid"
TOO_LONG = "FieldValueTooLong"
TOO_MANY = "FieldValueTooMany"
FORBIDDEN = "FieldValueForbidden"
INTERNAL = "InternalError"

_TITLES = {
    REQUIRED: "Required value",
    INVALID: "Invalid value",
    NOT_SUPPORTED: "Unsupported value",
    DUPLICATE: "Duplicate value",
    TYPE_INVALID: "Invalid value",
    TOO_LONG: "Too long",
    TOO_MANY: "Too many",
    FORBIDDEN: "Forbidden",
    INTERNAL: "Internal error",
}
# The API server never prints the bad value of these.
_VALUE_OMITTED = frozenset({REQUIRED, FORBIDDEN, TOO_LONG, INTERNAL})

# Errors after which the API server does not run the CEL rules (the object lacks the shape they expect).
BLOCKING = frozenset({NOT_SUPPORTED, REQUIRED, TOO_LONG, TOO_MANY, TYPE_INVALID})
NO_PATH = "<nil>"
CEL_SKIPPED = (
    "some validation rules were not checked because the object was invalid; "
    "correct the existing errors to complete validation"
)


@dataclasses.dataclass(frozen=True)
class FieldError:
    """One invalid field: where (`spec.accounts[2].email`), what kind of error, why, and the bad value."""

    field: str
    type: str
    detail: str = ""
    value: Any = None
    unevaluated: bool = dataclasses.field(default=False, compare=False, repr=False)
    """A CEL rule that could not be evaluated on this value (not one that returned false)."""

    @property
    def body(self) -> str:
        """The message without the field path, e.g. `Unsupported value: "Nuke": supported values: ...`."""
        text = _TITLES.get(self.type, self.type)
        if self.type not in _VALUE_OMITTED:
            text = f"{text}: {gofmt.value(self.value)}"
        return f"{text}: {self.detail}" if self.detail else text

    @property
    def message(self) -> str:
        """The full message, e.g. `spec.deprovision.mode: Unsupported value: "Nuke": supported ...`."""
        return f"{self.field}: {self.body}"

    def __str__(self) -> str:
        return self.message


def has_blocking(errors: Sequence[FieldError]) -> bool:
    """True when the API server would skip the CEL rules because of these schema errors."""
    return any(error.type in BLOCKING for error in errors)


def cel_skipped() -> FieldError:
    """The error the API server adds when schema errors keep it from running the CEL rules."""
    return FieldError(NO_PATH, INVALID, CEL_SKIPPED, None)


def aggregate(errors: Sequence[FieldError]) -> str:
    """All messages as Go's `utilerrors.NewAggregate` prints them: one as is, several as `[a, b]`."""
    messages = list(dict.fromkeys(error.message for error in errors))
    if len(messages) == 1:
        return messages[0]
    return "[" + ", ".join(messages) + "]"


def invalid_status(kind: str, group: str, name: str, errors: Sequence[FieldError]) -> dict[str, Any]:
    """The 422 `Status` body the API server answers an invalid create or update with."""
    qualified = f"{kind}.{group}" if group else kind
    message = f"{qualified} {gofmt.quote(name)} is invalid"
    if errors:
        message += ": " + aggregate(errors)
    causes = [{"reason": e.type, "message": e.body, "field": e.field} for e in errors]
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": "Invalid",
        "details": {"name": name, "group": group, "kind": kind, "causes": causes},
        "code": 422,
    }


def unknown_field(path: str) -> str:
    """How the API server names one pruned field: `unknown field "spec.foo"`."""
    return f"unknown field {gofmt.quote(path)}"


def strict_decoding_error(pruned: Sequence[str]) -> str:
    """The 400 message of `fieldValidation=Strict` for these pruned fields."""
    return "strict decoding error: " + ", ".join(unknown_field(path) for path in pruned)
