"""REST API for projects, members, models, builds and tokens: the UI's operations over HTTP.

Every list is paginated (deployments/api/pagination.py) and every operation documents the
errors it answers (deployments/api/schema.py).
"""

from __future__ import annotations

from typing import cast

from django.contrib.auth.models import User
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import ProtectedError, QuerySet
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.parsers import MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.serializers import BaseSerializer

from console.api_errors import Conflict
from console.models import LIFETIMES, ApiToken
from deployments.access import get_build_for_user, get_model_for_user, get_project_for_user
from deployments.api import serializers as s
from deployments.api.base import ApiDefaults
from deployments.api.pagination import paginated
from deployments.api.schema import CONFLICT
from deployments.builds.upload import DuplicateBuild, store_build
from deployments.builds.usage import BuildInUse, delete_build
from deployments.filtersets import BuildFilterSet, ModelFilterSet
from deployments.models import Build, Invitation, Membership, Model, Project, Role, Variation
from deployments.models.model import create_model
from deployments.projects import memberships

UNDEPLOY_FIRST = extend_schema(responses={204: None, 409: CONFLICT})
# The builds action lists Build rows, whose own `model_id` is the foreign key's number.
MODEL_ID = OpenApiParameter("model_id", str, OpenApiParameter.PATH)
MEMBER_ID = OpenApiParameter("member_id", OpenApiTypes.INT, OpenApiParameter.PATH)
INVITATION_ID = OpenApiParameter("invitation_id", OpenApiTypes.INT, OpenApiParameter.PATH)
LAST_ADMIN_400 = OpenApiResponse(description="It would leave the project without an admin.")


class ModelBuildFilterSet(BuildFilterSet):
    """BuildFilterSet under /models/<model_id>/builds/, where the path already names the model."""

    model_id = None

    class Meta(BuildFilterSet.Meta):
        fields = ["status", "framework"]  # noqa: RUF012 - read by django-filter, never changed


def _user(request: Request) -> User:
    """The caller; IsAuthenticated (the default permission) has made sure it is a real account."""
    return cast(User, request.user)


def _schema_only(view: object) -> bool:
    """Whether drf-spectacular is generating the schema (no user then)."""
    return getattr(view, "swagger_fake_view", False)


def delete_unless_deployed(instance: Project | Model, what: str) -> None:
    """Delete `instance`, or answer 409 naming the deployments whose serving builds it holds."""
    try:
        instance.delete()
    except ProtectedError as refused:
        variations = Variation.objects.filter(pk__in=[v.pk for v in refused.protected_objects
                                                      if isinstance(v, Variation)])
        deployments = sorted({v.deployment for v in variations.select_related("deployment__model")},
                             key=lambda d: d.pk)
        named = ", ".join(f"{d.model.model_id} in {d.environment} (deployment {d.pk})" for d in deployments)
        raise Conflict(f"{what} is still deployed: {named or 'a deployment serves one of its builds'}. "
                       "Undeploy first (POST /api/v1/deployments/<id>/undeploy/), then delete it.") from None


