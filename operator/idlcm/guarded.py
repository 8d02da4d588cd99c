"""A connector whose every write first asks whether the run still holds the Integration's lease."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Collection, Mapping, Sequence
from typing import Any

from idlcm.connectors.base import Account, Capabilities, CheckResult, Connector
from idlcm.connectors.errors import ConnectorError


class Guarded:
    """Delegates to `inner`; before each write request it calls `check`, which raises `lease.LeaseLost` once
    another replica may be working on the Integration. Reads pass unchecked."""

    def __init__(self, inner: Connector, check: Callable[[], None], *, concurrency: int) -> None:
        self._inner = inner
        self._check = check
        self._concurrency = max(1, concurrency)

    async def capabilities(self) -> Capabilities:
        return await self._inner.capabilities()

    async def validate(
        self, attributes: Collection[str] | None = None, *, discovery: bool = True
    ) -> list[CheckResult]:
        return await self._inner.validate(attributes, discovery=discovery)

    def need(self, accounts: Collection[Account]) -> None:
        self._inner.need(accounts)

    def profile(self) -> dict[str, Any]:
        return self._inner.profile()

    def resume(self, recorded: Mapping[str, Any]) -> None:
        self._inner.resume(recorded)

    def list_accounts(self) -> AsyncIterator[Account]:
        return self._inner.list_accounts()

    async def find_account(
        self, *, user_name: str | None = None, external_id: str | None = None
    ) -> Account | None:
        return await self._inner.find_account(user_name=user_name, external_id=external_id)

    async def create(self, account: Account) -> Account:
        self._check()
        return await self._inner.create(account)

    async def create_many(self, accounts: Sequence[Account]) -> list[Account | ConnectorError]:
        """One request's worth at a time (a Bulk chunk, or one account), `concurrency` of them in flight as
        the connector would send them, each checked as it starts: a lease lost midway stops the creates."""
        capabilities = await self._inner.capabilities()
        size = max(1, capabilities.max_operations) if capabilities.bulk else 1
        parts = [accounts[start : start + size] for start in range(0, len(accounts), size)]
        results: list[list[Account | ConnectorError]] = [[] for _ in parts]
        slots = asyncio.Semaphore(self._concurrency)

        async def send(index: int) -> None:
            async with slots:
                self._check()
                results[index] = await self._inner.create_many(parts[index])

        try:
            async with asyncio.TaskGroup() as group:
                for index in range(len(parts)):
                    group.create_task(send(index))
        except BaseExceptionGroup as failed:
            # The first failure (LeaseLost) as itself; the task group cancelled the rest.
            raise failed.exceptions[0] from None
        return [result for part in results for result in part]

    async def update(self, current: Account, changes: Mapping[str, Any]) -> Account:
        self._check()
        return await self._inner.update(current, changes)

    async def deactivate(self, account: Account) -> Account:
        self._check()
        return await self._inner.deactivate(account)

    async def delete(self, account: Account) -> None:
        self._check()
        await self._inner.delete(account)

    async def ensure_group(self, name: str) -> str:
        self._check()
        return await self._inner.ensure_group(name)

    async def add_members(self, group_id: str, account_ids: Sequence[str]) -> None:
        self._check()
        await self._inner.add_members(group_id, account_ids)

    async def join_group(self, name: str, account_ids: Sequence[str]) -> str:
        self._check()
        return await self._inner.join_group(name, account_ids)

    async def remove_members(self, group_id: str, account_ids: Sequence[str]) -> None:
        self._check()
        await self._inner.remove_members(group_id, account_ids)

    async def aclose(self) -> None:
        """The inner connector is the pool's: it stays open."""
