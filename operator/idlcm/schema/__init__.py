"""Admission of idlcm's custom resources as a kube-apiserver does it: prune, default, schema, CEL.

The embedded API server (`idlcm.devcluster`) and `idlcm check` both use `SchemaValidator`, so an object
`idlcm check` accepts is one the API server accepts, with the same messages.
"""

from idlcm.schema.errors import FieldError, invalid_status, strict_decoding_error, unknown_field
from idlcm.schema.validator import Admission, SchemaValidator

__all__ = [
    "Admission",
    "FieldError",
    "SchemaValidator",
    "invalid_status",
    "strict_decoding_error",
    "unknown_field",
]
