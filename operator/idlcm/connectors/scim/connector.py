"""The SCIM 2.0 connector: the `Connector` story told over `api.ScimApi` (scim2-client on httpx2)."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import AsyncIterator, Collection, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from scim2_models import Group, Resource

from idlcm.connectors.auth import Credentials
from idlcm.connectors.base import Account, Capabilities, CheckResult, Connector, check_changes
from idlcm.connectors.errors import ConflictError, ConnectorError, NotFoundError, PermanentError
from idlcm.connectors.ratelimit import RateLimit, RateLimiter
from idlcm.connectors.scim import bulk, mapping, schemas
from idlcm.connectors.scim.api import ScimApi
from idlcm.connectors.scim.dialect import DIALECTS, AttributesRefused, Dialect, Needed
from idlcm.connectors.shared import SharedChecks
from idlcm.connectors.transport import DEFAULT_MAX_RESPONSE_BYTES, RequestObserver, Tls

UserModel = mapping.UserModel
T = TypeVar("T")


class ScimConnector:
    """A SCIM 2.0 app. Methods raise `errors.ConnectorError` subclasses only (besides programming errors)."""

    def __init__(
        self,
        base_url: str,
        auth: Credentials,
        tls: Tls | None = None,
        rate_limit: RateLimit | None = None,
        *,
        timeout: float = 30.0,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
        observe: RequestObserver | None = None,
        shared: SharedChecks | None = None,
    ) -> None:
        self.limiter = RateLimiter(rate_limit or RateLimit())
        self.api = ScimApi(
            base_url,
            auth,
            tls or Tls(),
            self.limiter,
            timeout=timeout,
            max_response_bytes=max_response_bytes,
            observe=observe,
            shared=shared,
        )
        self._group_ids: dict[str, str] = {}
        self._group_locks: dict[str, asyncio.Lock] = {}

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.api.base_url!r}, auth={self.api.credentials!r})"

    async def aclose(self) -> None:
        """Release connections."""
        await self.api.aclose()

    async def capabilities(self) -> Capabilities:
        """What the app's ServiceProviderConfig says it supports (read once, then cached)."""
        return await self.api.capabilities()

    @property
    def dialect(self) -> Dialect:
        """How the app lists and takes changes, as learnt so far (`Dialect.to_dict` for status)."""
        return self.api.dialect

    async def validate(
        self, attributes: Collection[str] | None = None, *, discovery: bool = True
    ) -> list[CheckResult]:
        """The read-only checks: connectivity, TLS, authentication, discovery, schema and capabilities."""
        from idlcm.connectors.scim.validate import validate

        return await validate(self.api, attributes, discovery=discovery)

    def profile(self) -> dict[str, Any]:
        """The app's dialect and media type as learnt so far (unset fields left out)."""
        return {k: v for k, v in self.api.profile().items() if v is not None}

    def resume(self, recorded: Mapping[str, Any]) -> None:
        """Start from the dialect recorded on the ExternalApp, unless this process has learnt it already."""
        DIALECTS.resume(self.api.base_url, recorded)

    def need(self, accounts: Collection[Account]) -> None:
        """Name the accounts the coming operation is about (as declared, with their owner stamps): an app
        that cannot list all its accounts (`Dialect.listing == "lookups"`) has these looked up one by one,
        by userName and externalId, and their groups by name. Accounts it holds that are not named here
        cannot be found there, so they are not deprovisioned: that app's limitation."""
        self.api.need(
            Needed(
                user_names=frozenset(a.user_name for a in accounts),
                external_ids=frozenset(a.external_id for a in accounts if a.external_id),
                group_names=frozenset(g for a in accounts for g in a.groups),
            )
        )

    async def list_accounts(self) -> AsyncIterator[Account]:
        """Every account: one paginated listing at the largest page the app allows; the group memberships
        from one more, read once the first page shows that there is an account (an empty app has none)."""
        async with contextlib.aclosing(self.api.pages(UserModel, "list accounts")) as users:
            first = await anext(users, None)
            if first is None:
                return
            memberships = await self._memberships()
            seen: set[str] = set()
            async for user in _chain(first, users):
                if str(user.id) in seen:  # paging over a changing set may repeat one
                    continue
                seen.add(str(user.id))
                yield mapping.to_account(user, memberships.get(str(user.id), ()))

    async def find_account(
        self, *, user_name: str | None = None, external_id: str | None = None
    ) -> Account | None:
        """The account with this userName, else with this externalId, or None."""
        if user_name is None and external_id is None:
            raise ValueError("find_account needs user_name or external_id")
        for attribute, value in (("userName", user_name), ("externalId", external_id)):
            if value is None:
                continue
            users = await self.api.find(UserModel, attribute, value, "find account")
            if len(users) > 1:
                raise ConflictError(f"find account: {len(users)} accounts have this {attribute}")
            if users:
                return mapping.to_account(users[0], await self._groups_of(str(users[0].id)))
        return None

    async def create(self, account: Account) -> Account:
        """Create an account, then its group memberships. An account with this userName and externalId
        already there (an earlier create whose answer was lost, landed since) counts as created."""
        await self.api.capabilities()
        what = f"create account {account.user_name}"
        try:
            user = mapping.to_user(account, await schemas.schema_profile(self.api))
            created = await self.api.call(what, self.api.client.create(user))
        except ConflictError as conflict:
            result = await self._created_before(account, conflict)
        else:
            assert isinstance(created, Resource)
            result = mapping.to_account(created)
        await self._join(str(result.id), [name for name in account.groups if name not in result.groups])
        return dataclasses.replace(result, groups=tuple(sorted({*result.groups, *account.groups})))

    async def create_many(self, accounts: Sequence[Account]) -> list[Account | ConnectorError]:
        """Create accounts with Bulk (chunked to the limits) if offered, else one by one (concurrently)."""
        capabilities = await self.api.capabilities()
        if not capabilities.bulk:
            return list(await asyncio.gather(*(self._create_or_error(a) for a in accounts)))
        results: list[Account | ConnectorError] = list(accounts)  # every item is replaced below
        # Up to maxConcurrency bulk requests in flight (the limiter holds the rest), chunks made as they go.
        sending: set[asyncio.Task[None]] = set()
        try:
            for chunk in bulk.chunks(accounts, capabilities, await schemas.schema_profile(self.api)):
                if len(sending) >= self.limiter.limit.max_concurrency:
                    done, sending = await asyncio.wait(sending, return_when=asyncio.FIRST_COMPLETED)
                    for task in done:
                        task.result()  # a bug surfaces here, not as a lost task exception
                sending.add(asyncio.create_task(self._bulk_create(chunk, accounts, results)))
            await asyncio.gather(*sending)
        finally:
            for task in sending:
                task.cancel()
        for index, result in enumerate(results):
            if isinstance(result, ConflictError):
                results[index] = await self._created_before_or_error(accounts[index], result)
        await self._join_many(accounts, results)
        return results

    async def update(self, current: Account, changes: Mapping[str, Any]) -> Account:
        """Change only the attributes that differ: PATCH if offered, else GET-apply-PUT; If-Match if ETags."""
        check_changes(changes)
        if current.id is None:
            raise ValueError("update needs an account read from the app (with its id)")
        changes = {k: (tuple(sorted(set(v))) if k == "groups" else v) for k, v in changes.items()}
        changes = {k: v for k, v in changes.items() if getattr(current, k) != v}
        attributes = {k: v for k, v in changes.items() if k != "groups"}
        result = current
        if attributes:
            what = f"update account {current.user_name}"
            patch = mapping.patch_for(attributes, await schemas.schema_profile(self.api), current)
            try:
                answer, etag = await self.api.change(UserModel, current.id, patch, what, current.version)
            except AttributesRefused as refused:  # the others applied: the refused ones are not stored
                answer, etag = refused.resource, refused.version
            if answer is None:  # (a 204): what the app holds now is read back, not assumed
                answer = await self._read_user(current.id, what)
            result = mapping.to_account(answer, current.groups)
            if result.version is None and etag is not None:
                result = dataclasses.replace(result, version=etag)
        if "groups" in changes:
            await self._regroup(current.id, current.groups, changes["groups"])
            result = dataclasses.replace(result, groups=changes["groups"])
        return result

    async def deactivate(self, account: Account) -> Account:
        """Keep the account but set active to false."""
        return await self.update(account, {"active": False})

    async def delete(self, account: Account) -> None:
        """Delete the account; one already gone counts as deleted."""
        if account.id is None:
            raise ValueError("delete needs an account read from the app (with its id)")
        what = f"delete account {account.user_name}"
        try:
            await self.api.call(what, self.api.client.delete(UserModel, account.id))
        except NotFoundError:
            return

    async def ensure_group(self, name: str) -> str:
        """The id of the group with this displayName, created if missing."""
        return (await self._group(name, ()))[0]

    async def _group(self, name: str, first_members: Sequence[str]) -> tuple[str, Sequence[str]]:
        """(the group's id, the members it was created with): with `first_members` where the app's schema
        requires a group to have members, else none."""
        async with self._group_locks.setdefault(name, asyncio.Lock()):  # concurrent creates: one group
            seeded: Sequence[str] = ()
            if name not in self._group_ids:
                groups = await self.api.find(Group, "displayName", name, f"find group {name}")
                if not groups:
                    what = f"create group {name}"
                    profile = await schemas.schema_profile(self.api)
                    seeded = first_members if profile.members_required else ()
                    group = mapping.to_group(name, seeded, profile)
                    created = await self.api.call(what, self.api.client.create(group))
                    assert isinstance(created, Group)
                    groups = [created]
                self._group_ids[name] = str(groups[0].id)
            return self._group_ids[name], seeded

    async def _add_to_group(self, name: str, account_ids: Sequence[str]) -> None:
        await self.join_group(name, account_ids)

    async def join_group(self, name: str, account_ids: Sequence[str]) -> str:
        """Add accounts to the group with this name, created if missing (seeded with them where the app's
        schema requires members); its id."""
        group_id, seeded = await self._group(name, account_ids)
        await self.add_members(group_id, [i for i in account_ids if i not in seeded])
        return group_id

    async def add_members(self, group_id: str, account_ids: Sequence[str]) -> None:
        """Add accounts to a group without touching its other members."""
        if account_ids:
            patch = mapping.add_members_patch(account_ids, await schemas.schema_profile(self.api))
            what = f"add members to group {group_id}"
            answer, _ = await self.api.change(Group, group_id, patch, what)
            await self._check_members(group_id, answer, account_ids, what, added=True)

    async def remove_members(self, group_id: str, account_ids: Sequence[str]) -> None:
        """Remove accounts from a group without touching its other members."""
        if account_ids:
            patch = mapping.remove_members_patch(account_ids)
            what = f"remove members from group {group_id}"
            answer, _ = await self.api.change(Group, group_id, patch, what)
            await self._check_members(group_id, answer, account_ids, what, added=False)

    # -- the details ----------------------------------------------------------------------------------------

    async def _read_back(self, account: Account, what: str) -> Account | ConnectorError:
        assert account.id is not None
        try:
            return mapping.to_account(await self._read_user(account.id, what))
        except ConnectorError as exc:
            return exc

    async def _check_members(
        self, group_id: str, answer: Resource[Any] | None, ids: Sequence[str], what: str, *, added: bool
    ) -> None:
        """The group as answered (else read back) lists the members added, and not those removed; an app that
        leaves members out of its Group answers (no `members` at all) cannot be checked this way."""
        group: object = answer
        if group is None:
            group = await self.api.call(what, self.api.client.query(Group, group_id))
        if not isinstance(group, Group) or group.members is None:
            return  # (also an empty group may be answered without members)
        held = {m.value for m in group.members}
        wrong = [i for i in ids if (i in held) != added]
        if wrong:
            done = "add" if added else "remove"
            raise PermanentError(f"{what}: the app did not {done} {len(wrong)} of the {len(ids)} members")

    async def _read_user(self, account_id: str, what: str) -> Resource[Any]:
        """The user as the app holds it now (after a write whose answer carried no resource)."""
        user = await self.api.call(what, self.api.client.query(UserModel, account_id))
        assert isinstance(user, Resource)
        return user

    async def _created_before(self, account: Account, conflict: ConflictError) -> Account:
        """The account a create clashed with, if it is this very account (same userName and externalId,
        e.g. a create that timed out here but went through there); else the conflict is raised."""
        if account.external_id is not None:
            found = await self.find_account(user_name=account.user_name)
            same_name = found is not None and found.user_name.casefold() == account.user_name.casefold()
            if found is not None and same_name and found.external_id == account.external_id:
                return found
        raise conflict

    async def _created_before_or_error(
        self, account: Account, conflict: ConflictError
    ) -> Account | ConnectorError:
        try:
            return await self._created_before(account, conflict)
        except ConnectorError as exc:
            return exc

    async def _create_or_error(self, account: Account) -> Account | ConnectorError:
        try:
            return await self.create(account)
        except ConnectorError as exc:
            return exc

    async def _bulk_create(
        self, chunk: bulk.Chunk, accounts: Sequence[Account], results: list[Account | ConnectorError]
    ) -> None:
        """Send one chunk; put the outcome of each of its operations into `results`."""
        what = f"bulk create {len(chunk)} accounts"
        try:
            # Sent as serialised by `chunks` (once); the chunks keep within the app's Bulk limits.
            sent = self.api.client.bulk(bulk.request(chunk), check_request_payload=False)
            answer = await self.api.call(what, sent)
        except ConnectorError as exc:
            for index, _ in chunk:
                results[index] = exc
            return
        answered = {
            o.bulk_id for o in getattr(answer, "operations", None) or [] if isinstance(o.response, Resource)
        }
        unread: list[tuple[int, Account]] = []
        for index, outcome in bulk.outcomes(answer, chunk, accounts, self.api.secrets()):
            results[index] = outcome
            if isinstance(outcome, Account) and outcome.id and str(index) not in answered:
                unread.append((index, outcome))
        # The answer carried no resource: what the app stored is read back (concurrently, as the limiter
        # allows), not assumed.
        read = await asyncio.gather(
            *(self._read_back(a, f"read back account {a.user_name}") for _, a in unread)
        )
        for (index, _), outcome in zip(unread, read, strict=True):
            results[index] = outcome

    async def _join_many(self, accounts: Sequence[Account], results: list[Account | ConnectorError]) -> None:
        """Add the accounts just created to their groups: one membership change per group."""
        members: dict[str, list[int]] = {}
        for index, (account, result) in enumerate(zip(accounts, results, strict=True)):
            if isinstance(result, Account):
                for name in account.groups:
                    if name not in result.groups:  # (an account created before may be in some already)
                        members.setdefault(name, []).append(index)
        for name, indexes in members.items():
            created = [r for r in (results[i] for i in indexes) if isinstance(r, Account)]
            try:
                await self._add_to_group(name, [str(a.id) for a in created])
            except ConnectorError as exc:
                for i in indexes:
                    results[i] = exc
                continue
            for i, account in zip(indexes, created, strict=True):
                results[i] = dataclasses.replace(account, groups=tuple(sorted({*account.groups, name})))

    async def _join(self, account_id: str, names: Sequence[str]) -> None:
        for name in names:
            await self._add_to_group(name, [account_id])

    async def _regroup(self, account_id: str, old: Sequence[str], new: Sequence[str]) -> None:
        await self._join(account_id, [n for n in new if n not in old])
        for name in [n for n in old if n not in new]:
            group_id = self._group_ids.get(name)
            if group_id is None:
                found = await self.api.find(Group, "displayName", name, f"find group {name}")
                group_id = str(found[0].id) if found else None
            if group_id is not None:
                await self.remove_members(group_id, [account_id])

    async def _groups_of(self, account_id: str) -> list[str]:
        capabilities = await self.api.capabilities()
        if not capabilities.filter:
            return (await self._memberships()).get(account_id, [])
        groups = await self.api.find(Group, "members.value", account_id, "find the groups of an account")
        return [str(g.display_name) for g in groups if isinstance(g, Group) and g.display_name]

    async def _memberships(self) -> dict[str, list[str]]:
        """User id -> names of the groups listing it as a member (apps seldom fill User.groups)."""
        memberships: dict[str, list[str]] = {}
        async for group in self.api.pages(Group, "list groups"):
            assert isinstance(group, Group)
            if group.display_name and group.id:
                self._group_ids.setdefault(group.display_name, group.id)
            for member in group.members or []:
                if member.value and group.display_name:
                    memberships.setdefault(member.value, []).append(group.display_name)
        return memberships


async def _chain(first: T, rest: AsyncIterator[T]) -> AsyncIterator[T]:
    yield first
    async for item in rest:
        yield item


if TYPE_CHECKING:

    def _implements_connector(connector: ScimConnector) -> Connector:
        return connector  # mypy checks that ScimConnector satisfies the Connector protocol
