"""The pydantic spec models and the CRD schema describe the same fields with the same defaults."""

from __future__ import annotations

import types
import typing
from collections.abc import Mapping
from typing import Any

import pydantic
import pytest

from idlcm import crds
from idlcm.api import IntegrationSpec
from idlcm.api.spec import parse_duration


def _model_of(annotation: Any) -> type[pydantic.BaseModel] | None:
    """The model class inside `X | None` or `tuple[X, ...]`, if any."""
    if isinstance(annotation, type) and issubclass(annotation, pydantic.BaseModel):
        return annotation
    if typing.get_origin(annotation) in (typing.Union, types.UnionType, tuple):
        for arg in typing.get_args(annotation):
            found = _model_of(arg)
            if found is not None:
                return found
    return None


def _compare(model: type[pydantic.BaseModel], schema: Mapping[str, Any], path: str) -> list[str]:
    problems: list[str] = []
    if schema.get("type") == "array":
        schema = schema["items"]
    props: Mapping[str, Any] = schema.get("properties", {})
    fields = {(f.alias or name): f for name, f in model.model_fields.items()}
    for missing in sorted(set(props) - set(fields)):
        problems.append(f"{path}.{missing}: in the CRD, not in {model.__name__}")
    for extra in sorted(set(fields) - set(props)):
        problems.append(f"{path}.{extra}: in {model.__name__}, not in the CRD")
    for key in sorted(set(props) & set(fields)):
        field, prop = fields[key], props[key]
        if "default" in prop and prop["default"] != {} and field.default != prop["default"]:
            problems.append(f"{path}.{key}: default {field.default!r} != CRD default {prop['default']!r}")
        sub = _model_of(field.annotation)
        if sub is not None:
            problems.extend(_compare(sub, prop, f"{path}.{key}"))
    return problems


def test_spec_model_matches_crd_schema() -> None:
    crd = crds.find("Integration")
    assert crd is not None
    assert _compare(IntegrationSpec, crd.schema["properties"]["spec"], "spec") == []


def test_minimal_spec_gets_crd_defaults() -> None:
    spec = IntegrationSpec.model_validate(
        {
            "app": "acme",
            "connector": {
                "scim": {"baseURL": "https://x", "auth": {"bearerToken": {"secretRef": {"name": "s"}}}}
            },
        }
    )
    assert spec.deprovision.mode == "Deactivate"
    assert spec.sync.interval_seconds == 600
    assert spec.validation.interval_seconds == 24 * 3600
    assert spec.connector.scim.auth.bearer_token is not None
    assert spec.connector.scim.auth.bearer_token.secret_ref.key == "token"
    assert spec.secret_names() == ("s",)


def test_duplicate_user_names_differing_in_case_are_rejected() -> None:
    with pytest.raises(pydantic.ValidationError, match="duplicate userName"):
        IntegrationSpec.model_validate(
            {
                "app": "acme",
                "connector": {
                    "scim": {"baseURL": "https://x", "auth": {"bearerToken": {"secretRef": {"name": "s"}}}}
                },
                "accounts": [{"userName": "Alice@example.com"}, {"userName": "alice@EXAMPLE.com"}],
            }
        )


@pytest.mark.parametrize(
    ("text", "seconds"), [("10m", 600), ("1h30m", 5400), ("500ms", 0.5), ("24h", 86400), ("1.5h", 5400)]
)
def test_durations_parse_like_go(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "10", "m", "10x", "1h 30m", "-5m"])
def test_bad_durations_are_rejected(text: str) -> None:
    with pytest.raises(ValueError, match="invalid duration"):
        parse_duration(text)