@extend_schema_view(destroy=UNDEPLOY_FIRST)
class ProjectViewSet(ApiDefaults, viewsets.ModelViewSet):
    serializer_class = s.ProjectSerializer
    lookup_field = "slug"

    def get_queryset(self) -> QuerySet[Project]:
        if _schema_only(self):
            return Project.objects.none()
        return Project.objects.for_user(_user(self.request))

    def get_serializer_class(self) -> type[s.ProjectSerializer]:
        return s.ProjectUpdateSerializer if self.action in ("update", "partial_update") else s.ProjectSerializer

    def get_serializer_context(self) -> dict:
        context = dict(super().get_serializer_context())
        context["roles"] = dict(Membership.objects.filter(user=_user(self.request)).values_list("project_id", "role"))
        return context

    def get_object(self) -> Project:
        needed = Role.VIEWER if self.request.method in ("GET", "HEAD", "OPTIONS") else Role.ADMIN
        project, _ = get_project_for_user(_user(self.request), self.kwargs["slug"], needed)
        return project

    def perform_create(self, serializer: BaseSerializer) -> None:
        serializer.instance = memberships.create_project(_user(self.request), **serializer.validated_data)

    def perform_destroy(self, instance: Project) -> None:
        delete_unless_deployed(instance, f"Project {instance.slug}")

    @extend_schema(responses=s.MembershipSerializer(many=True))
    @action(detail=True, methods=["get"], serializer_class=s.MembershipSerializer, filter_backends=[])
    def members(self, request: Request, slug: str) -> Response:
        """List the project's members. New ones join by invitation (`/projects/<slug>/invitations/`)."""
        project, _ = get_project_for_user(request.user, slug)
        return paginated(self, project.memberships.select_related("user"), s.MembershipSerializer)

    @extend_schema(methods=["PATCH"], parameters=[MEMBER_ID], request=s.MembershipSerializer,
                   responses={200: s.MembershipSerializer, 400: LAST_ADMIN_400})
    @extend_schema(methods=["DELETE"], parameters=[MEMBER_ID], request=None, responses={204: None, 400: LAST_ADMIN_400})
    @action(detail=True, methods=["patch", "delete"], url_path=r"members/(?P<member_id>[0-9]+)",
            serializer_class=s.MembershipSerializer, filter_backends=[])
    def member(self, request: Request, slug: str, member_id: str) -> Response:
        """Change a member's role (`{"role": "deployer"}`), or remove them from the project."""
        project, _ = get_project_for_user(request.user, slug, Role.ADMIN)
        member = memberships.member_of(project, member_id)
        if request.method == "DELETE":
            memberships.remove_member(member)
            return Response(status=status.HTTP_204_NO_CONTENT)
        serializer = s.MembershipSerializer(member, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        if "role" in serializer.validated_data:
            memberships.change_role(member, serializer.validated_data["role"])
        return Response(s.MembershipSerializer(member).data)

    @extend_schema(methods=["GET"], responses=s.InvitationSerializer(many=True))
    @extend_schema(methods=["POST"], request=s.InvitationSerializer, responses={202: s.InvitationSentSerializer})
    @action(detail=True, methods=["get", "post"], serializer_class=s.InvitationSerializer, filter_backends=[])
    def invitations(self, request: Request, slug: str) -> Response:
        """Admins: the invitations waiting for an answer, or invite someone (`{"invitee": "bob", "role": "viewer"}`).

        Inviting answers 202 with the same words whether or not the invitee has an account.
        """
        project, _ = get_project_for_user(request.user, slug, Role.ADMIN)
        if request.method == "GET":
            pending = Invitation.objects.filter(project=project).select_related("invited_by")
            return paginated(self, pending, s.InvitationSerializer)
        serializer = s.InvitationSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        invitation = memberships.invite(project, _user(request), serializer.validated_data["invitee"],
                                        serializer.validated_data["role"])
        return Response({"detail": memberships.invitation_sent(invitation)}, status=status.HTTP_202_ACCEPTED)

    @extend_schema(request=None, parameters=[INVITATION_ID], responses={204: None})
    @action(detail=True, methods=["delete"], url_path=r"invitations/(?P<invitation_id>[0-9]+)")
    def revoke_invitation(self, request: Request, slug: str, invitation_id: str) -> Response:
        """Admins: take back an invitation nobody has answered yet."""
        project, _ = get_project_for_user(request.user, slug, Role.ADMIN)
        memberships.revoke_invitation(project, invitation_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


class InvitationViewSet(ApiDefaults, mixins.ListModelMixin, viewsets.GenericViewSet):
    """Invitations waiting for your answer: accept to join the project with the role offered, or decline."""

    serializer_class = s.MyInvitationSerializer

    def get_queryset(self) -> QuerySet[Invitation]:
        if _schema_only(self):
            return Invitation.objects.none()
        return memberships.pending_invitations(_user(self.request))

    @extend_schema(request=None, responses={200: s.JoinedSerializer})
    @action(detail=True, methods=["post"])
    def accept(self, request: Request, pk: str) -> Response:
        membership = memberships.accept_invitation(_user(request), pk)
        return Response(s.JoinedSerializer(membership).data)

    @extend_schema(request=None, responses={204: None})
    @action(detail=True, methods=["post"])
    def decline(self, request: Request, pk: str) -> Response:
        memberships.decline_invitation(_user(request), pk)
        return Response(status=status.HTTP_204_NO_CONTENT)


@extend_schema_view(destroy=UNDEPLOY_FIRST)
class ModelViewSet(ApiDefaults, viewsets.ModelViewSet):
    serializer_class = s.ModelSerializer
    lookup_field = "model_id"
    filterset_class = ModelFilterSet

    def get_queryset(self) -> QuerySet[Model]:
        if _schema_only(self):  # the builds action lists builds
            return Build.objects.none() if self.action == "builds" else Model.objects.none()  # type: ignore[return-value]
        return Model.objects.filter(project__memberships__user=_user(self.request)).select_related("project")

    def get_serializer_class(self) -> type[s.ModelSerializer]:
        return s.ModelUpdateSerializer if self.action in ("update", "partial_update") else s.ModelSerializer

    def get_object(self) -> Model:
        needed = Role.VIEWER if self.request.method in ("GET", "HEAD", "OPTIONS") else Role.DEPLOYER
        model, _ = get_model_for_user(_user(self.request), self.kwargs["model_id"], needed)
        return model

    def perform_create(self, serializer: BaseSerializer) -> None:
        fields = dict(serializer.validated_data)
        project = fields.pop("project")
        get_project_for_user(_user(self.request), project.slug, Role.DEPLOYER)
        serializer.instance = create_model(project, **fields)

    def perform_destroy(self, instance: Model) -> None:
        delete_unless_deployed(instance, f"Model {instance.model_id}")

    @extend_schema(methods=["GET"], parameters=[MODEL_ID], responses=s.BuildSerializer(many=True))
    @extend_schema(methods=["POST"], parameters=[MODEL_ID], request={"multipart/form-data": s.BuildUploadSerializer},
                   responses={201: s.BuildSerializer, 409: CONFLICT})
    @action(detail=True, methods=["get", "post"], parser_classes=[MultiPartParser],
            serializer_class=s.BuildSerializer, filterset_class=ModelBuildFilterSet)
    def builds(self, request: Request, model_id: str) -> Response:
        """List this model's builds, or upload a new one (multipart: file, framework, example_input, label, tags).

        A file this model already has (same SHA-256) answers 409 naming that build, unless sent with
        allow_duplicate=true and a label of its own.
        """
        if request.method == "GET":
            model, _ = get_model_for_user(request.user, model_id)
            builds = self.filter_queryset(model.builds.select_related("model", "created_by"))
            return paginated(self, builds, s.BuildSerializer)
        model, _ = get_model_for_user(request.user, model_id, Role.DEPLOYER)
        upload = s.BuildUploadSerializer(data=request.data)
        upload.is_valid(raise_exception=True)
        data = upload.validated_data
        try:
            build = store_build(model, data["file"], data["framework"], data["example_input"], request.user,
                                upload.options)
        except DuplicateBuild as same:
            raise Conflict(f"{same.message} Its build_id is {same.existing.build_id}. To upload it again as a new "
                           "build, send allow_duplicate=true and a label of its own.") from None
        except DjangoValidationError as refused:  # the quota (the form's words, on the file), or a missing label
            raise ValidationError(refused.message_dict if hasattr(refused, "error_dict")
                                  else {"file": refused.messages}) from None
        return Response(s.BuildSerializer(build).data, status=status.HTTP_201_CREATED)


@extend_schema_view(destroy=extend_schema(
    responses={204: None, 409: CONFLICT},
    description="Delete a finished build no deployment uses (deployers), with its files. A build a deployment "
                "serves, or that a revision of an existing deployment names, answers 409 naming the deployment."))
class BuildViewSet(ApiDefaults, mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.UpdateModelMixin,
                   mixins.DestroyModelMixin, viewsets.GenericViewSet):
    """Builds of your projects. PATCH changes a build's label and tags, all that changes after upload."""

    serializer_class = s.BuildSerializer
    lookup_field = "build_id"
    filterset_class = BuildFilterSet

    def get_queryset(self) -> QuerySet[Build]:
        if _schema_only(self):
            return Build.objects.none()
        return Build.objects.for_user(_user(self.request)).select_related("model", "created_by")

    def get_serializer_class(self) -> type[s.BuildSerializer]:
        if self.action in ("update", "partial_update"):
            return s.BuildUpdateSerializer
        return s.BuildDetailSerializer if self.action == "retrieve" else s.BuildSerializer

    def get_object(self) -> Build:
        needed = Role.VIEWER if self.request.method in ("GET", "HEAD", "OPTIONS") else Role.DEPLOYER
        build, _ = get_build_for_user(_user(self.request), self.kwargs["build_id"], needed)
        return build

    def perform_update(self, serializer: BaseSerializer) -> None:
        build, data = cast(Build, serializer.instance), serializer.validated_data
        build.relabel(data.get("label", build.label), data.get("tags", build.tags))  # only these two columns

    def perform_destroy(self, instance: Build) -> None:
        try:
            delete_build(instance)
        except BuildInUse as refused:
            raise Conflict(refused.message) from None


class ApiTokenViewSet(ApiDefaults, mixins.ListModelMixin, mixins.CreateModelMixin, mixins.DestroyModelMixin,
                      viewsets.GenericViewSet):
    """Your own tokens. Creating one answers its value once; DELETE revokes."""

    serializer_class = s.ApiTokenSerializer

    def get_queryset(self) -> QuerySet[ApiToken]:
        if _schema_only(self):
            return ApiToken.objects.none()
        return ApiToken.objects.filter(user=_user(self.request))

    @extend_schema(responses={201: s.NewApiTokenSerializer})
    def create(self, request: Request, *args: object, **kwargs: object) -> Response:
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        lifetime = LIFETIMES[serializer.validated_data["expires_in"]][1]
        token, raw = ApiToken.issue(_user(request), serializer.validated_data["name"], lifetime)
        return Response({**s.ApiTokenSerializer(token).data, "token": raw}, status=status.HTTP_201_CREATED)

    def perform_destroy(self, instance: ApiToken) -> None:
        instance.revoke()
