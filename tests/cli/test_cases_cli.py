"""`berth deployments cases|save-case|delete-case|run-cases` against a live console.

The deployment's gateway is a small real HTTP server standing in for it (tests/fixtures/stand_in_gateway.py).
"""

from __future__ import annotations

import json

import pytest

from deployments.models import Deployment, SavedCase
from tests.cli.run import berth
from tests.fixtures.builds import IRIS_ROW
from tests.fixtures.people import token_for

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def deployment(behind_stand_in: Deployment) -> Deployment:
    return behind_stand_in


def test_a_case_saved_from_a_file_runs_and_passes_and_a_wrong_one_fails_the_exit_code(
        live_console, deployment, deployer, bob, gateway, tmp_path):
    (tmp_path / "request.json").write_text(json.dumps([IRIS_ROW]))
    saved = berth("deployments", "save-case", "--model-id", "iris", "--name", "setosa",
                  "--request", f"@{tmp_path / 'request.json'}", "--expected", '[{"species": 0}]',
                  url=live_console, token=token_for(deployer))
    passing = berth("deployments", "run-cases", "--model-id", "iris", url=live_console, token=token_for(bob))
    gateway.answer = (200, [{"species": 2}])
    failing = berth("deployments", "run-cases", "--model-id", "iris", "--variation", "default",
                    url=live_console, token=token_for(bob))

    assert saved.code == 0, saved.err
    assert saved.out.startswith("Saved case 'setosa' (id ")
    assert SavedCase.objects.get().request == [IRIS_ROW]
    assert passing.code == 0, passing.err
    assert passing.out.startswith("1 of 1 cases passed (any variation).")
    assert failing.code == 1
    assert failing.out.startswith("0 of 1 cases passed (variation default).")
    assert "FAIL" in failing.out
    assert "$[0].species: expected 0, got 2" in failing.out


def test_bad_json_is_refused_before_anything_is_sent(live_console, deployment, deployer):
    result = berth("deployments", "save-case", "--model-id", "iris", "--name", "x", "--request", "[{",
                   "--expected", "[]", url=live_console, token=token_for(deployer))

    assert result.code != 0
    assert "--request: not valid JSON" in result.err
    assert not SavedCase.objects.exists()


def test_a_viewer_is_told_saving_needs_the_deployer_role(live_console, deployment, bob):
    result = berth("deployments", "save-case", "--model-id", "iris", "--name", "x", "--request", "[]",
                   "--expected", "[]", url=live_console, token=token_for(bob))

    assert result.code != 0
    assert "deployer" in result.err.lower(), result.err
    assert not SavedCase.objects.exists()


def test_cases_are_listed_and_deleted_by_name(live_console, deployment, deployer):
    SavedCase.objects.create(deployment=deployment, name="setosa", request=[IRIS_ROW], expected=[{"species": 0}])

    listed = berth("deployments", "cases", "--model-id", "iris", "--json", url=live_console,
                   token=token_for(deployer))
    missing = berth("deployments", "delete-case", "--model-id", "iris", "--name", "nope", url=live_console,
                    token=token_for(deployer))
    deleted = berth("deployments", "delete-case", "--model-id", "iris", "--name", "setosa", url=live_console,
                    token=token_for(deployer))

    assert [case["name"] for case in json.loads(listed.out)] == ["setosa"]
    assert missing.code != 0
    assert "has no saved case named 'nope'" in missing.err
    assert deleted.code == 0, deleted.err
    assert not SavedCase.objects.exists()
