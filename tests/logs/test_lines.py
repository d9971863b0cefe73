"""Each raw line becomes a structured line and a readable one, whatever the model printed."""

from __future__ import annotations

from datetime import UTC, datetime

from deployments.backends.log_files import RawLine
from deployments.logs.lines import parse
from tests.logs.conftest import REPLICA, json_line, request_line

READ_AT = datetime(2026, 12, 1, 12, 0, 5, tzinfo=UTC)


def raw(text: str, source: str = REPLICA) -> RawLine:
    return RawLine(source, text, 7, 120, 120 + len(text) + 1)


def test_a_request_line_reads_as_method_path_status_latency_and_request_id():
    line = parse(raw(request_line("2026-12-01T12:00:01.234Z", "ab12cd34")), READ_AT)

    assert (line.time, line.level, line.event) == (datetime(2026, 12, 1, 12, 0, 1, 234000, tzinfo=UTC), "info", "request")
    assert (line.source, line.variation, line.request_ids) == (REPLICA, "default", ("ab12cd34",))
    assert line.text == f"12:00:01.234  INFO   {REPLICA}  request  POST /v1/predict 200 3.1 ms  req=ab12cd34"
    assert line.key == f"{REPLICA}:7:120"


def test_a_batch_line_carries_every_request_id_it_served():
    line = parse(raw(json_line("2026-12-01T12:00:01Z", "print", message="scored", request_ids=["r1", "r2"])), READ_AT)

    assert line.request_ids == ("r1", "r2")
    assert "scored" in line.text
    assert "req=r1 req=r2" in line.text


def test_a_plain_print_keeps_the_time_it_was_read_at_level_info():
    line = parse(raw("loaded 3 trees"), READ_AT)

    assert (line.time, line.level, line.event, line.message, line.structured) == (
        READ_AT, "info", "", "loaded 3 trees", False)
    assert line.text == f"12:00:05.000  INFO   {REPLICA}  loaded 3 trees"


def test_a_traceback_printed_by_model_code_is_an_error():
    assert parse(raw("Traceback (most recent call last):"), READ_AT).level == "error"
    assert parse(raw("ValueError: could not convert string to float: 'x'"), READ_AT).level == "error"
    assert parse(raw("UserWarning: X does not have valid feature names"), READ_AT).level == "warning"


def test_broken_or_odd_json_never_fails_and_unknown_levels_read_as_info():
    for text in ('{"ts": "2026-12-01T12:00:01Z", "level": ', "[1, 2]", '{"level": "verbose", "ts": 12}', "{}"):
        line = parse(raw(text), READ_AT)
        assert line.level == "info"
        assert line.time == READ_AT
    assert parse(raw('{"level": "WARN", "event": "slow"}'), READ_AT).level == "warning"


def test_gateway_lines_belong_to_no_variation():
    line = parse(raw(json_line("2026-12-01T12:00:01Z", "routes_loaded", version="abc"), source="gateway"), READ_AT)

    assert (line.source, line.variation) == ("gateway", "")
    assert "version=abc" in line.text
