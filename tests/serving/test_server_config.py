"""Flags and BERTH_* env vars of the model server, parsed strictly."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from serving.config import ConfigError, load_config

ROOT = Path(__file__).resolve().parents[2]


def test_it_reads_every_setting_from_env_vars() -> None:
    env = {
        "BERTH_BUILD": "/b", "BERTH_PORT": "9000", "BERTH_HOST": "0.0.0.0", "BERTH_WORKERS": "3",  # noqa: S104 - only parsed
        "BERTH_TIMEOUT_MS": "250", "BERTH_MAX_BATCH_SIZE": "8", "BERTH_MAX_BATCH_WAIT_MS": "1.5",
        "BERTH_MAX_BODY_BYTES": "1000",
    }
    config = load_config([], env)
    assert (config.build, config.port, config.host, config.workers) == ("/b", 9000, "0.0.0.0", 3)  # noqa: S104 - only parsed
    assert (config.timeout_ms, config.max_batch_size, config.max_batch_wait_ms) == (250, 8, 1.5)
    assert config.max_body_bytes == 1000


def test_flags_win_over_env_vars() -> None:
    config = load_config(["--build", "/flag", "--workers", "2"], {"BERTH_BUILD": "/env", "BERTH_WORKERS": "4"})
    assert (config.build, config.workers) == ("/flag", 2)


def test_defaults_are_documented_values() -> None:
    config = load_config(["--build", "/b"], {})
    assert (config.host, config.workers, config.max_body_bytes) == ("127.0.0.1", 1, 8 * 1024 * 1024)


@pytest.mark.parametrize(("env", "needle"), [
    ({"BERTH_WORKERS": "two"}, "BERTH_WORKERS: expected a whole number"),
    ({"BERTH_WORKERS": "0"}, "BERTH_WORKERS: expected a number at least 1"),
    ({"BERTH_PORT": "70000"}, "BERTH_PORT"),
    ({"BERTH_TIMEOUT_MS": "1.5"}, "BERTH_TIMEOUT_MS"),
    ({"BERTH_MAX_BATCH_WAIT_MS": "-1"}, "BERTH_MAX_BATCH_WAIT_MS"),
    ({"BERTH_MAX_BATCH_WAIT_MS": "nan"}, "BERTH_MAX_BATCH_WAIT_MS"),
    ({"BERTH_ACCESS_LOG": "maybe"}, "BERTH_ACCESS_LOG: expected true or false"),
])
def test_it_rejects_bad_values_naming_the_variable(env: dict[str, str], needle: str) -> None:
    with pytest.raises(ConfigError, match=needle):
        load_config(["--build", "/b"], env)


def test_it_requires_a_build() -> None:
    with pytest.raises(ConfigError, match="BERTH_BUILD"):
        load_config([], {})


def test_the_command_exits_2_with_a_clear_message_on_a_bad_value() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "serving.server", "--build", "/nowhere", "--workers", "lots"],
        check=False, cwd=ROOT, capture_output=True, text=True, timeout=30,
    )
    assert result.returncode == 2
    assert "--workers: expected a whole number, got 'lots'" in result.stderr


def test_it_reads_a_unix_socket_path_from_the_flag_or_the_env_var() -> None:
    assert load_config(["--build", "/b", "--uds", "/run/b/s.sock"], {}).uds == "/run/b/s.sock"
    assert load_config(["--build", "/b"], {"BERTH_UDS": "/run/b/s.sock"}).uds == "/run/b/s.sock"
    assert load_config(["--build", "/b"], {}).uds is None


@pytest.mark.parametrize(("argv", "env", "needle"), [
    (["--uds", "/run/s.sock", "--port", "9000"], {}, "--uds and --port exclude each other"),
    (["--uds", "/run/s.sock"], {"BERTH_HOST": "0.0.0.0"}, "--uds and BERTH_HOST exclude each other"),  # noqa: S104 - only parsed
    (["--uds", "relative.sock"], {}, "--uds: expected an absolute path"),
    (["--uds", "/" + "x" * 120], {}, "--uds: a Unix socket path has at most 107 bytes"),
])
def test_a_unix_socket_is_absolute_short_and_never_combined_with_a_port(
        argv: list[str], env: dict[str, str], needle: str) -> None:
    with pytest.raises(ConfigError, match=needle):
        load_config(["--build", "/b", *argv], env)
