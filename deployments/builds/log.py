"""A validation log as the model's author reads it: tracebacks start at their own code.

`python -m serving.validate` prints whole tracebacks, which begin in Berth's own frames
(serving/validate.py, serving/runtimes/…) and the libraries it calls, above the user's code.
`for_author` keeps, of each traceback, the frames from the first one in the bundle on (what
their code then called stays: it explains the error), and of a traceback that never passed
through their code only the error itself. The full log is kept as it was, one click away.
"""

from __future__ import annotations

import re

from deployments.sandbox.command import INSIDE_BUNDLE

HEADER = "Traceback (most recent call last):"
FRAME = re.compile(r'^  File "(?P<path>[^"]+)", line \d+, in ')
CHAINED = {"The above exception was the direct cause of the following exception:",
           "During handling of the above exception, another exception occurred:"}
BUNDLE_PREFIX = INSIDE_BUNDLE.rstrip("/") + "/"


def for_author(log: str, bundle_prefix: str = BUNDLE_PREFIX) -> str:
    """`log` with each traceback cut to the author's frames (see the module's docstring)."""
    lines, out, i = log.splitlines(), [], 0
    while i < len(lines):
        if lines[i] != HEADER:
            out.append(lines[i])
            i += 1
            continue
        frames, i = _frames(lines, i + 1)
        kept = _trimmed(frames, bundle_prefix)
        out.extend(kept)
        if not kept:
            i = _past_cause(lines, i)
    if out and out[-1].startswith('{"ok": '):  # the report line, in logs stored before it was left out
        out.pop()
    return "\n".join(out)


def _frames(lines: list[str], start: int) -> tuple[list[list[str]], int]:
    """The frames after a traceback's header (each its File line and the indented lines under it), and where they end."""
    frames: list[list[str]] = []
    i = start
    while i < len(lines):
        if FRAME.match(lines[i]):
            frames.append([lines[i]])
        elif frames and lines[i].startswith("    "):
            frames[-1].append(lines[i])
        else:
            break
        i += 1
    return frames, i


def _trimmed(frames: list[list[str]], bundle_prefix: str) -> list[str]:
    first = next((n for n, frame in enumerate(frames) if _path(frame).startswith(bundle_prefix)), None)
    if first is None:  # never passed through the author's code: the error line (printed next) says enough
        return []
    return [HEADER, *(line for frame in frames[first:] for line in frame)]


def _past_cause(lines: list[str], start: int) -> int:
    """Past an error that only caused the next traceback (its line, and the words chaining them), else `start`."""
    for i in range(start, len(lines)):
        if lines[i] in CHAINED:
            return next((j for j in range(i + 1, len(lines)) if lines[j].strip()), len(lines))
        if lines[i] == HEADER or lines[i].startswith("berth: "):
            break
    return start


def _path(frame: list[str]) -> str:
    match = FRAME.match(frame[0])
    return match["path"] if match else ""
