"""`x-kubernetes-validations` entries, each compiled once into a celpy program."""

from __future__ import annotations

import dataclasses
import functools
import re
from typing import Any

import celpy
import lark

from idlcm.schema.cellib import FUNCTIONS

_FIELD_PATH_PART = re.compile(r"\.([^.\[\]']+)|\['((?:[^'\\]|\\.)*)'\]")


@dataclasses.dataclass(frozen=True)
class Rule:
    """One validation rule: its source, how a failure is reported, and the compiled programs."""

    rule: str
    message: str = ""
    message_expression: str = ""
    reason: str | None = None
    field_path: str = ""
    """The rule's `fieldPath`, normalised to `a.b` (appended to the node's path in errors)."""
    optional_old_self: bool = False
    program: Any = dataclasses.field(default=None, repr=False)
    message_program: Any = dataclasses.field(default=None, repr=False)
    error: str | None = None
    """Why the rule does not compile; the API server reports `rule compile error: ...` at admission."""
    uses_old_self: bool = False

    @property
    def shown(self) -> str:
        """How errors name the rule: its message if it has one, else its expression (`ruleErrorString`)."""
        return self.message.strip() or self.rule.strip()


@functools.cache
def environment() -> celpy.Environment:
    """The one CEL environment every rule compiles in."""
    return celpy.Environment()


def compile_rules(raw: Any) -> tuple[Rule, ...]:
    """Compile a node's `x-kubernetes-validations` list; broken entries become rules that report why."""
    if not isinstance(raw, list):
        return ()
    return tuple(compile_rule(entry) for entry in raw if isinstance(entry, dict))


def compile_rule(entry: dict[str, Any]) -> Rule:
    """Compile one entry; never raises (a compile error is kept on the rule)."""
    source = entry.get("rule")
    base = Rule(
        rule=source if isinstance(source, str) else "",
        message=_text(entry, "message"),
        message_expression=_text(entry, "messageExpression"),
        reason=entry["reason"] if isinstance(entry.get("reason"), str) else None,
        optional_old_self=entry.get("optionalOldSelf") is True,
    )
    if not isinstance(source, str) or not source.strip():
        return dataclasses.replace(base, error="rule is empty")
    try:
        field_path = normalize_field_path(_text(entry, "fieldPath"))
    except ValueError as e:
        return dataclasses.replace(base, error=f"fieldPath: {e}")
    try:
        ast = environment().compile(source)
        program = environment().program(ast, functions=FUNCTIONS)
    except Exception as e:  # celpy raises lark and its own errors for bad syntax
        return dataclasses.replace(base, field_path=field_path, error=_first_line(e))
    message_program = None
    if base.message_expression:
        try:
            ast_message = environment().compile(base.message_expression)
            message_program = environment().program(ast_message, functions=FUNCTIONS)
        except Exception:  # the API server would reject the CRD; fall back to `message`, as on an eval error
            message_program = None
    return dataclasses.replace(
        base,
        field_path=field_path,
        program=program,
        message_program=message_program,
        uses_old_self=_uses_old_self(ast),
    )


def normalize_field_path(path: str) -> str:
    """`.spec.foo['bar.baz']` → `spec.foo.bar.baz`, the form appended to the node's field path."""
    if not path:
        return ""
    parts, pos = [], 0
    while pos < len(path):
        match = _FIELD_PATH_PART.match(path, pos)
        if not match:
            raise ValueError(f"invalid JSON path {path!r}")
        parts.append(match[1] if match[1] is not None else re.sub(r"\\(.)", r"\1", match[2]))
        pos = match.end()
    return ".".join(parts)


def _text(entry: dict[str, Any], key: str) -> str:
    return entry[key] if isinstance(entry.get(key), str) else ""


def _uses_old_self(ast: lark.Tree[Any]) -> bool:
    for node in ast.iter_subtrees():
        if node.data == "ident" and any(isinstance(t, lark.Token) and t == "oldSelf" for t in node.children):
            return True
    return False


def _first_line(error: Exception) -> str:
    text = str(error).strip() or type(error).__name__
    return text.splitlines()[0]
