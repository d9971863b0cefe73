"""The one interface every runtime adapter implements (local processes, Kubernetes).

The rollout engine only talks to a Backend. A rollout is: `apply(spec)` starts what is
missing and keeps what already runs; `replicas()` reports each replica honestly until all
are ready; `route(spec)` points the gateway at exactly the spec's replicas and returns once
the gateway serves with that config; `prune(spec)` drains and removes every other replica.
`delete()` removes everything of a deployment, gateway included. All calls are idempotent.
"""

from __future__ import annotations

import enum
import time
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from deployments.backends.log_files import Position, RawLine
from deployments.backends.replica_id import ReplicaId

if TYPE_CHECKING:
    import httpx

    from deployments.models import Deployment
    from deployments.rollouts.spec import DeploySpec


class BackendError(RuntimeError):
    """The runtime could not do what was asked; the message says why, for people."""


class ReplicaState(enum.StrEnum):
    STARTING = "starting"   # process launched, model not loaded yet
    READY = "ready"         # /health/ready answers 200
    NOT_READY = "not_ready"  # running for a while, readiness failing
    CRASHED = "crashed"     # exited; the runtime restarts it (or gave up)
    STOPPED = "stopped"     # stopped on purpose (draining or removed)


@dataclass(frozen=True)
class ReplicaStatus:
    id: ReplicaId           # which replica; its name is unique per deployment, e.g. "default-3f9a1c2e-0"
    endpoint: str           # base URL of the model server, e.g. http://127.0.0.1:41234
    state: ReplicaState
    pid: int | None = None  # of the local process; None where a runtime has none to show (Kubernetes)
    restarts: int = 0       # how often the runtime restarted it since it was created
    exit_code: int | None = None  # of the last exit; negative: killed by that signal
    memory_killed: bool = False
    reason: str = ""        # why it is not ready, for people (exit code, signal, last log lines)
    last_exit: str = ""     # after a restart: why the previous process exited, for people
    last_log: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        return self.id.name

    @property
    def variation(self) -> str:
        return self.id.variation

    @property
    def runtime_key(self) -> str:
        """VariationSpec.runtime_key of what it runs."""
        return self.id.runtime_key

    @property
    def index(self) -> int:
        return self.id.index

    @property
    def ready(self) -> bool:
        return self.state == ReplicaState.READY


@dataclass(frozen=True)
class Endpoint:
    """A replica to scrape (`{url}/metrics`, with `Backend.http_client()`) or route to."""
    id: ReplicaId
    url: str
    restarts: int = 0  # how often the runtime restarted it: a change means its counters started again

    @property
    def variation(self) -> str:
        return self.id.variation

    @property
    def replica(self) -> str:
        return self.id.name


@dataclass(frozen=True)
class GatewayStatus:
    url: str                # base URL clients use; predict at {url}/v1/models/<model_id>/predict
    port: int | None = None  # on this machine, when the runtime gives each gateway a port of its own
    config_version: str = ""
    ready: bool = False
    moved: str = ""         # why the endpoint's URL changed, for people ("" when it did not)



