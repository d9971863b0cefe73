"""The connection transport that writes a response's header block and body in one piece."""

from __future__ import annotations

import asyncio

from serving.http_protocol import _OneWriteTransport

HEAD = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n"


class Recorder:
    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> None:
        self.writes.append(data)

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed

    def get_extra_info(self, name: str) -> str:
        return f"info {name}"


def run(steps: list[str]) -> Recorder:
    recorder = Recorder()

    async def main() -> None:
        transport = _OneWriteTransport(recorder, asyncio.get_running_loop())  # type: ignore[arg-type]
        for step in steps:
            if step == "head":
                transport.write(HEAD)
            elif step == "body":
                transport.write(b"{}")
            elif step == "close":
                transport.close()
            elif step == "turn":
                await asyncio.sleep(0)
        await asyncio.sleep(0)

    asyncio.run(main())
    return recorder


def test_a_header_block_and_its_body_leave_in_one_write() -> None:
    assert run(["head", "body"]).writes == [HEAD + b"{}"]


def test_a_header_block_no_body_follows_leaves_on_the_next_loop_turn() -> None:
    assert run(["head", "turn", "body"]).writes == [HEAD, b"{}"]


def test_closing_writes_what_is_held_first() -> None:
    recorder = run(["head", "close"])
    assert recorder.writes == [HEAD]
    assert recorder.closed


def test_other_writes_go_out_as_they_come_and_the_transport_answers_the_rest() -> None:
    recorder = run(["body", "body"])
    assert recorder.writes == [b"{}", b"{}"]
    loop = asyncio.new_event_loop()
    try:
        assert _OneWriteTransport(recorder, loop).get_extra_info("peername") == "info peername"  # type: ignore[arg-type]
    finally:
        loop.close()
