"""Endpoint keys (docs/endpoint-keys.md): a project's keys, what its gateways accept, revocation.

`keys.py` creates, lists and revokes keys (views, API and CLI call it); `gateway_config.py`
turns a project's keys into the list a gateway's routes carry, under one lock per deployment
shared by the backend's route() and the refresh after a revocation; `tasks.py` refreshes the
gateways after a revocation and learns each key's last use from their /metrics.
"""
