"""The declared accounts of an Integration: inline ones plus those of its `accountsFrom` ConfigMaps."""

from __future__ import annotations

import dataclasses

from idlcm.api.spec import Account, IntegrationSpec
from idlcm.kube import Kube
from idlcm.roster import parse_roster


@dataclasses.dataclass(frozen=True)
class Declared:
    """All declared accounts, or why they cannot be known completely (then nothing may be written)."""

    accounts: tuple[Account, ...] = ()
    missing: tuple[str, ...] = ()
    """ConfigMaps or keys that do not exist (yet): worth retrying, GitOps tools may create them later."""
    errors: tuple[str, ...] = ()
    """Content that cannot be understood: a human must fix it."""
    versions: dict[str, str] = dataclasses.field(default_factory=dict)

    @property
    def complete(self) -> bool:
        """Whether every source was read and understood."""
        return not self.missing and not self.errors


async def declared_accounts(kube: Kube, namespace: str, spec: IntegrationSpec) -> Declared:
    """Read every `accountsFrom` source (own namespace only) and add the inline accounts."""
    accounts = list(spec.accounts)
    missing: list[str] = []
    errors: list[str] = []
    cache: dict[str, dict[str, str] | None] = {}
    for source in spec.accounts_from:
        ref = source.config_map_ref
        if ref.name not in cache:
            cache[ref.name] = await kube.read_configmap(namespace, ref.name)
        data = cache[ref.name]
        where = f"ConfigMap {namespace}/{ref.name}"
        if data is None or ref.key not in data:
            if not ref.optional:
                missing.append(f"{where} not found" if data is None else f"{where} has no key {ref.key!r}")
            continue
        roster = parse_roster(data[ref.key], key=ref.key, format=source.format)
        errors.extend(f"{where} key {ref.key!r}: {error}" for error in roster.errors[:10])
        if len(roster.errors) > 10:
            errors.append(f"{where} key {ref.key!r}: and {len(roster.errors) - 10} more problems")
        accounts.extend(roster.accounts)
    return Declared(accounts=tuple(accounts), missing=tuple(missing), errors=tuple(errors))
