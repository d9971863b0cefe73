"""Following log files: from their end (less the last seconds), through a rotation, and new files whole."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from deployments.backends.log_files import Follower


def stamped(seconds_ago: float, text: str) -> str:
    now = time.time() - seconds_ago
    ts = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{int(now % 1 * 1000):03d}Z"
    return json.dumps({"ts": ts, "level": "info", "event": "log", "message": text}) + "\n"


def messages(lines) -> list[str]:
    return [json.loads(line.text)["message"] if line.text.startswith("{") else line.text for line in lines]


def test_it_starts_at_the_end_less_the_last_seconds_then_reads_what_is_written(tmp_path: Path):
    log = tmp_path / "default-3f9a1c2e-0.log"
    log.write_text(stamped(60, "a minute ago") + stamped(1, "a second ago") + "a print after it\n")
    follower = Follower(tmp_path, rewind_s=5)

    first = follower.poll()
    with log.open("a") as handle:
        handle.write(stamped(0, "now") + "half a li")
    second = follower.poll()

    assert messages(first) == ["a second ago", "a print after it"]
    assert messages(second) == ["now"]  # the unfinished line waits for its newline


def test_a_rotation_is_read_to_its_end_and_a_new_file_from_its_start(tmp_path: Path):
    log = tmp_path / "gateway.log"
    log.write_text("")
    follower = Follower(tmp_path)
    follower.poll()
    log.write_text("before rotation\n")
    os.rename(log, tmp_path / "gateway.log.1")  # supervisord at the size limit
    log.write_text("after rotation\n")
    (tmp_path / "challenger-0a1b2c3d-0.log").write_text("a new replica\n")

    lines = follower.poll()

    assert sorted(messages(lines)) == ["a new replica", "after rotation", "before rotation"]
    assert [line.source for line in lines if line.text == "before rotation"] == ["gateway"]
    follower.close()
