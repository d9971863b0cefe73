"""`berth models deploy realtime|undeploy|scale` and `berth deployments status|list|traffic|rollback`.

Flags follow Qwak's (`--pods`, `--instance`, `--timeout` in ms, `--server-workers`,
`--variation-name`, `--daemon-mode`). Deploys are asynchronous; `--sync` follows the
rollout's events and exits non-zero when it fails.
"""

from __future__ import annotations

import argparse
from collections import Counter
from typing import Any

from berth import deploy_client as api
from berth.cli.base import Groups, emit, facts, fail, short_time
from berth.client import BerthClient, BerthError

STATE_WORDS = {"starting": "starting", "not_ready": "not ready", "crashed": "crashing", "stopped": "stopped"}

# flag -> field of the variation spec (only flags given are sent; the rest keep their values)
VARIATION_FLAGS = {
    "pods": "replicas", "instance": "instance_type", "timeout": "request_timeout_ms",
    "server_workers": "server_workers", "max_batch_size": "max_batch_size", "deploy_timeout": "deploy_timeout_min",
    "daemon_mode": "daemon_mode", "outbound_network": "outbound_network", "iam_role_arn": "iam_role_arn",
    "service_account_key_secret_name": "service_account_key_secret_name", "traffic_percent": "traffic_percent",
}


def register(groups: Groups) -> None:
    groups.group("models deploy", help="Deploy a build of a model.")
    realtime = groups.command("models deploy", "realtime", deploy_realtime,
                              help="Deploy a build as a real-time service (asynchronous unless --sync).")
    realtime.add_argument("--model-id", required=True)
    realtime.add_argument("--build-id", help="a ready build (default: the build the variation runs now)")
    realtime.add_argument("--variation-name", default="default", help="variation to deploy on (default: default)")
    realtime.add_argument("--pods", type=int, help="replicas, 1-100 (default 1)")
    realtime.add_argument("--instance", help="instance type: small, medium, large, xlarge, gpu.t4.xl, gpu.a10.xl…")
    realtime.add_argument("--timeout", type=int, help="request timeout in ms, 100-600000 (default 1000)")
    realtime.add_argument("--server-workers", type=int, help="workers per replica, 1-32 (default 2; 2-4 × cores)")
    realtime.add_argument("--max-batch-size", type=int, help="1-1024; 1 turns batching off (default 64)")
    realtime.add_argument("--deploy-timeout", type=int, help="minutes a replica may take to get ready, 3-120")
    realtime.add_argument("--daemon-mode", type=_bool, metavar="true|false")
    realtime.add_argument("--outbound-network", type=_bool, metavar="true|false",
                          help="let the model open connections to other hosts (default false: no network)")
    realtime.add_argument("--iam-role-arn")
    realtime.add_argument("--service-account-key-secret-name")
    realtime.add_argument("--traffic-percent", type=int,
                          help="share of traffic, 0-100, when several variations serve; the only other serving "
                               "variation takes the rest (for any split: berth deployments traffic)")
    realtime.add_argument("--env", action="append", default=[], metavar="NAME=VALUE",
                          help="environment variable (repeatable); replaces the variation's variables")
    realtime.add_argument("--secret-env", action="append", default=[], metavar="NAME=VALUE",
                          help="secret environment variable, stored encrypted (repeatable)")
    _environment_and_sync(realtime)

    undeploy = groups.command("models", "undeploy", undeploy_model, help="Stop a model's real-time deployment.")
    undeploy.add_argument("--model-id", required=True)
    _environment_and_sync(undeploy)

    scale = groups.command("models", "scale", scale_model, help="Change a variation's replicas (no new build).")
    scale.add_argument("--model-id", required=True)
    scale.add_argument("--pods", type=int, required=True, help="replicas, 1-100")
    scale.add_argument("--variation-name", default="default")
    _environment_and_sync(scale)

    groups.group("deployments", help="Real-time deployments: status, list, traffic, rollback.")
    status = groups.command("deployments", "status", deployment_status,
                            help="Status, replicas, endpoint and rollout of a model's deployment.")
    status.add_argument("--model-id", required=True)
    status.add_argument("--environment", default="production")
    listing = groups.command("deployments", "list", list_deployments, help="List the deployments you can see.")
    listing.add_argument("--model-id")
    listing.add_argument("--status", help="only deployments with this status (running, degraded, failed…)")
    traffic = groups.command("deployments", "traffic", set_traffic,
                             help="Split a deployment's traffic between its serving variations (no new build).")
    traffic.add_argument("--model-id", required=True)
    traffic.add_argument("--traffic", type=_shares, metavar="NAME=PERCENT,…",
                         help="the whole split, e.g. default=80,challenger=20; one variation left out takes the rest")
    traffic.add_argument("--variation-name", help="with --traffic-percent: one variation's share (the only other "
                                                  "serving variation takes the rest)")
    traffic.add_argument("--traffic-percent", type=int, help="with --variation-name: its share, 0-100")
    _environment_and_sync(traffic)
    rollback = groups.command("deployments", "rollback", rollback_deployment,
                              help="Roll a model's deployment back to an earlier revision that succeeded.")
    rollback.add_argument("--model-id", required=True)
    rollback.add_argument("--revision", type=int, required=True)
    _environment_and_sync(rollback)


