"""SCIMMY 1.3 with scimmy-routers 1.3 (npm, on Node.js), unmodified: idlcm provisions, updates, repairs and
reports collisions, and its status agrees with what SCIMMY stores."""

from __future__ import annotations

from lifecycle.conftest import Cluster, OperatorFactory
from thirdparty import scenarios
from thirdparty.conftest import ScimmyApp


async def test_a_hundred_accounts_with_groups_are_stored_exactly(
    cluster: Cluster, operator: OperatorFactory, scimmy: ScimmyApp, prefix: str
) -> None:
    await scenarios.provision(cluster, operator, scimmy, prefix, scenarios.roster(prefix, 100))


async def test_an_update_converges(
    cluster: Cluster, operator: OperatorFactory, scimmy: ScimmyApp, prefix: str
) -> None:
    await scenarios.update(cluster, operator, scimmy, prefix, scenarios.roster(prefix, 20))


async def test_drift_made_in_the_app_is_repaired(
    cluster: Cluster, operator: OperatorFactory, scimmy: ScimmyApp, prefix: str
) -> None:
    def tamper(user_name: str) -> None:
        scimmy.tamper(user_name, **{"name.givenName": "Tampered", "title": "Intern", "active": False})

    await scenarios.drift(cluster, operator, scimmy, prefix, scenarios.roster(prefix, 10), tamper)


async def test_a_username_collision_is_reported(
    cluster: Cluster, operator: OperatorFactory, scimmy: ScimmyApp, prefix: str
) -> None:
    await scenarios.collision(cluster, operator, scimmy, prefix, scenarios.roster(prefix, 3))


async def test_on_express_5_a_listing_that_ignores_paging_still_converges(
    cluster: Cluster, operator: OperatorFactory, scimmy_express5: ScimmyApp, prefix: str
) -> None:
    # Fifty accounts, and after their creation the app answers any listing with the same first 20.
    await scenarios.update(cluster, operator, scimmy_express5, prefix, scenarios.roster(prefix, 50))


async def test_a_department_the_app_does_not_store_is_named_and_not_uptodate(
    cluster: Cluster, operator: OperatorFactory, scimmy: ScimmyApp, prefix: str
) -> None:
    # SCIMMY declares the core User schema only: the Enterprise extension's department has nowhere to go.
    accounts = [{**a, "department": "R&D"} for a in scenarios.roster(prefix, 5)]
    await scenarios.not_stored(cluster, operator, scimmy, prefix, accounts, "department")
