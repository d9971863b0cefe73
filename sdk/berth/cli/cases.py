"""`berth deployments cases|save-case|delete-case|run-cases`: a deployment's saved cases from the shell.

`run-cases` exits 1 when any case fails, so a CI job or a release script can gate on it:

    berth deployments run-cases --model-id iris --variation challenger || exit 1
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from berth import cases_client as cases
from berth import deploy_client as api
from berth.cli.base import Groups, emit, fail
from berth.client import BerthClient

COLUMNS = ("id", "name", "tolerance", "created_by", "request")
RESULT_COLUMNS = ("name", "result", "status", "latency_ms", "served_by", "why")


def register(groups: Groups) -> None:
    listed = groups.command("deployments", "cases", list_cases, help="List a deployment's saved cases.")
    _deployment_flags(listed)

    save = groups.command("deployments", "save-case", save_case,
                          help="Save a case: a request and the answer it must get (deployer role).")
    _deployment_flags(save)
    save.add_argument("--name", required=True)
    save.add_argument("--request", required=True, metavar="JSON|@FILE", help="the request body, or @file.json")
    save.add_argument("--expected", required=True, metavar="JSON|@FILE", help="the expected answer, or @file.json")
    save.add_argument("--tolerance", type=float, default=0.0,
                      help="how far each number may be from the expected one (default 0: exact)")

    delete = groups.command("deployments", "delete-case", delete_case, help="Delete a saved case by name.")
    _deployment_flags(delete)
    delete.add_argument("--name", required=True)

    run = groups.command("deployments", "run-cases", run_cases,
                         help="Send every saved case through the gateway; exits 1 when any fails.")
    _deployment_flags(run)
    run.add_argument("--variation", default="", help="send every case to this variation (default: any)")


def _deployment_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model-id", required=True)
    parser.add_argument("--environment", default="production")


def _deployment_id(args: argparse.Namespace, client: BerthClient) -> int:
    return api.deployment_of(client, args.model_id, args.environment)["id"]


def list_cases(args: argparse.Namespace, client: BerthClient) -> int:
    emit(args, cases.saved(client, _deployment_id(args, client)), COLUMNS)
    return 0


def save_case(args: argparse.Namespace, client: BerthClient) -> int:
    values = {}
    for flag in ("request", "expected"):
        try:
            values[flag] = _json_argument(getattr(args, flag))
        except ValueError as exc:
            return fail(f"--{flag}: {exc}")
    case = cases.save(client, _deployment_id(args, client), args.name, values["request"], values["expected"],
                      args.tolerance)
    emit(args, case, message=f"Saved case {case['name']!r} (id {case['id']}).")
    return 0


def _json_argument(text: str) -> Any:
    """JSON given inline, or `@path` to a file holding it."""
    if text.startswith("@"):
        try:
            text = Path(text[1:]).read_text(encoding="utf-8")
        except OSError as exc:
            raise ValueError(f"cannot read {text[1:]}: {exc.strerror}") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}") from None


def delete_case(args: argparse.Namespace, client: BerthClient) -> int:
    deployment_id = _deployment_id(args, client)
    found = [case for case in cases.saved(client, deployment_id) if case["name"] == args.name]
    if not found:
        return fail(f"{args.model_id} ({args.environment}) has no saved case named {args.name!r}; "
                    f"see: berth deployments cases --model-id {args.model_id}")
    cases.delete(client, deployment_id, found[0]["id"])
    emit(args, {"deleted": found[0]["id"]}, message=f"Deleted case {args.name!r}.")
    return 0


def run_cases(args: argparse.Namespace, client: BerthClient) -> int:
    answer = cases.run(client, _deployment_id(args, client), args.variation)
    rows = [{"name": r["name"], "result": "pass" if r["passed"] else "FAIL", "status": r["status"],
             "latency_ms": r["latency_ms"], "served_by": r["served_by"], "why": "; ".join(r["differences"])}
            for r in answer["results"]]
    target = f"variation {args.variation}" if args.variation else "any variation"
    emit(args, answer if args.json else rows, RESULT_COLUMNS,
         message=f"{answer['passed']} of {answer['ran']} cases passed ({target}).")
    return 1 if answer["failed"] else 0
