"""The same scenarios on the suite's own SCIM app (scim2-server, tests/scimapp.py): the contract the
third-party servers are held to can be met, so their failures are theirs or idlcm's, never the harness's."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from lifecycle.conftest import Cluster, OperatorFactory
from scimapp import ScimApp
from thirdparty import scenarios
from thirdparty.conftest import ScimAdmin, Stored


@dataclass
class Reference(ScimAdmin):
    app: ScimApp
    name: str = "scim2-server"

    @property
    def base_url(self) -> str:  # type: ignore[override]
        return self.app.base_url

    @property
    def token(self) -> str:  # type: ignore[override]
        return self.app.token

    def users(self, prefix: str) -> dict[str, Stored]:
        found = {}
        for u in self.app.users():
            if not u.user_name.startswith(prefix):
                continue
            emails = u.emails or []
            primary = [e for e in emails if e.primary] or emails
            found[u.user_name] = {
                "userName": u.user_name,
                "externalId": u.external_id,
                "displayName": u.display_name,
                "givenName": u.name.given_name if u.name else None,
                "familyName": u.name.family_name if u.name else None,
                "email": primary[0].value if primary else None,
                "title": u.title,
                "active": True if u.active is None else u.active,
            }
        return found

    def groups(self, prefix: str) -> dict[str, list[str]]:
        names = {u.id: u.user_name for u in self.app.users()}
        return {
            g.display_name: sorted(names.get(m.value, m.value) for m in g.members or [])
            for g in self.app.groups()
            if g.display_name.startswith(prefix)
        }


def reference(scim_app: ScimApp) -> Any:
    return Reference(app=scim_app)


async def test_accounts_with_groups_are_stored_exactly(
    cluster: Cluster, operator: OperatorFactory, scim_app: ScimApp, prefix: str
) -> None:
    # 20, not 100: the harness is what is checked here, and scim2-server is the slowest of the servers.
    await scenarios.provision(cluster, operator, reference(scim_app), prefix, scenarios.roster(prefix, 20))


async def test_an_update_converges(
    cluster: Cluster, operator: OperatorFactory, scim_app: ScimApp, prefix: str
) -> None:
    await scenarios.update(cluster, operator, reference(scim_app), prefix, scenarios.roster(prefix, 30))


async def test_drift_made_in_the_app_is_repaired(
    cluster: Cluster, operator: OperatorFactory, scim_app: ScimApp, prefix: str
) -> None:
    app = reference(scim_app)

    def tamper(user_name: str) -> None:
        app.tamper(user_name, **{"name.givenName": "Tampered", "title": "Intern", "active": False})

    await scenarios.drift(cluster, operator, app, prefix, scenarios.roster(prefix, 10), tamper)


async def test_a_username_collision_is_reported(
    cluster: Cluster, operator: OperatorFactory, scim_app: ScimApp, prefix: str
) -> None:
    await scenarios.collision(cluster, operator, reference(scim_app), prefix, scenarios.roster(prefix, 3))
