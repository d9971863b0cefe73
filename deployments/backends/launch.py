"""Start one replica: `python -m deployments.backends.launch <replica.json>` (run by supervisord).

Counts the start, builds the model's environment (none of the console's own: the
variation's env vars, its secret values decrypted only here), then runs the model server in
the sandbox (deployments/sandbox) and stands in for it towards supervisord.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from deployments.sandbox.command import Limits, Sandbox, inside_env
from deployments.sandbox.supervise import supervise

EXIT_CONFIG = 78


def main(argv: list[str]) -> int:
    record = json.loads(Path(argv[1]).read_text())
    with open(record["starts_file"], "a") as starts:
        starts.write(f"{time.time():.3f}\n")
    _say("launch", pid=os.getpid())
    if not record.get("sandbox"):
        _say("launch_failed", level="error", error="this replica was set up before Berth ran model code in a "
             "sandbox; redeploy the deployment to start it in one")
        return EXIT_CONFIG
    env = dict(record["base_env"])
    env.update(record["env"])
    if record.get("secret_env"):
        env.update(_decrypt(record["secret_env"]))
    return supervise(_sandbox(record["argv"], record["sandbox"]), inside_env(env))


def _sandbox(argv: list[str], spec: dict[str, Any]) -> Sandbox:
    return Sandbox(argv, spec["label"], Limits(**spec["limits"]), Path(spec["bundle"]),
                   socket_dir=Path(spec["socket_dir"]), network=bool(spec["network"]))


def _decrypt(tokens: dict[str, str]) -> dict[str, str]:
    """The console's keys (from this process's environment or data dir) decrypt the secret values."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "console.settings")
    from django.core.exceptions import ImproperlyConfigured

    try:
        from console.crypto import decrypt

        return {name: decrypt(token) for name, token in tokens.items()}
    except (ValueError, ImproperlyConfigured) as exc:
        _say("launch_failed", level="error", error=f"secret env vars: {exc}")
        sys.exit(EXIT_CONFIG)


def _say(event: str, **fields: object) -> None:
    print(json.dumps({"event": event, "level": "info", **fields}), flush=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
