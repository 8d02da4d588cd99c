"""Just enough of Kubernetes' protobuf encoding to read what kubectl's typed clients POST.

`kubectl create namespace|secret|configmap` send `application/vnd.kubernetes.protobuf`: the magic `k8s\\0`,
then a `runtime.Unknown` envelope (typeMeta=1, raw=2) whose `raw` is the object's message. Only those
three kinds are decoded (field numbers from `k8s.io/api/core/v1/generated.proto`); responses are JSON,
which the same clients accept.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any

MAGIC = b"k8s\x00"
CONTENT_TYPE = "application/vnd.kubernetes.protobuf"


class ProtobufError(ValueError):
    """The body is not protobuf this module can read."""


Fields = dict[int, list[Any]]  # field number → values: int for varints, bytes for length-delimited


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(data):
            raise ProtobufError("truncated varint")
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7


def _fields(data: bytes) -> Fields:
    fields: Fields = {}
    pos = 0
    while pos < len(data):
        key, pos = _varint(data, pos)
        number, wire = key >> 3, key & 7
        value: Any
        if wire == 0:
            value, pos = _varint(data, pos)
        elif wire == 2:
            size, pos = _varint(data, pos)
            value, pos = data[pos : pos + size], pos + size
        elif wire == 1:
            value, pos = data[pos : pos + 8], pos + 8
        elif wire == 5:
            value, pos = data[pos : pos + 4], pos + 4
        else:
            raise ProtobufError(f"unsupported wire type {wire}")
        fields.setdefault(number, []).append(value)
    return fields


def _str(fields: Fields, number: int) -> str | None:
    values = fields.get(number)
    return values[-1].decode() if values else None


def _map(fields: Fields, number: int, *, binary: bool = False) -> dict[str, str]:
    result: dict[str, str] = {}
    for entry in fields.get(number, []):
        pair = _fields(entry)
        key = pair.get(1, [b""])[-1].decode()
        raw = pair.get(2, [b""])[-1]
        result[key] = base64.b64encode(raw).decode() if binary else raw.decode()
    return result


def _meta(data: bytes) -> dict[str, Any]:
    fields = _fields(data)
    meta: dict[str, Any] = {}
    for number, key in ((1, "name"), (2, "generateName"), (3, "namespace"), (6, "resourceVersion")):
        if value := _str(fields, number):
            meta[key] = value
    for number, key in ((11, "labels"), (12, "annotations")):
        if value_map := _map(fields, number):
            meta[key] = value_map
    if finalizers := [f.decode() for f in fields.get(14, [])]:
        meta["finalizers"] = finalizers
    return meta


def _secret(fields: Fields) -> dict[str, Any]:
    obj: dict[str, Any] = {}
    if data := _map(fields, 2, binary=True):
        obj["data"] = data
    if kind := _str(fields, 3):
        obj["type"] = kind
    if string_data := _map(fields, 4):
        obj["stringData"] = string_data
    if fields.get(5):
        obj["immutable"] = bool(fields[5][-1])
    return obj


def _configmap(fields: Fields) -> dict[str, Any]:
    obj: dict[str, Any] = {}
    if data := _map(fields, 2):
        obj["data"] = data
    if binary := _map(fields, 3, binary=True):
        obj["binaryData"] = binary
    if fields.get(4):
        obj["immutable"] = bool(fields[4][-1])
    return obj


def _namespace(fields: Fields) -> dict[str, Any]:
    spec = _fields(fields[2][-1]) if fields.get(2) else {}
    finalizers = [f.decode() for f in spec.get(1, [])]
    return {"spec": {"finalizers": finalizers}} if finalizers else {}


def _service_account(fields: Fields) -> dict[str, Any]:
    return {"automountServiceAccountToken": bool(fields[4][-1])} if fields.get(4) else {}


def _token_request(fields: Fields) -> dict[str, Any]:
    """`kubectl create token` (k8s.io/api/authentication/v1: spec audiences=1, expirationSeconds=4)."""
    spec_fields = _fields(fields[2][-1]) if fields.get(2) else {}
    spec: dict[str, Any] = {"audiences": [a.decode() for a in spec_fields.get(1, [])]}
    if spec_fields.get(4):
        spec["expirationSeconds"] = int(spec_fields[4][-1])
    return {"spec": spec}


_KINDS: dict[tuple[str, str], Callable[[Fields], dict[str, Any]]] = {
    ("v1", "Secret"): _secret,
    ("v1", "ConfigMap"): _configmap,
    ("v1", "Namespace"): _namespace,
    ("v1", "ServiceAccount"): _service_account,
    ("authentication.k8s.io/v1", "TokenRequest"): _token_request,
}


def decode(body: bytes) -> dict[str, Any]:
    """The JSON form of a protobuf-encoded Secret, ConfigMap or Namespace."""
    if not body.startswith(MAGIC):
        raise ProtobufError("missing the k8s protobuf magic prefix")
    envelope = _fields(body[len(MAGIC) :])
    type_meta = _fields(envelope.get(1, [b""])[-1])
    api_version, kind = _str(type_meta, 1) or "", _str(type_meta, 2) or ""
    decoder = _KINDS.get((api_version, kind))
    if decoder is None:
        raise ProtobufError(f"protobuf is not supported for {api_version} {kind} by the devcluster")
    fields = _fields(envelope.get(2, [b""])[-1])
    obj: dict[str, Any] = {
        "apiVersion": api_version,
        "kind": kind,
        "metadata": _meta(fields.get(1, [b""])[-1]),
    }
    obj.update(decoder(fields))
    return obj
