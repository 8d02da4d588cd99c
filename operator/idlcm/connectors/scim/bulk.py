"""Bulk creation of accounts (RFC 7644 §3.7): chunks within the app's limits, one outcome per operation."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, Union

from scim2_models import BulkOperation, BulkRequest, BulkResponse, Context, Error, Group, Resource

from idlcm.connectors.base import Account, Capabilities
from idlcm.connectors.errors import ConnectorError, RetryableError, classify, scrub
from idlcm.connectors.scim import mapping

# Room kept in a bulk payload for the envelope, and a margin against serialisation differences.
ENVELOPE_BYTES = 256
PAYLOAD_MARGIN = 0.9

# Built once and kept: pydantic caches a parametrized model only while something refers to it, and building
# one again took ~7 ms (about one Bulk in five did, whenever the garbage collector had taken the last one).
_Operation = BulkOperation[mapping.UserModel]
_Request = BulkRequest[mapping.UserModel]
# As scim2-client reads the answer: its provider's models, as a typing.Union (`|` would be another key).
_Answer = BulkResponse[Union[mapping.UserModel, Group]]  # noqa: UP007

Chunk = list[tuple[int, dict[str, Any]]]
"""(index in the accounts, the create operation as sent): scim2-models serialises each one once, here."""


def chunks(
    accounts: Sequence[Account],
    capabilities: Capabilities,
    profile: mapping.SchemaProfile = mapping.CORE_PROFILE,
) -> Iterator[Chunk]:
    """Create operations (bulkId = index in `accounts`), grouped within maxOperations and maxPayloadSize."""
    size_limit = capabilities.max_payload_size
    budget = int(size_limit * PAYLOAD_MARGIN) if size_limit else None
    chunk: Chunk = []
    size = ENVELOPE_BYTES
    for index, account in enumerate(accounts):
        operation = _Operation(
            method=BulkOperation.Method.post,
            path="/Users",
            bulk_id=str(index),
            data=mapping.to_user(account, profile),
        ).model_dump(scim_ctx=Context.BULK_REQUEST)
        cost = len(json.dumps(operation).encode()) + 2
        full = len(chunk) >= capabilities.max_operations or (budget is not None and size + cost > budget)
        if chunk and full:
            yield chunk
            chunk, size = [], ENVELOPE_BYTES
        chunk.append((index, operation))
        size += cost
    if chunk:
        yield chunk


def request(chunk: Chunk) -> dict[str, Any]:
    """The bulk request for one chunk, as sent (no failOnErrors: every operation is tried)."""
    envelope = _Request(operations=[]).model_dump(scim_ctx=Context.BULK_REQUEST)
    return {**envelope, "Operations": [operation for _, operation in chunk]}


def outcomes(
    answer: object, chunk: Chunk, accounts: Sequence[Account], secrets: Iterable[str]
) -> Iterator[tuple[int, Account | ConnectorError]]:
    """(index, created account or error) for each operation of a chunk, read from the bulk answer."""
    operations = answer.operations or [] if isinstance(answer, BulkResponse) else []
    by_id = {operation.bulk_id: operation for operation in operations}
    for index, _ in chunk:
        account = accounts[index]
        outcome = by_id.get(str(index))
        if outcome is None:
            yield index, RetryableError(f"create account {account.user_name}: missing from the bulk answer")
            continue
        status = int(str(outcome.status or 0))
        if 200 <= status < 300:
            created = outcome.response if isinstance(outcome.response, Resource) else None
            if created is not None and created.id:  # the user as the app stored it
                yield index, dataclasses.replace(mapping.to_account(created), groups=())
                continue
            new_id = mapping.id_from_location(outcome.location)
            yield index, dataclasses.replace(account, id=new_id, version=outcome.version, groups=())
        else:
            detail = outcome.response.detail if isinstance(outcome.response, Error) else None
            text = scrub(f"create account {account.user_name}: {detail or 'refused'}", secrets)
            yield index, classify(status, detail=text)
