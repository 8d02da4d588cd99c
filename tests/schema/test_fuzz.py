"""Properties over random input: admission never raises, and admitting its own output changes nothing."""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from idlcm.schema import FieldError

from .objects import integration, integrations, messages

FULL_SPEC: dict[str, Any] = {
    "app": "acme-crm",
    "connector": {
        "scim": {
            "baseURL": "https://crm.example.com/scim/v2",
            "auth": {"bearerToken": {"secretRef": {"name": "acme-crm-scim", "key": "token"}}},
            "tls": {"insecure": False, "caSecretRef": {"name": "acme-ca", "key": "ca.crt"}},
            "rateLimit": {"requestsPerSecond": 25, "maxConcurrency": 8},
        }
    },
    "validation": {"canary": False, "interval": "24h"},
    "accounts": [
        {
            "userName": "alice@example.com",
            "email": "alice@example.com",
            "groups": ["engineering"],
            "active": True,
        },
        {"userName": "bob@example.com", "displayName": "Bob"},
    ],
    "accountsFrom": [{"configMapRef": {"name": "sales-roster", "key": "roster.csv"}}],
    "sync": {"interval": "10m", "adoptExisting": False},
    "deprovision": {"mode": "Deactivate", "maxDeletions": 10},
    "deletionPolicy": "Deprovision",
    "suspend": False,
    "dryRun": False,
}

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=40)
    | st.sampled_from(
        ["", "acme-crm", "http://x", "https://x.example.com", "Delete", "10m", "2024-01-01T00:00:00Z"]
    ),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=12,
)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every place in `value` a mutation can go: existing keys and indices, and a new key per object."""
    found = [prefix] if prefix else []
    if isinstance(value, dict):
        found.append((*prefix, "extra"))
        for key, item in value.items():
            found.extend(_paths(item, (*prefix, key)))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            found.extend(_paths(item, (*prefix, i)))
    return found


integrations()  # compile first: celpy raises the recursion limit, which hypothesis would warn about
BASE = integration(**FULL_SPEC)
BASE["status"] = {"secretVersions": {"acme-crm-scim": "1"}, "conditions": []}
PATHS = _paths(BASE)


def _mutate(obj: dict[str, Any], path: tuple[Any, ...], value: Any) -> None:
    target: Any = obj
    for step in path[:-1]:
        if (isinstance(target, dict) and step in target) or (
            isinstance(target, list) and isinstance(step, int) and step < len(target)
        ):
            target = target[step]
        else:
            return
    if isinstance(target, dict) or (
        isinstance(target, list) and isinstance(path[-1], int) and path[-1] < len(target)
    ):
        target[path[-1]] = value


mutations = st.lists(st.tuples(st.sampled_from(PATHS), json_values), min_size=1, max_size=3)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutations, st.booleans())
def test_admission_never_raises_and_is_idempotent(
    changes: list[tuple[tuple[Any, ...], Any]], update: bool
) -> None:
    obj = copy.deepcopy(BASE)
    for path, value in changes:
        _mutate(obj, path, value)
    old = BASE if update else None
    first = integrations().admit(obj, old=old)
    assert isinstance(first.obj, dict)
    assert all(isinstance(e, FieldError) and isinstance(e.message, str) for e in first.errors)
    second = integrations().admit(first.obj, old=old)
    assert second.obj == first.obj
    assert second.pruned == []
    assert messages(second) == messages(first)


@settings(max_examples=200, deadline=None)
@given(json_values, st.one_of(st.none(), json_values))
def test_admission_of_any_value_never_raises(value: Any, old: Any) -> None:
    admission = integrations().admit(value, old=old)
    assert isinstance(admission.obj, dict)
    if not isinstance(value, dict):
        assert not admission.ok


def test_deeply_nested_input_is_an_error_not_a_crash() -> None:
    deep: Any = "x"
    for _ in range(5000):
        deep = {"spec": deep}
    admission = integrations().admit(deep)
    assert not admission.ok
