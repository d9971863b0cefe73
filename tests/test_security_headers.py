"""Security headers: the Content-Security-Policy on every page (and pages that keep to it), HTTPS-only
settings in production, and `manage.py check --deploy` passing with the documented configuration."""

from __future__ import annotations

import re
import subprocess
import sys
from typing import TYPE_CHECKING

import pytest
from django.conf import settings
from django.contrib.auth.models import User
from django.test import Client

from console.secret_key import new_secret_key
from deployments.models import Build, Deployment, Model
from tests.fixtures.deployments import a_ready_build, serving_deployment, variation
from tests.fixtures.people import PASSWORD, logged_in
from tests.fixtures.processes import REPO, process_env

if TYPE_CHECKING:
    from playwright.sync_api import Page

POLICY = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
          "frame-ancestors 'none'; base-uri 'self'; form-action 'self'; object-src 'none'")
TEMPLATES = REPO / "templates"
# What runs or styles from inside markup: all refused by the policy.
INLINE = {
    "inline <script>": re.compile(r"<script\b(?![^>]*\bsrc=)[^>]*>", re.I),
    "<style> element": re.compile(r"<style\b", re.I),
    "on* handler": re.compile(r"<[^>]*\son[a-z]+\s*=", re.I),
    "style attribute": re.compile(r"<[^>]*\sstyle\s*=", re.I),
    "hx-on attribute": re.compile(r"\shx-on[:-]", re.I),
    "javascript: URL": re.compile(r"javascript:", re.I),
}
DJANGO_COMMENTS = re.compile(r"\{#.*?#\}|\{% comment %\}.*?\{% endcomment %\}", re.S)
# The same in widget attrs set from Python (forms render these into pages).
PYTHON_ATTRS = re.compile(r"""["'](?:on[a-z]+|style|hx-on[:\w-]*)["']\s*:""")


@pytest.fixture
def staff_alice(alice: User) -> User:
    User.objects.filter(pk=alice.pk).update(is_staff=True, is_superuser=True)
    alice.refresh_from_db()
    return alice


@pytest.fixture
def build(iris_model: Model) -> Build:
    return a_ready_build(iris_model)


@pytest.fixture
def deployment(iris_model: Model, build: Build) -> Deployment:
    return serving_deployment(iris_model, variation(build))


def review_form(build: Build) -> dict[str, object]:
    return {"action": "review", "variations-TOTAL_FORMS": 1, "variations-INITIAL_FORMS": 0,
            "variations-MIN_NUM_FORMS": 1, "variations-MAX_NUM_FORMS": 1000,
            "variations-0-name": "default", "variations-0-build_id": str(build.build_id),
            "variations-0-instance_type": "small", "variations-0-replicas": 1, "variations-0-server_workers": 1,
            "variations-0-request_timeout_ms": 1000, "variations-0-deploy_timeout_min": 20,
            "variations-0-max_batch_size": 1, "variations-0-traffic_percent": 100,
            "variations-0-env-TOTAL_FORMS": 0, "variations-0-env-INITIAL_FORMS": 0}


def test_the_policy_is_the_documented_one():
    assert settings.CONTENT_SECURITY_POLICY == POLICY


def test_every_kind_of_page_carries_the_policy(staff_alice, project, iris_model, build, deployment):
    client = logged_in(staff_alice)
    pages = {
        "project list": "/projects/",
        "project": f"/projects/{project.slug}/",
        "new project": "/projects/new/",
        "new model": f"/projects/{project.slug}/models/new/",
        "model (builds)": "/models/iris/",
        "build": f"/models/iris/builds/{build.build_id}/",
        "model's deployments": "/models/iris/deployments/",
        "deployment overview": f"/deployments/{deployment.pk}/",
        "deployment configuration": f"/deployments/{deployment.pk}/configuration/",
        "deployment events": f"/deployments/{deployment.pk}/events/",
        "wizard: kind": "/models/iris/deploy/",
        "wizard: configure": f"/models/iris/deploy/realtime/?kind=realtime&build={build.build_id}",
        "API tokens": "/settings/tokens/",
        "API docs": "/api/docs/",
        "API docs' script": "/api/docs/?script=",
        "admin": "/admin/",
        "not found": "/models/no-such-model/",
    }
    for name, url in pages.items():
        response = client.get(url)
        assert response.status_code in (200, 404), (name, response.status_code)
        assert response["Content-Security-Policy"] == POLICY, name

    review = client.post("/models/iris/deploy/realtime/", review_form(build))
    assert 'id="review-diff"' in review.content.decode()
    assert review["Content-Security-Policy"] == POLICY
    assert client.get("/models/iris/deploy/realtime/", HTTP_HX_REQUEST="true")["Content-Security-Policy"] == POLICY


