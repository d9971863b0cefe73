"""The one typed sender of deployment events: stored as RolloutEvent rows, then published live.

Consumers join `events_group(deployment_pk)` and receive `DeploymentEventMessage` dicts
(type "deployment.event") and `object.changed` messages when the deployment's status changes.
"""

from __future__ import annotations

import logging
from typing import Any, Literal, TypedDict

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

from console.live import group_name, publish_change
from deployments.models import Deployment, EventKind, EventLevel, Rollout, RolloutEvent

log = logging.getLogger(__name__)


class DeploymentEventMessage(TypedDict):
    type: Literal["deployment.event"]
    id: int
    deployment: int
    rollout: int | None
    revision: int | None
    kind: str
    level: str
    message: str
    variation: str
    replica: str
    created_at: str


def events_group(deployment_pk: object) -> str:
    return group_name("deployment", deployment_pk, "events")


def record_event(deployment: Deployment, kind: EventKind, message: str, *, rollout: Rollout | None = None,
                 level: EventLevel = EventLevel.INFO, variation: str = "", replica: str = "",
                 **data: Any) -> RolloutEvent:
    """Store an event and, once the surrounding transaction commits, publish it."""
    event = RolloutEvent.objects.create(deployment=deployment, rollout=rollout, kind=kind, level=level,
                                        message=message, variation=variation, replica=replica, data=data)
    log.log(logging.WARNING if level != EventLevel.INFO else logging.INFO,
            "deployment %s: %s: %s", deployment.pk, kind, message)
    transaction.on_commit(lambda: _publish(event, rollout))
    return event


def publish_deployment(deployment: Deployment) -> None:
    """Tell viewers the deployment (status, revision, gateway) changed."""
    transaction.on_commit(lambda: _safely(publish_change, events_group(deployment.pk), "deployment", deployment.pk))


def _publish(event: RolloutEvent, rollout: Rollout | None) -> None:
    message: DeploymentEventMessage = {
        "type": "deployment.event", "id": event.pk, "deployment": event.deployment_id,
        "rollout": event.rollout_id, "revision": rollout.revision if rollout else None, "kind": event.kind,
        "level": event.level, "message": event.message, "variation": event.variation, "replica": event.replica,
        "created_at": event.created_at.isoformat(),
    }
    layer = get_channel_layer()
    if layer is not None:
        _safely(async_to_sync(layer.group_send), events_group(event.deployment_id), message)


def _safely(send: Any, *args: Any) -> None:
    """Live updates are best effort: the row is stored, a page reload shows it."""
    try:
        send(*args)
    except Exception:
        log.warning("could not publish a live deployment update", exc_info=True)
