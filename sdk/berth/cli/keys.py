"""`berth keys create|list|revoke --project <slug>`: a project's endpoint keys from the shell.

    berth keys create --project fraud --name "billing service" --expires 90d
    export BERTH_ENDPOINT_KEY=bek_…        # printed once; RealTimeClient reads it
"""

from __future__ import annotations

import argparse

from berth import keys_client as keys
from berth.cli.base import Groups, emit, fail
from berth.client import BerthClient

COLUMNS = ("id", "name", "status", "prefix", "created_by", "created_at", "expires_at", "last_used_at")
EXPIRIES = ("never", "7d", "30d", "90d", "365d")


def register(groups: Groups) -> None:
    create = groups.command("keys", "create", create_key,
                            help="Create an endpoint key (deployer role); its value is printed once.")
    create.add_argument("--project", required=True, help="project slug")
    create.add_argument("--name", required=True, help="who uses it, e.g. 'billing service'")
    create.add_argument("--expires", choices=EXPIRIES, default="never", help="how long it lasts (default never)")

    listed = groups.command("keys", "list", list_keys, help="List a project's endpoint keys.")
    listed.add_argument("--project", required=True, help="project slug")

    revoke = groups.command("keys", "revoke", revoke_key,
                            help="Revoke an endpoint key by id or name; gateways refuse it within seconds.")
    revoke.add_argument("--project", required=True, help="project slug")
    revoke.add_argument("key", help="the key's id, or its name when no other active key has it")


def create_key(args: argparse.Namespace, client: BerthClient) -> int:
    created = keys.create(client, args.project, args.name, args.expires)
    emit(args, created, message=f"Created endpoint key {created['name']!r} (id {created['id']}). "
                                f"Store it now, it is not shown again:\n\n    {created['key']}\n\n"
                                f"export BERTH_ENDPOINT_KEY={created['key']}")
    return 0


def list_keys(args: argparse.Namespace, client: BerthClient) -> int:
    emit(args, keys.listed(client, args.project), COLUMNS)
    return 0


def revoke_key(args: argparse.Namespace, client: BerthClient) -> int:
    if args.key.isdigit():
        key_id = int(args.key)
    else:
        named = [k for k in keys.listed(client, args.project) if k["name"] == args.key and k["status"] != "revoked"]
        if len(named) != 1:
            return fail(f"{len(named) or 'No'} active key(s) named {args.key!r} in {args.project}; "
                        "give the id (berth keys list).")
        key_id = named[0]["id"]
    keys.revoke(client, args.project, key_id)
    emit(args, {"id": key_id, "revoked": True}, message=f"Revoked endpoint key {key_id}.")
    return 0
