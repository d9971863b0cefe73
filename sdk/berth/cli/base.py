"""What every command module shares: command groups, and output as a table or as JSON."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from berth.client import BerthClient

Handler = Callable[[argparse.Namespace, BerthClient], "int | None"]


class Groups:
    """Command groups by path ("models", "models deploy"), created on first use."""

    def __init__(self, parser: argparse.ArgumentParser) -> None:
        self._root = parser.add_subparsers(title="commands", metavar="<group>")
        self._groups: dict[str, argparse._SubParsersAction] = {"": self._root}
        self._output = argparse.ArgumentParser(add_help=False)
        self._output.add_argument("--json", action="store_true", help="print JSON instead of a table")

    def group(self, path: str, help: str | None = None) -> argparse._SubParsersAction:
        if path not in self._groups:
            parent, _, name = path.rpartition(" ")
            parser = self.group(parent).add_parser(name, help=help, description=help)
            parser.set_defaults(handler=None, group_parser=parser)
            self._groups[path] = parser.add_subparsers(title="commands", metavar="<command>")
        return self._groups[path]

    def command(self, group: str, name: str, handler: Handler, help: str) -> argparse.ArgumentParser:
        parser = self.group(group).add_parser(name, help=help, description=help, parents=[self._output])
        parser.set_defaults(handler=handler)
        return parser


def emit(args: argparse.Namespace, data: Any, columns: Sequence[str] = (), message: str = "") -> None:
    """Print `data` as JSON with --json; otherwise `message`, and a table of `columns` for lists."""
    if args.json:
        print(json.dumps(data, indent=2, default=str))
        return
    if message:
        print(message)
    if isinstance(data, list):
        print(table(data, columns) if data else "(none)")


def table(rows: Iterable[dict[str, Any]], columns: Sequence[str], width: int = 60) -> str:
    cells = [[_cell(row.get(column), width) for column in columns] for row in rows]
    widths = [max(len(column), *(len(line[i]) for line in cells)) for i, column in enumerate(columns)]
    lines = [[column.upper() for column in columns], *cells]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip() for line in lines)


def facts(pairs: Iterable[tuple[str, Any]]) -> str:
    pairs = [(label, value) for label, value in pairs if value not in (None, "", [], {})]
    width = max((len(label) for label, _ in pairs), default=0)
    return "\n".join(f"{label.ljust(width)}  {_cell(value, 200)}" for label, value in pairs)


def _cell(value: Any, width: int) -> str:
    if value is None:
        text = "-"
    elif isinstance(value, (list, dict)):
        text = json.dumps(value, default=str)
    else:
        text = str(value)
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def short_time(value: str | None) -> str:
    """`2026-01-02T03:04:05.123Z` -> `2026-01-02 03:04`."""
    return value.replace("T", " ")[:16] if value else "-"


def fail(message: str) -> int:
    print(f"berth: error: {message}", file=sys.stderr)
    return 1
