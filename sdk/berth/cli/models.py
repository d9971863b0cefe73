"""`berth models list|create|build`. Deployment commands register into the same group elsewhere."""

from __future__ import annotations

import argparse

from berth.cli.base import Groups, emit, fail, short_time
from berth.client import BerthClient


def register(groups: Groups) -> None:
    groups.group("models", help="Models, and uploading builds of them.")
    listing = groups.command("models", "list", list_models, help="List the models of your projects.")
    listing.add_argument("--project", help="only this project's models (its slug)")

    create = groups.command("models", "create", create_model, help="Create a model in a project.")
    create.add_argument("--model-id", required=True, help="lowercase slug clients use, e.g. churn_model")
    create.add_argument("--name", required=True)
    create.add_argument("--description", default="")
    create.add_argument("--project", required=True, help="the project's slug")

    build = groups.command("models", "build", build_model, help=(
        "Upload a build: a bundle directory (packed on the fly), a .zip/.tar.gz bundle, "
        "or a single model file with --framework."))
    build.add_argument("--model-id", required=True)
    build.add_argument("path", help="bundle directory, archive, or model file")
    build.add_argument("--framework", default="", help="for a single model file: sklearn, xgboost, lightgbm, onnx")
    build.add_argument("--example-input", default="", help="for a single model file: a JSON record or list of them")
    build.add_argument("--label", default="", help="a version label, e.g. v2 (shown wherever the build is)")
    build.add_argument("--tag", action="append", default=[], dest="tags", help="a tag; give --tag again for more")
    build.add_argument("--allow-duplicate", action="store_true",
                       help="upload a file the model already has a build of (needs a --label of its own)")
    build.add_argument("--wait", action="store_true", help="wait until the build is ready or failed")
    build.add_argument("--timeout", type=float, default=900, help="seconds --wait waits (default 900)")


def list_models(args: argparse.Namespace, client: BerthClient) -> None:
    models = client.models(args.project)
    rows = [{**m, "created": short_time(m.get("created_at"))} for m in models]
    emit(args, models if args.json else rows, ["model_id", "name", "project", "created", "description"])


def create_model(args: argparse.Namespace, client: BerthClient) -> None:
    model = client.create_model(args.model_id, args.name, args.project, args.description)
    emit(args, model, message=f"Created model {model['model_id']} in project {model['project']}.")


def build_model(args: argparse.Namespace, client: BerthClient) -> int:
    build = client.upload_build(args.model_id, args.path, args.framework, args.example_input, label=args.label,
                                tags=tuple(args.tags), allow_duplicate=args.allow_duplicate)
    build_id = build["build_id"]
    if not args.wait:
        emit(args, build, message=f"Uploaded build {build_id} of {args.model_id}; validating it now.\n"
                                  f"Follow it with: berth builds show {build_id}")
        return 0
    if not args.json:
        print(f"Uploaded build {build_id} of {args.model_id}; waiting for validation…", flush=True)
    build = client.wait_for_build(build_id, args.timeout)
    if build["status"] == "failed":
        if args.json:
            emit(args, build)
        return fail(f"build {build_id} failed: {build['error'] or 'no reason recorded'}")
    emit(args, build, message=f"Build {build_id} is ready.")
    return 0
