"""Berth's Python client and CLI. No Django imports here."""

from berth.model import BerthModel, api

__all__ = ["BerthModel", "api"]


def __getattr__(name: str) -> object:
    """`from berth import RealTimeClient` without making model code import httpx (lazy)."""
    if name == "RealTimeClient":
        from berth.realtime import RealTimeClient

        return RealTimeClient
    raise AttributeError(f"module 'berth' has no attribute {name!r}")


__all__ += ["RealTimeClient"]
