"""The SCIM message models of an Integration's work are built once per process, not again per request.

pydantic caches a parametrized model (`ListResponse[Group]`, `BulkRequest[User]`) only while something refers
to it; building one again cost ~7 ms of CPU, more than the request it served.
"""

import gc
import threading
from typing import Any

import pytest
from pydantic._internal._model_construction import ModelMetaclass

from idlcm.connectors import Account, ScimConnector
from scimapp import ScimApp


async def _an_integrations_work(connector: ScimConnector, prefix: str) -> None:
    """Its quick validation, its listing and its Bulk create (what each of B5's Integrations does)."""
    assert all(r.passed for r in await connector.validate(discovery=False))
    _ = [account async for account in connector.list_accounts()]
    created = await connector.create_many([Account(user_name=f"{prefix}{i}") for i in range(3)])
    assert all(isinstance(a, Account) for a in created)


async def test_no_model_class_is_built_again_after_a_garbage_collection(
    scim_app: ScimApp, connector: ScimConnector, monkeypatch: pytest.MonkeyPatch
) -> None:
    await _an_integrations_work(connector, "warm")
    built: list[str] = []
    original = ModelMetaclass.__new__
    here = threading.get_ident()  # the app serves from a thread of its own, building its own models

    def counting(mcs: type, name: str, *args: Any, **kwargs: Any) -> Any:
        if threading.get_ident() == here:
            built.append(name)
        return original(mcs, name, *args, **kwargs)

    monkeypatch.setattr(ModelMetaclass, "__new__", counting)
    gc.collect()  # what nothing refers to goes: pydantic's cache of parametrized models is weak
    await _an_integrations_work(connector, "again")

    assert built == [], built
