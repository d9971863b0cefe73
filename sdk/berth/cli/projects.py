"""`berth projects list|create`."""

from __future__ import annotations

import argparse

from berth.cli.base import Groups, emit
from berth.client import BerthClient


def register(groups: Groups) -> None:
    groups.group("projects", help="Projects you are a member of.")
    groups.command("projects", "list", list_projects, help="List your projects and your role in each.")
    create = groups.command("projects", "create", create_project, help="Create a project; you become its admin.")
    create.add_argument("--slug", required=True, help="short identifier, e.g. fraud-team")
    create.add_argument("--name", required=True)
    create.add_argument("--description", default="")


def list_projects(args: argparse.Namespace, client: BerthClient) -> None:
    emit(args, client.projects(), ["slug", "name", "role", "description"])


def create_project(args: argparse.Namespace, client: BerthClient) -> None:
    project = client.create_project(args.slug, args.name, args.description)
    emit(args, project, message=f"Created project {project['slug']} ({project['name']}); you are its admin.")
