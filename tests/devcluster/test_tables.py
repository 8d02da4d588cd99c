"""Server-side Tables: the CRD printer columns, JSONPath cells, HumanDuration ages and includeObject."""

from __future__ import annotations

import copy
import dataclasses
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from idlcm import crds
from idlcm.devcluster import jsonpath
from idlcm.devcluster.tables import human_duration, render_table

NOW = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)
MS = timedelta(milliseconds=1)
SECOND = timedelta(seconds=1)
MINUTE = timedelta(minutes=1)
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
YEAR = 365 * DAY


def _ago(delta: timedelta) -> str:
    return (NOW - delta).isoformat().replace("+00:00", "Z")


def _integration(**status: Any) -> dict[str, Any]:
    return {
        "apiVersion": "idlcm.io/v1alpha1",
        "kind": "Integration",
        "metadata": {
            "name": "crm",
            "namespace": "team-a",
            "uid": "0b0e",
            "resourceVersion": "42",
            "creationTimestamp": _ago(3 * HOUR + 2 * MINUTE),
            "managedFields": [{"manager": "kubectl", "operation": "Update"}],
        },
        "spec": {"app": "crm-app", "connector": {"scim": {"baseURL": "https://crm.example.com/scim/v2"}}},
        "status": status,
    }


def _integration_crd() -> crds.CRDVersion:
    crd = crds.find("Integration")
    assert crd is not None
    return crd


# The whole table of apimachinery's duration_test.go (TestHumanDuration and its boundaries).
@pytest.mark.parametrize(
    ("delta", "expected"),
    [
        (SECOND, "1s"),
        (70 * SECOND, "70s"),
        (190 * SECOND, "3m10s"),
        (70 * MINUTE, "70m"),
        (47 * HOUR, "47h"),
        (49 * HOUR, "2d1h"),
        ((8 * 24 + 2) * HOUR, "8d"),
        (367 * DAY, "367d"),
        (2 * YEAR + 25 * HOUR, "2y1d"),
        (8 * YEAR + 2 * HOUR, "8y"),
        (-2 * SECOND, "<invalid>"),
        (-2 * SECOND + timedelta(microseconds=1), "0s"),
        (timedelta(0), "0s"),
        (SECOND - MS, "0s"),
        (2 * MINUTE - MS, "119s"),
        (2 * MINUTE, "2m"),
        (2 * MINUTE + SECOND, "2m1s"),
        (10 * MINUTE - MS, "9m59s"),
        (10 * MINUTE, "10m"),
        (10 * MINUTE + SECOND, "10m"),
        (3 * HOUR - MS, "179m"),
        (3 * HOUR, "3h"),
        (3 * HOUR + MINUTE, "3h1m"),
        (8 * HOUR - MS, "7h59m"),
        (8 * HOUR, "8h"),
        (8 * HOUR + 59 * MINUTE, "8h"),
        (2 * DAY - MS, "47h"),
        (2 * DAY, "2d"),
        (2 * DAY + HOUR, "2d1h"),
        (8 * DAY - MS, "7d23h"),
        (8 * DAY, "8d"),
        (8 * DAY + 23 * HOUR, "8d"),
        (2 * YEAR - MS, "729d"),
        (2 * YEAR, "2y"),
        (2 * YEAR + 23 * HOUR + 59 * MINUTE, "2y"),
        (2 * YEAR + DAY - MS, "2y"),
        (2 * YEAR + DAY, "2y1d"),
        (3 * YEAR, "3y"),
        (7 * YEAR, "7y"),
        (8 * YEAR - MS, "7y364d"),
        (8 * YEAR, "8y"),
        (8 * YEAR + 364 * DAY, "8y"),
        (9 * YEAR, "9y"),
    ],
)
def test_human_duration_matches_apimachinery(delta: timedelta, expected: str) -> None:
    assert human_duration(delta) == expected