def test_the_json_editors_page_lets_only_its_own_nonce_add_styles(alice, deployment):
    """The Prediction tab's editor writes its styles into <style> elements: that response, and no other, accepts
    the ones carrying its fresh random nonce; scripts stay 'self' only."""
    client = logged_in(alice)
    first, second = (client.get(f"/deployments/{deployment.pk}/predict/") for _ in range(2))
    nonces = [re.findall(r'data-style-nonce="([^"]+)"', page.content.decode())[0] for page in (first, second)]

    assert first["Content-Security-Policy"] == POLICY.replace("style-src 'self'", f"style-src 'self' 'nonce-{nonces[0]}'")
    assert nonces[0] != nonces[1]
    assert len(nonces[0]) >= 24
    assert "script-src 'self';" in first["Content-Security-Policy"]
    assert client.get(f"/deployments/{deployment.pk}/")["Content-Security-Policy"] == POLICY


def test_pages_for_anonymous_visitors_carry_the_policy_too():
    client = Client()
    for url in ("/login/", "/admin/login/", "/projects/"):
        assert client.get(url)["Content-Security-Policy"] == POLICY, url


def test_the_locked_out_page_carries_the_policy(alice):
    for _ in range(settings.AXES_FAILURE_LIMIT):
        response = Client().post("/login/", {"username": "alice", "password": "wrong"})
    assert response.status_code == 429
    assert response["Content-Security-Policy"] == POLICY


def test_the_api_docs_start_swagger_from_a_script_file_not_inline(alice):
    page = logged_in(alice).get("/api/docs/").content.decode()

    assert re.search(r'<script src="/api/docs/\?script="></script>', page), page
    assert "<style" not in page
    script = logged_in(alice).get("/api/docs/?script=")
    assert script["Content-Type"].startswith("application/javascript")
    assert "SwaggerUIBundle(" in script.content.decode()


def test_no_template_has_inline_script_style_or_event_handlers():
    found = []
    assert (TEMPLATES / "base.html").is_file()
    for path in sorted(TEMPLATES.rglob("*.html")):
        text = DJANGO_COMMENTS.sub("", path.read_text())
        for what, pattern in INLINE.items():
            found += [f"{path.relative_to(REPO)}: {what}: {m.group(0)[:80]}" for m in pattern.finditer(text)]
    assert found == []


def test_no_form_widget_sets_an_inline_handler_or_style():
    found = []
    for package in ("console", "deployments", "monitoring"):
        for path in sorted((REPO / package).rglob("*.py")):
            found += [f"{path.relative_to(REPO)}: {m.group(0)}" for m in PYTHON_ATTRS.finditer(path.read_text())]
    assert found == []


def test_the_scan_would_catch_what_it_looks_for():
    samples = {
        "inline <script>": "<script>alert(1)</script>",
        "<style> element": "<style>p{}</style>",
        "on* handler": '<a href="/" onclick="history.back()">',
        "style attribute": '<p style="margin:0">',
        "hx-on attribute": '<button hx-on:click="x()">',
        "javascript: URL": '<a href="javascript:void(0)">',
    }
    for what, sample in samples.items():
        assert INLINE[what].search(sample), what
    assert not INLINE["inline <script>"].search('<script src="/static/x.js" defer></script>')
    assert not INLINE["on* handler"].search('<form method="post" action="/x/">')
    assert PYTHON_ATTRS.search('attrs={"onchange": "x()"}')
    assert DJANGO_COMMENTS.sub("", "{# no <style> here #}<p>") == "<p>"


# --- production: HTTPS only, and Django's deployment checklist -------------------------------------------

def production_env(**extra: str) -> dict[str, str]:
    """The environment docs/configuration.md, "Running in production", gives (on the test database)."""
    env = process_env(BERTH_SECURE_COOKIES="1", BERTH_DEBUG="false", BERTH_SECRET_KEY=new_secret_key(),
                      BERTH_ALLOWED_HOSTS="berth.example.com")
    env.update(extra)
    env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)  # set by the browser fixture in this test process, never in production
    return env


def manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "manage.py", *args], cwd=REPO, env=env,  # noqa: S603 - our own manage.py
                          capture_output=True, text=True, timeout=120)


def test_check_deploy_passes_with_the_documented_production_configuration(django_db_setup: None):
    result = manage("check", "--deploy", "--fail-level", "WARNING", env=production_env())

    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_check_deploy_fails_without_https_only(django_db_setup: None):
    result = manage("check", "--deploy", "--fail-level", "WARNING", env=production_env(BERTH_SECURE_COOKIES="false"))

    assert result.returncode != 0
    for check in ("security.W004", "security.W008", "security.W012", "security.W016"):
        assert check in result.stderr, check


PRODUCTION_REQUESTS = """
from django.test import Client
plain = Client().get("/login/", HTTP_HOST="berth.example.com")
print("plain", plain.status_code, plain["Location"])
secure = Client().get("/login/", HTTP_HOST="berth.example.com", secure=True)
print("hsts", secure["Strict-Transport-Security"])
print("csp", secure["Content-Security-Policy"])
print("nosniff", secure["X-Content-Type-Options"], secure["X-Frame-Options"], secure["Referrer-Policy"])
print("csrf-cookie-secure", bool(secure.cookies["csrftoken"]["secure"]))
from django.conf import settings
print("session-cookie-secure", settings.SESSION_COOKIE_SECURE)
"""


