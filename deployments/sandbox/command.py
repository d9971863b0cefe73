"""The bubblewrap command line that confines model code: the whole policy, in one place.

Inside, model code sees a new root: /usr (and its /bin, /lib links) and the Python
environment read-only, Berth's `serving` package at /opt/berth, its own bundle at /bundle
(read-only), a size-capped tmpfs at /tmp (its scratch and $HOME), a /proc of its own PID
namespace, a minimal /dev, and, for a replica, the directory of its listening socket at
/run/berth. Nothing else of the host: no data directory, no secret key, no other bundles.

It runs with no network (its own empty network namespace) unless the deployment allows
outbound network, in its own PID, IPC and UTS namespaces, as an unprivileged user, with
rlimits on processes, open files, address space, CPU time and file size. When its first
process ends, the kernel kills every process left in its PID namespace.
"""

from __future__ import annotations

import ctypes
import importlib.util
import os
import shutil
import signal
import sys
import zlib
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
INSIDE_BUNDLE = "/bundle"
INSIDE_SOCKET_DIR = "/run/berth"
INSIDE_PYTHONPATH = "/opt/berth"
ARTIFACTS = ".berth"
UID_BASE, UID_SPAN = 200_000, 60_000
TOP_LEVEL_LINKS = ("bin", "sbin", "lib", "lib32", "lib64", "libx32")
ETC_ALWAYS = ("ld.so.cache", "localtime", "alternatives", "mime.types")
ETC_NETWORK = ("resolv.conf", "hosts", "nsswitch.conf", "gai.conf", "ssl", "ca-certificates", "host.conf")
MB = 1024 * 1024
PR_SET_PDEATHSIG = 1


class SandboxUnavailable(Exception):
    """bubblewrap is missing or cannot make namespaces here; model code must not run."""


@dataclass(frozen=True)
class Limits:
    """What the code can't exceed. Counts are per sandbox; memory, CPU and file size per process."""
    processes: int
    open_files: int
    memory_mb: int
    file_mb: int
    scratch_mb: int
    cpu_s: int | None = None


@dataclass(frozen=True)
class Sandbox:
    """One confined run: `argv` as seen inside, `label` names it (and picks its user id)."""
    argv: list[str]
    label: str
    limits: Limits
    bundle: Path
    artifacts_mb: int | None = None     # validation: a writable tmpfs at /bundle/.berth of this size
    socket_dir: Path | None = None      # a replica: its socket directory, writable, at /run/berth
    network: bool = False


def bwrap_path() -> str:
    found = shutil.which("bwrap")
    if found is None:
        raise SandboxUnavailable("bubblewrap (bwrap) is not installed; install the Debian/Ubuntu package "
                                 "'bubblewrap' (make run and make test do this when they can).")
    return found


def sandbox_uid(label: str) -> int | None:
    """The host user id model code runs as when the console runs as root; None otherwise (its own uid).

    Each label gets its own id, so each sandbox has its own process count (RLIMIT_NPROC is per user).
    """
    if os.geteuid() != 0:
        return None
    base = int(os.environ.get("BERTH_SANDBOX_UID_BASE", UID_BASE))
    return base + zlib.crc32(label.encode()) % UID_SPAN


def sandbox_argv(box: Sandbox) -> list[str]:
    """The full command: bwrap, its mounts and namespaces, then the limits, the user switch and `argv`."""
    uid = sandbox_uid(box.label)
    # Not --as-pid-1: bwrap's own init (pid 1) must be what --die-with-parent kills, since the kernel
    # won't deliver that signal from root's bwrap to a process that setpriv moved to another user.
    argv = [bwrap_path(), "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try",
            "--die-with-parent", "--new-session", "--hostname", "sandbox"]
    if not box.network:
        argv.append("--unshare-net")
    if uid is None:  # an unprivileged console: a user namespace does the mounting, and no more of them inside
        argv += ["--unshare-user", "--disable-userns"]
    else:  # root: mount as root, then setpriv below drops to `uid` with no capabilities
        argv += ["--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID"]
    argv += [*_mounts(box), "--chdir", INSIDE_BUNDLE, "--"]
    return argv + _limits(box.limits) + _user(uid) + box.argv


def _mounts(box: Sandbox) -> list[str]:
    # Scratch first: the Python environment or the bundle may live under /tmp on the host, and a
    # tmpfs mounted later would hide them.
    mounts = [*_system_mounts(box.network), "--proc", "/proc", "--dev", "/dev",
              *_tmpfs("/tmp", box.limits.scratch_mb), *_tmpfs("/dev/shm", box.limits.scratch_mb)]
    dirs = {"/tmp", "/dev", "/dev/shm", "/proc"}  # made already: --dir would reset their mode
    for host in _python_dirs() + _sdk_dirs():
        mounts += [*_parents(host, dirs), "--ro-bind", host, host]
    serving = f"{INSIDE_PYTHONPATH}/serving"
    mounts += [*_parents(serving, dirs), "--ro-bind", str(REPO / "serving"), serving]
    mounts += ["--ro-bind", str(box.bundle), INSIDE_BUNDLE]
    if box.artifacts_mb is not None:
        mounts += _tmpfs(f"{INSIDE_BUNDLE}/{ARTIFACTS}", box.artifacts_mb)
    if box.socket_dir is not None:
        mounts += [*_parents(INSIDE_SOCKET_DIR, dirs), "--bind", str(box.socket_dir), INSIDE_SOCKET_DIR]
    return mounts