def test_integration_columns_are_name_then_printer_columns() -> None:
    table = render_table(
        _integration_crd(), "Integration", [], now=NOW, list_metadata={"resourceVersion": "7"}
    )
    columns = [(c["name"], c["type"], c["format"], c["priority"]) for c in table["columnDefinitions"]]
    assert columns == [
        ("Name", "string", "name", 0),
        ("App", "string", "", 0),
        ("Status", "string", "", 0),
        ("Ready", "string", "", 0),
        ("Accounts", "string", "", 0),
        ("Last Sync", "date", "", 0),
        ("Age", "date", "", 0),
        ("Message", "string", "", 1),
    ]
    assert table["columnDefinitions"][1]["description"] == (
        "Custom resource definition column (in JSONPath format): .spec.app"
    )
    assert table["kind"] == "Table"
    assert table["apiVersion"] == "meta.k8s.io/v1"
    assert table["metadata"] == {"resourceVersion": "7"}
    assert table["rows"] == []


def test_integration_row_evaluates_paths_filters_and_ages() -> None:
    obj = _integration(
        status="UpToDate",
        message="12 accounts in sync",
        conditions=[
            {"type": "Validated", "status": "True"},
            {"type": "Ready", "status": "False"},
        ],
        accounts={"summary": "12/12"},
        lastSyncTime=_ago(5 * MINUTE),
    )
    table = render_table(_integration_crd(), "Integration", [obj], now=NOW, list_metadata={})
    assert table["rows"][0]["cells"] == [
        "crm",
        "crm-app",
        "UpToDate",
        "False",
        "12/12",
        "5m",
        "3h2m",
        "12 accounts in sync",
    ]


def test_missing_values_are_null_cells() -> None:
    table = render_table(_integration_crd(), "Integration", [_integration()], now=NOW, list_metadata={})
    assert table["rows"][0]["cells"] == ["crm", "crm-app", None, None, None, None, "3h2m", None]


def test_filter_on_conditions_without_type_gives_null() -> None:
    # client-go fails the whole filter when one item lacks the compared key; the convertor prints nothing.
    obj = _integration(conditions=[{"status": "True"}, {"type": "Ready", "status": "True"}])
    table = render_table(_integration_crd(), "Integration", [obj], now=NOW, list_metadata={})
    assert table["rows"][0]["cells"][3] is None


def test_date_cells_invalid_and_unset() -> None:
    table = render_table(
        _integration_crd(), "Integration", [_integration(lastSyncTime="yesterday")], now=NOW, list_metadata={}
    )
    assert table["rows"][0]["cells"][5] == "<invalid>"
    table = render_table(
        _integration_crd(), "Integration", [_integration(lastSyncTime="")], now=NOW, list_metadata={}
    )
    assert table["rows"][0]["cells"][5] == "<unknown>"


def test_string_column_prints_non_strings_the_go_way() -> None:
    crd = _integration_crd()
    obj = _integration(accounts={"summary": 12}, message=None, status={"b": [1, 2.5], "a": True})
    cells = render_table(crd, "Integration", [obj], now=NOW, list_metadata={})["rows"][0]["cells"]
    assert cells[4] == "12"
    assert cells[7] == "<no value>"
    assert cells[2] == "map[a:true b:[1 2.5]]"


def test_typed_columns_convert_like_cell_for_json_value() -> None:
    crd = crds.find("ExternalApp")
    assert crd is not None
    obj: dict[str, Any] = {
        "metadata": {"name": "crm-app", "creationTimestamp": _ago(49 * HOUR)},
        "status": {"state": "Validated", "integrations": 3.0, "validatedAt": _ago(90 * SECOND)},
    }
    table = render_table(crd, "ExternalApp", [obj], now=NOW, list_metadata={})
    assert [c["name"] for c in table["columnDefinitions"]] == [
        "Name",
        "Status",
        "Integrations",
        "Validated At",
        "Age",
    ]
    assert table["rows"][0]["cells"] == ["crm-app", "Validated", 3, "90s", "2d1h"]
    obj["status"]["integrations"] = "three"
    assert render_table(crd, "ExternalApp", [obj], now=NOW, list_metadata={})["rows"][0]["cells"][2] is None


