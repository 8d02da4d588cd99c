"""django-scim2-server 1.1 (PyPI), unmodified, in a minimal Django project: idlcm provisions what it can
store, updates, repairs and reports collisions; what it cannot store (title) keeps it from UpToDate."""

from __future__ import annotations

from lifecycle.conftest import Cluster, OperatorFactory
from thirdparty import scenarios
from thirdparty.conftest import DjangoScim2Server

# django-scim2-server stores userName, name.givenName/familyName, one email, active and groups; it
# drops displayName and title.


def stored_roster(prefix: str, n: int) -> list[dict[str, object]]:
    return scenarios.roster(prefix, n, display_name=False, title=False)


async def test_a_hundred_accounts_with_groups_are_stored_exactly(
    cluster: Cluster, operator: OperatorFactory, django_scim2_server: DjangoScim2Server, prefix: str
) -> None:
    await scenarios.provision(cluster, operator, django_scim2_server, prefix, stored_roster(prefix, 100))


async def test_a_title_the_app_does_not_store_is_named_and_not_uptodate(
    cluster: Cluster, operator: OperatorFactory, django_scim2_server: DjangoScim2Server, prefix: str
) -> None:
    accounts = scenarios.roster(prefix, 10, display_name=False, title=True)
    await scenarios.not_stored(cluster, operator, django_scim2_server, prefix, accounts, "title")


async def test_an_update_converges(
    cluster: Cluster, operator: OperatorFactory, django_scim2_server: DjangoScim2Server, prefix: str
) -> None:
    await scenarios.update(cluster, operator, django_scim2_server, prefix, stored_roster(prefix, 20))


async def test_drift_made_in_the_app_is_repaired(
    cluster: Cluster, operator: OperatorFactory, django_scim2_server: DjangoScim2Server, prefix: str
) -> None:
    def tamper(user_name: str) -> None:
        django_scim2_server.sql("UPDATE auth_user SET first_name = 'Tampered' WHERE username = ?", user_name)
        django_scim2_server.sql(
            "UPDATE django_scim2_server_scimuser SET active = 0 WHERE scim_username = ?", user_name
        )

    await scenarios.drift(cluster, operator, django_scim2_server, prefix, stored_roster(prefix, 10), tamper)


async def test_a_username_collision_is_reported(
    cluster: Cluster, operator: OperatorFactory, django_scim2_server: DjangoScim2Server, prefix: str
) -> None:
    await scenarios.collision(cluster, operator, django_scim2_server, prefix, stored_roster(prefix, 3))
