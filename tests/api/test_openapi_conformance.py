"""The REST API against its own OpenAPI schema: schemathesis drives a live console with every check it has.

Bounded and repeatable: a fixed seed, derandomized generation, a few examples per operation and
a few steps per stateful scenario, so the run takes a minute or two on two cores. Path
parameters name the fixture's real objects (project `fraud`, model `iris`, its ready build, its
serving deployment and that deployment's rollout, a member, a spare token), so generated
requests reach the operations' code rather than a 404.

No operation is left out. Deleting the project or the model is refused while the deployment
serves (409); deleting a member or a token hits ones the run does not need. Deploy, scale,
rollback and undeploy only queue a rollout, on a queue no worker listens to (see `console`).
Everything else the run creates lives in the test database, which `transaction=True` empties
afterwards.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from django.contrib.auth.models import User
from hypothesis.configuration import set_hypothesis_home_dir
from kombu import Queue
from schemathesis.engine import events
from schemathesis.engine.run import TESTING_PHASES

from console.celery import app as celery_app
from console.models import ApiToken
from deployments.models import Membership, Model, Project, Role
from scripts.local_services import free_port, wait_for_port
from tests.fixtures.deployments import a_ready_build, serving_deployment, variation
from tests.fixtures.people import make_user, token_for
from tests.fixtures.processes import process_env, start_process

pytestmark = pytest.mark.django_db(transaction=True)

SEED = 20_261_202
EXAMPLES_PER_OPERATION = 8
DEFAULT_ACCEPTED = ["2xx", "3xx", "401", "403", "404", "409", "429", "5xx"]  # schemathesis's own default

# Operations whose valid-by-schema bodies may still be refused with 400, and why: each names things
# that must exist or be free, which no schema can say. Every other operation must accept valid data.
REFUSED_FOR_WHAT_EXISTS = [
    ("POST", "^/api/v1/projects/$", "the slug must be free"),
    ("POST", "^/api/v1/models/$", "the model ID must be free and the project one of yours"),
    ("POST", "^/api/v1/projects/[^/]+/members/$", "the username must name an existing account"),
    ("POST", "^/api/v1/models/[^/]+/builds/$", "the file must be a model bundle that unpacks"),
    ("POST", "^/api/v1/models/[^/]+/deploy/$", "builds and instance types must exist; traffic must add up to 100"),
    ("POST", "^/api/v1/deployments/[^/]+/scale/$", "the variation must serve, at another replica count"),
    ("POST", "^/api/v1/deployments/[^/]+/rollback/$", "the revision must be an earlier one that served"),
    ("POST", "^/api/v1/deployments/[^/]+/undeploy/$", "the deployment must not be stopped already"),
    ("GET", "^/api/v1/deployments/[^/]+/logs/$", "a cursor must be one the console gave out; until not before since"),
]


@dataclass
class Targets:
    """The real objects path parameters point at: by name, and `id` by the path it is in."""

    values: dict[str, Any]
    ids: dict[str, int] = field(default_factory=dict)


@pytest.fixture
def targets(project: Project, iris_model: Model, alice: User) -> Targets:
    build = a_ready_build(iris_model)
    deployment = serving_deployment(iris_model, variation(build), user=alice)
    assert deployment.current_rollout is not None
    erin = make_user("erin")
    member = Membership.objects.create(project=project, user=erin, role=Role.VIEWER)
    spare, _ = ApiToken.issue(alice, "spare")  # deleting it leaves the token the run uses alone
    return Targets(
        values={"slug": project.slug, "model_id": iris_model.model_id, "build_id": str(build.build_id),
                "member_id": member.pk},
        ids={"/api/v1/deployments/": deployment.pk, "/api/v1/rollouts/": deployment.current_rollout.pk,
             "/api/v1/tokens/": spare.pk})


def conformance_config(base_url: str, token: str, targets: Targets) -> schemathesis.Config:
    return schemathesis.Config.from_dict({
        "seed": SEED,
        "cache": {"enabled": False},  # nothing learned by an earlier run: every run is the same
        "base-url": base_url,
        "headers": {"Authorization": f"Bearer {token}"},
        # No NUL in generated text: PostgreSQL stores none, and the server refuses it in every field with 400
        # (tests/api/test_api_errors.py), which the schema does not repeat on every string.
        "generation": {"max-examples": EXAMPLES_PER_OPERATION, "deterministic": True, "database": "none",
                       "allow-x00": False},
        "checks": {"enabled": True},
        "phases": {"stateful": {"enabled": True, "max-steps": 20}},  # examples, coverage and fuzzing run too
        "parameters": targets.values,
        "operations": [
            *({"include-path-regex": f"^{prefix}", "parameters": {"id": pk}} for prefix, pk in targets.ids.items()),
            *({"include-method": method, "include-path-regex": path,
               "checks": {"positive_data_acceptance": {"expected-statuses": [*DEFAULT_ACCEPTED, "400"]}}}
              for method, path, _why in REFUSED_FOR_WHAT_EXISTS),
        ],
    })


@dataclass
class Run:
    cases: int
    failures: list[str]
    errors: list[str]
    seconds: float
    phases: list[str]  # each testing phase with how it ended, or why it was skipped


def describe(recorder: Any, case_id: str, check: Any) -> str:
    """One failure as a person reads it: the check, what it says, the request and the answer."""
    failure = check.failure_info.failure
    interaction = recorder.interactions.get(case_id)
    answer = ""
    if interaction is not None and interaction.response is not None:
        answer = f" -> {interaction.response.status_code} {interaction.response.content[:300]!r}"
    return f"{recorder.label}: {check.name}: {failure.title}: {failure.message}\n  {check.failure_info.code_sample}{answer}"


def run_schemathesis(schema: Any) -> Run:
    started = time.monotonic()
    cases, failures, errors, phases = 0, [], [], []
    for event in schemathesis.engine.from_schema(schema).execute():
        if isinstance(event, events.PhaseFinished) and event.phase.name in TESTING_PHASES:
            phases.append(f"{event.phase.name.value} {event.phase.skip_reason or event.status.value}")
        elif isinstance(event, events.ScenarioFinished):
            cases += len(event.recorder.cases)
            failures += [describe(event.recorder, case_id, check)
                         for case_id, checks in event.recorder.checks.items()
                         for check in checks if check.failure_info is not None]
        elif isinstance(event, events.NonFatalError):
            errors.append(f"{event.label}: {event.info.format()}")
        elif isinstance(event, events.FatalError):
            errors.append(f"fatal: {event.exception!r}")
    return Run(cases, sorted(set(failures)), errors, time.monotonic() - started, phases)


@pytest.fixture
def hypothesis_home(tmp_path: Path) -> Iterator[None]:
    """Hypothesis keeps its files here for the run, not in .hypothesis/ of the work tree."""
    set_hypothesis_home_dir(tmp_path / "hypothesis")
    yield
    set_hypothesis_home_dir(None)


@pytest.fixture
def console(django_db_setup: None, tmp_path: Path) -> Iterator[str]:
    """The console served as `live_console` is, on the test database, with a Celery queue of its own.

    A worker started by an earlier test of the session consumes `live_console`'s queue; here no
    worker listens, so a rollout the run asks for never starts a process, and the run does the
    same thing each time. What it queued is purged afterwards.
    """
    from django.conf import settings

    queue = f"{settings.CELERY_TASK_DEFAULT_QUEUE}-conformance"
    port = free_port()
    server = start_process([sys.executable, "-m", "uvicorn", "console.asgi:application", "--host", "127.0.0.1",
                            "--port", str(port)], tmp_path / "uvicorn.log", process_env(BERTH_CELERY_QUEUE=queue))
    try:
        wait_for_port(port, timeout_s=30)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()
        with celery_app.connection_for_write() as connection:
            Queue(queue).bind(connection.default_channel).purge()


@pytest.fixture
def api_schema(console: str, targets: Targets, alice: User, hypothesis_home: None) -> Any:
    token = token_for(alice)
    served = httpx.get(f"{console}/api/schema/?format=json", headers={"Authorization": f"Bearer {token}"},
                       timeout=30)
    served.raise_for_status()
    return schemathesis.openapi.from_dict(served.json(), config=conformance_config(console, token, targets))


def test_the_api_answers_as_its_schema_says_and_never_500(api_schema, capsys):
    run = run_schemathesis(api_schema)

    with capsys.disabled():
        print(f"\nschemathesis: {run.cases} cases in {run.seconds:.0f} s ({', '.join(run.phases)}), "
              f"{len(run.failures)} failures, {len(run.errors)} errors")
    problems = run.errors + run.failures
    assert not problems, "\n\n".join(problems)
