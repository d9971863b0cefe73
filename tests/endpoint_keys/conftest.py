"""Endpoint-key tests that deploy for real leave no process behind (tests/deploy/conftest.py's rule)."""

from tests.deploy.conftest import no_leftover_processes

__all__ = ["no_leftover_processes"]
