"""The OpenAPI document at /api/schema/ says what the server does: page shapes, nulls, errors, request rules."""

from __future__ import annotations

from typing import Any

import jsonschema_rs
import pytest

from tests.api.client import api_as

pytestmark = pytest.mark.django_db

METHODS = ("get", "post", "put", "patch", "delete")


@pytest.fixture
def schema(alice) -> dict[str, Any]:
    response = api_as(alice).get("/api/schema/?format=json")
    assert response.status_code == 200
    return response.json()


def operations(schema: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(method.upper(), path, operation) for path, item in schema["paths"].items()
            for method, operation in item.items() if method in METHODS]


def component(schema: dict[str, Any], name: str) -> dict[str, Any]:
    return schema["components"]["schemas"][name]


def as_request(body: dict[str, Any]) -> dict[str, Any]:
    """A component as a request body is checked: read-only properties are not asked for (OpenAPI's rule)."""
    read_only = {name for name, prop in body.get("properties", {}).items() if prop.get("readOnly")}
    required = [name for name in body.get("required", []) if name not in read_only]
    return {**{key: value for key, value in body.items() if key != "required"}, **({"required": required} if required else {})}


def answer_schema(operation: dict[str, Any], status: str) -> dict[str, Any]:
    return operation["responses"][status]["content"]["application/json"]["schema"]


@pytest.mark.parametrize(("path", "page"), [
    ("/api/v1/deployments/{id}/events/", "PaginatedRolloutEventList"),
    ("/api/v1/deployments/{id}/rollouts/", "PaginatedRolloutList"),
    ("/api/v1/rollouts/{id}/events/", "PaginatedRolloutEventList"),
    ("/api/v1/projects/{slug}/members/", "PaginatedMembershipList"),
    ("/api/v1/models/{model_id}/builds/", "PaginatedBuildList"),
])
def test_the_lists_once_answered_as_bare_arrays_are_documented_as_the_pages_they_now_are(schema, path, page):
    listing = schema["paths"][path]["get"]

    assert answer_schema(listing, "200") == {"$ref": f"#/components/schemas/{page}"}
    assert {p["name"] for p in listing["parameters"] if p["in"] == "query"} >= {"limit", "offset"}


def test_limit_and_offset_are_documented_with_their_bounds(schema):
    parameters = {p["name"]: p["schema"] for p in schema["paths"]["/api/v1/models/"]["get"]["parameters"]}

    assert parameters["limit"] == {"type": "integer", "minimum": 1, "maximum": 1000, "default": 100}
    assert parameters["offset"] == {"type": "integer", "minimum": 0, "maximum": 2_147_483_647, "default": 0}


def test_an_invitation_answers_202_with_words_alone_and_members_are_not_added_directly(schema):
    invite = schema["paths"]["/api/v1/projects/{slug}/invitations/"]["post"]

    assert answer_schema(invite, "202") == {"$ref": "#/components/schemas/InvitationSent"}
    assert list(component(schema, "InvitationSent")["properties"]) == ["detail"]
    assert "parameters" not in invite or all(p["in"] == "path" for p in invite["parameters"])
    assert "post" not in schema["paths"]["/api/v1/projects/{slug}/members/"]


@pytest.mark.parametrize(("name", "field"), [
    ("Rollout", "duration_s"), ("Rollout", "triggered_by"), ("Rollout", "started_at"),
    ("Deployment", "current_revision"), ("DeploymentDetail", "current_revision"),
    ("DeploymentDetail", "active_rollout"), ("RolloutEvent", "revision"), ("RolloutEvent", "rollout"),
    ("Build", "created_by"), ("Build", "finished_at"), ("Project", "role"),
])
def test_fields_the_server_sends_as_null_are_nullable(schema, name, field):
    assert component(schema, name)["properties"][field].get("nullable") is True


def test_every_operation_documents_the_errors_it_answers(schema):
    for method, path, operation in operations(schema):
        documented = set(operation["responses"])
        expected = {"401"}
        if "{" in path:
            expected.add("404")
        if method != "GET":
            expected.add("403")
        if method in ("POST", "PUT", "PATCH") or any(p["in"] == "query" for p in operation.get("parameters", [])):
            expected.add("400")
        assert expected <= documented, (method, path, expected - documented)
        for status in documented - {"200", "201", "202", "204"}:
            assert answer_schema(operation, status)["$ref"] in (
                "#/components/schemas/Error", "#/components/schemas/FieldErrors"), (method, path, status)


@pytest.mark.parametrize(("method", "path"), [
    ("DELETE", "/api/v1/models/{model_id}/"), ("DELETE", "/api/v1/projects/{slug}/"),
    ("POST", "/api/v1/models/{model_id}/deploy/"), ("POST", "/api/v1/deployments/{id}/scale/"),
    ("POST", "/api/v1/deployments/{id}/rollback/"), ("POST", "/api/v1/deployments/{id}/undeploy/"),
])
def test_conflicts_are_documented_where_they_happen(schema, method, path):
    operation = schema["paths"][path][method.lower()]

    assert answer_schema(operation, "409") == {"$ref": "#/components/schemas/Error"}


@pytest.mark.parametrize(("name", "body", "valid"), [
    ("PatchedProjectUpdate", {"name": ""}, False),
    ("PatchedProjectUpdate", {"name": "   "}, False),
    ("PatchedProjectUpdate", {"name": "Fraud & risk"}, True),
    ("Project", {"slug": "fraud\n", "name": "Fraud"}, False),
    ("Project", {"slug": "fraud", "name": "Fraud"}, True),
    ("PatchedModelUpdate", {"name": ""}, False),
    ("ApiToken", {"name": ""}, False),
    ("DeployRequest", {"variations": [{"build_id": "e3e70682-c209-4cac-a29f-6fbed82c07cd"}],
                       "environment": "A/../A/.."}, False),
    ("DeployRequest", {"variations": [{"build_id": "e3e70682-c209-4cac-a29f-6fbed82c07cd"}],
                       "environment": "staging"}, True),
    ("DeployRequest", {"variation": {}, "variations": []}, False),
    ("DeployRequest", {}, False),
    ("Scale", {"replicas": "3"}, False),
])
def test_request_bodies_the_server_refuses_are_invalid_by_the_schema_too(schema, name, body, valid):
    validator = jsonschema_rs.Draft4Validator({**as_request(component(schema, name)), "components": schema["components"]})

    assert validator.is_valid(body) is valid


def test_the_token_made_is_documented_with_its_one_time_value(schema):
    create = schema["paths"]["/api/v1/tokens/"]["post"]

    assert answer_schema(create, "201") == {"$ref": "#/components/schemas/NewApiToken"}
    assert "token" in component(schema, "NewApiToken")["required"]
