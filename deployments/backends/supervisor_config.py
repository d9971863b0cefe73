"""supervisord's configuration (no Django needed: launchers call it first).

`write_supervisord_conf(data_dir)` writes `<data_dir>/supervisor/supervisord.conf`: a unix
socket for the XML-RPC API, the rpcinterface, and an include of `conf.d/*.conf`, where the
local backend writes one file per replica and gateway, each the text of `program_conf()`.
Start it with `supervisord -c <that file>`; it stays in the foreground (nodaemon) so its
parent owns it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from deployments.backends.base import BackendError


@dataclass(frozen=True)
class SupervisorPaths:
    conf: Path
    socket: Path
    conf_dir: Path
    log_dir: Path

    @property
    def url(self) -> str:
        """The value for BERTH_SUPERVISOR_URL."""
        return f"unix://{self.socket}"


def supervisor_paths(data_dir: Path, conf_dir: Path | None = None) -> SupervisorPaths:
    """Where things go; these match the defaults of BERTH_SUPERVISOR_URL and BERTH_SUPERVISOR_CONF_DIR."""
    root = Path(data_dir).resolve() / "supervisor"
    return SupervisorPaths(conf=root / "supervisord.conf", socket=root / "supervisord.sock",
                           conf_dir=Path(conf_dir) if conf_dir else root / "conf.d", log_dir=root / "logs")


def write_supervisord_conf(data_dir: Path, conf_dir: Path | None = None, extra_sections: str = "") -> SupervisorPaths:
    """Write supervisord.conf for `data_dir` (and create its directories); return the paths.

    `extra_sections` is appended verbatim, e.g. `[program:berth-web]` sections for the console's
    own processes (or write those as files into `conf_dir`).
    """
    paths = supervisor_paths(data_dir, conf_dir)
    for directory in (paths.conf.parent, paths.conf_dir, paths.log_dir):
        directory.mkdir(parents=True, exist_ok=True)
    if len(str(paths.socket)) > 100:
        raise ValueError(f"{paths.socket}: too long for a unix socket path; use a shorter BERTH_DATA_DIR")
    text = f"""; Written by deployments/backends/supervisor_config.py; changes are overwritten.
[unix_http_server]
file={paths.socket}
chmod=0700

[supervisord]
logfile={paths.log_dir / "supervisord.log"}
logfile_maxbytes=10MB
logfile_backups=2
pidfile={paths.conf.parent / "supervisord.pid"}
childlogdir={paths.log_dir}
nodaemon=true
silent=true
minfds=1024

[rpcinterface:supervisor]
supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface

[supervisorctl]
serverurl={paths.url}

[include]
files = {paths.conf_dir}/*.conf
"""
    tmp = paths.conf.with_suffix(".tmp")
    tmp.write_text(text + (("\n" + extra_sections) if extra_sections else ""))
    tmp.replace(paths.conf)
    return paths


def program_conf(program: str, argv: list[str], directory: Path, log: Path, stop_wait_s: int,
                 env: dict[str, str], log_max_bytes: int = 20 * 1024 * 1024, log_backups: int = 1) -> str:
    """One `[program:…]` section: restarted when it crashes, SIGTERM to stop, SIGKILL after `stop_wait_s`.

    Its log rotates at `log_max_bytes` into `<log>.1` … `<log>.<log_backups>` (BERTH_LOG_MAX_BYTES,
    BERTH_LOG_BACKUPS); older files are dropped, and the Logs tab pages back through the rest."""
    environment = ",".join(f'{k}="{escape(v)}"' for k, v in env.items())
    return f"""[program:{program}]
command={" ".join(escape(a) for a in argv)}
directory={escape(str(directory))}
environment={environment}
autostart=true
autorestart=true
startsecs=1
startretries=100
stopsignal=TERM
stopwaitsecs={stop_wait_s}
killasgroup=true
redirect_stderr=true
stdout_logfile={escape(str(log))}
stdout_logfile_maxbytes={log_max_bytes}
stdout_logfile_backups={log_backups}
"""


def escape(text: str) -> str:
    """supervisord expands %(name)s in values: a literal % is %%; argv must have no spaces."""
    if any(ch.isspace() for ch in text) or '"' in text:
        raise BackendError(f"{text!r}: paths with spaces or quotes are not supported by the local runtime")
    return text.replace("%", "%%")
