"""`berth deployments logs`: a deployment's log lines as the Logs tab shows them; --follow keeps printing.

The same lines and filters as `GET /api/v1/deployments/<id>/logs/`; `--json` prints one JSON object
per line (the API's fields). --follow polls the API's `newer` cursor every second until Ctrl-C.
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

from berth import deploy_client as api
from berth.cli.base import Groups, fail
from berth.client import BerthClient

LEVELS = ("debug", "info", "warning", "error", "critical")
FILTERS = ("since", "until", "variation", "replica", "level", "request_id")


def register(groups: Groups) -> None:
    logs = groups.command("deployments", "logs", deployment_logs,
                          help="A deployment's log lines (replicas and gateway), newest last; --follow for new ones.")
    logs.add_argument("id", nargs="?", type=int, help="the deployment's id (or give --model-id)")
    logs.add_argument("--model-id", help="the model whose deployment to read (instead of the id)")
    logs.add_argument("--environment", default="production")
    logs.add_argument("--follow", "-f", action="store_true", help="keep printing new lines until Ctrl-C")
    logs.add_argument("--lines", "-n", type=int, default=100, help="how many of the newest lines first (max 1000)")
    logs.add_argument("--request-id", default="", help="only lines written while serving this request")
    logs.add_argument("--variation", default="")
    logs.add_argument("--replica", default="", help='a replica\'s name, or "gateway"')
    logs.add_argument("--level", default="", choices=("", *LEVELS), help="this level and worse")
    logs.add_argument("--grep", default="", help="only lines containing this text (any case)")
    logs.add_argument("--since", default="", help="ISO 8601 time, UTC when no zone (e.g. 2026-12-01T12:00:00)")
    logs.add_argument("--until", default="")


def deployment_logs(args: argparse.Namespace, client: BerthClient) -> int:
    if args.id is None and not args.model_id:
        return fail("give a deployment id or --model-id")
    if not 1 <= args.lines <= 1000:
        return fail("--lines must be between 1 and 1000")
    deployment_id = args.id if args.id is not None else api.deployment_of(client, args.model_id, args.environment)["id"]
    filters = {name: getattr(args, name) for name in FILTERS} | {"q": args.grep}
    page = client.deployment_logs(deployment_id, limit=args.lines, **filters)
    show(args, page["lines"])
    if not page["lines"] and not args.follow and not args.json:
        print("(no log lines" + (" match these filters)" if any(filters.values()) else " yet)"))
    cursor = page["newer"]
    while args.follow:
        time.sleep(1)
        page = client.deployment_logs(deployment_id, after=cursor, limit=1000, **filters)
        show(args, page["lines"])
        cursor = page["newer"]
    return 0


def show(args: argparse.Namespace, lines: list[dict[str, Any]]) -> None:
    for line in lines:
        print(json.dumps(line) if args.json else line["text"], flush=True)
