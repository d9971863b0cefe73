"""One place that answers "may this user see or change this?" for every resource.

Views, API, tasks and consumers all call these. Without membership the object does not
exist for the caller (404); with a role too low for the action, PermissionDenied (403).
"""

from __future__ import annotations

from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404

from deployments.models import Build, Deployment, Membership, Model, Project, Role, Rollout


def _not_found(kind: str) -> Http404:
    """The same words whether the object is missing or only not yours: a 404 never tells which."""
    return Http404(f"No such {kind} in your projects.")


def _check_role(membership: Membership | None, needed: str, kind: str) -> Membership:
    if membership is None:
        raise _not_found(kind)
    if not membership.allows(needed):
        raise PermissionDenied(f"This needs the {needed} role in project {membership.project.name}.")
    return membership


def membership_for(user: object, project: Project) -> Membership | None:
    if not isinstance(user, User) or not user.is_active:
        return None
    return Membership.objects.filter(project=project, user=user).select_related("project").first()


def get_project_for_user(user: object, slug: str, needed: str = Role.VIEWER) -> tuple[Project, Membership]:
    project = Project.objects.filter(slug=slug).first()
    if project is None:
        raise _not_found("project")
    return project, _check_role(membership_for(user, project), needed, "project")


def get_model_for_user(user: object, model_id: str, needed: str = Role.VIEWER) -> tuple[Model, Membership]:
    model = Model.objects.select_related("project").filter(model_id=model_id).first()
    if model is None:
        raise _not_found("model")
    return model, _check_role(membership_for(user, model.project), needed, "model")


def get_build_for_user(user: object, build_id: object, needed: str = Role.VIEWER) -> tuple[Build, Membership]:
    try:
        build = Build.objects.select_related("model__project").filter(build_id=str(build_id)).first()
    except ValidationError:  # a malformed UUID is just a build that does not exist
        build = None
    if build is None:
        raise _not_found("build")
    return build, _check_role(membership_for(user, build.model.project), needed, "build")


def get_deployment_for_user(user: object, pk: int | str, needed: str = Role.VIEWER) -> tuple[Deployment, Membership]:
    deployment = Deployment.objects.select_related("model__project", "current_rollout").filter(
        pk=int(pk) if str(pk).isdigit() else -1).first()
    if deployment is None:
        raise _not_found("deployment")
    return deployment, _check_role(membership_for(user, deployment.model.project), needed, "deployment")


def get_rollout_for_user(user: object, pk: int | str, needed: str = Role.VIEWER) -> tuple[Rollout, Membership]:
    rollout = Rollout.objects.select_related("deployment__model__project", "triggered_by").filter(
        pk=int(pk) if str(pk).isdigit() else -1).first()
    if rollout is None:
        raise _not_found("rollout")
    return rollout, _check_role(membership_for(user, rollout.deployment.model.project), needed, "rollout")
