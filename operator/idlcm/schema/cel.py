"""CEL `x-kubernetes-validations`: each rule evaluated at its node, `oldSelf` correlated as the API server."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from celpy import celtypes
from celpy.evaluation import CELEvalError

from idlcm.schema import errors
from idlcm.schema.cellib import OptionalValue
from idlcm.schema.celrules import Rule
from idlcm.schema.celvalues import to_cel
from idlcm.schema.errors import FieldError
from idlcm.schema.listtypes import identity
from idlcm.schema.node import Node

_REASONS = {"FieldValueForbidden", "FieldValueRequired", "FieldValueDuplicate", "FieldValueInvalid"}
_MAX_MESSAGE = 5 * 1024  # bytes, celconfig.MaxEvaluatedMessageExpressionSizeBytes


def validate_rules(obj: Any, old: Any, root: Node) -> list[FieldError]:
    """Every failed or broken rule of `obj`; `old` (None on create) supplies `oldSelf` to transition rules."""
    out: list[FieldError] = []
    _walk(obj, old, root, "", out, resource_root=True)
    return out


def _walk(value: Any, old: Any, node: Node, path: str, out: list[FieldError], resource_root: bool) -> None:
    if value is None or not node.has_rules:
        return
    if node.rules:
        _evaluate(node, value, old, path, out, resource_root)
    if isinstance(value, list) and node.items is not None:
        find_old = _correlate(node, old)
        for i, item in enumerate(value):
            _walk(item, find_old(item), node.items, f"{path}[{i}]", out, node.items.embedded)
    elif isinstance(value, dict):
        olds = old if isinstance(old, dict) else {}
        for key, item in value.items():
            prop = node.properties.get(key) if isinstance(key, str) else None
            if prop is not None:
                _walk(item, olds.get(key), prop, f"{path}.{key}" if path else key, out, prop.embedded)
            elif node.additional is not None:
                child = node.additional
                _walk(item, olds.get(key), child, f"{path}[{key}]", out, child.embedded)


def _correlate(node: Node, old: Any) -> Callable[[Any], Any]:
    """How to find the old item of a new list item: by key for a list-type map, else never."""
    if node.list_type != "map" or not node.list_map_keys or not isinstance(old, list):
        return lambda item: None
    index: dict[Any, Any] = {}
    for item in old:
        if isinstance(item, dict):
            index.setdefault(_key(item, node.list_map_keys), item)

    def find(item: Any) -> Any:
        return index.get(_key(item, node.list_map_keys)) if isinstance(item, dict) else None

    return find


def _key(item: dict[str, Any], fields: tuple[str, ...]) -> tuple[Any, ...]:
    return tuple(identity(item.get(f)) if f in item else ("unspecified",) for f in fields)


def _evaluate(
    node: Node, value: Any, old: Any, path: str, out: list[FieldError], resource_root: bool
) -> None:
    here = path or errors.NO_PATH
    self_value = to_cel(value, node, resource_root)
    wants_old = old is not None and any(r.uses_old_self or r.optional_old_self for r in node.rules)
    old_value = to_cel(old, node, resource_root) if wants_old else None
    for rule in node.rules:
        if rule.error is not None:
            out.append(FieldError(here, errors.INVALID, f"rule compile error: {rule.error}", node.type))
            continue
        if rule.uses_old_self and old is None and not rule.optional_old_self:
            continue  # a transition rule runs only where there is an old value to compare with
        activation: dict[str, Any] = {"self": self_value}
        if rule.optional_old_self:
            activation["oldSelf"] = OptionalValue(old is not None, old_value)
        elif rule.uses_old_self:
            activation["oldSelf"] = old_value
        outcome = _run(rule.program, activation)
        if isinstance(outcome, str):
            detail = _error_detail(outcome, rule)
            out.append(FieldError(here, errors.INVALID, detail, node.type, unevaluated=True))
        elif not outcome:
            out.append(_failure(rule, activation, path, node.type))


def _run(program: Any, activation: dict[str, Any]) -> bool | str:
    """The rule's verdict, or why it could not be evaluated."""
    try:
        result = program.evaluate(activation)
    except CELEvalError as e:
        return _describe(e)
    except Exception as e:  # celpy lets some Python errors through; a rule must never break admission
        return f"{type(e).__name__}: {e}"
    if isinstance(result, celtypes.BoolType):
        return bool(result)
    return f"rule evaluated to {type(result).__name__}, not a bool"


def _describe(error: CELEvalError) -> str:
    """celpy's error in cel-go's words where they differ (`no such key: x`)."""
    text = str(error.args[0]) if error.args else "evaluation error"
    if text.startswith("no such member in mapping:"):
        return "no such key: " + text.split(":", 1)[1].strip().strip("'")
    if text.startswith("undeclared reference to"):
        return text.split(" (in activation", 1)[0]
    if text.startswith("modulus or divide by zero"):
        return "division by zero"
    return text


def _error_detail(reason: str, rule: Rule) -> str:
    if reason.startswith("no such overload"):
        return (
            f"'{reason}': call arguments did not match a supported operator, function or macro signature "
            f"for rule: {rule.shown}"
        )
    return f"{reason} evaluating rule: {rule.shown}"


def _failure(rule: Rule, activation: dict[str, Any], path: str, type_name: str) -> FieldError:
    field = ".".join(p for p in (path, rule.field_path) if p) or errors.NO_PATH
    detail = _message(rule, activation)
    reason = rule.reason if rule.reason in _REASONS else errors.INVALID
    if reason == errors.FORBIDDEN:
        return FieldError(field, errors.FORBIDDEN, detail, "")
    if reason == errors.REQUIRED:
        return FieldError(field, errors.REQUIRED, detail, "")
    if reason == errors.DUPLICATE:
        return FieldError(field, errors.DUPLICATE, "", type_name)
    return FieldError(field, errors.INVALID, detail, type_name)


def _message(rule: Rule, activation: dict[str, Any]) -> str:
    """The `messageExpression` result if it is a usable string, else `message`, else `failed rule: ...`."""
    if rule.message_program is not None:
        try:
            result = rule.message_program.evaluate(activation)
        except Exception:  # the API server logs a failed messageExpression and falls back, so do we
            result = None
        if isinstance(result, str):
            text = result.strip()
            if text and "\n" not in text and len(text.encode()) <= _MAX_MESSAGE:
                return text
    if rule.message.strip():
        return rule.message.strip()
    return f"failed rule: {rule.rule.strip()}"
