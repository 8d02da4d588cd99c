"""Through the operator, an app that cannot page (AWS IAM Identity Center: at most 50 a page, startIndex
ignored, eq filters only): the operation names its declared accounts, which are looked up one by one, so
provisioning, an update and the deletion work there."""

from __future__ import annotations

from typing import Any

from idlcm.connectors.scim.dialect import forget_app
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


async def _synced(cluster: Cluster, request: str) -> dict[str, Any]:
    """Ask for a sync now and wait until one has run after the request, to UpToDate."""
    before = ((await cluster.get("integrations", "crm") or {}).get("status") or {}).get("lastSyncTime")
    await cluster.patch_integration("crm", {"metadata": {"annotations": {"idlcm.io/sync-now": request}}})

    def synced(o: dict[str, Any] | None) -> bool:
        status = (o or {}).get("status") or {}
        return (
            status.get("status") == "UpToDate"
            and status.get("lastSyncTime") != before
            and (status.get("lastOperation") or {}).get("type") == "Sync"
        )

    done = await cluster.wait_for("integrations", "crm", synced, timeout=60)
    assert done is not None
    return done


async def test_the_dialect_learnt_shows_in_status_and_on_the_app_where_the_next_run_starts_from_it(
    cluster: Cluster, operator: OperatorFactory, dialect_app: DialectApp
) -> None:
    dialect_app.dialect = Dialect(page_cap=50, ignore_start_index=True, eq_filters_only=True)
    stop = await operator(FAST)
    await cluster.create_secret("acme-token", {"token": dialect_app.token})
    names = [f"user{i:03}" for i in range(60)]
    await cluster.create_integration("crm", _spec(dialect_app, names))
    await cluster.wait_status("crm", "UpToDate", timeout=60)
    # An empty app pages like any other: how this one lists shows at the next listing of its 60 accounts.
    done = await _synced(cluster, "1")
    assert done["status"]["dialect"]["listing"] == "lookups", done["status"]["dialect"]
    assert "startIndex" in done["status"]["dialect"]["notes"]["listing"]
    app = await cluster.wait_for(
        "externalapps",
        "acme-crm",
        lambda a: (((a or {}).get("status") or {}).get("dialect") or {}).get("listing") == "lookups",
    )
    assert app is not None

    # A new process (a restart, another replica) starts from the recorded dialect: it does not page first.
    await stop()
    forget_app(dialect_app.base_url)
    before = len(dialect_app.requests_seen("GET", "/v2/Users"))
    await operator(FAST)
    await _synced(cluster, "2")
    listings = [s for s in dialect_app.requests_seen("GET", "/v2/Users")[before:] if "filter" not in s.query]
    # Only the first page (it might hold everything); starting afresh would have asked for the second too.
    assert [s.query.get("startIndex") for s in listings] == ["1"], [s.query for s in listings]
