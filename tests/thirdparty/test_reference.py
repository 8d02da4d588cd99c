"""A scenario on the suite's own SCIM app (scim2-server, tests/scimapp.py): the contract the third-party
servers are held to can be met, so their failures are theirs or idlcm's, never the harness's. One scenario
only (provision then update: the roster, the storage view, the groups); the others pass on SCIMMY."""

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


async def test_an_update_converges(
    cluster: Cluster, operator: OperatorFactory, scim_app: ScimApp, prefix: str
) -> None:
    await scenarios.update(cluster, operator, reference(scim_app), prefix, scenarios.roster(prefix, 20))