def test_in_production_plain_http_is_redirected_and_https_answers_with_hsts(django_db_setup: None):
    env = production_env()
    result = subprocess.run([sys.executable, "-c", "import django; django.setup()\n" + PRODUCTION_REQUESTS],  # noqa: S603
                            cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    said = dict(line.split(" ", 1) for line in result.stdout.splitlines())

    assert said["plain"] == "301 https://berth.example.com/login/"
    assert said["hsts"] == "max-age=31536000; includeSubDomains"
    assert said["csp"] == POLICY
    assert said["nosniff"] == "nosniff DENY same-origin"
    assert said["csrf-cookie-secure"] == "True"
    assert said["session-cookie-secure"] == "True"


def test_out_of_production_nothing_is_https_only():
    response = Client().get("/login/")

    assert response.status_code == 200
    assert "Strict-Transport-Security" not in response
    assert not settings.SESSION_COOKIE_SECURE


# --- in a browser: pages work under the policy --------------------------------------------------------------

WATCH_CSP = """
window.__csp = [];
document.addEventListener("securitypolicyviolation",
  (e) => window.__csp.push(`${e.violatedDirective} ${e.blockedURI} ${e.sourceFile}:${e.lineNumber}`));
document.addEventListener("htmx:wsOpen", () => { window.__wsOpens = (window.__wsOpens || 0) + 1; });
"""


@pytest.fixture
def watched_page(page: Page) -> tuple[Page, list[str]]:
    """A page that records CSP violations and console errors; the test ends by asserting there were none."""
    errors: list[str] = []
    page.add_init_script(WATCH_CSP)
    page.on("console", lambda message: errors.append(f"{message.text} ({message.location.get('url')})")
            if message.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("response", lambda response: errors.append(f"{response.status} {response.url}")
            if response.status >= 400 else None)
    return page, errors


def violations(page: Page) -> list[str]:
    return page.evaluate("window.__csp")


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_in_a_browser_every_page_works_under_the_policy_without_a_violation(
        live_console, staff_alice, project, iris_model, build, deployment, watched_page):
    page, errors = watched_page
    page.goto(f"{live_console}/login/")
    page.fill("input[name=username]", "alice")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_console}/projects/")
    assert violations(page) == []

    for url in (f"/projects/{project.slug}/", "/settings/tokens/", "/admin/", "/models/iris/deployments/"):
        page.goto(live_console + url)
        assert violations(page) == [], url

    for url in ("/models/iris/", f"/models/iris/builds/{build.build_id}/", f"/deployments/{deployment.pk}/",
                f"/deployments/{deployment.pk}/configuration/", f"/deployments/{deployment.pk}/events/"):
        page.goto(live_console + url)
        page.wait_for_function("() => window.__wsOpens >= 1")  # connect-src 'self' lets the live socket open
        assert violations(page) == [], url

    # The wizard: htmx checks fields as they are typed, and the review's Back link goes back.
    page.goto(f"{live_console}/models/iris/deploy/")
    page.click("button:has-text('Next')")
    page.wait_for_selector("#deploy-form")
    page.fill("#id_variations-0-name", "Default!")
    page.wait_for_selector("#err-variations-0-name li")
    page.fill("#id_variations-0-name", "canary")
    page.wait_for_selector("#err-variations-0-name li", state="detached")
    page.click("#review")
    page.wait_for_selector("#review-diff")
    page.click("#deploy-confirm a:has-text('Back')")
    page.wait_for_selector("#deploy-form")
    assert "kind=realtime" in page.url, "Back should return to the configure page the review came from"
    assert violations(page) == []

    # The Prediction tab's JSON editor adds its styles under this response's nonce, and they apply.
    page.goto(f"{live_console}/deployments/{deployment.pk}/predict/")
    page.fill("#predict-body-editor .cm-content", '{"sepal_length": 5.1,')
    page.wait_for_selector("#predict-body-editor .cm-lint-marker-error", state="visible")
    assert violations(page) == []

    page.goto(f"{live_console}/api/docs/")
    page.wait_for_selector("#swagger-ui .opblock")  # Swagger UI ran and loaded the schema
    assert violations(page) == []
    assert errors == []  # /favicon.ico too, which Chromium asks for on pages that name no icon


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_in_a_browser_the_locked_out_page_says_when_to_try_again(watched_page, live_console, alice):
    page, errors = watched_page
    for _ in range(settings.AXES_FAILURE_LIMIT):
        page.goto(f"{live_console}/login/")
        page.fill("input[name=username]", "alice")
        page.fill("input[name=password]", "not-the-password")
        page.click("button[type=submit]")

    page.wait_for_selector("#locked-out")
    assert "Try again in 15 minutes" in page.inner_text("#locked-out")
    assert violations(page) == []
    # The 429 itself is logged by Chromium as a failed resource; nothing else may be.
    assert [e for e in errors if "429" not in e] == []