def test_crd_without_columns_gets_age() -> None:
    crd = _integration_crd()
    bare = dataclasses.replace(crd, printer_columns=())
    table = render_table(bare, "Integration", [_integration()], now=NOW, list_metadata={})
    assert [c["name"] for c in table["columnDefinitions"]] == ["Name", "Age"]
    assert table["rows"][0]["cells"] == ["crm", "3h2m"]


def test_include_object_metadata_is_partial_object_metadata() -> None:
    obj = _integration()
    table = render_table(_integration_crd(), "Integration", [obj], now=NOW, list_metadata={})
    assert table["rows"][0]["object"] == {
        "kind": "PartialObjectMetadata",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": obj["metadata"],
    }


def test_include_object_object_and_none() -> None:
    obj = _integration(status="UpToDate")
    original = copy.deepcopy(obj)
    full = render_table(
        _integration_crd(), "Integration", [obj], include_object="Object", now=NOW, list_metadata={}
    )
    assert full["rows"][0]["object"] == original
    assert full["rows"][0]["object"] is not obj
    bare = render_table(
        _integration_crd(), "Integration", [obj], include_object="None", now=NOW, list_metadata={}
    )
    assert "object" not in bare["rows"][0]
    assert obj == original


def test_include_object_rejects_unknown_values() -> None:
    with pytest.raises(ValueError, match="includeObject"):
        render_table(_integration_crd(), "Integration", [], include_object="Everything", now=NOW)


def test_list_metadata_and_single_object_resource_version() -> None:
    listed = render_table(
        _integration_crd(),
        "Integration",
        [_integration()],
        now=NOW,
        list_metadata={"resourceVersion": "99", "continue": "abc", "remainingItemCount": 3},
    )
    assert listed["metadata"] == {"resourceVersion": "99", "continue": "abc", "remainingItemCount": 3}
    single = render_table(_integration_crd(), "Integration", [_integration()], now=NOW)
    assert single["metadata"] == {"resourceVersion": "42"}


def test_no_headers_drops_column_definitions() -> None:
    table = render_table(_integration_crd(), "Integration", [_integration()], now=NOW, no_headers=True)
    assert table["columnDefinitions"] is None
    assert len(table["rows"][0]["cells"]) == 8


def test_secret_configmap_namespace_columns() -> None:
    created = {"creationTimestamp": _ago(70 * MINUTE)}
    secret = {"metadata": {"name": "token", **created}, "type": "Opaque", "data": {"a": "eA==", "b": "eQ=="}}
    table = render_table(None, "Secret", [secret], now=NOW, list_metadata={})
    assert [c["name"] for c in table["columnDefinitions"]] == ["Name", "Type", "Data", "Age"]
    assert table["rows"][0]["cells"] == ["token", "Opaque", 2, "70m"]

    config = {"metadata": {"name": "accounts", **created}, "data": {"a.csv": ""}, "binaryData": {"b": ""}}
    table = render_table(None, "ConfigMap", [config], now=NOW, list_metadata={})
    assert [c["name"] for c in table["columnDefinitions"]] == ["Name", "Data", "Age"]
    assert table["rows"][0]["cells"] == ["accounts", 2, "70m"]

    namespace = {"metadata": {"name": "team-a", **created}, "status": {"phase": "Active"}}
    table = render_table(None, "Namespace", [namespace], now=NOW, list_metadata={})
    assert [c["name"] for c in table["columnDefinitions"]] == ["Name", "Status", "Age"]
    assert table["rows"][0]["cells"] == ["team-a", "Active", "70m"]


def test_other_kinds_get_the_default_name_and_created_at() -> None:
    crd = {"metadata": {"name": "integrations.idlcm.io", "creationTimestamp": "2026-02-28T13:14:15.5+01:00"}}
    table = render_table(None, "CustomResourceDefinition", [crd], now=NOW, list_metadata={})
    assert [(c["name"], c["type"]) for c in table["columnDefinitions"]] == [
        ("Name", "string"),
        ("Created At", "date"),
    ]
    assert table["rows"][0]["cells"] == ["integrations.idlcm.io", "2026-02-28T12:14:15Z"]
    table = render_table(
        None, "CustomResourceDefinition", [{"metadata": {"name": "x"}}], now=NOW, list_metadata={}
    )
    assert table["rows"][0]["cells"] == ["x", "0001-01-01T00:00:00Z"]