def _tmpfs(path: str, size_mb: int) -> list[str]:
    """A size-capped writable tmpfs (1777, like /tmp: the sandbox user is not its owner when we run as root)."""
    return ["--perms", "1777", "--size", str(size_mb * MB), "--tmpfs", path]


def _system_mounts(network: bool) -> list[str]:
    mounts = ["--ro-bind", "/usr", "/usr"]
    for name in TOP_LEVEL_LINKS:
        path = Path("/") / name
        if path.is_symlink():
            mounts += ["--symlink", os.readlink(path), str(path)]
        elif path.is_dir():
            mounts += ["--ro-bind", str(path), str(path)]
    mounts += ["--perms", "0755", "--dir", "/etc"]
    for name in ETC_ALWAYS + (ETC_NETWORK if network else ()):
        mounts += ["--ro-bind-try", f"/etc/{name}", f"/etc/{name}"]
    return mounts


def _python_dirs() -> list[str]:
    """The Python environment: the venv and the interpreter it was made from, unless /usr holds them."""
    found: list[str] = []
    for prefix in (sys.prefix, sys.base_prefix, str(Path(sys.executable).resolve().parents[1])):
        real = str(Path(prefix).resolve())
        if not real.startswith("/usr/") and real not in found and not any(real.startswith(f + "/") for f in found):
            found.append(real)
    return found


def _sdk_dirs() -> list[str]:
    """The `berth` package model code imports (BerthModel); an editable install keeps it outside the venv."""
    spec = importlib.util.find_spec("berth")
    if spec is None or spec.origin is None:
        return []
    folder = str(Path(spec.origin).resolve().parent)
    return [] if any(folder.startswith(d + "/") for d in _python_dirs()) else [folder]


def _parents(path: str, made: set[str]) -> list[str]:
    """Directories leading to a mount point, world-readable (bwrap makes them 0700 otherwise)."""
    out: list[str] = []
    for parent in reversed(Path(path).parents[:-1]):
        if str(parent) not in made:
            made.add(str(parent))
            out += ["--perms", "0755", "--dir", str(parent)]
    return out


def _limits(limits: Limits) -> list[str]:
    cpu = [f"--cpu={limits.cpu_s}"] if limits.cpu_s else []
    return ["/usr/bin/prlimit", f"--nproc={limits.processes}", f"--nofile={limits.open_files}",
            f"--as={limits.memory_mb * MB}", f"--fsize={limits.file_mb * MB}", "--core=0", *cpu, "--"]


def _user(uid: int | None) -> list[str]:
    if uid is None:
        return []
    return ["/usr/bin/setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups", "--no-new-privs",
            "--inh-caps=-all", "--bounding-set=-all", "--"]


def die_with_parent() -> None:
    """Popen's preexec_fn for bwrap: it (and so the sandbox) gets SIGKILL when the process that started it dies."""
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def inside_env(extra: dict[str, str]) -> dict[str, str]:
    """The environment model code starts with: nothing of the console's, plus `extra`."""
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": "/tmp", "TMPDIR": "/tmp", "USER": "model",
           "LOGNAME": "model", "LANG": "C.UTF-8", "PYTHONPATH": INSIDE_PYTHONPATH, "PYTHONUNBUFFERED": "1",
           "PYTHONDONTWRITEBYTECODE": "1", "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
           "MPLCONFIGDIR": "/tmp"}
    return env | extra


def make_readable(bundle: Path) -> None:
    """Let the sandbox user read a bundle the console owns: directories 0755, files a+r (exec bits kept)."""
    for root, dirnames, filenames in os.walk(bundle):
        os.chmod(root, 0o755)  # noqa: S103 - read-only bind mount; the sandbox user must traverse it
        for name in filenames:
            path = os.path.join(root, name)
            if not os.path.islink(path):
                os.chmod(path, os.stat(path).st_mode | 0o444)
        dirnames[:] = [d for d in dirnames if not os.path.islink(os.path.join(root, d))]


def own_socket_dir(path: Path, uid: int | None) -> None:
    """A replica's socket directory, writable by its sandbox user only (the gateway, root, connects)."""
    path.mkdir(parents=True, exist_ok=True)
    os.chmod(path, 0o700)
    if uid is not None:
        os.chown(path, uid, uid)
