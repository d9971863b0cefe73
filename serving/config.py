"""Model-server settings: one flag per setting, each also read from a BERTH_* env var.

Flags win over env vars, env vars over defaults. Every value is parsed strictly and a
bad one stops the server with a message naming the flag and the variable. The server
listens on a TCP port (`--host`, `--port`) or on a Unix socket (`--uds`), never both.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

MB = 1024 * 1024


class ConfigError(ValueError):
    """A setting the operator must fix; the message names it."""


@dataclass(frozen=True)
class ServerConfig:
    build: str
    host: str = "127.0.0.1"
    port: int = 8080
    uds: str | None = None
    workers: int = 1
    timeout_ms: int = 30_000
    max_batch_size: int = 32
    max_batch_wait_ms: float = 5.0
    max_body_bytes: int = 8 * MB
    access_log: bool = True
    graceful_timeout_s: float = 30.0
    header_timeout_s: float = 10.0
    body_timeout_s: float = 30.0

    @property
    def timeout_s(self) -> float:
        return self.timeout_ms / 1000.0

    @property
    def max_batch_wait_s(self) -> float:
        return self.max_batch_wait_ms / 1000.0


def parse_int(text: str, *, minimum: int = 0, maximum: int | None = None) -> int:
    try:
        value = int(text.strip(), 10)
    except ValueError:
        raise ConfigError(f"expected a whole number, got {text!r}") from None
    if value < minimum or (maximum is not None and value > maximum):
        upper = "" if maximum is None else f" and at most {maximum}"
        raise ConfigError(f"expected a number at least {minimum}{upper}, got {value}")
    return value


def parse_float(text: str, *, minimum: float = 0.0) -> float:
    try:
        value = float(text.strip())
    except ValueError:
        raise ConfigError(f"expected a number, got {text!r}") from None
    if not value >= minimum or value == float("inf"):
        raise ConfigError(f"expected a finite number at least {minimum}, got {text!r}")
    return value


def parse_bool(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"expected true or false, got {text!r}")


def parse_text(text: str) -> str:
    if not text.strip():
        raise ConfigError("must not be empty")
    return text.strip()


@dataclass(frozen=True)
class _Setting:
    field: str
    env: str
    parse: Callable[[str], Any]
    help: str


def _port(text: str) -> int:
    return parse_int(text, minimum=0, maximum=65535)


SUN_PATH_MAX = 107  # sockaddr_un.sun_path holds 108 bytes, the last one a NUL


def parse_socket_path(text: str) -> str:
    path = parse_text(text)
    if not os.path.isabs(path):
        raise ConfigError(f"expected an absolute path, got {path!r}")
    if len(os.fsencode(path)) > SUN_PATH_MAX:
        raise ConfigError(f"a Unix socket path has at most {SUN_PATH_MAX} bytes, {path!r} has {len(os.fsencode(path))}")
    return path


SETTINGS: tuple[_Setting, ...] = (
    _Setting("build", "BERTH_BUILD", parse_text, "bundle directory, or http(s) URL of a bundle archive"),
    _Setting("host", "BERTH_HOST", parse_text, "address to listen on (default 127.0.0.1)"),
    _Setting("port", "BERTH_PORT", _port, "port to listen on (default 8080; 0 picks a free one)"),
    _Setting("uds", "BERTH_UDS", parse_socket_path,
             "absolute path of a Unix socket to listen on instead of a TCP port (excludes --host and --port)"),
    _Setting("workers", "BERTH_WORKERS", lambda t: parse_int(t, minimum=1, maximum=64),
             "worker processes sharing the listening socket (default 1)"),
    _Setting("timeout_ms", "BERTH_TIMEOUT_MS", lambda t: parse_int(t, minimum=1),
             "per-request timeout in ms; past it the caller gets 504 (default 30000)"),
    _Setting("max_batch_size", "BERTH_MAX_BATCH_SIZE", lambda t: parse_int(t, minimum=1),
             "most rows in one predict call; 1 turns batching off (default 32)"),
    _Setting("max_batch_wait_ms", "BERTH_MAX_BATCH_WAIT_MS", parse_float,
             "longest a batch waits for requests already arriving, in ms (default 5)"),
    _Setting("max_body_bytes", "BERTH_MAX_BODY_BYTES", lambda t: parse_int(t, minimum=1),
             "largest request body; bigger gets 413 (default 8388608)"),
    _Setting("access_log", "BERTH_ACCESS_LOG", parse_bool, "one JSON log line per request (default true)"),
    _Setting("graceful_timeout_s", "BERTH_GRACEFUL_TIMEOUT_S", parse_float,
             "on SIGTERM, how long in-flight requests may finish (default 30)"),
    _Setting("header_timeout_s", "BERTH_HEADER_TIMEOUT_S", lambda t: parse_float(t, minimum=0.01),
             "a request's headers must arrive within this many seconds of its first byte (of the "
             "connection, for its first request), else 408 and the connection closes (default 10)"),
    _Setting("body_timeout_s", "BERTH_BODY_TIMEOUT_S", lambda t: parse_float(t, minimum=0.01),
             "a request's body must arrive within this many seconds of its headers, else 408 and "
             "the connection closes (default 30)"),
)


def _flag(setting: _Setting) -> str:
    return "--" + setting.field.replace("_", "-")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m serving.server",
        description="Serve one Berth build over HTTP. Every flag can also be set by its env var.",
    )
    for setting in SETTINGS:
        parser.add_argument(_flag(setting), dest=setting.field, metavar=setting.env,
                            default=None, help=f"{setting.help} [env {setting.env}]")
    return parser


def load_config(argv: Sequence[str] | None = None,
                environ: Mapping[str, str] | None = None) -> ServerConfig:
    """Parse flags and env vars into a ServerConfig; raise ConfigError naming the bad one."""
    args = build_parser().parse_args(argv)
    env = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for setting in SETTINGS:
        raw, source = getattr(args, setting.field), _flag(setting)
        if raw is None and env.get(setting.env) is not None:
            raw, source = env[setting.env], setting.env
        if raw is None:
            continue
        try:
            values[setting.field] = setting.parse(raw)
        except ConfigError as exc:
            raise ConfigError(f"{source}: {exc}") from None
        sources[setting.field] = source
    if "build" not in values:
        raise ConfigError("--build (or BERTH_BUILD) is required: a bundle directory or archive URL")
    tcp = [sources[field] for field in ("host", "port") if field in sources]
    if "uds" in sources and tcp:
        raise ConfigError(f"{sources['uds']} and {' and '.join(tcp)} exclude each other: "
                          "the server listens on a Unix socket or on a TCP port, not both")
    return ServerConfig(**values)
