"""ReplicaId: a replica's name is built and parsed in one place."""

from __future__ import annotations

import pytest

from deployments.backends.replica_id import ReplicaId


def test_a_name_parses_back_to_the_same_id():
    rid = ReplicaId(7, "default", "3f9a1c2e", 0)

    assert rid.name == "default-3f9a1c2e-0" == str(rid)
    assert ReplicaId.parse(7, rid.name) == rid


def test_a_variation_name_with_dashes_and_dots_survives_the_round_trip():
    rid = ReplicaId(3, "canary-v1.2-eu", "00ff00aa", 12)

    parsed = ReplicaId.parse(3, rid.name)

    assert parsed == rid
    assert (parsed.variation, parsed.runtime_key, parsed.index) == ("canary-v1.2-eu", "00ff00aa", 12)


@pytest.mark.parametrize("name", ["gateway", "default-3f9a1c2e", "default-3F9A1C2E-0", "default-3f9a1c2-0",
                                  "-3f9a1c2e-0", "default-3f9a1c2e-x", "default-3f9a1c2e-0.json", ""])
def test_anything_that_is_not_a_replica_name_is_a_value_error(name):
    with pytest.raises(ValueError, match="is not a replica name"):
        ReplicaId.parse(1, name)
