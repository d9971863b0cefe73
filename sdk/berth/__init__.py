"""Berth's Python client and CLI. No Django imports here."""

from __future__ import annotations

from typing import TYPE_CHECKING

from berth.model import BerthModel, api

if TYPE_CHECKING:
    from berth.realtime import RealTimeClient

__all__ = ["BerthModel", "api"]


def __getattr__(name: str) -> type[RealTimeClient]:
    """`from berth import RealTimeClient` without making model code import httpx (lazy)."""
    if name == "RealTimeClient":
        from berth.realtime import RealTimeClient

        return RealTimeClient
    raise AttributeError(f"module 'berth' has no attribute {name!r}")


__all__ += ["RealTimeClient"]
