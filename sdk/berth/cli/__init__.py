"""`berth`: the command line over Berth's REST API.

Each module in COMMAND_MODULES exposes `register(groups)` and adds its commands, e.g.

    def register(groups: Groups) -> None:
        deploy = groups.command("models deploy", "realtime", help="Deploy a build as a real-time service.")
        deploy.add_argument("--model-id", required=True)
        deploy.set_defaults(handler=deploy_realtime)   # handler(args, client) -> exit code or None

so `berth models deploy realtime …` lives in its own module and is listed here once.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

from berth.cli.base import Groups
from berth.client import BerthClient, BerthError

COMMAND_MODULES = ("berth.cli.projects", "berth.cli.models", "berth.cli.builds", "berth.cli.deploy", "berth.cli.metrics",
                   "berth.cli.cases", "berth.cli.logs", "berth.cli.keys")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="berth", description="Berth from the command line. Set BERTH_URL and BERTH_TOKEN first.",
        epilog="Add --json to any command for output a script can read.",
    )
    parser.set_defaults(handler=None, group_parser=parser)
    groups = Groups(parser)
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(groups)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handler = getattr(args, "handler", None)
    if handler is None:  # no command, e.g. `berth` or `berth models`
        args.group_parser.print_help(sys.stderr)
        return 2
    try:
        with BerthClient() as client:
            return handler(args, client) or 0
    except BerthError as exc:
        print(f"berth: error: {exc.message}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("berth: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # never a traceback for a person; BERTH_DEBUG=1 shows it
        if os.environ.get("BERTH_DEBUG"):
            raise
        print(f"berth: error: {type(exc).__name__}: {exc} (set BERTH_DEBUG=1 for details)", file=sys.stderr)
        return 1
