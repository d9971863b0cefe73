"""Values a laptop install makes once and keeps in the data directory (the secret key, the encryption keys)."""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable
from pathlib import Path


def new_secret_key() -> str:
    return secrets.token_urlsafe(50)


def load_or_create(data_dir: Path, name: str, make: Callable[[], str]) -> str:
    """The contents of `data_dir/name`; on first use `make()`, written there readable by its owner only.

    The value goes into a temporary file opened with O_EXCL and mode 0600 (never readable by others,
    not even for an instant), then is linked into place: hard links never overwrite, so when processes
    start together exactly one value wins and every process reads that one, complete.
    """
    path = data_dir / name
    if path.exists():
        return path.read_text().strip()
    data_dir.mkdir(parents=True, exist_ok=True)
    value = make()
    tmp = data_dir / f".{name}.{os.getpid()}.{secrets.token_hex(4)}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as out:
            out.write(value + "\n")
            out.flush()
            os.fsync(out.fileno())
        try:
            os.link(tmp, path)
        except FileExistsError:  # another process made it first
            return path.read_text().strip()
    finally:
        tmp.unlink(missing_ok=True)
    return value
