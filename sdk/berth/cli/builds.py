"""`berth builds list|show`."""

from __future__ import annotations

import argparse

from berth.cli.base import Groups, emit, facts, short_time
from berth.client import BerthClient


def register(groups: Groups) -> None:
    groups.group("builds", help="Builds of your models.")
    listing = groups.command("builds", "list", list_builds, help="List a model's builds, newest first.")
    listing.add_argument("--model-id", required=True)
    listing.add_argument("--status", choices=["building", "ready", "failed"])
    show = groups.command("builds", "show", show_build, help="Show one build: status, reason, schema, log.")
    show.add_argument("build_id")


def list_builds(args: argparse.Namespace, client: BerthClient) -> None:
    builds = client.builds(args.model_id, args.status)
    rows = [{**b, "label": b.get("label") or "-", "created": short_time(b.get("created_at")),
             "reason": b.get("error") or ""} for b in builds]
    emit(args, builds if args.json else rows,
         ["build_id", "label", "status", "framework", "source_name", "created", "created_by", "reason"])


def show_build(args: argparse.Namespace, client: BerthClient) -> None:
    build = client.build(args.build_id)
    if args.json:
        emit(args, build)
        return
    schema = ", ".join(f"{f['name']}:{f['dtype']}" for f in build.get("input_schema") or [])
    output = ", ".join(f"{f['name']}:{f['dtype']}" for f in build.get("output_schema") or [])
    print(facts([
        ("Build", build["build_id"]), ("Label", build.get("label")), ("Tags", ", ".join(build.get("tags") or [])),
        ("Model", build["model_id"]), ("Status", build["status"]),
        ("Why it failed", build.get("error")), ("Framework", build.get("framework")),
        ("Uploaded file", f"{build['source_name']} ({build['size_bytes']} bytes)"),
        ("Uploaded", f"{short_time(build['created_at'])} by {build.get('created_by') or '-'}"),
        ("Input schema", schema), ("Output schema", output), ("Requirements", ", ".join(build.get("requirements") or [])),
        ("Timings", build.get("timings")),
    ]))
    if build.get("log"):
        print("\nValidation log:\n" + build["log"].rstrip())
