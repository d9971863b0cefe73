"""The one way server code pushes live updates to browsers: typed events to named groups."""

from __future__ import annotations

from typing import Literal, TypedDict

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer


def group_name(kind: str, pk: object, stream: str) -> str:
    """`group_name("model", 3, "builds")` -> "model.3.builds" (channels allows [a-z0-9._-])."""
    return f"{kind}.{pk}.{stream}"


class ObjectChanged(TypedDict):
    type: Literal["object.changed"]
    kind: str
    pk: str


def publish_change(group: str, kind: str, pk: object) -> None:
    """Tell a group's viewers that an object changed; consumers render it per viewer."""
    layer = get_channel_layer()
    if layer is None:
        return
    message: ObjectChanged = {"type": "object.changed", "kind": kind, "pk": str(pk)}
    async_to_sync(layer.group_send)(group, message)
