"""Ready and desired replicas per variation, read from what is stored (never from the runtime).

Desired is each variation's `replicas`; ready counts the replicas the state observer last saw
ready (deployments/state/observer.py is their one writer), old revisions' ones included while a
rollout replaces them.
"""

from __future__ import annotations

from collections import Counter

from deployments.models import Deployment
from deployments.state.observation import Observation


def replica_counts(deployment: Deployment) -> dict[str, tuple[int, int]]:
    """Variation name → (ready, desired), for every variation configured or seen running."""
    desired = dict(deployment.variations.values_list("name", "replicas"))
    ready = Counter(r.variation for r in Observation.from_json(deployment.observed).replicas if r.ready)
    return {name: (ready.get(name, 0), desired.get(name, 0)) for name in desired.keys() | ready.keys()}
