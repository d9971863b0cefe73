"""A held lock outlives its TTL for as long as its holder runs, and a lost one is said out loud."""

from __future__ import annotations

import logging
import time
import uuid

from console.locks import _client, _key, held_lock, is_locked

TTL_S = 2


def test_a_lock_is_held_for_three_times_its_ttl_while_its_block_runs(settings):
    settings.BERTH_LOCK_TTL_S = TTL_S
    name = f"test:{uuid.uuid4()}"

    with held_lock(name) as acquired:
        assert acquired
        time.sleep(3.5 * TTL_S)  # without renewal the key would have expired after TTL_S
        assert is_locked(name)
        with held_lock(name) as second:
            assert not second  # nobody else gets it meanwhile

    assert not is_locked(name)


def test_a_lock_taken_away_mid_block_is_logged_as_lost(settings, caplog):
    settings.BERTH_LOCK_TTL_S = TTL_S
    name = f"test:{uuid.uuid4()}"

    with caplog.at_level(logging.ERROR, logger="console.locks"), held_lock(name) as acquired:
        assert acquired
        _client().delete(_key(name))
        time.sleep(TTL_S)  # the next beats find it gone

    assert f"lock {_key(name)} was lost" in caplog.text


def test_two_consoles_with_different_prefixes_do_not_share_a_lock(settings):
    """Two test sessions (or consoles) on one Redis both have a deployment 1: their locks are apart."""
    name = f"deployment:{uuid.uuid4()}"
    with held_lock(name) as acquired:
        assert acquired
        settings.REDIS_KEY_PREFIX = "another-console"
        with held_lock(name) as also:
            assert also
