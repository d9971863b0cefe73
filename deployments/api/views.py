"""REST API for projects, members, models, builds and tokens: the UI's operations over HTTP."""

from __future__ import annotations

from typing import cast

from django.contrib.auth.models import User
from django.db.models import QuerySet
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.serializers import BaseSerializer

from console.models import ApiToken
from deployments.access import get_build_for_user, get_model_for_user, get_project_for_user
from deployments.api import serializers as s
from deployments.builds.upload import store_build
from deployments.filtersets import BuildFilterSet, ModelFilterSet
from deployments.models import Build, Membership, Model, Project, Role
from deployments.projects.memberships import create_project, remove_member, set_role


def _user(request: Request) -> User:
    """The caller; IsAuthenticated (the default permission) has made sure it is a real account."""
    return cast(User, request.user)


class ProjectViewSet(viewsets.ModelViewSet):
    serializer_class = s.ProjectSerializer
    lookup_field = "slug"

    def get_queryset(self) -> QuerySet[Project]:
        return Project.objects.for_user(_user(self.request))

    def get_serializer_context(self) -> dict:
        context = dict(super().get_serializer_context())
        context["roles"] = dict(Membership.objects.filter(user=_user(self.request)).values_list("project_id", "role"))
        return context

    def get_object(self) -> Project:
        needed = Role.VIEWER if self.request.method in ("GET", "HEAD", "OPTIONS") else Role.ADMIN
        project, _ = get_project_for_user(_user(self.request), self.kwargs["slug"], needed)
        return project

    def perform_create(self, serializer: BaseSerializer) -> None:
        serializer.instance = create_project(_user(self.request), **serializer.validated_data)

    @extend_schema(request=s.MembershipSerializer, responses=s.MembershipSerializer(many=True))
    @action(detail=True, methods=["get", "post"], serializer_class=s.MembershipSerializer)
    def members(self, request: Request, slug: str) -> Response:
        """List members, or invite one: {"username": "...", "role": "viewer|deployer|admin"}."""
        needed = Role.VIEWER if request.method == "GET" else Role.ADMIN
        project, _ = get_project_for_user(request.user, slug, needed)
        if request.method == "POST":
            serializer = s.MembershipSerializer(data=request.data)
            serializer.is_valid(raise_exception=True)
            membership = set_role(project, serializer.validated_data["username"], serializer.validated_data["role"])
            return Response(s.MembershipSerializer(membership).data, status=status.HTTP_201_CREATED)
        members = project.memberships.select_related("user")
        return Response(s.MembershipSerializer(members, many=True).data)

    @extend_schema(request=None, responses={204: None})
    @action(detail=True, methods=["delete"], url_path=r"members/(?P<member_id>\d+)")
    def remove_member(self, request: Request, slug: str, member_id: str) -> Response:
        project, _ = get_project_for_user(request.user, slug, Role.ADMIN)
        member = get_object_or_404(Membership, project=project, pk=member_id)
        remove_member(member)
        return Response(status=status.HTTP_204_NO_CONTENT)


class ModelViewSet(viewsets.ModelViewSet):
    serializer_class = s.ModelSerializer
    lookup_field = "model_id"
    filterset_class = ModelFilterSet

    def get_queryset(self) -> QuerySet[Model]:
        return Model.objects.filter(project__memberships__user=_user(self.request)).select_related("project")

    def get_object(self) -> Model:
        needed = Role.VIEWER if self.request.method in ("GET", "HEAD", "OPTIONS") else Role.DEPLOYER
        model, _ = get_model_for_user(_user(self.request), self.kwargs["model_id"], needed)
        return model

    def perform_create(self, serializer: BaseSerializer) -> None:
        project = serializer.validated_data["project"]
        get_project_for_user(_user(self.request), project.slug, Role.DEPLOYER)
        serializer.save()

    def perform_update(self, serializer: BaseSerializer) -> None:
        moved_to = serializer.validated_data.get("project")
        if serializer.instance is not None and moved_to is not None and moved_to != serializer.instance.project:
            raise ValidationError({"project": ["A model cannot move to another project."]})
        serializer.save()

    @extend_schema(request={"multipart/form-data": s.BuildUploadSerializer}, responses={201: s.BuildSerializer})
    @action(detail=True, methods=["get", "post"], parser_classes=[MultiPartParser, FormParser, JSONParser],
            serializer_class=s.BuildSerializer)
    def builds(self, request: Request, model_id: str) -> Response:
        """List this model's builds, or upload a new one (multipart: file, framework, example_input)."""
        if request.method == "GET":
            model, _ = get_model_for_user(request.user, model_id)
            builds = BuildFilterSet(request.query_params, model.builds.select_related("model", "created_by")).qs
            return Response(s.BuildSerializer(builds, many=True).data)
        model, _ = get_model_for_user(request.user, model_id, Role.DEPLOYER)
        upload = s.BuildUploadSerializer(data=request.data)
        upload.is_valid(raise_exception=True)
        data = upload.validated_data
        build = store_build(model, data["file"], data["framework"], data["example_input"], request.user)
        return Response(s.BuildSerializer(build).data, status=status.HTTP_201_CREATED)


class BuildViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    serializer_class = s.BuildSerializer
    lookup_field = "build_id"
    filterset_class = BuildFilterSet

    def get_queryset(self) -> QuerySet[Build]:
        return Build.objects.for_user(_user(self.request)).select_related("model", "created_by")

    def get_serializer_class(self) -> type[s.BuildSerializer]:
        return s.BuildDetailSerializer if self.action == "retrieve" else s.BuildSerializer

    def get_object(self) -> Build:
        build, _ = get_build_for_user(_user(self.request), self.kwargs["build_id"])
        return build


class ApiTokenViewSet(mixins.ListModelMixin, mixins.CreateModelMixin, mixins.DestroyModelMixin,
                      viewsets.GenericViewSet):
    """Your own tokens. Creating one answers its value once; DELETE revokes."""

    serializer_class = s.ApiTokenSerializer

    def get_queryset(self) -> QuerySet[ApiToken]:
        return ApiToken.objects.filter(user=_user(self.request))

    def create(self, request: Request, *args: object, **kwargs: object) -> Response:
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        token, raw = ApiToken.issue(_user(request), serializer.validated_data["name"])
        return Response({**s.ApiTokenSerializer(token).data, "token": raw}, status=status.HTTP_201_CREATED)

    def perform_destroy(self, instance: ApiToken) -> None:
        instance.revoke()
