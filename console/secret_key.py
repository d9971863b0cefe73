"""A stable secret key for a laptop install: made once, kept in the data directory."""

from __future__ import annotations

import secrets
from pathlib import Path


def load_or_create_secret_key(data_dir: Path) -> str:
    key_file = data_dir / "secret_key"
    if key_file.exists():
        return key_file.read_text().strip()
    data_dir.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(50)
    key_file.touch(mode=0o600)
    key_file.write_text(key)
    return key
