"""`idlcm check` knows what the API server can store: an object of at most 1.5 MiB in etcd (refused when too
little room is left for the status the operator writes), all annotations together at most 256 KiB, and the
copy `kubectl apply` keeps in an annotation. Sizes are counted as the API server stores the object."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from idlcm import crds
from idlcm.check import ANNOTATIONS_LIMIT, NEAR_LIMIT, OBJECT_LIMIT, OPERATOR_ROOM, stored_size
from idlcm.schema import SchemaValidator

from .runner import check

FILLER = "example.com/filler"


def integration(accounts: list[dict[str, Any]], **annotations: str) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": "crm", "namespace": "team"}
    if annotations:
        metadata["annotations"] = annotations
    return {
        "apiVersion": "idlcm.io/v1alpha1",
        "kind": "Integration",
        "metadata": metadata,
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


def large_accounts(count: int) -> list[dict[str, Any]]:
    """Valid accounts of about 10 KB each (100 groups of 100 characters): few YAML nodes for their size."""
    return [
        {
            "userName": f"user{i:05d}@example.com",
            "displayName": f"User {i:05d}",
            "groups": [f"group-{i:05d}-{j:03d}-" + "g" * 84 for j in range(100)],
        }
        for i in range(count)
    ]


def as_stored(obj: dict[str, Any]) -> int:
    """The size of `obj` once the API server has pruned and defaulted it (status goes with a create)."""
    crd = crds.find("Integration")
    assert crd is not None
    return stored_size(SchemaValidator.for_crd(crd).read(obj))


def of_size(target: int) -> dict[str, Any]:
    """A valid Integration of exactly `target` bytes as stored: large accounts, topped up by an annotation
    (plain ASCII in both, so each added character is one byte)."""
    accounts = large_accounts((target - 150_000) // 10_400)  # leaves about 150 KB to the annotation
    base = as_stored(integration(accounts, **{FILLER: ""}))
    assert 0 < target - base < ANNOTATIONS_LIMIT - len(FILLER)
    obj = integration(accounts, **{FILLER: "x" * (target - base)})
    assert as_stored(obj) == target
    return obj


def write(tmp_path: Path, obj: dict[str, Any]) -> Path:
    path = tmp_path / "integration.yaml"
    path.write_text(json.dumps(obj))  # JSON is YAML
    return path


def test_an_integration_that_leaves_no_room_for_its_status_is_refused(tmp_path: Path) -> None:
    size = OBJECT_LIMIT - OPERATOR_ROOM + 1
    result = check(write(tmp_path, of_size(size)))
    assert result.code == 1
    (line,) = [line for line in result.out.splitlines() if "too large" in line]
    assert f"too large: {size:,} bytes as the API server stores it" in line
    assert "1,572,864 bytes (1.5 MiB)" in line
    assert line.endswith("declare large rosters in accountsFrom (ConfigMaps)")
    assert line.startswith(f"{tmp_path / 'integration.yaml'}:1: Integration team/crm: ")


def test_an_integration_that_just_fits_passes_with_a_note_that_it_is_close(tmp_path: Path) -> None:
    size = OBJECT_LIMIT - OPERATOR_ROOM
    result = check(write(tmp_path, of_size(size)))
    assert result.code == 0, result.out
    assert f"note: {size:,} bytes as the API server stores it, close to the 1,572,864 bytes" in result.out
    assert "accountsFrom" in result.out


def test_below_one_mib_no_closeness_is_noted(tmp_path: Path) -> None:
    assert "close to" not in check(write(tmp_path, of_size(NEAR_LIMIT))).out
    assert "close to" in check(write(tmp_path, of_size(NEAR_LIMIT + 1))).out


def test_a_small_integration_gets_no_size_note(tmp_path: Path) -> None:
    result = check(write(tmp_path, integration(large_accounts(2))))
    assert result.code == 0
    assert "note" not in result.out


def test_annotations_over_256_kib_in_all_are_refused_as_the_api_server_does(tmp_path: Path) -> None:
    key = "example.com/a"
    over = integration([], **{key: "x" * (ANNOTATIONS_LIMIT - len(key) + 1)})
    result = check(write(tmp_path, over))
    assert result.code == 1
    assert "metadata.annotations: Too long: may not be more than 262144 bytes" in result.out

    at_limit = integration([], **{key: "x" * (ANNOTATIONS_LIMIT - len(key))})
    assert "Too long" not in check(write(tmp_path, at_limit)).out


def test_an_object_too_large_for_kubectl_apply_s_copy_says_to_create_it(tmp_path: Path) -> None:
    result = check(write(tmp_path, integration(large_accounts(30))))  # about 300 KB
    assert result.code == 0
    assert "`kubectl apply` (client-side) keeps a copy of the object" in result.out
    assert "kubectl.kubernetes.io/last-applied-configuration" in result.out
    assert "`kubectl create`" in result.out


@pytest.mark.parametrize(
    ("value", "stored"),
    [
        ("plain", '"plain"'),
        ("R&D <ops>", '"R\\u0026D \\u003cops\\u003e"'),  # Go's encoding/json escapes <, > and &
        ("Zoë", '"Zoë"'),  # UTF-8, not \\u escapes: 2 bytes for ë
        ("a\u2028b", '"a\\u2028b"'),
        ('quote " and \\', '"quote \\" and \\\\"'),
    ],
)
def test_sizes_count_the_bytes_go_writes(value: str, stored: str) -> None:
    assert stored_size({"k": value}) == len(f'{{"k":{stored}}}'.encode())
