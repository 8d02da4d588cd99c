"""django-scim2 0.23 (PyPI), unmodified, in a minimal Django project: idlcm provisions what it can store,
updates, repairs and reports collisions; what it cannot store (title) keeps the status from UpToDate."""

from __future__ import annotations

from lifecycle.conftest import Cluster, OperatorFactory
from thirdparty import scenarios
from thirdparty.conftest import DjangoScim2

# django-scim2 stores userName, name.givenName/familyName, one email, active and groups; it answers a
# displayName computed from the name parts and drops title.


def stored_roster(prefix: str, n: int) -> list[dict[str, object]]:
    return scenarios.roster(prefix, n, display_name=False, title=False)


async def test_a_hundred_accounts_with_groups_are_stored_exactly(
    cluster: Cluster, operator: OperatorFactory, django_scim: DjangoScim2, prefix: str
) -> None:
    await scenarios.provision(cluster, operator, django_scim, prefix, stored_roster(prefix, 100))


async def test_a_title_the_app_does_not_store_is_named_and_not_uptodate(
    cluster: Cluster, operator: OperatorFactory, django_scim: DjangoScim2, prefix: str
) -> None:
    accounts = scenarios.roster(prefix, 10, display_name=False, title=True)
    await scenarios.not_stored(cluster, operator, django_scim, prefix, accounts, "title")


async def test_a_display_name_the_app_computes_otherwise_is_named_and_not_uptodate(
    cluster: Cluster, operator: OperatorFactory, django_scim: DjangoScim2, prefix: str
) -> None:
    # The false UpToDate: django-scim2 answers displayName "Given0 Family0" whatever was sent.
    accounts = [{**a, "displayName": f"Dr. {a['familyName']}"} for a in stored_roster(prefix, 10)]
    await scenarios.not_stored(cluster, operator, django_scim, prefix, accounts, "displayName")


async def test_an_update_converges(
    cluster: Cluster, operator: OperatorFactory, django_scim: DjangoScim2, prefix: str
) -> None:
    await scenarios.update(cluster, operator, django_scim, prefix, stored_roster(prefix, 20))


async def test_drift_made_in_the_app_is_repaired(
    cluster: Cluster, operator: OperatorFactory, django_scim: DjangoScim2, prefix: str
) -> None:
    def tamper(user_name: str) -> None:
        django_scim.sql(
            "UPDATE scim_site_user SET first_name = 'Tampered', is_active = 0 WHERE username = ?", user_name
        )

    await scenarios.drift(cluster, operator, django_scim, prefix, stored_roster(prefix, 10), tamper)


async def test_a_username_collision_is_reported(
    cluster: Cluster, operator: OperatorFactory, django_scim: DjangoScim2, prefix: str
) -> None:
    await scenarios.collision(cluster, operator, django_scim, prefix, stored_roster(prefix, 3))