def test_event_columns_are_wide_with_priorities() -> None:
    event = {
        "metadata": {"name": "crm.17a", "namespace": "team-a"},
        "involvedObject": {"kind": "Integration", "name": "crm", "namespace": "team-a"},
        "reason": "Provisioned",
        "message": "  created 3 accounts\n",
        "type": "Normal",
        "firstTimestamp": _ago(10 * MINUTE),
        "lastTimestamp": _ago(30 * SECOND),
        "count": 4,
        "source": {"component": "idlcm"},
    }
    table = render_table(None, "Event", [event], now=NOW, list_metadata={})
    shown = [c["name"] for c in table["columnDefinitions"] if c["priority"] == 0]
    assert shown == ["Last Seen", "Type", "Reason", "Object", "Message"]
    assert table["rows"][0]["cells"] == [
        "30s",
        "Normal",
        "Provisioned",
        "integration/crm",
        "",
        "idlcm",
        "created 3 accounts",
        "10m",
        4,
        "crm.17a",
    ]


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("{.spec.app}", [["crm-app"]]),
        ('{.status.conditions[?(@.type=="Ready")].status}', [["True"]]),
        ("{.status.conditions[?(@.type!='Ready')].type}", [["Validated"]]),
        ("{.status.conditions[*].type}", [["Validated", "Ready"]]),
        ("{.status.conditions[-1].type}", [["Ready"]]),
        ("{.status.conditions[0:1].type}", [["Validated"]]),
        ("{.status.conditions[0,1].status}", [["True", "True"]]),
        ("{.status.conditions[?(@.reason)].type}", [["Ready"]]),
        ("{.status.counts[?(@ > 2)]}", [[3, 5]]),
        ("{..summary}", [["1/2"]]),
        ("{.metadata['name']}", [["crm"]]),
        ("{.status.nothing.deeper}", [[]]),
        ("x={.spec.app}", [["x="], ["crm-app"]]),
    ],
)
def test_jsonpath_subset(template: str, expected: list[list[Any]]) -> None:
    obj = _integration(
        conditions=[
            {"type": "Validated", "status": "True"},
            {"type": "Ready", "status": "True", "reason": "InSync"},
        ],
        accounts={"summary": "1/2"},
        counts=[1, 3, 5],
    )
    assert jsonpath.parse(template).find_results(obj) == expected


def test_jsonpath_errors_and_text_output() -> None:
    with pytest.raises(jsonpath.JSONPathError, match="unclosed action"):
        jsonpath.parse("{.spec.app")
    with pytest.raises(jsonpath.JSONPathError, match="out of bounds"):
        jsonpath.parse("{.items[5]}").find_results({"items": [1]})
    with pytest.raises(jsonpath.JSONPathError, match="not found"):
        jsonpath.parse("{.missing}").find_results({}, allow_missing_keys=False)
    assert jsonpath.parse("{.a} and {.b}").execute({"a": [1, 2], "b": 1e6}) == "[1 2] and 1e+06"
    assert jsonpath.go_format(0.5) == "0.5"
    assert jsonpath.go_format(123456.0) == "123456"
    assert jsonpath.go_format(0.00001) == "1e-05"


def test_events_k8s_io_events_print_like_core_events() -> None:
    event = {
        "apiVersion": "events.k8s.io/v1",
        "kind": "Event",
        "metadata": {"name": "crm.17b", "namespace": "team-a"},
        "eventTime": _ago(4 * MINUTE).replace("Z", ".000000Z"),
        "regarding": {"kind": "Integration", "name": "crm"},
        "reason": "Validated",
        "note": "app validated",
        "type": "Normal",
        "reportingController": "idlcm.io/operator",
        "reportingInstance": "idlcm-0",
    }
    cells = render_table(None, "Event", [event], now=NOW, list_metadata={})["rows"][0]["cells"]
    assert cells == [
        "4m",
        "Normal",
        "Validated",
        "integration/crm",
        "",
        "idlcm.io/operator, idlcm-0",
        "app validated",
        "4m",
        1,
        "crm.17b",
    ]
