"""How the pod log API's text becomes lines with places: the kubelet's RFC3339Nano prefix read to the
nanosecond, lines stamped the same nanosecond told apart, and lines without a prefix kept."""

from __future__ import annotations

from itertools import pairwise

from deployments.backends.kubernetes.logs import LineParser, Stream, stamp_ns

STREAM = Stream("default-3f9a1c2e-0", "iris-production-default-abc-1", "uid-1", "model-server", 0, previous=False)
NOON = 1_796_212_800 * 10**9  # 2026-12-02T12:00:00Z


def test_the_kubelets_stamps_are_read_to_the_nanosecond_whatever_their_fraction_and_zone():
    assert stamp_ns(b"2026-12-02T12:00:00Z") == NOON
    assert stamp_ns(b"2026-12-02T12:00:00.1Z") == NOON + 100_000_000  # Go drops the fraction's trailing zeros
    assert stamp_ns(b"2026-12-02T12:00:00.000000007Z") == NOON + 7
    assert stamp_ns(b"2026-12-02T13:00:00.5+01:00") == NOON + 500_000_000
    assert stamp_ns(b"model") is None
    assert stamp_ns(b"2026-12-02T12:00:00") is None  # no zone: not the kubelet's


def test_lines_without_a_stamp_are_kept_and_timed_like_their_neighbour():
    parser = LineParser(STREAM)

    lines = parser.feed(b"a print before any stamp\n2026-12-02T12:00:00.5Z first\nno stamp here\n"
                        b"2026-12-02T12:00:01Z second\n2026-12-02T12:00:01Z same ns\nhalf a li")
    rest = parser.feed(b"ne\n")

    assert [line.text for line in lines + rest] == [
        "a print before any stamp", "first", "no stamp here", "second", "same ns", "half a line"]
    assert [line.file_id for line in lines] == [NOON + 500_000_000] * 3 + [NOON + 10**9] * 2
    assert rest[0].file_id == NOON + 10**9
    starts = [line.start for line in lines + rest]
    assert starts == sorted(starts)
    assert len(set(starts)) == len(starts)  # each its own place, also within one nanosecond
    assert all(a.after <= b.start for a, b in pairwise(lines))
    assert lines[1].stamped == (NOON + 500_000_000) / 1e9


def test_the_same_line_has_the_same_place_whichever_read_found_it():
    log = b"2026-12-02T12:00:00Z a\n2026-12-02T12:00:00Z b\n2026-12-02T12:00:01Z c\n"
    whole = LineParser(STREAM).feed(log)
    since_that_second = LineParser(STREAM).feed(log.split(b"\n", 2)[2])  # sinceTime=12:00:01Z

    assert since_that_second[0].start == whole[2].start
    other_restart = LineParser(Stream(STREAM.source, STREAM.pod, "uid-1", "model-server", 1, previous=False))
    assert other_restart.feed(log)[0].start != whole[0].start
