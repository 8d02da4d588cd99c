"""`idlcm check FILE...`: validate Integration and ExternalApp YAML offline, as the API server would."""

from __future__ import annotations

import dataclasses
import json
import sys
from collections.abc import Iterator, Sequence
from typing import Any, TextIO

import yaml

from idlcm import crds
from idlcm.api.spec import EMAIL_REFUSED, is_email
from idlcm.schema import FieldError, SchemaValidator, formats, gofmt, unknown_field
from idlcm.schema import errors as field_errors

STDIN = "-"

OBJECT_LIMIT = 1_572_864
"""Bytes of the largest object the API server can store: etcd's default `--max-request-bytes` (1.5 MiB)."""
OPERATOR_ROOM = 128 * 1024
"""Room kept for what is added after the create: the status the operator writes, its finalizer and kopf's
bookkeeping, the server's own metadata. A spec that fills the rest would leave the status unwritable."""
NEAR_LIMIT = 1_048_576
"""Above this (1 MiB) an object is close enough to the limit to say so."""
ANNOTATIONS_LIMIT = 262_144
"""Bytes of all annotations of one object together (keys and values), as the API server validates them."""
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"

# Go's encoding/json, which writes what the API server stores, escapes these in strings (and nothing else
# that Python's json.dumps(ensure_ascii=False) leaves as it is).
_GO_ESCAPES = str.maketrans(
    {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}
)


class _Loader(yaml.SafeLoader):
    """YAML as kubectl reads it: timestamps stay strings, keys become strings, duplicate keys are errors."""


class _FastLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """The same with libyaml's parser (a 5,000-account file parses in seconds, not half a minute). Its syntax
    errors are worded otherwise: a file it refuses is read again by `_Loader`, for the messages of PyYAML."""


_Loader.yaml_implicit_resolvers = _FastLoader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _construct_mapping(loader: _Loader, node: yaml.MappingNode) -> dict[str, Any]:
    loader.flatten_mapping(node)
    mapping: dict[str, Any] = {}
    for key_node, value_node in node.value:
        key = _json_key(loader.construct_object(key_node, deep=True))
        if key in mapping:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {gofmt.quote(key)}", key_node.start_mark
            )
        mapping[key] = loader.construct_object(value_node, deep=True)
    return mapping


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
_FastLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


@dataclasses.dataclass
class _Document:
    """One YAML document, with the line of every field path in it (`spec.accounts[2].email` → 31)."""

    data: Any
    line: int
    lines: dict[str, int]

    def line_of(self, path: str) -> int:
        """The line of `path`, or of its nearest parent in the file (a missing field's object)."""
        while path:
            if path in self.lines:
                return self.lines[path]
            cut = max(path.rfind("."), path.rfind("["))
            path = path[: max(cut, 0)]
        return self.line


@dataclasses.dataclass(frozen=True)
class _Problem:
    """One line of the report: an error, or a note that does not fail the check."""

    path: str
    message: str
    is_error: bool = True


@dataclasses.dataclass
class _Tally:
    checked: int = 0
    skipped: int = 0
    errors: int = 0


def run(paths: Sequence[str], out: TextIO, err: TextIO) -> int:
    """Check every document of every file; 0 when all are valid, 1 on any error, 2 on a usage error."""
    sources: list[tuple[str, str]] = []
    usage_errors = 0
    for path in paths:
        try:
            sources.append(_read(path))
        except OSError as e:
            print(f"idlcm check: {path}: {e.strerror or e}", file=err)
            usage_errors += 1
    if not paths:
        print("idlcm check: no files given", file=err)
        return 2
    if usage_errors:
        return 2
    tally = _Tally()
    for name, text in sources:
        _check_file(name, text, out, tally)
    s = "" if tally.checked == 1 else "s"
    skipped = f" ({tally.skipped} other skipped)" if tally.skipped else ""
    if tally.errors:
        print(f"{tally.checked} document{s} checked{skipped}: {tally.errors} error(s)", file=out)
        return 1
    print(f"{tally.checked} document{s} checked{skipped}, all valid", file=out)
    return 0


def _read(path: str) -> tuple[str, str]:
    if path == STDIN:
        if sys.stdin is None:
            raise OSError("no standard input")
        return "<stdin>", sys.stdin.read()
    with open(path, "rb") as f:
        raw = f.read()
    try:
        return path, raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise OSError(f"not UTF-8 text ({e.reason} at byte {e.start})") from e


