"""Server-side printing: `meta.k8s.io/v1` Tables, as `kubectl get` asks for them (`Accept: ...;as=Table`).

Custom resources follow apiextensions-apiserver's table convertor (a Name column, then the CRD's
additionalPrinterColumns evaluated as JSONPath); Secret, ConfigMap, Namespace and Event follow the
apiserver's built-in printers; any other kind (CustomResourceDefinition) gets the default Name/Created At.
Ages use `k8s.io/apimachinery/pkg/util/duration.HumanDuration`.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from idlcm.crds import CRDVersion
from idlcm.devcluster import jsonpath

__all__ = ["INCLUDE_OBJECT_VALUES", "human_duration", "render_table"]

INCLUDE_OBJECT_VALUES = ("None", "Metadata", "Object")

_NAME_DESCRIPTION = (
    "Name must be unique within a namespace. Is required when creating resources, although some resources "
    "may allow a client to request the generation of an appropriate name automatically. Name is primarily "
    "intended for creation idempotence and configuration definition. Cannot be updated. More info: "
    "https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names"
)
_AGE_DESCRIPTION = (
    "CreationTimestamp is a timestamp representing the server time when this object was created. It is not "
    "guaranteed to be set in happens-before order across separate operations. Clients may not set this "
    "value. It is represented in RFC3339 form and is in UTC.\n\nPopulated by the system. Read-only. Null for "
    "lists. More info: "
    "https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata"
)
# A CRD without additionalPrinterColumns is served with this one (apiextensions' serveDefaultColumnsIfEmpty).
_DEFAULT_CRD_COLUMNS: tuple[Mapping[str, Any], ...] = (
    {
        "name": "Age",
        "type": "date",
        "jsonPath": ".metadata.creationTimestamp",
        "description": _AGE_DESCRIPTION,
    },
)
_RFC3339 = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(?:(Z)|([+-])(\d{2}):(\d{2}))$"
)
_SECOND_NS = 1_000_000_000
_MINUTE_NS = 60 * _SECOND_NS
_HOUR_NS = 60 * _MINUTE_NS


def human_duration(delta: timedelta) -> str:
    """`duration.HumanDuration`: `45s`, `3m10s`, `70m`, `3h1m`, `47h`, `2d1h`, `367d`, `2y1d`, `8y`."""
    nanos = (delta.days * 86_400 + delta.seconds) * _SECOND_NS + delta.microseconds * 1_000
    seconds = -(-nanos // _SECOND_NS) if nanos < 0 else nanos // _SECOND_NS  # Go truncates towards zero
    if seconds < -1:
        return "<invalid>"
    if seconds < 0:
        return "0s"
    if seconds < 60 * 2:
        return f"{seconds}s"
    minutes = nanos // _MINUTE_NS
    if minutes < 10:
        rest = seconds % 60
        return f"{minutes}m" if rest == 0 else f"{minutes}m{rest}s"
    if minutes < 60 * 3:
        return f"{minutes}m"
    hours = nanos // _HOUR_NS
    if hours < 8:
        rest = minutes % 60
        return f"{hours}h" if rest == 0 else f"{hours}h{rest}m"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        rest = hours % 24
        return f"{hours // 24}d" if rest == 0 else f"{hours // 24}d{rest}h"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    if hours < 24 * 365 * 8:
        days = (hours // 24) % 365
        return f"{hours // 24 // 365}y" if days == 0 else f"{hours // 24 // 365}y{days}d"
    return f"{hours // 24 // 365}y"


def _parse_rfc3339(value: str) -> datetime | None:
    """Go's `time.Parse(time.RFC3339, value)`; None when it would fail. Fractional seconds are accepted."""
    match = _RFC3339.match(value)
    if not match:
        return None
    year, month, day, hour, minute, second, fraction, zulu, sign, off_h, off_m = match.groups()
    try:
        offset = timedelta(0)
        if not zulu:
            if int(off_h) >= 24 or int(off_m) >= 60:
                return None
            offset = timedelta(hours=int(off_h), minutes=int(off_m)) * (-1 if sign == "-" else 1)
        micros = int((fraction or "0")[:6].ljust(6, "0"))
        return datetime(
            int(year), int(month), int(day), int(hour), int(minute), int(second), micros, timezone(offset)
        )
    except ValueError:
        return None


def _age(timestamp: Any, now: datetime) -> str:
    """`metatable.ConvertToHumanReadableDateType` of a timestamp string (`<unknown>` when unset)."""
    if not isinstance(timestamp, str) or timestamp in ("", "null"):
        return "<unknown>"
    parsed = _parse_rfc3339(timestamp)
    if parsed is None:
        return "<invalid>"
    if parsed == datetime(1, 1, 1, tzinfo=UTC):
        return "<unknown>"  # Go's zero time
    return human_duration(now - parsed)


