"""The API stand-in's objects and their history (a test fixture, no cluster).

Objects are plain dicts keyed by (resource, namespace, name), e.g. ("deployments", "berth-iris",
"iris-production-default-3fa9c1"). Every write takes the next value of one global counter as the
object's `resourceVersion` (as etcd's revision does) and appends an event to the history that
watches read. `compact()` forgets history, like etcd's compaction: a watch from before it gets
410 Gone; `drop_watches()` cuts the open watch streams, as a lost connection does. `generation` starts at 1 and grows when `spec` changes (Deployments are what Berth
reads it on). Deleting a Deployment deletes its pods at once (the garbage collector, without
the wait).
"""

from __future__ import annotations

import copy
import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from tests.kubernetes.stand_in.selectors import matches

Obj = dict[str, Any]
Key = tuple[str, str, str]


def now_text() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Event:
    version: int
    resource: str
    namespace: str
    type: str       # ADDED, MODIFIED, DELETED
    object: Obj


class Gone(Exception):
    """The resourceVersion asked for is older than the history kept (HTTP 410)."""


class Conflict(Exception):
    """The object exists already (HTTP 409)."""


@dataclass
class Store:
    objects: dict[Key, Obj] = field(default_factory=dict)
    history: list[Event] = field(default_factory=list)
    version: int = 0
    oldest: int = 0                     # history before this revision was compacted away
    # A pod's main container's log, and its previous container's (after a restart): (ns since the epoch, line).
    logs: dict[tuple[str, str], list[tuple[int, str]]] = field(default_factory=dict)
    previous_logs: dict[tuple[str, str], list[tuple[int, str]]] = field(default_factory=dict)
    changed: threading.Condition = field(default_factory=threading.Condition)
    stopped: bool = False
    drops: int = 0                      # grows when every open watch is cut (a lost connection)

    # --- reads --------------------------------------------------------------------------

    def get(self, resource: str, namespace: str, name: str) -> Obj | None:
        with self.changed:
            found = self.objects.get((resource, namespace, name))
            return copy.deepcopy(found) if found else None

    def items(self, resource: str, namespace: str | None = None, selector: str = "") -> list[Obj]:
        with self.changed:
            return [copy.deepcopy(o) for (r, ns, _), o in sorted(self.objects.items())
                    if r == resource and (namespace is None or ns == namespace)
                    and matches(selector, o["metadata"].get("labels") or {})]

    def everything(self) -> list[Key]:
        with self.changed:
            return sorted(self.objects)

    # --- writes -------------------------------------------------------------------------

    def create(self, resource: str, namespace: str, obj: Obj) -> Obj:
        with self.changed:
            name = obj["metadata"]["name"]
            if (resource, namespace, name) in self.objects:
                raise Conflict(name)
            meta = obj["metadata"]
            meta.update(namespace=namespace, uid=str(uuid.uuid4()), creationTimestamp=now_text(), generation=1)
            return self._write(resource, namespace, obj, "ADDED")

    def update(self, resource: str, namespace: str, name: str, change: Callable[[Obj], None]) -> Obj | None:
        """Apply `change` to a copy of the object and store it (generation grows if its spec changed)."""
        with self.changed:
            current = self.objects.get((resource, namespace, name))
            if current is None:
                return None
            updated = copy.deepcopy(current)
            change(updated)
            if json.dumps(updated.get("spec"), sort_keys=True) != json.dumps(current.get("spec"), sort_keys=True):
                updated["metadata"]["generation"] = current["metadata"].get("generation", 1) + 1
            if json.dumps(updated, sort_keys=True) == json.dumps(current, sort_keys=True):
                return copy.deepcopy(current)  # no change, no new version (as the API server does)
            return self._write(resource, namespace, updated, "MODIFIED")

    def delete(self, resource: str, namespace: str, name: str) -> Obj | None:
        with self.changed:
            gone = self.objects.pop((resource, namespace, name), None)
            if gone is None:
                return None
            self.version += 1
            gone["metadata"]["resourceVersion"] = str(self.version)
            self.history.append(Event(self.version, resource, namespace, "DELETED", copy.deepcopy(gone)))
            if resource == "deployments":
                for pod in self.items("pods", namespace):
                    owner = pod["metadata"].get("annotations", {}).get("stand-in/deployment")
                    if owner == name:
                        self.delete("pods", namespace, pod["metadata"]["name"])
            if resource == "pods":
                self.logs.pop((namespace, name), None)
            self.changed.notify_all()
            return gone

    def _write(self, resource: str, namespace: str, obj: Obj, kind: str) -> Obj:
        self.version += 1
        obj["metadata"]["resourceVersion"] = str(self.version)
        self.objects[(resource, namespace, obj["metadata"]["name"])] = obj
        self.history.append(Event(self.version, resource, namespace, kind, copy.deepcopy(obj)))
        self.changed.notify_all()
        return copy.deepcopy(obj)

    # --- history ------------------------------------------------------------------------

    def compact(self) -> None:
        """Forget every event so far: a watch resuming from an older resourceVersion gets 410 Gone."""
        with self.changed:
            self.history.clear()
            self.oldest = self.version

    def drop_watches(self) -> None:
        """End every open watch stream, as a dropped connection or an API server restart would."""
        with self.changed:
            self.drops += 1
            self.changed.notify_all()

    def events_after(self, version: int, resource: str, namespace: str, selector: str,
                     timeout_s: float) -> Iterator[Event]:
        """Events after `version` as they happen, until `timeout_s` passes or the server stops."""
        deadline = time.monotonic() + timeout_s
        with self.changed:
            drops = self.drops
            if version < self.oldest:
                raise Gone(f"too old resource version: {version} ({self.oldest})")
        while True:
            with self.changed:
                if version < self.oldest:
                    raise Gone(f"too old resource version: {version} ({self.oldest})")
                pending = [e for e in self.history if e.version > version]
                if not pending:
                    left = deadline - time.monotonic()
                    if left <= 0 or self.stopped or self.drops != drops:
                        return
                    self.changed.wait(min(left, 0.5))
                    continue
            for event in pending:
                version = event.version
                if (event.resource == resource and event.namespace == namespace
                        and matches(selector, event.object["metadata"].get("labels") or {})):
                    yield event

    # --- pod logs -----------------------------------------------------------------------

    def write_log(self, namespace: str, pod: str, *lines: str, at: int | None = None) -> None:
        """Append lines to the pod's main container's log, each stamped as the kubelet does: the time it
        was written, to the nanosecond (strictly later than the line before); `at` stamps them all with
        that one (ns since the epoch), as lines written within the same nanosecond would be."""
        with self.changed:
            kept = self.logs.setdefault((namespace, pod), [])
            for line in lines:
                stamp = at if at is not None else max(time.time_ns(), kept[-1][0] + 1 if kept else 0)
                kept.append((stamp, line))
            self.changed.notify_all()

    def restart_log(self, namespace: str, pod: str) -> None:
        """The container exited and the kubelet starts it again: its log becomes the previous one
        (the one before that is gone), and the new container's log starts empty."""
        with self.changed:
            self.previous_logs[(namespace, pod)] = self.logs.pop((namespace, pod), [])
            self.changed.notify_all()