def _check_file(name: str, text: str, out: TextIO, tally: _Tally) -> None:
    """Report the problems of one file, by line (a stable sort: same-line ones keep their order)."""
    found: list[tuple[int, str, bool]] = []

    def report(line: int, message: str, is_error: bool = True) -> None:
        found.append((line, message, is_error))

    documents = 0
    try:
        for number, doc in enumerate(_documents(text), start=1):
            documents += 0 if doc.data is None else 1
            for obj, label in _objects(doc.data, number):
                if isinstance(obj, str):  # not an object: `obj` says why
                    report(doc.line, f"{label}: {obj}")
                    continue
                for problem in _check_object(obj, label, tally):
                    report(doc.line_of(problem.path), problem.message, problem.is_error)
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        column = f" (column {mark.column + 1})" if mark else ""
        report(mark.line + 1 if mark else 1, f"YAML syntax error: {e.problem or e.context}{column}")
    except yaml.YAMLError as e:
        report(1, f"YAML error: {e}")
    if not documents and not found:
        report(1, "nothing to check: no YAML documents in the file")
    found.sort(key=lambda problem: problem[0])
    for line, message, is_error in found:
        print(f"{name}:{line}: {message}", file=out)
        tally.errors += 1 if is_error else 0


def _documents(text: str) -> Iterator[_Document]:
    fast = _FastLoader(text)
    try:
        try:
            nodes = []
            while fast.check_node():
                nodes.append(fast.get_node())
        except yaml.YAMLError:
            yield from _documents_read_by(_Loader(text))  # PyYAML's words for the syntax error
            return
        for node in nodes:
            if node is not None:
                yield _document(fast, node)
    finally:
        fast.dispose()


def _documents_read_by(loader: yaml.SafeLoader) -> Iterator[_Document]:
    try:
        while loader.check_node():
            node = loader.get_node()
            if node is not None:
                yield _document(loader, node)
    finally:
        loader.dispose()


def _document(loader: Any, node: yaml.Node) -> _Document:
    lines: dict[str, int] = {}
    _index_lines(node, "", lines)
    return _Document(loader.construct_document(node), node.start_mark.line + 1, lines)


def _index_lines(node: yaml.Node, path: str, lines: dict[str, int]) -> None:
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            if isinstance(key_node, yaml.ScalarNode):
                child = f"{path}.{key_node.value}" if path else str(key_node.value)
                lines.setdefault(child, key_node.start_mark.line + 1)
                _index_lines(value_node, child, lines)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            lines.setdefault(f"{path}[{i}]", item.start_mark.line + 1)
            _index_lines(item, f"{path}[{i}]", lines)


def _objects(data: Any, number: int) -> Iterator[tuple[dict[str, Any] | str, str]]:
    """The Kubernetes objects of a document (the items of a `kind: List` too), or why it is none."""
    if data is None:
        return
    label = f"document {number}"
    if not isinstance(data, dict):
        yield "not a Kubernetes object (expected a mapping)", label
        return
    if not isinstance(data.get("apiVersion"), str) or not isinstance(data.get("kind"), str):
        yield "not a Kubernetes object: apiVersion and kind are required", label
        return
    if data["kind"] == "List" and isinstance(data.get("items"), list):
        for item in data["items"]:
            yield from _objects(item, number)
        return
    yield data, _label(data)


def _label(obj: dict[str, Any]) -> str:
    meta = obj.get("metadata") if isinstance(obj.get("metadata"), dict) else {}
    assert isinstance(meta, dict)
    name = meta.get("name") or meta.get("generateName") or "<no name>"
    namespace = meta.get("namespace")
    return f"{obj['kind']} {namespace}/{name}" if isinstance(namespace, str) else f"{obj['kind']} {name}"


def _check_object(obj: dict[str, Any], label: str, tally: _Tally) -> list[_Problem]:
    """Every problem the API server or the operator would reject `obj` for."""
    api_version, kind = obj["apiVersion"], obj["kind"]
    if api_version.split("/")[0] != crds.GROUP:
        tally.skipped += 1
        return []
    tally.checked += 1
    crd = crds.find(kind, api_version)
    if crd is None:
        return [
            _Problem(
                "", f"{label}: no matches for kind {gofmt.quote(kind)} in version {gofmt.quote(api_version)}"
            )
        ]
    validator = SchemaValidator.for_crd(crd)
    # kubectl's default --validate=strict fails on the unknown fields found while decoding, status included.
    pruned = validator.admit(obj).pruned
    if "status" in crd.subresources:
        # A create through the main resource drops status before validation (PrepareForCreate).
        obj = {k: v for k, v in obj.items() if k != "status"}
    admission = validator.admit(obj)
    problems = [_Problem(path, f"{label}: {path}: {unknown_field(path)}") for path in pruned]
    for error in [*_without_echoes(admission.errors), *_operator_errors(admission.obj)]:
        if error.field == field_errors.NO_PATH:  # "some validation rules were not checked": a note
            problems.append(_Problem("", f"{label}: note: {error.detail}", is_error=False))
        else:
            problems.append(_Problem(error.field, f"{label}: {error.message}"))
    return problems + _size_problems(obj, admission.obj, label)


def stored_size(obj: Any) -> int:
    """Bytes of `obj` as the API server stores it: compact JSON, as Go's encoding/json writes it."""
    text = json.dumps(obj, ensure_ascii=False, separators=(",", ":"), default=str)
    return len(text.translate(_GO_ESCAPES).encode("utf-8", "surrogatepass"))


