"""Account <-> SCIM User mapping, the fixed SCIM provider, and changes as PATCH operations (pure, no I/O)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from scim2_models import (
    Email,
    EnterpriseUser,
    Group,
    GroupMember,
    Name,
    PatchOp,
    PatchOperation,
    Resource,
    ResourceType,
    ScimProvider,
    ServiceProviderConfig,
    User,
)

from idlcm.connectors.base import Account, Capabilities

UserModel = User[EnterpriseUser]
ENTERPRISE = str(EnterpriseUser.__schema__)
RESOURCE_TYPES = (ResourceType.from_resource(UserModel), ResourceType.from_resource(Group))
# Page size when the app does not say how many results it returns at most.
DEFAULT_PAGE_SIZE = 100

# Account attribute -> SCIM attribute path (groups are Group resources, not a User attribute).
PATHS = {
    "user_name": "userName",
    "external_id": "externalId",
    "display_name": "displayName",
    "given_name": "name.givenName",
    "family_name": "name.familyName",
    "email": "emails",
    "active": "active",
    "title": "title",
    "department": f"{ENTERPRISE}:department",
}


@dataclass(frozen=True)
class SchemaProfile:
    """What the app's published schemas ask of the resources idlcm sends; the default is RFC 7643's core."""

    name_formatted: bool = False
    """name.formatted is required: sent, made from the name parts."""
    display_name: bool = False
    """displayName is required: sent, made from the name parts (else the userName) if the account has none."""
    email_type: bool = True
    """emails has a type sub-attribute (sent as "work")."""
    email_primary: bool = True
    """emails has a primary sub-attribute (sent as true)."""
    member_type: bool = True
    """Group members have a type sub-attribute (sent as "User")."""
    members_required: bool = False
    """A Group must be created with members: it is created with its first ones."""


CORE_PROFILE = SchemaProfile()
"""RFC 7643's core schemas: what idlcm sends to an app that publishes none."""

# The capabilities assumed for an app without a ServiceProviderConfig: the conservative choices (no Bulk, no
# filter, no ETag), PATCH tried first.
NO_CONFIG = Capabilities(patch=True, max_results=DEFAULT_PAGE_SIZE)


def provider(config: ServiceProviderConfig | None = None) -> ScimProvider:
    """The fixed description of the app: core User with the Enterprise extension, and Group."""
    return ScimProvider(models=[User, EnterpriseUser, Group], resource_types=RESOURCE_TYPES, config=config)


def capabilities(config: ServiceProviderConfig) -> Capabilities:
    """Neutral capabilities from a ServiceProviderConfig."""
    bulk, filters = config.bulk, config.filter
    page_bounds = [
        n
        for n in (
            filters.max_results if filters else None,
            config.pagination.max_page_size if config.pagination else None,
        )
        if n
    ]
    return Capabilities(
        patch=bool(config.patch and config.patch.supported),
        bulk=bool(bulk and bulk.supported and bulk.max_operations),
        max_operations=(bulk.max_operations or 0) if bulk and bulk.supported else 0,
        max_payload_size=(bulk.max_payload_size or 0) if bulk and bulk.supported else 0,
        filter=bool(filters and filters.supported),
        max_results=min(page_bounds) if page_bounds else DEFAULT_PAGE_SIZE,
        etag=bool(config.etag and config.etag.supported),
        sort=bool(config.sort and config.sort.supported),
    )


def to_user(account: Account, profile: SchemaProfile = CORE_PROFILE) -> Resource[Any]:
    """The SCIM User to create for an account (groups are set separately), as the app's schema asks."""
    display_name = account.display_name
    if display_name is None and profile.display_name:
        display_name = formatted_name(account.given_name, account.family_name) or account.user_name
    user = UserModel(
        user_name=account.user_name,
        external_id=account.external_id,
        display_name=display_name,
        active=account.active,
        title=account.title,
    )
    if account.given_name is not None or account.family_name is not None:
        user.name = Name(given_name=account.given_name, family_name=account.family_name)
        if profile.name_formatted:
            user.name.formatted = formatted_name(account.given_name, account.family_name)
    if account.email is not None:
        user.emails = [_work_email(account.email, profile)]
    if account.department is not None:
        user[EnterpriseUser] = EnterpriseUser(department=account.department)
    return user


