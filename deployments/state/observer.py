"""The one observer of the runtime: ask it about a deployment's replicas, store what it said, tell people.

`observe(deployment, backend)` is called by the rollout engine (every readiness poll) and by the
periodic health check (between rollouts). It stores each replica's state, restarts, last exit,
reason and last log lines, and whether the deployment's gateway answers, with the time observed
(deployments/state/observation.py), records an event for each restart, crash, first readiness
and loss or return of the runtime, then lets
`state.status.settle` decide the status. Pages, the API and the live socket read what it
stored; they never ask the runtime.
"""

from __future__ import annotations

import logging
import xmlrpc.client
from collections.abc import Callable

from django.db import transaction
from django.utils import timezone

from deployments.backends.base import Backend, BackendError, ReplicaState
from deployments.models import Deployment, EventKind, EventLevel, Rollout
from deployments.rollouts.events import publish_deployment, record_event
from deployments.state.observation import Observation, ObservedReplica
from deployments.state.status import settle

log = logging.getLogger(__name__)
RUNTIME_ERRORS = (BackendError, OSError, xmlrpc.client.Error)


def observe(deployment: Deployment, backend: Backend, rollout: Rollout | None = None) -> Observation:
    """Observe the deployment's replicas now, store it, and settle its status; return the observation."""
    now = timezone.now()
    try:
        statuses = backend.replicas(deployment)
        gateway_error = backend.gateway_problem(deployment)
    except RUNTIME_ERRORS as exc:
        error = _error_text(exc)
        log.warning("the runtime did not answer for deployment %s: %s", deployment.pk, error)
        return _store(deployment, rollout, lambda previous: previous.unreachable(error, now))
    return _store(deployment, rollout, lambda previous: Observation.of(statuses, now, gateway_error))


def _store(deployment: Deployment, rollout: Rollout | None,
           make: Callable[[Observation], Observation]) -> Observation:
    with transaction.atomic():
        locked = Deployment.objects.select_for_update().get(pk=deployment.pk)
        previous = Observation.from_json(locked.observed)
        observation = make(previous)
        _record_changes(locked, previous, observation, rollout)
        locked.observed = observation.to_json()
        locked.save(update_fields=["observed"])
        deployment.observed = locked.observed
        # In the same transaction: every event published on commit renders with the status it caused.
        if not settle(deployment) and _visible(previous) != _visible(observation):
            publish_deployment(deployment)
    return observation


def _visible(observation: Observation) -> tuple[object, ...]:
    """What a page shows of an observation (not the time it was taken)."""
    return (bool(observation.error), observation.gateway_error, observation.replicas)


def _record_changes(deployment: Deployment, previous: Observation, now: Observation, rollout: Rollout | None) -> None:
    if now.error and not previous.error:
        record_event(deployment, EventKind.STATUS_CHANGED, f"The runtime does not answer: {now.error}",
                     rollout=rollout, level=EventLevel.WARNING)
    elif previous.error and not now.error:
        record_event(deployment, EventKind.STATUS_CHANGED, "The runtime answers again.", rollout=rollout)
    if now.error:
        return
    for replica in now.replicas:
        _record_replica(deployment, previous.replica(replica.name), replica, rollout)


def _record_replica(deployment: Deployment, before: ObservedReplica | None, now: ObservedReplica,
                    rollout: Rollout | None) -> None:
    was_state = before.state if before else ""
    restarted = now.restarts > (before.restarts if before else 0)
    if restarted:
        why, level = _why_restarted(now)
        record_event(deployment, EventKind.REPLICA_RESTARTED,
                     f"Replica {now.name} was restarted by the runtime{why} (restart {now.restarts}).",
                     rollout=rollout, level=level, variation=now.variation, replica=now.name)
    crashed = now.crashed or (restarted and now.exit_code is not None)  # an exit nobody asked for
    if crashed and was_state != ReplicaState.CRASHED:
        record_event(deployment, EventKind.REPLICA_CRASHED,
                     f"Replica {now.name} crashed: {now.reason if now.crashed else (now.last_exit or now.reason)}",
                     rollout=rollout, level=EventLevel.ERROR, variation=now.variation, replica=now.name)
    if now.ready and was_state != now.state:
        record_event(deployment, EventKind.REPLICA_READY, f"Replica {now.name} is ready.",
                     rollout=rollout, variation=now.variation, replica=now.name)


def _why_restarted(replica: ObservedReplica) -> tuple[str, EventLevel]:
    """How the previous process ended, for the restart event; a requested stop is no warning."""
    if replica.exit_code is None and replica.last_exit:
        return f"; {replica.last_exit}", EventLevel.INFO
    if replica.exit_code == -9:
        return " after it was killed with SIGKILL (often: out of memory)", EventLevel.WARNING
    if replica.exit_code is not None:
        return f" after exiting with code {replica.exit_code}", EventLevel.WARNING
    return "", EventLevel.WARNING


def _error_text(exc: BaseException) -> str:
    return str(exc) or type(exc).__name__
