"""The CRD's bounds against what the API server stores (issue 14.1): etcd keeps an object of at most
1.5 MiB, and the CRD's per-field bounds (maxLength, maxItems) allow far more. The computation here is the one
README.md states (section Limits); `idlcm check` enforces the limit of the whole object (tests/check/)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from idlcm import crds
from idlcm.check import OBJECT_LIMIT, OPERATOR_ROOM, stored_size
from idlcm.schema import SchemaValidator

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()
README_LIMITS = " ".join(README.split("### Limits", 1)[1].split("###", 1)[0].split())

Schema = dict[str, Any]


def accounts_schema() -> Schema:
    crd = crds.find("Integration")
    assert crd is not None
    schema: Schema = crd.schema["properties"]["spec"]["properties"]["accounts"]
    return schema


def as_stored(accounts: list[dict[str, Any]]) -> int:
    """Bytes of an Integration with these accounts as the API server stores it (pruned, defaulted)."""
    crd = crds.find("Integration")
    assert crd is not None
    obj = {
        "apiVersion": "idlcm.io/v1alpha1",
        "kind": "Integration",
        "metadata": {"name": "crm", "namespace": "team"},
        "spec": {
            "app": "acme-crm",
            "connector": {
                "scim": {
                    "baseURL": "https://crm.example.com/scim/v2",
                    "auth": {"bearerToken": {"secretRef": {"name": "acme-token"}}},
                }
            },
            "accounts": accounts,
        },
    }
    return stored_size(SchemaValidator.for_crd(crd).read(obj))


def largest_account(items: Schema) -> dict[str, Any]:
    """An account with every field at its schema maximum: the longest strings (ASCII, one byte a character:
    the least a maximal string can take), `false` over `true`, every list full of distinct maximal items.
    Its size is the point, not its meaning (the email is no address)."""
    account: dict[str, Any] = {}
    for name, field in items["properties"].items():
        if field["type"] == "string":
            account[name] = "x" * field["maxLength"]
        elif field["type"] == "boolean":
            account[name] = False
        elif field["type"] == "array":
            length = field["items"]["maxLength"]
            account[name] = [f"{i:04d}".ljust(length, "x") for i in range(field["maxItems"])]
        else:
            pytest.fail(f"accounts[].{name}: a {field['type']} field this computation does not size")
    return account


def typical_accounts(count: int) -> list[dict[str, Any]]:
    """Accounts of a usual size with every field (the shape the suite provisions 5,000 of)."""
    return [
        {
            "userName": f"user{i:05d}@example.com",
            "displayName": f"User Number {i:05d}",
            "givenName": "User",
            "familyName": f"Number {i:05d}",
            "email": f"user{i:05d}@example.com",
            "active": True,
            "title": "Senior Account Representative",
            "department": "Customer Operations and Success",
            "groups": ["everyone", f"team-{i % 50:02d}"],
        }
        for i in range(count)
    ]


def test_every_account_field_is_bounded() -> None:
    """Without a bound on every field there is no worst case to compute."""
    items = accounts_schema()["items"]
    for name, field in items["properties"].items():
        if field["type"] == "string":
            assert "maxLength" in field, name
        if field["type"] == "array":
            assert "maxItems" in field, name
            assert "maxLength" in field["items"], name


def test_the_crd_bounds_allow_more_accounts_than_one_object_holds() -> None:
    schema = accounts_schema()
    empty = as_stored([])
    one = as_stored([largest_account(schema["items"])]) - empty
    each = as_stored([largest_account(schema["items"])] * 2) - empty - one  # one more in a list: a comma too
    fit = (OBJECT_LIMIT - OPERATOR_ROOM - empty) // each

    assert schema["maxItems"] * each > OBJECT_LIMIT, (
        "the CRD now keeps every Integration storable: say so in README (Limits), review check's size limit"
    )
    assert f"takes {each:,} bytes" in README_LIMITS
    assert f"about {fit} such accounts fill an Integration" in README_LIMITS
    assert f"`maxItems` allows {schema['maxItems']:,}" in README_LIMITS


def test_5000_accounts_of_a_usual_size_fit_with_room_for_the_status() -> None:
    size = as_stored(typical_accounts(5000))
    assert size + OPERATOR_ROOM <= OBJECT_LIMIT
    assert "5,000 with every field (`user00042@example.com`, a name, a 30-character title" in README_LIMITS
    assert f"take {size / 2**20:.2f} MiB" in README_LIMITS


def test_the_readme_states_the_limits_check_enforces() -> None:
    assert f"over {OBJECT_LIMIT - OPERATOR_ROOM:,} bytes" in README_LIMITS
    assert f"leaves less than {OPERATOR_ROOM // 1024} KiB" in README_LIMITS
    assert f"at most {OBJECT_LIMIT:,} bytes (1.5 MiB)" in README_LIMITS
    assert "Large rosters belong in `accountsFrom`" in README_LIMITS
