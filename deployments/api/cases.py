"""Saved cases over the API: `/api/v1/deployments/<id>/cases/` — list, save, delete, run them all.

The same rules as the Prediction tab (deployments/views/predict.py): viewers and up list and run
cases (running only sends requests through the gateway, as any client does); saving and deleting
needs the deployer role, since cases are what a deployment is checked against. The checks are
deployments.prediction.cases' own, so the tab, the API and the CLI refuse the same things in the
same words.
"""

from __future__ import annotations

import json
from typing import Any, cast

from django.contrib.auth.models import User
from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from deployments.access import get_deployment_for_user
from deployments.api.base import ApiDefaults
from deployments.api.case_serializers import CaseRunRequestSerializer, CaseRunSerializer, SavedCaseSerializer
from deployments.models import Deployment, Role, SavedCase
from deployments.prediction.cases import CaseResult, run_cases, save_case

DEPLOYMENT_ID = OpenApiParameter("id", int, OpenApiParameter.PATH, description="The deployment's id.")
CASE_ID = OpenApiParameter("case_pk", int, OpenApiParameter.PATH, description="The saved case's id.")


def _user(request: Request) -> User:
    """The caller; IsAuthenticated (the default permission) has made sure it is a real account."""
    return cast(User, request.user)


def _result(result: CaseResult) -> dict[str, Any]:
    answer = result.answer
    return {"case": result.case.pk, "name": result.case.name, "passed": result.passed, "status": answer.status,
            "latency_ms": answer.latency_ms, "served_by": answer.served_by, "request_id": answer.request_id,
            "differences": result.diff}


class DeploymentCasesView(ApiDefaults):
    pagination_class = None

    @extend_schema(parameters=[DEPLOYMENT_ID], operation_id="deployments_cases_list",
                   responses=SavedCaseSerializer(many=True))
    def get(self, request: Request, pk: int) -> Response:
        """The deployment's saved cases, by name."""
        deployment, _ = get_deployment_for_user(request.user, pk)
        return Response(SavedCaseSerializer(deployment.saved_cases.select_related("created_by"), many=True).data)

    @extend_schema(parameters=[DEPLOYMENT_ID], operation_id="deployments_cases_create",
                   request=SavedCaseSerializer, responses={201: SavedCaseSerializer})
    def post(self, request: Request, pk: int) -> Response:
        """Save a case (deployer role): a request and the answer it must get."""
        deployment, _ = get_deployment_for_user(request.user, pk, Role.DEPLOYER)
        sent = SavedCaseSerializer(data=request.data)
        sent.is_valid(raise_exception=True)
        data = sent.validated_data
        try:
            case = save_case(deployment, _user(request), data["name"], json.dumps(data["request"]),
                             json.dumps(data["expected"]), data["tolerance"])
        except DjangoValidationError as exc:
            raise ValidationError(exc.message_dict) from None
        return Response(SavedCaseSerializer(case).data, status=status.HTTP_201_CREATED)


class DeploymentCaseView(ApiDefaults):
    pagination_class = None

    def _case(self, deployment: Deployment, case_pk: int) -> SavedCase:
        case = deployment.saved_cases.filter(pk=case_pk).first()
        if case is None:
            raise NotFound(f"Deployment {deployment.pk} has no saved case {case_pk}.")
        return case

    @extend_schema(parameters=[DEPLOYMENT_ID, CASE_ID], operation_id="deployments_cases_retrieve",
                   responses=SavedCaseSerializer)
    def get(self, request: Request, pk: int, case_pk: int) -> Response:
        deployment, _ = get_deployment_for_user(request.user, pk)
        return Response(SavedCaseSerializer(self._case(deployment, case_pk)).data)

    @extend_schema(parameters=[DEPLOYMENT_ID, CASE_ID], operation_id="deployments_cases_destroy",
                   responses={204: None})
    def delete(self, request: Request, pk: int, case_pk: int) -> Response:
        """Delete a saved case (deployer role)."""
        deployment, _ = get_deployment_for_user(request.user, pk, Role.DEPLOYER)
        self._case(deployment, case_pk).delete()
        return Response(status=status.HTTP_204_NO_CONTENT)


class DeploymentCasesRunView(ApiDefaults):
    pagination_class = None

    @extend_schema(parameters=[DEPLOYMENT_ID], operation_id="deployments_cases_run",
                   request=CaseRunRequestSerializer, responses=CaseRunSerializer)
    def post(self, request: Request, pk: int) -> Response:
        """Send every saved case through the gateway (any variation, or one by name); pass or fail per case."""
        deployment, _ = get_deployment_for_user(request.user, pk)
        sent = CaseRunRequestSerializer(data=request.data)
        sent.is_valid(raise_exception=True)
        variation = sent.validated_data["variation"]
        if variation and not deployment.variations.filter(name=variation).exists():
            raise ValidationError({"variation": [f"This deployment has no variation named {variation!r}."]})
        results = [_result(r) for r in run_cases(deployment, variation)]
        passed = sum(r["passed"] for r in results)
        return Response({"deployment": deployment.pk, "variation": variation, "ran": len(results), "passed": passed,
                         "failed": len(results) - passed, "results": results})
