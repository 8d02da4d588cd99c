"""What a SCIM app is like on the wire (its dialect): how it lists, how it takes changes, what it sends.

One `Dialect` per app (base URL), chosen from what the app says or does and kept for the process, so every
connector to the same app starts from what the first one learnt. Pure data and pure helpers: no I/O.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from idlcm.connectors.errors import PermanentError
from idlcm.connectors.transport import MEDIA_TYPES

Listing = Literal["rfc", "capped", "keyset", "lookups"]
"""How the app's listings are read: RFC 7644 startIndex paging; the same with pages capped below the count
asked for; `id gt` keyset paging (the app refuses deep startIndex, or ignores it, and filters on id); one
`eq` lookup per account the operation needs (the app cannot list them all)."""

WriteMethod = Literal["patch", "put"]

MAX_MEMBER_CHANGES = 100
"""The most member values one Group PATCH carries (Entra, AWS and others refuse more)."""

# Top-level names idlcm reads from a JSON answer as sent: attribute names are case-insensitive (RFC 7643
# §2.1), and apps do send `resources` or `TotalResults`.
_CANONICAL = {
    name.casefold(): name
    for name in (
        "schemas",
        "Resources",
        "totalResults",
        "itemsPerPage",
        "startIndex",
        "id",
        "meta",
        "Operations",
        "status",
        "scimType",
        "detail",
    )
}


@dataclass
class Dialect:
    """What one app is like: how idlcm lists, writes and frames bodies there (learnt as it goes)."""

    listing: Listing = "rfc"
    page_size: int | None = None
    """The most resources one page brought when the app caps pages below the count asked for."""
    users_write: WriteMethod | None = None
    """How a User is changed: PATCH or PUT of the whole resource; None: as the capabilities say."""
    groups_write: WriteMethod | None = None
    """The same for a Group."""
    patch_works: bool = False
    """A PATCH of a User went through here: a 501 since is about an attribute, not PATCH itself."""
    max_member_changes: int = MAX_MEMBER_CHANGES
    member_removal: Literal["filter", "value"] = "filter"
    """How members leave a Group: `members[value eq "id"]` (RFC 7644), or by value where that is refused."""
    notes: dict[str, str] = field(default_factory=dict)
    """Why each choice was made, in the user's words, by topic ("listing", "users write", ...)."""

    def note(self, topic: str, text: str) -> None:
        """Say why a choice was made (the latest word on a topic wins)."""
        self.notes[topic] = text

    def write_method(self, resource_type: str) -> WriteMethod | None:
        """The write method learnt for "User" or "Group", if any."""
        return self.users_write if resource_type == "User" else self.groups_write

    def learn_write(self, resource_type: str, method: WriteMethod, why: str) -> None:
        """Remember how resources of this type are changed from now on."""
        if resource_type == "User":
            self.users_write = method
        else:
            self.groups_write = method
        self.note(f"{resource_type.lower()}s write", why)

    def to_dict(self, media_type: str | None = None) -> dict[str, Any]:
        """The profile as JSON-ready data (camelCase, for status and the ExternalApp)."""
        data: dict[str, Any] = {
            "listing": self.listing,
            "pageSize": self.page_size,
            "usersWrite": self.users_write,
            "groupsWrite": self.groups_write,
            "patchWorks": self.patch_works,
            "maxMemberChanges": self.max_member_changes,
            "memberRemoval": self.member_removal,
            "notes": dict(self.notes),
        }
        if media_type is not None:
            data["mediaType"] = media_type
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Dialect:
        """A profile recorded earlier by `to_dict` (unknown or bad values fall back to the defaults)."""
        dialect = cls()
        if data.get("listing") in ("rfc", "capped", "keyset", "lookups"):
            dialect.listing = data["listing"]
        if isinstance(data.get("pageSize"), int) and data["pageSize"] > 0:
            dialect.page_size = data["pageSize"]
        for key, name in (("usersWrite", "users_write"), ("groupsWrite", "groups_write")):
            if data.get(key) in ("patch", "put"):
                setattr(dialect, name, data[key])
        dialect.patch_works = data.get("patchWorks") is True
        if data.get("memberRemoval") in ("filter", "value"):
            dialect.member_removal = data["memberRemoval"]
        notes = data.get("notes")
        if isinstance(notes, Mapping):
            dialect.notes = {str(k): str(v) for k, v in notes.items()}
        return dialect

    def copy(self) -> Dialect:
        """An independent copy."""
        return dataclasses.replace(self, notes=dict(self.notes))


