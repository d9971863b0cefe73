"""Waiting on the cluster with a watch rather than polling, resuming when the watch is lost.

`next_change(...)` is the short form the rollout engine waits with between two observations:
it returns at the first event after a list's resourceVersion, or after its bound.

`wait_until(...)` lists the objects (which gives a resourceVersion), and if they do not yet
satisfy the condition, watches from that version: every ADDED/MODIFIED/DELETED event updates the
picture and the condition is checked again. A watch ends when its server-side timeout passes or
the connection drops; it is then resumed from the last version seen. When the API answers 410
Gone (that version is older than the history it keeps), nothing of what happened in between can
be read as events any more, so it lists again and watches from the new version.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from typing import Any

from kubernetes.client.exceptions import ApiException
from urllib3.exceptions import HTTPError

from deployments.backends.base import BackendError
from deployments.backends.kubernetes.client import KINDS, Api, Kind, Obj

log = logging.getLogger(__name__)
GONE = 410
WATCHED: dict[str, Kind] = {**KINDS, "Pod": Kind("core", "pod")}  # pods are watched, never applied


def next_change(api: Api, kind: str, namespace: str, selector: str, version: str, at_most_s: float) -> bool:
    """Whether an object of `kind` the selector matches changed after `version` within `at_most_s`.

    Also True when the version is too old to watch from (410 Gone): something may have changed, so
    the caller lists again, which gives it a fresh version."""
    try:
        seen = _follow(api, kind, namespace, selector, version, {}, lambda _: True, at_most_s)
    except _Gone:
        return True
    return seen != version


def wait_until(api: Api, kind: str, namespace: str, selector: str, done: Callable[[list[Obj]], bool],
               timeout_s: float) -> list[Obj] | None:
    """The objects once `done(objects)` holds, or None after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    objects, version = api.list_with_version(kind, namespace, selector)
    current = {o["metadata"]["name"]: o for o in objects}
    while not done(list(current.values())):
        left = deadline - time.monotonic()
        if left <= 0:
            return None
        try:
            version = _follow(api, kind, namespace, selector, version, current, done, left)
        except _Gone:
            log.info("watch of %s in %s expired at version %s; listing again", kind, namespace, version)
            objects, version = api.list_with_version(kind, namespace, selector)
            current = {o["metadata"]["name"]: o for o in objects}
    return list(current.values())


class _Gone(Exception):
    pass


def _follow(api: Api, kind: str, namespace: str, selector: str, version: str, current: dict[str, Obj],
            done: Callable[[list[Obj]], bool], left_s: float) -> str:
    """Apply watch events to `current` until `done` holds or the watch ends; the last version seen."""
    spec = WATCHED[kind]
    lister: Any = getattr(getattr(api, spec.api), f"list_namespaced_{spec.snake}")
    try:
        response = lister(namespace, label_selector=selector, watch=True, resource_version=version,
                          allow_watch_bookmarks=False, timeout_seconds=max(1, min(int(left_s), 60)),
                          _preload_content=False, _request_timeout=left_s + 5)
    except ApiException as exc:
        if exc.status == GONE:
            raise _Gone from None
        raise BackendError(f"The Kubernetes API refused a watch ({exc.status}): {exc.reason}") from None
    try:
        pending = b""
        for chunk in response.stream(4096, decode_content=False):
            pending += chunk
            *lines, pending = pending.split(b"\n")
            for line in lines:
                if not line.strip():
                    continue
                event = json.loads(line)
                obj = event["object"]
                if event["type"] == "ERROR":
                    if obj.get("code") == GONE:
                        raise _Gone
                    raise BackendError(f"The Kubernetes API ended a watch: {obj.get('message', obj)}")
                version = obj["metadata"].get("resourceVersion", version)
                if event["type"] == "DELETED":
                    current.pop(obj["metadata"]["name"], None)
                else:
                    current[obj["metadata"]["name"]] = obj
                if done(list(current.values())):
                    return version
    except (HTTPError, OSError) as exc:
        log.info("watch of %s in %s dropped (%s); resuming", kind, namespace, exc)
    finally:
        response.release_conn()
    return version
