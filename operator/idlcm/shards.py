"""Sharding: one operator process handles the Integrations a label selector picks (pure, no I/O).

Users who outgrow one process run several Deployments, one per shard: each watches only its Integrations
(the API server filters the watch), and the replicas of one shard share a kopf peering object of their own,
so they exclude each other while the shards run side by side.
"""

from __future__ import annotations

import dataclasses
import re

from idlcm.settings import GROUP

SHARD_LABEL = f"{GROUP}/shard"
"""The label that assigns an Integration to a shard: `idlcm.io/shard: NAME`."""

_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_MAX_NAME = 40  # leaves room for the peering object's prefix within a 63-character name


class ShardError(ValueError):
    """A shard name or selector the operator cannot use."""


@dataclasses.dataclass(frozen=True)
class Shard:
    """The Integrations one replica handles: those `selector` matches (by default, labelled with its name)."""

    name: str
    selector: str

    @classmethod
    def named(cls, name: str, selector: str | None = None) -> Shard:
        """The shard NAME: Integrations labelled `idlcm.io/shard=NAME`, unless `selector` says otherwise
        (any Kubernetes label selector, e.g. `!idlcm.io/shard` for the Integrations without the label)."""
        if len(name) > _MAX_NAME or not _NAME.match(name):
            raise ShardError(
                f"shard name {name!r}: use at most {_MAX_NAME} lower-case letters, digits and '-', "
                "starting and ending with a letter or digit"
            )
        if selector is not None and not selector.strip():
            raise ShardError("the shard selector is empty: leave it out to select the shard label")
        return cls(name, selector.strip() if selector is not None else f"{SHARD_LABEL}={name}")

    def peering(self, base: str) -> str:
        """The kopf peering object of this shard's replicas, named after the operator's (`idlcm-NAME`)."""
        return f"{base}-{self.name}"