def _cell(column: Mapping[str, Any], path: jsonpath.JSONPath, obj: Mapping[str, Any], now: datetime) -> Any:
    """One cell as the CRD table convertor computes it: the first JSONPath result, converted by type."""
    try:
        results = path.find_results(obj)
    except jsonpath.JSONPathError:
        return None
    if not results or not results[0]:
        return None
    value = results[0][0]
    kind = column.get("type", "string")
    if kind == "string":
        return "<no value>" if value is None else jsonpath.go_format(value)
    if kind == "integer" and isinstance(value, (int, float)) and not isinstance(value, bool):
        return int(value)
    if kind == "number" and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if kind == "boolean" and isinstance(value, bool):
        return value
    if kind == "date" and isinstance(value, str):
        return _age(value, now)
    return None


def _crd_columns(
    crd: CRDVersion,
) -> tuple[list[dict[str, Any]], Callable[[Mapping[str, Any], datetime], list[Any]]]:
    columns = crd.printer_columns or _DEFAULT_CRD_COLUMNS
    definitions: list[dict[str, Any]] = [
        {"name": "Name", "type": "string", "format": "name", "description": _NAME_DESCRIPTION, "priority": 0}
    ]
    paths: list[jsonpath.JSONPath] = []
    for column in columns:
        paths.append(jsonpath.parse("{" + column["jsonPath"] + "}"))
        definitions.append(
            {
                "name": column["name"],
                "type": column["type"],
                "format": column.get("format", ""),
                "description": column.get("description")
                or f"Custom resource definition column (in JSONPath format): {column['jsonPath']}",
                "priority": int(column.get("priority", 0)),
            }
        )

    def cells(obj: Mapping[str, Any], now: datetime) -> list[Any]:
        name = obj.get("metadata", {}).get("name", "")
        return [name, *(_cell(column, path, obj, now) for column, path in zip(columns, paths, strict=True))]

    return definitions, cells


def _column(name: str, description: str, *, priority: int = 0, format: str = "") -> dict[str, Any]:
    return {
        "name": name,
        "type": "string",
        "format": format,
        "description": description,
        "priority": priority,
    }


