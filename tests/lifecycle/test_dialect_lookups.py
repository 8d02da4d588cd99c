"""Through the operator, an app that cannot page (AWS IAM Identity Center: at most 50 a page, startIndex
ignored, eq filters only): the operation names its declared accounts, which are looked up one by one, so
provisioning, an update and the deletion work there."""

from __future__ import annotations

from typing import Any

from lifecycle.conftest import FAST, Cluster, OperatorFactory, in_app, people, spec_for
from scimdialects import Dialect, DialectApp, dialect_app, dialect_server

__all__ = ["dialect_app", "dialect_server"]  # fixtures, used by name


def _spec(app: DialectApp, names: list[str], **fields: Any) -> dict[str, Any]:
    return spec_for(app, *people(*names, groups=["staff"], **fields))


async def test_an_app_that_cannot_page_is_provisioned_updated_and_deprovisioned_by_lookups(
    cluster: Cluster, operator: OperatorFactory, dialect_app: DialectApp
) -> None:
    dialect_app.dialect = Dialect(page_cap=50, ignore_start_index=True, eq_filters_only=True)
    await operator(FAST)
    await cluster.create_secret("acme-token", {"token": dialect_app.token})
    names = [f"user{i:03}" for i in range(120)]

    await cluster.create_integration("crm", _spec(dialect_app, names))
    await cluster.wait_status("crm", "UpToDate", timeout=60)
    held = in_app(dialect_app)
    assert sorted(held) == sorted(f"{n}@example.com" for n in names)

    await cluster.patch_integration("crm", {"spec": _spec(dialect_app, names, title="Engineer")})
    await cluster.wait_status("crm", "UpToDate", timeout=60)
    assert {u.get("title") for u in in_app(dialect_app).values()} == {"Engineer"}

    await cluster.delete_integration("crm")
    await cluster.wait_for("integrations", "crm", lambda o: o is None, timeout=60)
    assert not [n for n, u in in_app(dialect_app).items() if u.get("active")]
