"""Start one replica: `python -m deployments.backends.launch <replica.json>` (run by supervisord).

Counts the start, builds a clean environment (none of the console's own secrets, the
variation's env vars, its secret values decrypted only here), then execs the model server,
so supervisord's signals reach it directly.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path


def main(argv: list[str]) -> int:
    spec = json.loads(Path(argv[1]).read_text())
    with open(spec["starts_file"], "a") as starts:
        starts.write(f"{time.time():.3f}\n")
    env = dict(spec["base_env"])
    env.update(spec["env"])
    if spec.get("secret_env"):
        env.update(_decrypt(spec["secret_env"]))
    os.execve(spec["argv"][0], spec["argv"], env)  # noqa: S606 - argv from our own record, no shell
    return 127  # not reached


def _decrypt(tokens: dict[str, str]) -> dict[str, str]:
    """The console's keys (from this process's environment or data dir) decrypt the secret values."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "console.settings")
    from console.crypto import decrypt

    try:
        return {name: decrypt(token) for name, token in tokens.items()}
    except ValueError as exc:
        print(f'{{"event": "launch_failed", "level": "error", "error": "secret env vars: {exc}"}}', flush=True)
        sys.exit(78)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
