"""The promise of `UpToDate`, checked against the app's own storage: the app holds what the spec declares.

`assert_up_to_date_holds(integration, app, rosters)`: when the Integration's status is `UpToDate` (for its
current generation), the test app (`scimapp.ScimApp`) holds exactly the declared accounts of this Integration,
with the declared attributes and groups (each member listed once), and the Integration's undeclared accounts
are inactive (Deactivate) or gone (Delete). `tests/lifecycle/conftest.py` runs it whenever a test waits for
`UpToDate`, so no test can pass while the status says `UpToDate` and the app differs.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from idlcm.api.spec import IntegrationSpec
from idlcm.plan import Owner, refusal_key
from idlcm.roster import parse_roster
from scimapp import ScimApp

ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"


def declared(spec: IntegrationSpec, rosters: Mapping[str, Mapping[str, str]]) -> list[Any]:
    """The declared accounts: inline, then those of the `accountsFrom` ConfigMaps (`rosters`: their data)."""
    accounts = list(spec.accounts)
    for source in spec.accounts_from:
        data = rosters.get(source.config_map_ref.name) or {}
        if source.config_map_ref.key in data:
            roster = parse_roster(
                data[source.config_map_ref.key], key=source.config_map_ref.key, format=source.format
            )
            accounts.extend(roster.accounts)
    return accounts


FIELDS = {
    "displayName": "display_name",
    "givenName": "given_name",
    "familyName": "family_name",
    "email": "email",
    "active": "active",
    "title": "title",
    "department": "department",
}
"""The account attribute of each name `held` and `wanted` use."""


def held(user: Mapping[str, Any]) -> dict[str, Any]:
    """The managed attributes of a stored user (camelCase JSON), blank as None, email casefolded."""
    name = user.get("name") or {}
    emails = [e for e in user.get("emails") or [] if e.get("value")]
    primary = next((e for e in emails if e.get("primary")), emails[0] if emails else None)
    values = {
        "displayName": user.get("displayName"),
        "givenName": name.get("givenName"),
        "familyName": name.get("familyName"),
        "email": primary["value"].casefold() if primary else None,
        "active": user.get("active") is not False,
        "title": user.get("title"),
        "department": (user.get(ENTERPRISE) or {}).get("department"),
    }
    return {k: (None if v == "" else v) for k, v in values.items()}


def wanted(account: Any) -> dict[str, Any]:
    """The managed attributes of a declared account, in the form of `held`."""
    values = {
        "displayName": account.display_name,
        "givenName": account.given_name,
        "familyName": account.family_name,
        "email": account.email.casefold() if account.email else None,
        "active": account.active,
        "title": account.title,
        "department": account.department,
    }
    return {k: (None if v == "" else v) for k, v in values.items()}


def app_differences(
    integration: Mapping[str, Any], app: ScimApp, rosters: Mapping[str, Mapping[str, str]] | None = None
) -> list[str]:
    """How the app's storage differs from what the Integration declares (empty: it matches)."""
    meta = integration["metadata"]
    spec = IntegrationSpec.model_validate(integration["spec"])
    owner = Owner(meta["namespace"], meta["name"], meta["uid"])
    users = [u.model_dump(mode="json", by_alias=True, exclude_none=True) for u in app.users()]
    groups = [g.model_dump(mode="json", by_alias=True, exclude_none=True) for g in app.groups()]
    problems: list[str] = []
    computed = set(((integration.get("status") or {}).get("notStored") or {}).get("computed") or ())
    member_of: dict[str, list[str]] = {}
    for group in groups:
        values = [m.get("value") for m in group.get("members") or []]
        for value in set(values):
            if values.count(value) > 1:
                problems.append(
                    f"group {group.get('displayName')} lists member {value} {values.count(value)} times"
                )
            member_of.setdefault(str(value), []).append(str(group.get("displayName")).casefold())
    by_name: dict[str, list[dict[str, Any]]] = {}
    for user in users:
        by_name.setdefault(str(user.get("userName")).casefold(), []).append(user)
    want = {a.user_name.casefold(): a for a in declared(spec, rosters or {})}
    for key, account in want.items():
        found = by_name.get(key, [])
        if len(found) != 1:
            problems.append(f"{account.user_name}: the app holds {len(found)} accounts of this userName")
            continue
        user = found[0]
        if user.get("externalId") != owner.stamp(account.user_name):
            problems.append(
                f"{account.user_name}: externalId {user.get('externalId')!r} is not this Integration's"
            )
        have, should = held(user), wanted(account)
        for attribute in should:
            # An attribute the spec leaves unset that the app filled itself, as the status says it did.
            apps_own = refusal_key(account.user_name, FIELDS[attribute], None) in computed
            if have[attribute] != should[attribute] and not (should[attribute] is None and apps_own):
                app_value, spec_value = have[attribute], should[attribute]
                problems.append(
                    f"{account.user_name}: {attribute} {app_value!r} in the app, {spec_value!r} declared"
                )
        groups_held = sorted(member_of.get(str(user.get("id")), []))
        groups_wanted = sorted({g.casefold() for g in account.groups})
        if groups_held != groups_wanted:
            problems.append(
                f"{account.user_name}: in groups {groups_held} in the app, {groups_wanted} declared"
            )
    for user in users:
        key = str(user.get("userName")).casefold()
        if key in want or not owner.owns(user.get("externalId")):
            continue
        if spec.deprovision.mode == "Delete":
            problems.append(f"{user.get('userName')}: undeclared, still in the app (deprovision mode Delete)")
        elif user.get("active") is not False:
            problems.append(f"{user.get('userName')}: undeclared, still active in the app")
    return problems


def assert_up_to_date_holds(
    integration: Mapping[str, Any], app: ScimApp, rosters: Mapping[str, Mapping[str, str]] | None = None
) -> None:
    """Fail when the Integration is `UpToDate` for its current spec while the app differs from it."""
    status = integration.get("status") or {}
    if status.get("status") != "UpToDate":
        return
    if status.get("observedGeneration") != integration["metadata"].get("generation"):
        return  # about an earlier spec: the operator has not looked at this one yet
    problems = app_differences(integration, app, rosters)
    assert not problems, "UpToDate, but the app differs from the spec:\n  " + "\n  ".join(problems[:20])