def _environment_and_sync(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--environment", default="production")
    parser.add_argument("--sync", action="store_true", help="wait for the rollout; exit 1 if it fails")
    parser.add_argument("--sync-timeout", type=float, default=1800, help="seconds --sync waits (default 1800)")


def _bool(text: str) -> bool:
    if text.lower() in ("true", "yes", "1", "on"):
        return True
    if text.lower() in ("false", "no", "0", "off"):
        return False
    raise argparse.ArgumentTypeError(f"use true or false, not {text!r}")


def _shares(text: str) -> dict[str, int]:
    """`default=80,challenger=20` as {"default": 80, "challenger": 20}."""
    shares: dict[str, int] = {}
    for item in text.split(","):
        name, sep, percent = item.strip().partition("=")
        if not sep or not name.strip() or not percent.strip().isdigit() or name.strip() in shares:
            raise argparse.ArgumentTypeError(f"{item.strip()!r}: write each variation once as NAME=PERCENT, "
                                             "e.g. default=80,challenger=20")
        shares[name.strip()] = int(percent)
    return shares


def _env(items: list[str], secret: bool) -> list[dict[str, Any]]:
    result = []
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise BerthError(f"--env {item!r}: write it as NAME=VALUE")
        result.append({"name": name, "value": value, "secret": secret})
    return result


def variation_from_args(args: argparse.Namespace) -> dict[str, Any]:
    variation: dict[str, Any] = {"name": args.variation_name}
    if args.build_id:
        variation["build_id"] = args.build_id
    for flag, field in VARIATION_FLAGS.items():
        value = getattr(args, flag)
        if value is not None:
            variation[field] = value
    env = _env(args.env, False) + _env(args.secret_env, True)
    if env:
        variation["env"] = env
    return variation


def deploy_realtime(args: argparse.Namespace, client: BerthClient) -> int:
    rollout = api.deploy(client, args.model_id, variation_from_args(args), args.environment)
    what = f"build {args.build_id}" if args.build_id else f"variation {args.variation_name}"
    return _follow(args, client, rollout, f"Deploying {what} of {args.model_id}")


def undeploy_model(args: argparse.Namespace, client: BerthClient) -> int:
    deployment = api.deployment_of(client, args.model_id, args.environment)
    return _follow(args, client, api.undeploy(client, deployment["id"]), f"Undeploying {args.model_id}")


def scale_model(args: argparse.Namespace, client: BerthClient) -> int:
    deployment = api.deployment_of(client, args.model_id, args.environment)
    rollout = api.scale(client, deployment["id"], args.pods, args.variation_name)
    return _follow(args, client, rollout, f"Scaling {args.model_id}/{args.variation_name} to {args.pods} pod(s)")


def set_traffic(args: argparse.Namespace, client: BerthClient) -> int:
    shares = _split_from_args(args)
    deployment = api.deployment_of(client, args.model_id, args.environment)
    rollout = api.set_traffic(client, deployment["id"], shares)
    split = ", ".join(f"{v['name']} {v['traffic_percent']}%" for v in rollout["spec"]["variations"] if not v["shadow"])
    return _follow(args, client, rollout, f"Splitting the traffic of {args.model_id}: {split}")


def _split_from_args(args: argparse.Namespace) -> dict[str, int]:
    if args.traffic is not None and (args.variation_name or args.traffic_percent is not None):
        raise BerthError("Give either --traffic NAME=PERCENT,… or --variation-name with --traffic-percent, not both.")
    if args.traffic is not None:
        return dict(args.traffic)
    if not args.variation_name or args.traffic_percent is None:
        raise BerthError("Give the split: --traffic default=80,challenger=20, or one variation's share with "
                         "--variation-name challenger --traffic-percent 20.")
    return {args.variation_name: args.traffic_percent}


def rollback_deployment(args: argparse.Namespace, client: BerthClient) -> int:
    deployment = api.deployment_of(client, args.model_id, args.environment)
    rollout = api.rollback(client, deployment["id"], args.revision)
    return _follow(args, client, rollout, f"Rolling {args.model_id} back to revision {args.revision}")


def _follow(args: argparse.Namespace, client: BerthClient, rollout: dict[str, Any], doing: str) -> int:
    head = f"{doing}: revision {rollout['revision']} (rollout {rollout['id']})."
    if not args.sync:
        emit(args, rollout, message=f"{head}\nFollow it with: berth deployments status --model-id "
                                    f"{rollout['model_id']}")
        return 0
    if not args.json:
        print(f"{head} Waiting…", flush=True)

    def show(event: dict[str, Any]) -> None:
        if not args.json:
            print(f"  {short_time(event['created_at'])[11:]}  {event['kind']:<18} {event['message']}", flush=True)

    finished = api.wait_for_rollout(client, rollout["id"], args.sync_timeout, on_event=show)
    if finished["status"] != "succeeded":
        if args.json:
            emit(args, finished)
        return fail(f"revision {finished['revision']} {finished['status']}: {finished['reason'] or 'no reason'}"
                    " — the previous revision keeps serving.")
    deployment = api.deployment(client, finished["deployment"])
    where = f" {rollout['model_id']} serves at {deployment['endpoint_url']}" if deployment["endpoint_url"] else ""
    emit(args, finished, message=f"Revision {finished['revision']} succeeded.{where}")
    return 0


def deployment_status(args: argparse.Namespace, client: BerthClient) -> int:
    deployment = api.deployment_of(client, args.model_id, args.environment)
    if args.json:
        emit(args, deployment)
        return 0
    replicas, active = deployment["replicas"], deployment["active_rollout"]
    print(facts([
        ("Model", deployment["model_id"]), ("Environment", deployment["environment"]),
        ("Status", deployment["status"]), ("Why", deployment["status_reason"]),
        ("Endpoint", deployment["endpoint_url"]), ("Serving revision", deployment["current_revision"]),
        ("Replicas ready", replica_counts(replicas, active)),
        ("Rollout", f"revision {active['revision']} ({active['action']}) is {active['status']}" if active else None),
    ]))
    rows = [{"variation": v["name"], "ready": _variation_count(v), "replica": r["name"],
             "state": r["state"], "reason": r["reason"]} for v in replicas["variations"] for r in v["replicas"]]
    if rows:
        print()
        emit(args, rows, ["variation", "ready", "replica", "state", "reason"])
    return 0


def replica_counts(replicas: dict[str, Any], active: dict[str, Any] | None) -> str:
    """`2/2`; while a revision rolls out also its count and what its replicas are doing:
    `0/2 of revision 1 (2 starting)`, or `1/1 serving; 1/2 of revision 2 (1 starting)`."""
    serving = f"{replicas['ready']}/{replicas['desired']}"
    crashing = f", {replicas['crashing']} crashing" if replicas["crashing"] else ""
    rolling = replicas.get("rolling_out")
    if not rolling or not active:
        return serving + crashing
    new = f"{rolling['ready']}/{rolling['desired']} of revision {active['revision']} ({_happening(replicas, rolling)})"
    return (f"{serving} serving; {new}" if replicas["desired"] else new) + crashing


def _variation_count(variation: dict[str, Any]) -> str:
    """`2/2`; `1/1 → 3` while a rollout changes its count; `0/2` while its first replicas start."""
    target = variation.get("target")
    if target is None or target == variation["desired"]:
        return f"{variation['ready']}/{variation['desired']}"
    if variation["desired"] == 0:
        started = sum(1 for r in variation["replicas"] if r["role"] == "starting" and r["state"] == "ready")
        return f"{started}/{target}"
    return f"{variation['ready']}/{variation['desired']} → {target}"


def _happening(replicas: dict[str, Any], rolling: dict[str, Any]) -> str:
    """What the replicas a rollout waits for are doing: `1 starting, 1 not started yet`."""
    waiting = Counter(r["state"] for v in replicas["variations"] for r in v["replicas"]
                      if r["role"] == "starting" and r["state"] != "ready")
    words = [f"{count} {STATE_WORDS.get(state, state)}" for state, count in waiting.items()]
    missing = rolling["desired"] - rolling["ready"] - sum(waiting.values())
    if missing > 0:
        words.append(f"{missing} not started yet")
    return ", ".join(words) or "all ready; switching traffic"


def list_deployments(args: argparse.Namespace, client: BerthClient) -> None:
    found = api.deployments(client, model_id=args.model_id, status=args.status)
    rows = [{**d, "revision": d["current_revision"], "updated": short_time(d.get("updated_at"))} for d in found]
    emit(args, found if args.json else rows,
         ["id", "model_id", "environment", "status", "revision", "endpoint_url", "updated"])
