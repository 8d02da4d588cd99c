"""Log records about an Integration carry its reference and operation; no record shows a known secret.

Both happen where records are made (a log record factory), so they hold for every logger (idlcm's, kopf's,
the HTTP client's) and every handler, those added later (tests) included. The Integration and operation
come from context variables set by the reconcile story, so tasks it starts inherit them. With
`--log-format json` they show as `object` (the same key kopf uses for its own per-object lines) and
`operation`.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import threading
from collections.abc import Iterator
from typing import Any

from idlcm.connectors.errors import KNOWN_SECRETS, scrub
from idlcm.crds import GROUP, VERSION

_object: contextvars.ContextVar[dict[str, str] | None] = contextvars.ContextVar("idlcm_object", default=None)
_operation: contextvars.ContextVar[str | None] = contextvars.ContextVar("idlcm_operation", default=None)
_install_lock = threading.Lock()
_installed = False


@contextlib.contextmanager
def about(namespace: str, name: str, uid: str = "") -> Iterator[None]:
    """Log records made inside this block (and in tasks it starts) name this Integration."""
    ref = {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "Integration",
        "namespace": namespace,
        "name": name,
        "uid": uid,
    }
    object_token = _object.set(ref)
    operation_token = _operation.set(None)
    try:
        yield
    finally:
        _operation.reset(operation_token)
        _object.reset(object_token)


def operation(name: str | None) -> None:
    """Log records from here to the end of the current `about` block name this operation (Validate,
    Provision, Update, Sync, Deprovision)."""
    _operation.set(name)


def install() -> None:
    """Make every log record of this process carry the context and be scrubbed of secrets (idempotent)."""
    global _installed
    with _install_lock:
        if _installed:
            return
        make = logging.getLogRecordFactory()

        def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
            record = make(*args, **kwargs)
            ref = _object.get()
            if ref is not None:
                record.object = ref
                record.operation = _operation.get()
            redact(record)
            return record

        logging.setLogRecordFactory(factory)
        _installed = True


def redact(record: logging.LogRecord) -> None:
    """Replace known secrets (and anything that looks like a credential) in the message and traceback."""
    try:
        message = record.getMessage()
    except Exception:  # a broken logging call: the handler reports it, with its arguments unformatted
        return
    clean = scrub(message, KNOWN_SECRETS.values())
    if clean != message:
        record.msg, record.args = clean, None
    if record.exc_info and record.exc_info[1] is not None:
        trace = logging.Formatter().formatException(record.exc_info)
        clean = scrub(trace, KNOWN_SECRETS.values())
        if clean != trace:
            # Formatters fall back to exc_text (JSON ones too) when exc_info is gone.
            record.exc_info, record.exc_text = None, clean
