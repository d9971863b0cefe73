"""A replica's identity: which deployment, variation, runtime key and index it is.

Built and parsed here and nowhere else. Its `name` ("default-3f9a1c2e-0") is unique within a
deployment and stable for the replica's life. The runtime key (a hash of everything the process
runs, `VariationSpec.runtime_key`) stands where a revision number might: a revision that only
changes replica counts or traffic keeps the running replicas, so a replica outlives the revision
that started it, and which revisions it serves is decided by comparing keys, not names.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from deployments.rollouts.spec import DeploySpec, VariationSpec

_NAME = re.compile(r"^(?P<variation>[a-z0-9](?:[a-z0-9.-]*[a-z0-9])?)-(?P<key>[0-9a-f]{8})-(?P<index>\d{1,4})$")


@dataclass(frozen=True, order=True)
class ReplicaId:
    deployment: int
    variation: str
    runtime_key: str
    index: int

    @property
    def name(self) -> str:
        """Unique within the deployment, e.g. "default-3f9a1c2e-0"."""
        return f"{self.variation}-{self.runtime_key}-{self.index}"

    @classmethod
    def of(cls, deployment: int, variation: VariationSpec, index: int) -> ReplicaId:
        return cls(deployment, variation.name, variation.runtime_key, index)

    @classmethod
    def parse(cls, deployment: int, name: str) -> ReplicaId:
        """The inverse of `name`; ValueError for anything that is not a replica name."""
        match = _NAME.match(name)
        if match is None:
            raise ValueError(f"{name!r} is not a replica name (<variation>-<runtime key>-<index>)")
        return cls(deployment, match["variation"], match["key"], int(match["index"]))

    def __str__(self) -> str:
        return self.name


def desired_replicas(deployment: int, spec: DeploySpec) -> dict[ReplicaId, VariationSpec]:
    """Every replica a spec asks for, with the variation it runs."""
    return {ReplicaId.of(deployment, v, i): v for v in spec.variations for i in range(v.replicas)}
