"""One node of a structural schema, read once from an openAPIV3Schema mapping (regexes and CEL compiled)."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from typing import Any

import re2  # type: ignore[import-untyped]  # RE2, as the API server matches `pattern`

from idlcm.schema.celrules import Rule, compile_rules
from idlcm.schema.formats import effective_format

_NUMBER = (int, float)


@dataclasses.dataclass(eq=False)
class Node:
    """A schema node with everything the pruning, defaulting and validation steps need of it."""

    types: tuple[str, ...] = ()
    """Allowed JSON types; empty when untyped (`x-kubernetes-preserve-unknown-fields` without `type`)."""
    format: str = ""
    """The format the API server validates (unsupported formats such as int64 are dropped, as it does)."""
    nullable: bool = False
    has_default: bool = False
    default: Any = None
    enum: tuple[Any, ...] | None = None
    pattern: str | None = None
    regex: Any = None
    pattern_error: str | None = None
    min_length: int | None = None
    max_length: int | None = None
    minimum: float | None = None
    maximum: float | None = None
    exclusive_minimum: bool = False
    exclusive_maximum: bool = False
    multiple_of: float | None = None
    min_items: int | None = None
    max_items: int | None = None
    min_properties: int | None = None
    max_properties: int | None = None
    required: tuple[str, ...] = ()
    properties: dict[str, Node] = dataclasses.field(default_factory=dict)
    has_properties: bool = False
    additional: Node | None = None
    """The `additionalProperties` schema; `has_additional` is set for `additionalProperties: true` too."""
    has_additional: bool = False
    items: Node | None = None
    preserve_unknown: bool = False
    embedded: bool = False
    list_type: str | None = None
    list_map_keys: tuple[str, ...] = ()
    rules: tuple[Rule, ...] = ()
    has_rules: bool = False
    """True when this node or any node below it has CEL rules."""

    @property
    def type(self) -> str:
        """The schema type as the API server names it in CEL errors (`object`, `string`, ...)."""
        return self.types[0] if len(self.types) == 1 else ""

    def child(self, key: str) -> Node | None:
        """The schema of the property or additional property `key`, if any."""
        return self.properties.get(key) or self.additional


def compile_node(schema: Any) -> Node:
    """Read a schema mapping into a `Node` tree; malformed keywords are ignored, never raised."""
    if not isinstance(schema, Mapping):
        return Node()
    node = Node()
    _read_type(node, schema)
    _read_values(node, schema)
    _read_children(node, schema)
    node.rules = compile_rules(schema.get("x-kubernetes-validations"))
    node.has_rules = bool(node.rules) or any(
        child.has_rules for child in (*node.properties.values(), node.items, node.additional) if child
    )
    return node


def _read_type(node: Node, schema: Mapping[str, Any]) -> None:
    if schema.get("x-kubernetes-int-or-string") is True:
        node.types = ("integer", "string")
    elif isinstance(schema.get("type"), str) and schema["type"]:
        node.types = (schema["type"],)
    node.format = effective_format(schema.get("format"))
    node.nullable = schema.get("nullable") is True
    node.preserve_unknown = schema.get("x-kubernetes-preserve-unknown-fields") is True
    node.embedded = schema.get("x-kubernetes-embedded-resource") is True


def _read_values(node: Node, schema: Mapping[str, Any]) -> None:
    if "default" in schema:
        node.has_default, node.default = schema["default"] is not None, schema["default"]
    if isinstance(schema.get("enum"), list):
        node.enum = tuple(schema["enum"])
    if isinstance(schema.get("pattern"), str):
        node.pattern = schema["pattern"]
        try:
            node.regex = re2.compile(node.pattern)
        except (re2.error, re.error, TypeError, ValueError) as e:
            node.pattern_error = str(e) or "invalid pattern"
    for key, attr in (
        ("minLength", "min_length"),
        ("maxLength", "max_length"),
        ("minItems", "min_items"),
        ("maxItems", "max_items"),
        ("minProperties", "min_properties"),
        ("maxProperties", "max_properties"),
    ):
        if isinstance(schema.get(key), int) and not isinstance(schema[key], bool):
            setattr(node, attr, schema[key])
    for key, attr in (("minimum", "minimum"), ("maximum", "maximum"), ("multipleOf", "multiple_of")):
        if isinstance(schema.get(key), _NUMBER) and not isinstance(schema[key], bool):
            setattr(node, attr, schema[key])
    node.exclusive_minimum = schema.get("exclusiveMinimum") is True
    node.exclusive_maximum = schema.get("exclusiveMaximum") is True
    if isinstance(schema.get("required"), list):
        node.required = tuple(k for k in schema["required"] if isinstance(k, str))


def _read_children(node: Node, schema: Mapping[str, Any]) -> None:
    properties = schema.get("properties")
    if isinstance(properties, Mapping):
        node.has_properties = True
        node.properties = {k: compile_node(v) for k, v in properties.items() if isinstance(k, str)}
    additional = schema.get("additionalProperties")
    if isinstance(additional, Mapping):
        node.has_additional, node.additional = True, compile_node(additional)
    elif additional is True:
        node.has_additional = True
    if isinstance(schema.get("items"), Mapping):
        node.items = compile_node(schema["items"])
    if schema.get("x-kubernetes-list-type") in ("atomic", "set", "map"):
        node.list_type = schema["x-kubernetes-list-type"]
    keys = schema.get("x-kubernetes-list-map-keys")
    if isinstance(keys, list):
        node.list_map_keys = tuple(k for k in keys if isinstance(k, str))