class Dialects:
    """The dialect of each app this process talks to, by base URL (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_url: dict[str, Dialect] = {}

    def of(self, base_url: str) -> Dialect:
        """The app's dialect (a fresh RFC one the first time): shared by every connector to that app."""
        with self._lock:
            return self._by_url.setdefault(base_url.rstrip("/"), Dialect())

    def resume(self, base_url: str, recorded: Mapping[str, Any]) -> bool:
        """Start an app this process has learnt nothing of from a profile recorded earlier (`to_dict`, kept
        on the ExternalApp); whether it was taken."""
        with self._lock:
            dialect = self._by_url.setdefault(base_url.rstrip("/"), Dialect())
            if dialect != Dialect():
                return False  # learnt here already: what this process saw wins
            earlier = Dialect.from_dict(recorded)
            for known in dataclasses.fields(Dialect):
                setattr(dialect, known.name, getattr(earlier, known.name))
            return True

    def forget(self, base_url: str) -> None:
        """Start this app from the RFC dialect again (e.g. after the app changed)."""
        with self._lock:
            self._by_url.pop(base_url.rstrip("/"), None)


DIALECTS = Dialects()
"""The process-wide record of the apps' dialects."""


def forget_app(base_url: str) -> None:
    """Forget what was learnt of an app (its dialect and media type): the next connector starts afresh."""
    DIALECTS.forget(base_url)
    MEDIA_TYPES.forget(base_url)


@dataclass(frozen=True)
class Needed:
    """The accounts (and groups) an operation needs, for an app that cannot list them all.

    Looked up one by one: `userName eq` each declared name, `externalId eq` each owner stamp, `displayName
    eq` each group. An account such an app holds but nobody names here (one removed from the spec since)
    cannot be found, so it is not deprovisioned: the app's limitation, said in the listing note."""

    user_names: frozenset[str] = frozenset()
    external_ids: frozenset[str] = frozenset()
    group_names: frozenset[str] = frozenset()

    def lookups(self, resource_type: str) -> list[tuple[str, str]]:
        """(attribute, value) of each lookup for "User" or "Group", in a stable order."""
        if resource_type == "Group":
            return [("displayName", name) for name in sorted(self.group_names)]
        return [("userName", n) for n in sorted(self.user_names)] + [
            ("externalId", e) for e in sorted(self.external_ids)
        ]


class AttributesRefused(PermanentError):
    """The app refused some attributes of a change and took the others.

    `refused` maps each refused account attribute (e.g. "title"; a SCIM path for an attribute idlcm does not
    map) to the app's reason; `resource` is the resource as the app answered after the last change it took
    (None if it answered none) and `version` its ETag, so the caller knows what the app now holds."""

    def __init__(
        self,
        message: str,
        refused: Mapping[str, str],
        *,
        resource: Any = None,
        version: str | None = None,
        status: int | None = None,
    ) -> None:
        super().__init__(message, status=status)
        self.refused = dict(refused)
        self.resource = resource
        self.version = version


def canonical_keys(payload: Any) -> Any:
    """A JSON answer with its top-level SCIM names spelt as the RFC does (`resources` -> `Resources`)."""
    if not isinstance(payload, dict):
        return payload
    renamed: dict[str, Any] = {}
    for key, value in payload.items():
        name = _CANONICAL.get(key.casefold(), key) if isinstance(key, str) else key
        if name != key and name in payload:
            name = key  # both spellings sent: keep the RFC's as it is, this one as sent
        renamed.setdefault(name, value)
    return renamed