class Backend(ABC):
    name: str

    @abstractmethod
    def apply(self, deployment: Deployment, spec: DeploySpec) -> list[ReplicaId]:
        """Start every replica of `spec` that is not running yet; return the names started."""

    @abstractmethod
    def replicas(self, deployment: Deployment) -> list[ReplicaStatus]:
        """Every replica of the deployment (any revision), with readiness checked now."""

    @abstractmethod
    def route(self, deployment: Deployment, spec: DeploySpec) -> GatewayStatus:
        """Send traffic to exactly the replicas of `spec` (by weight); return once the gateway does."""

    @abstractmethod
    def prune(self, deployment: Deployment, spec: DeploySpec) -> list[ReplicaId]:
        """Drain (SIGTERM, wait) and remove every replica `spec` does not ask for; return their names."""

    @abstractmethod
    def delete(self, deployment: Deployment) -> None:
        """Remove every replica and the gateway of the deployment, with their ports and config."""

    @abstractmethod
    def gateway(self, deployment: Deployment) -> GatewayStatus | None:
        """The deployment's gateway, or None when it has none."""

    @abstractmethod
    def tail_logs(self, deployment: Deployment, replica: str, lines: int = 100) -> list[str]:
        """The last `lines` log lines of one replica (`"gateway"` for the gateway)."""

    # --- retained logs (deployments/logs/ builds the Logs tab, API and CLI on these) --------
    # A source is a replica's name or "gateway". A Position is two integers that say where a source's
    # log is, between two lines; each runtime says what they mean, and deployments/logs/ only hands
    # them back (paging cursors hold one per source). A RawLine's `start` is the position just before
    # it (read_log_backward continues there), its `after` just after it (read_log_forward continues
    # there). Local (log_files.py): (inode of the file, byte offset), stable across supervisord's
    # rotations. Kubernetes (kubernetes/logs.py): (the line's kubelet timestamp in ns, a tag of its
    # container instance and its place among lines stamped the same ns), in time order across the
    # pods and restarts a replica's name has had.

    def log_sources(self, deployment: Deployment) -> list[str]:
        """Every replica (and "gateway") with retained log lines, running or not."""
        raise BackendError(f"The {self.name} runtime does not keep logs yet.")

    def log_end(self, deployment: Deployment, source: str) -> Position | None:
        """Where the source's log ends now (after its last whole line); None: it has none."""
        raise BackendError(f"The {self.name} runtime does not keep logs yet.")

    def read_log_backward(self, deployment: Deployment, source: str, before: Position | None) -> Iterator[RawLine]:
        """A source's retained lines, newest first, from just before `before` (None: the newest)."""
        raise BackendError(f"The {self.name} runtime does not keep logs yet.")

    def read_log_forward(self, deployment: Deployment, source: str, after: Position | None) -> Iterator[RawLine]:
        """A source's retained lines, oldest first, from `after` (None: the oldest retained)."""
        raise BackendError(f"The {self.name} runtime does not keep logs yet.")

    def follow_logs(self, deployment: Deployment, poll_s: float) -> AsyncIterator[list[RawLine]]:
        """Every source's new lines from now on, a batch per poll (empty when nothing was written);
        new sources (a replica started later) from their first line. Ends only when cancelled."""
        raise BackendError(f"The {self.name} runtime does not keep logs yet.")

    def prune_logs(self, deployment: Deployment, older_than_s: float) -> int:
        """Delete retained log files older than that (never a running process's current one); how many.
        A runtime whose logs something else rotates (the kubelet) has nothing to delete."""
        return 0

    def gateway_problem(self, deployment: Deployment) -> str:
        """Why the deployment's gateway does not answer, in words ("" when it does, or has none yet).

        A runtime that restarts an unresponsive gateway itself (Kubernetes' liveness probe) may keep
        this default."""
        return ""

    def await_change(self, deployment: Deployment, poll_s: float) -> None:
        """Return when the deployment's replicas may have changed since `replicas()` last answered: the
        rollout engine observes again then. By default after `poll_s`; a runtime that can watch returns
        at the first change (and within a bound of its own, so the engine still sees its deadline)."""
        time.sleep(poll_s)

    def scale(self, deployment: Deployment, spec: DeploySpec) -> tuple[list[ReplicaId], list[ReplicaId]]:
        """Converge replica counts only (nothing else changed): start missing, then prune extra."""
        started = self.apply(deployment, spec)
        return started, self.prune(deployment, spec)

    def refresh_endpoint_keys(self, deployment: Deployment) -> bool:
        """Give the deployment's gateway its project's accepted endpoint keys now, when it requires
        keys (True), and return once it uses them, or once the runtime has been told when it cannot
        know when the gateway takes them (Kubernetes: the kubelet syncs the mounted Secret later;
        deployments/endpoint_keys/, docs/endpoint-keys.md)."""
        return False

    def endpoints(self, deployment: Deployment) -> list[Endpoint]:
        """Replicas that answer HTTP, for metrics scraping."""
        return [Endpoint(r.id, r.endpoint, r.restarts) for r in self.replicas(deployment)
                if r.state in (ReplicaState.READY, ReplicaState.NOT_READY, ReplicaState.STARTING)]

    def gateway_endpoints(self, deployment: Deployment) -> dict[str, str]:
        """Each gateway process's base URL (its `/metrics`), by a name unique among them: by default the
        one gateway at the deployment's stored `gateway_url`, named ""."""
        return {"": deployment.gateway_url} if deployment.gateway_url else {}

    def http_client(self) -> httpx.Client | None:
        """The HTTP client that reads `endpoints()` and `gateway_endpoints()`, when they need more than plain
        HTTP (the API server's pod proxy wants the cluster's credentials); one per process and cluster, never
        closed by callers. None: any plain client does (the caller's own, shared one)."""
        return None


def get_backend() -> Backend:
    """The adapter chosen by BERTH_BACKEND."""
    from django.conf import settings

    if settings.BERTH_BACKEND == "local":
        from deployments.backends.local import LocalBackend

        return LocalBackend.from_settings()
    if settings.BERTH_BACKEND == "kubernetes":
        from deployments.backends.kubernetes.backend import KubernetesBackend

        return KubernetesBackend.from_settings()
    raise BackendError(f"BERTH_BACKEND={settings.BERTH_BACKEND}: no such runtime (local or kubernetes).")
