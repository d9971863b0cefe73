"""The gateway's routing table: weights, sticky keys, variations by name, malformed files."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from serving.gateway_routes import Route, RoutesError, RoutingTable, key_hash, load_routes


def routes(tmp_path: Path, *variations: dict) -> Path:
    path = tmp_path / "gateway.json"
    path.write_text(json.dumps({"version": "v1", "model_id": "iris", "variations": list(variations)}))
    return path


def variation(name: str, percent: int, *ports: int, shadow: bool = False) -> dict:
    return {"name": name, "traffic_percent": percent, "shadow": shadow, "timeout_ms": 1000,
            "endpoints": [f"http://127.0.0.1:{p}" for p in ports]}


def chosen(table: RoutingTable, key: int | None) -> Route:
    route = table.choose(key)
    assert route is not None, "no live variation was chosen"
    return route


def named(table: RoutingTable, name: str) -> Route:
    route = table.by_name(name)
    assert route is not None, f"no variation {name}"
    return route


def test_traffic_is_split_by_weight_and_a_key_always_lands_on_the_same_replica(tmp_path):
    table = load_routes(routes(tmp_path, variation("default", 80, 1, 2), variation("challenger", 20, 3),
                               variation("shadow", 100, 4, shadow=True)))
    counts = Counter(chosen(table, None).name for _ in range(5000))
    assert 0.75 < counts["default"] / 5000 < 0.85
    assert "shadow" not in counts
    key = key_hash(b"user-42")
    picks = {(chosen(table, key).name, chosen(table, key).candidates(key, 1)[0]) for _ in range(20)}
    assert len(picks) == 1
    assert named(table, "shadow").shadow
    assert [r.name for r in table.mirrors()] == ["shadow"]


def test_round_robin_spreads_and_a_retry_moves_to_the_next_replica(tmp_path):
    route = named(load_routes(routes(tmp_path, variation("default", 100, 1, 2))), "default")
    assert {route.candidates(None, 1)[0] for _ in range(4)} == {"http://127.0.0.1:1", "http://127.0.0.1:2"}
    for key in (None, 7):
        first, retry = route.candidates(key, 2)
        assert first != retry


def test_a_malformed_routes_file_is_refused_with_the_reason(tmp_path):
    path = tmp_path / "gateway.json"
    path.write_text('{"version": "v1"}')
    with pytest.raises(RoutesError, match="malformed routes"):
        load_routes(path)
