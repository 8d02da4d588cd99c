"""Crash safety (issue 7): whatever breaks mid-operation (the operator SIGKILLed, the SCIM app restarted, the
Kubernetes API away), the app ends with exactly the declared accounts: none twice, none missing, none left
active that should be deprovisioned, no account of someone else touched.

The fast variants run in `make test`; the 2,000-account ones in `make soak`, which prints their figures.
"""

from __future__ import annotations

import functools
from pathlib import Path

import pytest

from idlcm.crds import GROUP
from reliability.crashes import (
    FULL,
    NAME,
    SMALL,
    Figures,
    Scale,
    api_away,
    app_restarted,
    operator_killed,
    spec,
    user_names,
    world,
)
from reliability.processes import wait_until


def _assert_exact(figures: Figures, scale: Scale) -> None:
    print(f"\n{figures.line()}\n" + "\n".join(figures.faults))
    assert figures.duplicates == 0, figures.line()
    assert figures.missing == 0, figures.line()
    assert figures.left_active == 0, figures.line()
    assert figures.strays == 0, figures.line()
    assert figures.unowned_touched == 0, figures.line()
    assert figures.create_conflicts == 0, figures.line()


def _killed(tmp_path: Path, scale: Scale) -> None:
    figures = operator_killed(tmp_path, scale)
    _assert_exact(figures, scale)
    assert len(figures.faults) == sum(scale.kills) >= 10
    assert figures.creates == scale.accounts, "an account was created twice"


def test_operator_killed_during_provisioning_mass_deprovision_and_deletion_leaves_exact_accounts(
    tmp_path: Path,
) -> None:
    _killed(tmp_path, SMALL)


def test_scim_app_restarted_mid_operation_leaves_exact_accounts(tmp_path: Path) -> None:
    figures = app_restarted(tmp_path, SMALL)
    _assert_exact(figures, SMALL)
    assert figures.creates == SMALL.accounts
    assert figures.notes["Retrying events"] >= 1, "the restarts went unnoticed"


def test_kubernetes_api_away_for_a_while_status_catches_up_and_changes_still_reach_the_app(
    tmp_path: Path,
) -> None:
    figures = api_away(tmp_path, SMALL)
    _assert_exact(figures, SMALL)
    assert figures.creates == SMALL.accounts + 5


def test_a_spec_change_made_while_the_operator_was_down_reaches_the_app_though_kopf_lost_its_record(
    tmp_path: Path,
) -> None:
    # Killed between its status write and kopf's own record of the handled spec (an annotation): the next
    # operator sees a creation, not an update, of a spec that changed meanwhile.
    names = user_names(20)
    with world(tmp_path, seed=3) as w:
        w.cluster.create_integration(NAME, spec(w.app, names))
        w.operator.start()
        wait_until(functools.partial(w.settled, 1, set(names), set()), 60, "the provisioning")
        w.operator.kill()
        forgotten = {f"kopf.{GROUP}/last-handled-configuration": None}
        w.cluster.patch_integration(NAME, {"metadata": {"annotations": forgotten}})
        more = user_names(25)
        w.declare(more)
        w.operator.start()
        settled = functools.partial(w.settled, w.generation(), set(more), set())
        wait_until(settled, 60, "the spec change to reach the app")


@pytest.mark.soak
def test_soak_operator_killed_2000_accounts(tmp_path: Path) -> None:
    _killed(tmp_path, FULL)


@pytest.mark.soak
def test_soak_scim_app_restarted_2000_accounts(tmp_path: Path) -> None:
    figures = app_restarted(tmp_path, FULL)
    _assert_exact(figures, FULL)
    assert figures.creates == FULL.accounts


@pytest.mark.soak
def test_soak_kubernetes_api_away_2000_accounts(tmp_path: Path) -> None:
    figures = api_away(tmp_path, FULL)
    _assert_exact(figures, FULL)
    assert figures.creates == FULL.accounts + 5
