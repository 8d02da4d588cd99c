"""B5's connector work alone: the operator's CPU per Integration for its SCIM part, without kopf or the API.

Run: .venv/bin/python bench/bench_b5_connector.py [--count N]

What each of B5's Integrations asks of its app, through the operator's own connector pool and validator:
the quick validation, the listing of its (empty) tenant and a Bulk create of 5 accounts, 8 Integrations at
a time against the SCIM tenants server of B5 (a process of its own). CPU time of this process only (the app's
is not counted), which stays steady when other work shares the cores; B5's operator figure also holds kopf,
the Kubernetes client, status patches and Events. Not part of `make bench`: a tool for profiling B5.
"""

from __future__ import annotations

import asyncio
import time

import harness
from harness import Figure

from idlcm.api.spec import IntegrationSpec
from idlcm.connections import ConnectorPool
from idlcm.connectors.base import Account
from idlcm.kube import Secret
from idlcm.validation import ConnectorValidator, Target

WARM_UP = 20
ACCOUNTS = 5


async def _one(
    pool: ConnectorPool, validator: ConnectorValidator, tenants: harness.Tenants, tag: str
) -> None:
    spec = IntegrationSpec.model_validate(harness.integration_spec(tenants.base_url(tag)))
    token = Secret(harness.TOKEN_SECRET, "1", {"token": tenants.token})
    target = Target("b5", tag, spec, {harness.TOKEN_SECRET: token})
    report = await validator.validate_integration(target)
    if report.outcome != "Passed":
        raise SystemExit(f"{tag}: validation {report.outcome}: {report.message}")
    connector = pool.get(target)
    _ = [account async for account in connector.list_accounts()]
    accounts = [
        Account(user_name=f"{tag}u{i}@example.com", external_id=f"idlcm:b5/{tag}:{i}", display_name="User")
        for i in range(ACCOUNTS)
    ]
    if not all(isinstance(a, Account) for a in await connector.create_many(accounts)):
        raise SystemExit(f"{tag}: a create failed")


async def _run(tenants: harness.Tenants, count: int) -> float:
    """CPU seconds of this process for `count` Integrations (after a warm-up)."""
    pool = ConnectorPool(timeout=30.0)
    validator = ConnectorValidator(pool)
    try:
        for i in range(WARM_UP):
            await _one(pool, validator, tenants, f"warm-{i}")
        limit = asyncio.Semaphore(harness.CONCURRENCY)

        async def limited(i: int) -> None:
            async with limit:
                await _one(pool, validator, tenants, f"run-{i}")

        started = time.process_time()
        await asyncio.gather(*(limited(i) for i in range(count)))
        return time.process_time() - started
    finally:
        await pool.aclose()


def main() -> None:
    args = harness.arguments(__doc__.splitlines()[0], count=(int, 400, "Integrations (100 with --quick)"))
    count = min(args.count, 100) if args.quick else args.count
    report = harness.Report("b5_connector", f"B5's connector work alone, {count} Integrations", args.quick)
    with harness.scim_tenants_process() as tenants:
        cpu = asyncio.run(_run(tenants, count))
    report.add(Figure("operator CPU per Integration (SCIM part)", 1000 * cpu / count, "ms"))
    report.details = {"count": count, "accounts": ACCOUNTS, "concurrency": harness.CONCURRENCY}
    report.finish(args.json)


if __name__ == "__main__":
    main()
