"""Running the installed `berth` executable the way a person does: a fresh process, env vars, stdout."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

BERTH = str(Path(sys.executable).with_name("berth"))


@dataclass
class Result:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)

    def succeeded_saying(self, text: str) -> bool:
        """Exit code 0, and `text` on stdout."""
        return self.code == 0 and text in self.out

    def failed_saying(self, text: str, code: int = 1) -> bool:
        """Exit code `code`, and `text` on stderr (where the CLI says what to fix)."""
        return self.code == code and text in self.err


def _shell_env(url: str | None, token: str | None) -> dict[str, str]:
    env = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", tempfile.gettempdir())}
    if url is not None:
        env["BERTH_URL"] = url
    if token is not None:
        env["BERTH_TOKEN"] = token
    return env


def berth(*args: str, url: str | None, token: str | None, cwd: Path | None = None) -> Result:
    """Run `berth args…` with only what a shell would give it (no Django settings in sight)."""
    done = subprocess.run(  # noqa: S603 - the berth executable installed next to this Python
        [BERTH, *args], env=_shell_env(url, token), cwd=cwd, capture_output=True, text=True, timeout=300)
    assert "Traceback" not in done.stderr, done.stderr
    return Result(done.returncode, done.stdout, done.stderr)


class Running:
    """`berth args…` started in the background (e.g. a `--sync` the test acts on while it waits)."""

    def __init__(self, *args: str, url: str, token: str | None) -> None:
        self.process = subprocess.Popen(  # noqa: S603 - the berth executable installed next to this Python
            [BERTH, *args], env=_shell_env(url, token), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def finish(self, timeout_s: float = 300) -> Result:
        out, err = self.process.communicate(timeout=timeout_s)
        assert "Traceback" not in err, err
        return Result(self.process.returncode, out, err)

    def __enter__(self) -> Running:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.communicate()
