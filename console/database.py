"""Where the console's data lives when DATABASE_URL is not set: its own PostgreSQL under the data directory."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote


def embedded_database_url(data_dir: Path, name: str = "berth") -> str:
    """Database `name` on the PostgreSQL `make run` starts under `data_dir` (over its Unix socket)."""
    return f"postgresql://postgres@{quote(str(Path(data_dir).resolve() / 'postgres'), safe='')}/{name}"