def to_account(user: Resource[Any], groups: Iterable[str] = ()) -> Account:
    """The account a SCIM User stands for; `groups` adds names known from Group resources."""
    assert isinstance(user, User)
    extended = EnterpriseUser in getattr(type(user), "__scim_extension_metadata__", ())
    enterprise = user[EnterpriseUser] if extended else None
    names = [g.display for g in user.groups or [] if g.display]
    return Account(
        user_name=user.user_name or "",
        external_id=user.external_id,
        display_name=user.display_name,
        given_name=user.name.given_name if user.name else None,
        family_name=user.name.family_name if user.name else None,
        email=_email_of(user),
        active=user.active is not False,
        title=user.title,
        department=enterprise.department if enterprise else None,
        groups=tuple(sorted(set(names) | set(groups))),
        id=user.id,
        version=user.meta.version if user.meta else None,
    )


def patch_for(
    changes: Mapping[str, Any], profile: SchemaProfile = CORE_PROFILE, current: Account | None = None
) -> PatchOp[Any]:
    """The PATCH with one operation per changed attribute (None removes the attribute); with a required
    name.formatted and the `current` account, a name change replaces name.formatted too."""
    operations: list[PatchOperation[Any]] = []
    for attribute, value in changes.items():
        path = PATHS[attribute]
        if value is None:
            operations.append(PatchOperation[UserModel](op=PatchOperation.Op.remove, path=path))
        else:
            if attribute == "email":
                value = [_work_email(value, profile)]
            operations.append(
                PatchOperation[UserModel](op=PatchOperation.Op.replace_, path=path, value=value)
            )
    if profile.name_formatted and current is not None and {"given_name", "family_name"} & set(changes):
        given = changes.get("given_name", current.given_name)
        family = changes.get("family_name", current.family_name)
        if formatted_name(given, family):
            operations.append(
                PatchOperation[UserModel](
                    op=PatchOperation.Op.replace_, path="name.formatted", value=formatted_name(given, family)
                )
            )
    return PatchOp[UserModel](operations=operations)


def to_group(name: str, account_ids: Iterable[str] = (), profile: SchemaProfile = CORE_PROFILE) -> Group:
    """The SCIM Group to create, with these first members (an app may require some)."""
    members = [_member(i, profile) for i in account_ids]
    return Group(display_name=name, members=members or None)


def add_members_patch(account_ids: Iterable[str], profile: SchemaProfile = CORE_PROFILE) -> PatchOp[Any]:
    """The PATCH adding users to a group."""
    members = [_member(i, profile) for i in account_ids]
    return PatchOp[Group](
        operations=[PatchOperation[Group](op=PatchOperation.Op.add, path="members", value=members)]
    )


def remove_members_patch(account_ids: Iterable[str]) -> PatchOp[Any]:
    """The PATCH removing users from a group, one filtered remove per user."""
    return PatchOp[Group](
        operations=[
            PatchOperation[Group](op=PatchOperation.Op.remove, path=f"members[value eq {quote(i)}]")
            for i in account_ids
        ]
    )


def quote(value: str) -> str:
    """A SCIM filter string literal (RFC 7644 uses JSON string syntax)."""
    return json.dumps(value)


def attribute(resource: Resource[Any], name: str) -> Any:
    """The value of a top-level SCIM attribute (by its SCIM name) of a resource."""
    return getattr(resource, _FIELDS[name], None)


_FIELDS = {"userName": "user_name", "externalId": "external_id", "displayName": "display_name"}


def id_from_location(location: str | None) -> str | None:
    """The resource id at the end of a Location URL."""
    if not location:
        return None
    return urlsplit(location).path.rstrip("/").rsplit("/", 1)[-1] or None


def formatted_name(given: str | None, family: str | None) -> str | None:
    """name.formatted made from the name parts ("Ada Lovelace"), or None without any."""
    return " ".join(part for part in (given, family) if part) or None


def _work_email(address: str, profile: SchemaProfile = CORE_PROFILE) -> Email:
    return Email(
        value=address,
        type="work" if profile.email_type else None,
        primary=True if profile.email_primary else None,
    )


def _member(account_id: str, profile: SchemaProfile) -> GroupMember:
    return GroupMember(value=account_id, type="User" if profile.member_type else None)


def _email_of(user: User[Any]) -> str | None:
    emails = [e for e in user.emails or [] if e.value]
    for choose in (lambda e: e.primary, lambda e: e.type == "work", lambda e: True):
        for e in emails:
            if choose(e):
                return str(e.value)
    return None
