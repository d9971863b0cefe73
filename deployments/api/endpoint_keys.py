"""A project's endpoint keys over the API: `/api/v1/projects/<slug>/endpoint-keys/`.

Members list them (viewers see names and status only); deployers and admins create and revoke
(deployments/endpoint_keys/keys.py holds the rules, shared with the page and the CLI).
"""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, status
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from deployments.access import get_project_for_user
from deployments.api.base import ApiDefaults
from deployments.api.endpoint_key_serializers import EndpointKeySerializer, NewEndpointKeySerializer
from deployments.endpoint_keys.keys import KeyRequestError, can_manage, create_key, revoke_key
from deployments.models import EndpointKey, Role

SLUG = OpenApiParameter("slug", str, OpenApiParameter.PATH, description="The project's slug.")
KEY_ID = OpenApiParameter("key_id", int, OpenApiParameter.PATH, description="The endpoint key's id.")


class ProjectEndpointKeysView(ApiDefaults, generics.GenericAPIView):
    serializer_class = EndpointKeySerializer
    queryset = EndpointKey.objects.none()

    @extend_schema(parameters=[SLUG], operation_id="projects_endpoint_keys_list",
                   responses=EndpointKeySerializer(many=True))
    def get(self, request: Request, slug: str) -> Response:
        """The project's endpoint keys, newest first, revoked ones included."""
        project, membership = get_project_for_user(request.user, slug)
        keys = EndpointKey.objects.filter(project=project).select_related("created_by")
        page = self.paginate_queryset(keys)
        data = EndpointKeySerializer(page, many=True, context={"can_manage": can_manage(membership)}).data
        return self.get_paginated_response(data)

    @extend_schema(parameters=[SLUG], operation_id="projects_endpoint_keys_create",
                   request=EndpointKeySerializer, responses={201: NewEndpointKeySerializer})
    def post(self, request: Request, slug: str) -> Response:
        """Deployers: create a key (`{"name": "billing service", "expires_in": "90d"}`); its value is answered once."""
        project, _ = get_project_for_user(request.user, slug, Role.DEPLOYER)
        sent = EndpointKeySerializer(data=request.data)
        sent.is_valid(raise_exception=True)
        try:
            key, raw = create_key(project, request.user, sent.validated_data["name"],
                                  sent.validated_data["expires_in"])
        except KeyRequestError as exc:
            raise ValidationError({"name": [str(exc)]}) from None
        return Response({**EndpointKeySerializer(key).data, "key": raw}, status=status.HTTP_201_CREATED)


class ProjectEndpointKeyView(ApiDefaults):
    @extend_schema(parameters=[SLUG, KEY_ID], operation_id="projects_endpoint_keys_destroy", request=None,
                   responses={204: None})
    def delete(self, request: Request, slug: str, key_id: int) -> Response:
        """Deployers: revoke a key; gateways refuse it once they have reloaded their routes (seconds)."""
        project, _ = get_project_for_user(request.user, slug, Role.DEPLOYER)
        key = EndpointKey.objects.filter(project=project, pk=key_id).first()
        if key is None:
            raise NotFound(f"Project {project.slug} has no endpoint key {key_id}.")
        revoke_key(key)
        return Response(status=status.HTTP_204_NO_CONTENT)