def _meta(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    meta = obj.get("metadata")
    return meta if isinstance(meta, Mapping) else {}


def _secret_cells(obj: Mapping[str, Any], now: datetime) -> list[Any]:
    meta = _meta(obj)
    return [
        meta.get("name", ""),
        obj.get("type", ""),
        len(obj.get("data") or {}),
        _age(meta.get("creationTimestamp"), now),
    ]


def _configmap_cells(obj: Mapping[str, Any], now: datetime) -> list[Any]:
    meta = _meta(obj)
    count = len(obj.get("data") or {}) + len(obj.get("binaryData") or {})
    return [meta.get("name", ""), count, _age(meta.get("creationTimestamp"), now)]


def _namespace_cells(obj: Mapping[str, Any], now: datetime) -> list[Any]:
    meta = _meta(obj)
    phase = (obj.get("status") or {}).get("phase", "")
    return [meta.get("name", ""), phase, _age(meta.get("creationTimestamp"), now)]


def _as_core_event(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    """An `events.k8s.io/v1` Event in core `v1` field names (the apiserver prints both from one type)."""
    if not str(obj.get("apiVersion", "")).startswith("events.k8s.io/"):
        return obj
    return {
        **obj,
        "involvedObject": obj.get("regarding") or {},
        "message": obj.get("note", ""),
        "source": obj.get("deprecatedSource") or {},
        "firstTimestamp": obj.get("deprecatedFirstTimestamp"),
        "lastTimestamp": obj.get("deprecatedLastTimestamp"),
        "count": obj.get("deprecatedCount"),
        "reportingComponent": obj.get("reportingController", ""),
    }


def _event_cells(obj: Mapping[str, Any], now: datetime) -> list[Any]:
    # The apiserver prints events "wide" (every column); kubectl hides the priority-1 ones.
    obj = _as_core_event(obj)
    first_seen = _age(obj.get("firstTimestamp"), now)
    if not obj.get("firstTimestamp"):
        first_seen = _age(obj.get("eventTime"), now)
    last_seen = _age(obj.get("lastTimestamp"), now) if obj.get("lastTimestamp") else first_seen
    count = obj.get("count") or 0
    series = obj.get("series")
    if isinstance(series, Mapping):
        last_seen = _age(series.get("lastObservedTime"), now)
        count = series.get("count") or 0
    elif count == 0:
        count = 1  # singleton events of the new API carry no count
    involved = obj.get("involvedObject") or {}
    kind = str(involved.get("kind", "")).lower()
    target = f"{kind}/{involved['name']}" if involved.get("name") else kind
    source = obj.get("source") or {}
    component = source.get("component") or obj.get("reportingComponent") or ""
    instance = source.get("host") or obj.get("reportingInstance") or ""
    return [
        last_seen,
        obj.get("type", ""),
        obj.get("reason", ""),
        target,
        involved.get("fieldPath", ""),
        f"{component}, {instance}" if instance else component,
        str(obj.get("message", "")).strip(),
        first_seen,
        int(count),
        _meta(obj).get("name", ""),
    ]


_CORE_PRINTERS: dict[str, tuple[list[dict[str, Any]], Callable[[Mapping[str, Any], datetime], list[Any]]]] = {
    "Secret": (
        [
            _column("Name", _NAME_DESCRIPTION, format="name"),
            _column("Type", "Used to facilitate programmatic handling of secret data."),
            _column("Data", "Data contains the secret data."),
            _column("Age", _AGE_DESCRIPTION),
        ],
        _secret_cells,
    ),
    "ConfigMap": (
        [
            _column("Name", _NAME_DESCRIPTION, format="name"),
            _column("Data", "Data contains the configuration data."),
            _column("Age", _AGE_DESCRIPTION),
        ],
        _configmap_cells,
    ),
    "Namespace": (
        [
            _column("Name", _NAME_DESCRIPTION, format="name"),
            _column("Status", "The status of the namespace"),
            _column("Age", _AGE_DESCRIPTION),
        ],
        _namespace_cells,
    ),
    "Event": (
        [
            _column("Last Seen", "The time at which the most recent occurrence of this event was recorded."),
            _column("Type", "Type of this event (Normal, Warning), new types could be added in the future"),
            _column("Reason", "This should be a short, machine understandable string that gives the reason."),
            _column("Object", "The object that this event is about."),
            _column("Subobject", "The field of the object the event is about.", priority=1),
            _column("Source", "The component reporting this event.", priority=1),
            _column("Message", "A human-readable description of the status of this operation."),
            _column("First Seen", "The time at which the event was first recorded.", priority=1),
            _column("Count", "The number of times this event has occurred.", priority=1),
            _column("Name", _NAME_DESCRIPTION, priority=1, format="name"),
        ],
        _event_cells,
    ),
}


def _default_cells(obj: Mapping[str, Any], now: datetime) -> list[Any]:
    # The apiserver's DefaultTableConvertor (CustomResourceDefinitions, and any kind without a printer).
    meta = _meta(obj)
    created = _parse_rfc3339(str(meta.get("creationTimestamp") or "")) or datetime(1, 1, 1, tzinfo=UTC)
    at = created.astimezone(UTC)
    return [meta.get("name", ""), f"{at.year:04d}-{at:%m-%dT%H:%M:%S}Z"]


_DEFAULT_PRINTER = (
    [
        _column("Name", _NAME_DESCRIPTION, format="name"),
        {"name": "Created At", "type": "date", "format": "", "description": _AGE_DESCRIPTION, "priority": 0},
    ],
    _default_cells,
)


def _row_object(obj: Mapping[str, Any], include_object: str) -> dict[str, Any] | None:
    if include_object == "None":
        return None
    if include_object == "Object":
        return copy.deepcopy(dict(obj))
    return {
        "kind": "PartialObjectMetadata",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": copy.deepcopy(dict(_meta(obj))),
    }


def render_table(
    crd: CRDVersion | None,
    resource_kind: str,
    objects: Sequence[Mapping[str, Any]],
    *,
    include_object: str = "Metadata",
    now: datetime,
    list_metadata: Mapping[str, Any] | None = None,
    no_headers: bool = False,
) -> dict[str, Any]:
    """A `meta.k8s.io/v1` Table of the objects: a CRD's printer columns, or a core kind's built-in ones.

    `include_object` is the `includeObject` query parameter (`None`, `Metadata` — the default — or `Object`);
    `list_metadata` is the list's `metadata` (resourceVersion, continue, remainingItemCount), omitted for a
    single-object GET, whose resourceVersion is then taken; `no_headers` (`noHeaders`) drops the column
    definitions, as the apiserver does for watch events after the first.
    """
    include_object = include_object or "Metadata"
    if include_object not in INCLUDE_OBJECT_VALUES:
        raise ValueError(
            f"includeObject: Unsupported value: {include_object!r}: supported values: None, Metadata, Object"
        )
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    definitions, cells = (
        _crd_columns(crd) if crd is not None else _CORE_PRINTERS.get(resource_kind, _DEFAULT_PRINTER)
    )
    metadata: dict[str, Any] = {}
    source = list_metadata if list_metadata is not None else (_meta(objects[0]) if len(objects) == 1 else {})
    for key in ("resourceVersion", "continue", "remainingItemCount"):
        if source.get(key) not in (None, ""):
            metadata[key] = source[key]
    rows: list[dict[str, Any]] = []
    for obj in objects:
        row: dict[str, Any] = {"cells": cells(obj, now)}
        embedded = _row_object(obj, include_object)
        if embedded is not None:
            row["object"] = embedded
        rows.append(row)
    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": metadata,
        "columnDefinitions": None if no_headers else copy.deepcopy(definitions),
        "rows": rows,
    }
