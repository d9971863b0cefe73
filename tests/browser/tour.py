"""Every page a user sees, in the states worth checking, for the accessibility and small-screen tests.

`make_world()` writes what the pages show (a project with members and invitations, builds ready, failed
and still validating, a serving deployment with events, a token); a `Stop` is one page in one state:
where to go, as whom, and what to do there to reach the state (a failed form, an open section).
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from typing import TypeVar

from django.db import connections
from playwright.sync_api import Page

from console.models import ApiToken
from deployments.models import (
    Build,
    BuildStatus,
    EventKind,
    EventLevel,
    Invitation,
    Model,
    Project,
    Role,
    RolloutEvent,
)
from tests.fixtures.browser import log_in
from tests.fixtures.deployments import a_ready_build, serving_deployment, variation
from tests.fixtures.people import PASSWORD, make_user

T = TypeVar("T")
FAILED_LOG = """berth: running model:IrisClassifier.build()…
Traceback (most recent call last):
  File "/srv/berth/serving/validate.py", line 77, in _build
    instance.build()
  File "/bundle/model.py", line 4, in build
    return 1 / 0
ZeroDivisionError: division by zero
berth: build failed: ZeroDivisionError: division by zero (model.py:4 in build)"""


@dataclass(frozen=True)
class World:
    deployment: int
    ready: str  # the build serving
    newer: str  # a ready build whose output schema differs
    failed: str
    token: int


def beside_playwright(work: Callable[..., T], *args: object) -> T:
    """Run `work` on another thread: this one runs Playwright's event loop, beside which the channel layer's
    publishes (a deployment's observed state) cannot run."""
    def in_thread() -> T:
        try:
            return work(*args)
        finally:
            connections.close_all()  # this thread's own connection, which would keep the test database open

    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(in_thread).result()


def make_world(project: Project, iris_model: Model) -> World:
    """What the tour's pages show; `project` has alice (admin) and bob (viewer), `iris_model` is in it."""
    charlie = make_user("charlie")
    growth = Project.objects.create(slug="growth", name="Growth team", description="Churn and upsell models.")
    growth.memberships.create(user=charlie, role=Role.ADMIN)
    alice = project.memberships.get(role=Role.ADMIN).user
    Invitation.objects.create(project=growth, invitee="alice", user=alice, role=Role.DEPLOYER, invited_by=charlie)
    Invitation.objects.create(project=project, invitee="erin@example.com", role=Role.VIEWER, invited_by=alice)

    schema = [{"name": "sepal_length", "dtype": "float64"}, {"name": "petal_width", "dtype": "float64"}]
    ready = a_ready_build(iris_model, label="v1", tags=["baseline"], sha256="ab" * 32, size_bytes=48_213,
                          input_schema=schema, output_schema=[{"name": "species", "dtype": "int64"}],
                          example_output=[{"species": 0}], requirements=["scikit-learn==1.5.2"],
                          timings={"build_s": 1.2, "load_s": 0.3})
    newer = a_ready_build(iris_model, source_name="iris-v2.tar.gz", label="v2-with-a-longer-label",
                          input_schema=schema, output_schema=[{"name": "prediction", "dtype": "int64"}])
    failed = Build.objects.create(model=iris_model, status=BuildStatus.FAILED, framework="python",
                                  source_name="iris-broken.tar.gz", log=FAILED_LOG,
                                  error="build failed: ZeroDivisionError: division by zero (model.py:4 in build)")
    Build.objects.create(model=iris_model, status=BuildStatus.BUILDING, source_name="iris-next.tar.gz")
    Model.objects.create(project=project, model_id="spam", name="Spam filter", description="Nothing ready yet.")

    deployment = serving_deployment(iris_model, variation(ready), revisions=2, user=alice)
    RolloutEvent.objects.create(
        deployment=deployment, kind=EventKind.REPLICA_CRASHED, level=EventLevel.ERROR,
        message="Replica default-0 exited with code 3; see https://docs.example.com/exit-codes/replica-crashed.",
        created_at=deployment.created_at - timedelta(days=2))
    RolloutEvent.objects.create(deployment=deployment, kind=EventKind.REPLICA_NOT_READY, level=EventLevel.WARNING,
                                message="Replica default-0 did not answer its readiness probe in 5 s.")
    token, _ = ApiToken.issue(alice, "ci-pipeline")
    return World(deployment=deployment.pk, ready=str(ready.build_id), newer=str(newer.build_id),
                 failed=str(failed.build_id), token=token.pk)


def submit_without_browser_checks(page: Page, button: str) -> None:
    """Submit as if the browser let `required` fields through, to see the server's own error state."""
    page.evaluate("document.querySelectorAll('form').forEach(form => { form.noValidate = true; })")
    with page.expect_navigation():
        page.click(button)


def fail_login(page: Page) -> None:
    page.fill("input[name=username]", "alice")
    page.fill("input[name=password]", "not-her-password")
    with page.expect_navigation():
        page.click("button[type=submit]")
    page.wait_for_selector(".errorlist")


def fail_review(page: Page) -> None:
    page.fill("#id_variations-0-replicas", "0")
    page.fill("#id_variations-0-name", "Bad_Name!")
    page.click("#review")
    page.wait_for_selector("#error-summary")


def open_advanced_with_a_variable(page: Page) -> None:
    page.click("details.advanced summary")
    page.click("button:has-text('Add a variable')")
    page.wait_for_selector("#id_variations-0-env-0-name")


def review_schema_change(page: Page) -> None:
    page.click("#review")
    page.wait_for_selector("#schema-warning")


def deploy_unacknowledged(page: Page) -> None:
    review_schema_change(page)
    submit_without_browser_checks(page, "#deploy")
    page.wait_for_selector("#acknowledge-error")


def create_token(page: Page) -> None:
    page.fill("input[name=name]", "laptop")
    with page.expect_navigation():
        page.click("button:has-text('Create token')")
    page.wait_for_selector("#new-token")


def open_full_log(page: Page) -> None:
    page.click("#full-log summary")


@dataclass(frozen=True)
class Stop:
    name: str
    path: str  # formatted with the World's fields
    then: Callable[[Page], None] | None = None
    user: str | None = "alice"
    status: int = 200
    form_errors: bool = False  # the state shows fields with errors

    def url(self, base_url: str, world: World) -> str:
        return base_url + self.path.format(**world.__dict__)


def clicking(button: str) -> Callable[[Page], None]:
    return lambda page: submit_without_browser_checks(page, button)


STOPS = [
    Stop("login", "/login/", user=None),
    Stop("login-failed", "/login/", fail_login, user=None, form_errors=True),  # the form's error marks both fields
    Stop("projects-with-invitations", "/projects/"),
    Stop("project-create-errors", "/projects/new/", clicking("button:has-text('Create project')"), form_errors=True),
    Stop("project", "/projects/fraud/"),
    Stop("project-invite-errors", "/projects/fraud/", clicking("button:has-text('Send invitation')"),
         form_errors=True),
    Stop("model-create-errors", "/projects/fraud/models/new/", clicking("button:has-text('Create model')"),
         form_errors=True),
    Stop("model-builds", "/models/iris/"),
    Stop("model-upload-errors", "/models/iris/", clicking("#upload-build button:has-text('Upload')"),
         form_errors=True),
    Stop("model-deployments", "/models/iris/deployments/"),
    Stop("build-ready", "/models/iris/builds/{ready}/"),
    Stop("build-failed", "/models/iris/builds/{failed}/", open_full_log),
    Stop("deploy-start", "/models/iris/deploy/"),
    Stop("deploy-no-ready-build", "/models/spam/deploy/"),
    Stop("deploy-configure", "/models/iris/deploy/realtime/", open_advanced_with_a_variable),
    Stop("deploy-configure-errors", "/models/iris/deploy/realtime/", fail_review, form_errors=True),
    Stop("deploy-review-schema-change", "/models/iris/deploy/realtime/?build={newer}", review_schema_change),
    Stop("deploy-review-unacknowledged", "/models/iris/deploy/realtime/?build={newer}", deploy_unacknowledged,
         form_errors=True),
    Stop("deployment-overview", "/deployments/{deployment}/"),
    Stop("deployment-configuration", "/deployments/{deployment}/configuration/"),
    Stop("deployment-events", "/deployments/{deployment}/events/"),
    Stop("deployment-rollback-confirm", "/deployments/{deployment}/rollback/?revision=1"),
    Stop("deployment-prediction", "/deployments/{deployment}/predict/"),
    Stop("deployment-logs", "/deployments/{deployment}/logs/"),
    Stop("deployment-usage", "/deployments/{deployment}/usage/"),
    Stop("tokens-new-secret", "/settings/tokens/", create_token),
    Stop("tokens-errors", "/settings/tokens/", clicking("button:has-text('Create token')"), form_errors=True),
    Stop("token-revoke", "/settings/tokens/{token}/revoke/"),
    Stop("docs", "/docs/builds/"),
    Stop("not-found", "/projects/no-such-project/", status=404),
    Stop("forbidden", "/models/iris/deploy/", user="bob", status=403),
]


def visit(page: Page, base_url: str, world: World, stop: Stop) -> None:
    """Open `stop` in `page` as its user (logged in here) and bring it to its state."""
    if stop.user:
        log_in(page, base_url, stop.user, PASSWORD)
    response = page.goto(stop.url(base_url, world))
    assert response is not None
    assert response.status == stop.status, f"{stop.name}: {stop.url(base_url, world)} answered {response.status}"
    if stop.then:
        stop.then(page)
    page.wait_for_load_state("load")