def annotations_size(annotations: Any) -> int:
    """Bytes of the annotations as the API server counts them against its limit: every key and value."""
    if not isinstance(annotations, dict):
        return 0
    return sum(len(str(k).encode()) + len(str(v).encode()) for k, v in annotations.items())


def _size_problems(given: dict[str, Any], stored: dict[str, Any], label: str) -> list[_Problem]:
    """The limits of what the API server stores: all annotations together, and the whole object (with room
    for what the operator adds to it), and whether `kubectl apply` can keep its copy in an annotation."""
    problems: list[_Problem] = []
    meta = given.get("metadata") if isinstance(given.get("metadata"), dict) else {}
    assert isinstance(meta, dict)
    annotations = meta.get("annotations") if isinstance(meta.get("annotations"), dict) else {}
    assert isinstance(annotations, dict)
    if annotations_size(annotations) > ANNOTATIONS_LIMIT:
        detail = f"metadata.annotations: Too long: may not be more than {ANNOTATIONS_LIMIT} bytes"
        problems.append(_Problem("metadata.annotations", f"{label}: {detail}"))
    spec = stored.get("spec") if isinstance(stored.get("spec"), dict) else {}
    assert isinstance(spec, dict)
    where = "spec.accounts" if spec.get("accounts") else ""
    roster = (
        ": declare large rosters in accountsFrom (ConfigMaps)" if given.get("kind") == "Integration" else ""
    )
    size = stored_size(stored)
    if size + OPERATOR_ROOM > OBJECT_LIMIT:
        problems.append(
            _Problem(
                where,
                f"{label}: too large: {size:,} bytes as the API server stores it, and with the "
                f"{OPERATOR_ROOM // 1024} KiB its status and bookkeeping need more than the {OBJECT_LIMIT:,} "
                f"bytes (1.5 MiB) it can store{roster}",
            )
        )
        return problems
    if size > NEAR_LIMIT:
        problems.append(
            _Problem(
                where,
                f"{label}: note: {size:,} bytes as the API server stores it, close to the {OBJECT_LIMIT:,} "
                f"bytes (1.5 MiB) it can store{roster}",
                is_error=False,
            )
        )
    others = {k: v for k, v in annotations.items() if k != LAST_APPLIED}
    copy = {**given, "metadata": {**meta, "annotations": others}} if others else given
    copy_size = stored_size(copy)
    if annotations_size(others) + len(LAST_APPLIED) + copy_size > ANNOTATIONS_LIMIT:
        problems.append(
            _Problem(
                where,
                f"{label}: note: `kubectl apply` (client-side) keeps a copy of the object "
                f"({copy_size:,} bytes) in the annotation {LAST_APPLIED}, over the {ANNOTATIONS_LIMIT:,} "
                "bytes the API server takes for all annotations: create it with `kubectl create` (or "
                "`kubectl replace`)" + (", or declare the accounts in accountsFrom" if roster else ""),
                is_error=False,
            )
        )
    return problems


def _without_echoes(found: list[FieldError]) -> list[FieldError]:
    """`found` less the CEL rules that could not run on a value its field's own check refused already.

    `interval: forever` fails its pattern; `duration(self)` then fails too, as a confusing CEL error.
    """
    refused = {error.field for error in found if not error.unevaluated}
    return [error for error in found if not (error.unevaluated and error.field in refused)]


def _operator_errors(obj: dict[str, Any]) -> list[FieldError]:
    """Rules outside the schema: the API server's ObjectMeta rule, and the operator's own (only sure ones)."""
    found: list[FieldError] = []
    meta = obj.get("metadata")
    if not isinstance(meta, dict) or not (meta.get("name") or meta.get("generateName")):
        found.append(FieldError("metadata.name", field_errors.REQUIRED, "name or generateName is required"))
    spec = obj.get("spec")
    accounts = spec.get("accounts") if isinstance(spec, dict) else None
    seen: dict[str, str] = {}
    for i, account in enumerate(accounts if isinstance(accounts, list) else []):
        email = account.get("email") if isinstance(account, dict) else None
        if isinstance(email, str) and formats.is_email(email) and not is_email(email):
            found.append(FieldError(f"spec.accounts[{i}].email", field_errors.INVALID, EMAIL_REFUSED, email))
        user = account.get("userName") if isinstance(account, dict) else None
        if not isinstance(user, str):
            continue
        first = seen.setdefault(user.casefold(), user)
        if first != user:  # exact repeats are the schema's `Duplicate value` already
            detail = f"userNames are case-insensitive in SCIM, and {gofmt.quote(first)} is declared already"
            found.append(FieldError(f"spec.accounts[{i}].userName", field_errors.DUPLICATE, detail, user))
    return found


def _json_key(key: Any) -> str:
    """A mapping key as JSON has it: YAML allows `true:` or `1:` keys, kubectl stringifies them."""
    if isinstance(key, bool):
        return "true" if key else "false"
    if key is None:
        return "null"
    return key if isinstance(key, str) else str(key)
