"""Label selectors as the API server reads `?labelSelector=` (a test fixture of the API stand-in).

Supported: `k=v`, `k==v`, `k!=v`, `k in (a,b)`, `k notin (a,b)`, `k` (exists) and `!k` (does not
exist), joined by commas, every requirement must hold, as Kubernetes defines them.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping

Requirement = Callable[[Mapping[str, str]], bool]
_SET = re.compile(r"^\s*([\w./-]+)\s+(in|notin)\s+\(([^)]*)\)\s*$")


def parse(text: str) -> list[Requirement]:
    """The requirements of a selector; ValueError for text Kubernetes would refuse."""
    return [_requirement(part) for part in _split(text) if part.strip()]


def matches(text: str, labels: Mapping[str, str]) -> bool:
    return all(requirement(labels) for requirement in parse(text))


def _split(text: str) -> list[str]:
    """Commas split requirements, except inside a set's parentheses."""
    parts, depth, current = [], 0, ""
    for char in text:
        depth += char == "("
        depth -= char == ")"
        if char == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += char
    return [*parts, current]


def _requirement(part: str) -> Requirement:
    found = _SET.match(part)
    if found:
        key, op, values = found[1], found[2], {v.strip() for v in found[3].split(",") if v.strip()}
        if op == "in":
            return lambda labels: labels.get(key) in values
        return lambda labels: labels.get(key) not in values
    part = part.strip()
    for op in ("==", "!=", "="):
        if op in part:
            key, value = (s.strip() for s in part.split(op, 1))
            if op == "!=":
                return lambda labels: labels.get(key) != value
            return lambda labels: labels.get(key) == value
    if part.startswith("!"):
        return lambda labels: part[1:].strip() not in labels
    if re.fullmatch(r"[\w./-]+", part):
        return lambda labels: part in labels
    raise ValueError(f"unable to parse requirement: {part!r}")
