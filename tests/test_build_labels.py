"""A build's label and tags and what validation records are written apart: neither undoes the other."""

from __future__ import annotations

import pytest

from deployments.models import Build, BuildStatus, Model
from tests.api.client import api_as

pytestmark = pytest.mark.django_db


def a_building_build(model: Model) -> Build:
    return Build.objects.create(model=model, status=BuildStatus.BUILDING, framework="python",
                                source_name="iris.tar.gz")


def test_a_label_given_while_validating_is_kept_when_validation_finishes(iris_model):
    build = a_building_build(iris_model)
    validating = Build.objects.get(pk=build.pk)  # the task's copy, loaded before the label changed

    build.relabel("v2", ["candidate"])
    validating.record_result(True, "berth: validation passed")

    build.refresh_from_db()
    assert (build.status, build.label, build.tags) == (BuildStatus.READY, "v2", ["candidate"])


def test_a_label_change_through_the_api_does_not_undo_a_validation_that_finished_meanwhile(iris_model, alice,
                                                                                           monkeypatch):
    build = a_building_build(iris_model)
    stale = Build.objects.get(pk=build.pk)  # what the PATCH loaded, just before validation finished
    build.record_result(True, "berth: validation passed")
    monkeypatch.setattr("deployments.api.views.get_build_for_user", lambda *args, **kwargs: (stale, None))

    response = api_as(alice).patch(f"/api/v1/builds/{build.build_id}/", {"label": "v2"}, format="json")

    assert response.status_code == 200, response.json()
    build.refresh_from_db()
    assert (build.status, build.label, build.log) == (BuildStatus.READY, "v2", "berth: validation passed")
