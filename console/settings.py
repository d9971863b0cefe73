"""Berth console settings, all read from the environment (see docs/configuration.md)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from console.crypto import configured_keys
from console.database import embedded_database_url
from console.env import envbool, envint, envlist, envstr
from console.secret_key import load_or_create, new_secret_key

BASE_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = Path(envstr("BERTH_DATA_DIR", str(BASE_DIR / "var"))).resolve()

DEBUG = envbool("BERTH_DEBUG", False)
SECRET_KEY = envstr("BERTH_SECRET_KEY") or load_or_create(DATA_DIR, "secret_key", new_secret_key)
ALLOWED_HOSTS = envlist("BERTH_ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]"])
CSRF_TRUSTED_ORIGINS = envlist("BERTH_CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "channels",
    "django_htmx",
    "template_partials",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_filters",
    "axes",
    "console",
    "deployments",
    "monitoring",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "console.middleware.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "console.middleware.VaryOnHtmxMiddleware",
    "axes.middleware.AxesMiddleware",  # last, as axes requires: turns a locked-out login into its 429 page
]

ROOT_URLCONF = "console.urls"
ASGI_APPLICATION = "console.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "console.context_processors.berth",
            ],
        },
    },
]

DATABASES = {
    "default": dj_database_url.parse(
        envstr("DATABASE_URL", embedded_database_url(DATA_DIR)),  # the PostgreSQL `make run` starts
        conn_max_age=envint("BERTH_DB_CONN_MAX_AGE", 0, minimum=0),
    )
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = envstr("REDIS_URL", "redis://127.0.0.1:6379/0")
# Redis timeouts, chosen rather than inherited (redis-py 8 gives every socket 5 s, kombu none at all).
# A read must outlast the longest blocking command sent on that connection, or it times out just as
# Redis answers: channels-redis waits for a socket's next message in BZPOPMIN for 5 s, so with
# redis-py's 5 s every idle WebSocket died after 5 s ("Timeout reading from …"). Celery's BRPOP
# blocks for 1 s. Everything else is a quick command, so 30 s only bounds a hung connection.
REDIS_READ_TIMEOUT_S = 30
REDIS_CONNECT_TIMEOUT_S = 5  # a local or in-cluster Redis accepts in milliseconds; an outage shows in seconds

# Every Redis key the console makes starts with this (channel layer, log readers, locks), so two
# consoles (or two test sessions, whose databases both have a deployment 1) never share one.
REDIS_KEY_PREFIX = envstr("BERTH_CHANNEL_PREFIX", "berth")

CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        "CONFIG": {
            "hosts": [{"address": REDIS_URL, "socket_timeout": REDIS_READ_TIMEOUT_S,
                       "socket_connect_timeout": REDIS_CONNECT_TIMEOUT_S}],
            "prefix": REDIS_KEY_PREFIX,
            # A message unread for a minute is for a socket that is gone; a page that reconnects
            # renders the current state anew rather than replaying old fragments.
            "expiry": 60,
            # A socket's group membership lasts this long (a page open longer stops getting
            # updates): a week, for a page left open over a weekend. Members left behind by a
            # killed process cost only sends that expire.
            "group_expiry": 7 * 24 * 3600,
            # Messages queued per socket before sends to it are dropped: they are small (ids), and
            # a rollout's burst of replica events must not be lost while a consumer renders.
            "capacity": 500,
        },
    }
}

CELERY_BROKER_URL = REDIS_URL
CELERY_RESULT_BACKEND = None
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_TASK_TRACK_STARTED = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_DEFAULT_QUEUE = envstr("BERTH_CELERY_QUEUE", "berth")
CELERY_TASK_TIME_LIMIT = envint("BERTH_TASK_TIME_LIMIT_S", 3 * 3600, minimum=60)
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": CELERY_TASK_TIME_LIMIT + 60,
    # kombu passes no socket timeout (wait forever): a publish from a web request or a worker
    # on a half-open connection would hang. The read timeout is well over its 1 s BRPOP.
    "socket_timeout": REDIS_READ_TIMEOUT_S,
    "socket_connect_timeout": REDIS_CONNECT_TIMEOUT_S,
    # kombu's default, stated: PING an idle connection first, and drop a BRPOP overdue by this long.
    "health_check_interval": 25,
}
CELERY_BEAT_SCHEDULE_FILENAME = str(DATA_DIR / "celerybeat-schedule")
BERTH_RECONCILE_INTERVAL_S = envint("BERTH_RECONCILE_INTERVAL_S", 30, minimum=1)
BERTH_HEALTH_INTERVAL_S = envint("BERTH_HEALTH_INTERVAL_S", 5, minimum=1)
# A task's lock outlives a killed worker by at most this long; its retry waits that out.
BERTH_LOCK_TTL_S = envint("BERTH_LOCK_TTL_S", 30, minimum=3)

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
# Login throttling (django-axes, attempts stored in the database): after BERTH_LOGIN_FAILURE_LIMIT
# wrong passwords in a row for one username from one address, that pair is refused (429, saying when
# to try again) until BERTH_LOGIN_COOLOFF_MIN minutes after the last counted failure; a successful
# login clears the count. Covers every password login (console and admin: both call authenticate()
# with the request). API tokens never go through authenticate(), so they are not throttled here.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",  # refuses a locked-out pair before the password is checked
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = envint("BERTH_LOGIN_FAILURE_LIMIT", 5, minimum=1)
AXES_COOLOFF_TIME = timedelta(minutes=envint("BERTH_LOGIN_COOLOFF_MIN", 15, minimum=1))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]  # one pair; the same user elsewhere, or another user, still logs in
AXES_RESET_ON_SUCCESS = True
# Attempts refused during a lockout don't restart the cool-off, so the time the page gives holds.
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
AXES_LOCKOUT_CALLABLE = "console.middleware.login_locked_out"
AXES_VERBOSE = False  # axes' start-up banner; failures and lockouts are still logged
# The client's address is REMOTE_ADDR: uvicorn sets it from X-Forwarded-For when the request comes
# from a proxy it trusts (FORWARDED_ALLOW_IPS, 127.0.0.1 by default). docs/configuration.md,
# "Running in production".

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = DATA_DIR / "staticfiles"  # `collectstatic` target; whitenoise also serves straight from finders
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "console.api_auth.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.LimitOffsetPagination",
    "PAGE_SIZE": 100,
    "EXCEPTION_HANDLER": "console.api_errors.exception_handler",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Berth API",
    "DESCRIPTION": "Everything the Berth console does, over REST.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAuthenticated"],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # `check --deploy` checks a deployment's settings (docs/configuration.md, "Running in production");
    # drf-spectacular would add its schema-generation warnings about our own API code, which no
    # setting of an install can fix.
    "ENABLE_DJANGO_DEPLOY_CHECK": False,
}

# Builds
BERTH_MAX_UPLOAD_MB = envint("BERTH_MAX_UPLOAD_MB", 512, minimum=1)
BERTH_BUILD_TIMEOUT_S = envint("BERTH_BUILD_TIMEOUT_S", 600, minimum=1)
BERTH_BUILD_MEMORY_MB = envint("BERTH_BUILD_MEMORY_MB", 4096, minimum=256)
BERTH_BUILD_MAX_ATTEMPTS = envint("BERTH_BUILD_MAX_ATTEMPTS", 3, minimum=1)
BERTH_MAX_UNPACKED_MB = envint("BERTH_MAX_UNPACKED_MB", 4096, minimum=1)
# The total unpacked size of one project's builds; an upload past it is refused.
BERTH_PROJECT_STORAGE_MB = envint("BERTH_PROJECT_STORAGE_MB", 5120, minimum=1)
# Failed builds (row, log, files) are deleted this many days after they failed; 0 keeps them.
BERTH_FAILED_BUILD_RETENTION_DAYS = envint("BERTH_FAILED_BUILD_RETENTION_DAYS", 14, minimum=0)
# The sandbox model code runs in (build validation and replicas): docs/runtime.md, "Security model".
BERTH_SANDBOX_MAX_PROCESSES = envint("BERTH_SANDBOX_MAX_PROCESSES", 128, minimum=8)
BERTH_SANDBOX_MAX_OPEN_FILES = envint("BERTH_SANDBOX_MAX_OPEN_FILES", 1024, minimum=64)
BERTH_SANDBOX_SCRATCH_MB = envint("BERTH_SANDBOX_SCRATCH_MB", 512, minimum=16)
FILE_UPLOAD_MAX_MEMORY_SIZE = 4 * 1024 * 1024
DATA_UPLOAD_MAX_MEMORY_SIZE = 16 * 1024 * 1024

# Runtime: where replicas and gateways run (docs/runtime.md)
BERTH_BACKEND = envstr("BERTH_BACKEND", "local")
if BERTH_BACKEND not in ("local", "kubernetes"):
    raise ImproperlyConfigured(f"BERTH_BACKEND={BERTH_BACKEND!r}: use local or kubernetes")
BERTH_RUNTIME_DIR = Path(envstr("BERTH_RUNTIME_DIR", str(DATA_DIR / "runtime"))).resolve()
BERTH_SUPERVISOR_URL = envstr("BERTH_SUPERVISOR_URL", f"unix://{DATA_DIR / 'supervisor' / 'supervisord.sock'}")
BERTH_SUPERVISOR_CONF_DIR = Path(envstr("BERTH_SUPERVISOR_CONF_DIR", str(DATA_DIR / "supervisor" / "conf.d")))
BERTH_GATEWAY_HOST = envstr("BERTH_GATEWAY_HOST", "127.0.0.1")
# Whether a new deployment requires an endpoint key on predict calls (docs/endpoint-keys.md)
BERTH_ENDPOINT_KEYS_DEFAULT = envbool("BERTH_ENDPOINT_KEYS_DEFAULT", False)
BERTH_ROLLOUT_POLL_S = envint("BERTH_ROLLOUT_POLL_MS", 500, minimum=50) / 1000
BERTH_ROLLOUT_MAX_RESTARTS = envint("BERTH_ROLLOUT_MAX_RESTARTS", 2, minimum=0)
BERTH_ROLLOUT_MAX_ATTEMPTS = envint("BERTH_ROLLOUT_MAX_ATTEMPTS", 3, minimum=1)
BERTH_DEPLOY_TIMEOUT_CAP_S = envint("BERTH_DEPLOY_TIMEOUT_CAP_S", 0, minimum=0)  # 0: the variation's own
BERTH_DRAIN_TIMEOUT_S = envint("BERTH_DRAIN_TIMEOUT_S", 30, minimum=1)
# Kubernetes runtime (docs/kubernetes.md, "Settings"): what the objects of a deployment are made of.
BERTH_KUBECONFIG = envstr("BERTH_KUBECONFIG", "")  # empty: the pod's own ServiceAccount (in-cluster)
BERTH_MODEL_SERVER_IMAGE = envstr("BERTH_MODEL_SERVER_IMAGE", "berth/model-server:latest")
BERTH_K8S_NAMESPACE_PATTERN = envstr("BERTH_K8S_NAMESPACE_PATTERN", "berth-{project}")
BERTH_CONSOLE_INTERNAL_URL = envstr("BERTH_CONSOLE_INTERNAL_URL", "http://berth-web.berth.svc")  # pods fetch builds here
BERTH_INGRESS_CLASS = envstr("BERTH_INGRESS_CLASS", "")
BERTH_INGRESS_HOST_PATTERN = envstr("BERTH_INGRESS_HOST_PATTERN", "")  # e.g. {model}-{environment}.models.example.com
try:
    from deployments.backends.kubernetes.names import check_pattern

    check_pattern("BERTH_K8S_NAMESPACE_PATTERN", BERTH_K8S_NAMESPACE_PATTERN, ("project", "environment"))
    check_pattern("BERTH_INGRESS_HOST_PATTERN", BERTH_INGRESS_HOST_PATTERN, ("model", "environment", "project"))
except ValueError as bad_pattern:
    raise ImproperlyConfigured(str(bad_pattern)) from None
BERTH_K8S_GPU_NODE_LABEL = envstr("BERTH_K8S_GPU_NODE_LABEL", "cloud.google.com/gke-accelerator")
BERTH_K8S_GATEWAY_REPLICAS = envint("BERTH_K8S_GATEWAY_REPLICAS", 2, minimum=1)
BERTH_K8S_CONSOLE_NAMESPACE = envstr("BERTH_K8S_CONSOLE_NAMESPACE", "berth")  # replicas may reach its web pods
# Metrics (docs/metrics.md): scrape every N s, keep those points H hours; roll them up into
# ROLLUP_S-second points (a multiple of the scrape interval) kept D days.
BERTH_METRICS_SCRAPE_S = envint("BERTH_METRICS_SCRAPE_S", 10, minimum=1)
BERTH_METRICS_ROLLUP_S = envint("BERTH_METRICS_ROLLUP_S", 60, minimum=2)
BERTH_METRICS_RAW_RETENTION_H = envint("BERTH_METRICS_RAW_RETENTION_H", 24, minimum=1)
BERTH_METRICS_ROLLUP_RETENTION_D = envint("BERTH_METRICS_ROLLUP_RETENTION_D", 7, minimum=1)
if BERTH_METRICS_ROLLUP_S <= BERTH_METRICS_SCRAPE_S or BERTH_METRICS_ROLLUP_S % BERTH_METRICS_SCRAPE_S:
    raise ImproperlyConfigured("BERTH_METRICS_ROLLUP_S must be a multiple of BERTH_METRICS_SCRAPE_S, and larger")
# Minutes are added up again into COARSE_S-second points (kept as long), which a week's chart reads.
BERTH_METRICS_COARSE_S = envint("BERTH_METRICS_COARSE_S", 600, minimum=4)
if BERTH_METRICS_COARSE_S <= BERTH_METRICS_ROLLUP_S or BERTH_METRICS_COARSE_S % BERTH_METRICS_ROLLUP_S:
    raise ImproperlyConfigured("BERTH_METRICS_COARSE_S must be a multiple of BERTH_METRICS_ROLLUP_S, and larger")
# Logs (docs/logs.md): each replica's and gateway's log rotates at BERTH_LOG_MAX_BYTES, keeping
# BERTH_LOG_BACKUPS older files; rotated files older than BERTH_LOG_RETENTION_DAYS are deleted hourly.
# The live tail polls every BERTH_LOG_POLL_MS; its one reader per deployment holds a lease of
# BERTH_LOG_READER_TTL_S, so a dead console process's reader is replaced within that.
BERTH_LOG_MAX_BYTES = envint("BERTH_LOG_MAX_BYTES", 20 * 1024 * 1024, minimum=64 * 1024)
BERTH_LOG_BACKUPS = envint("BERTH_LOG_BACKUPS", 5, minimum=1)
BERTH_LOG_RETENTION_DAYS = envint("BERTH_LOG_RETENTION_DAYS", 7, minimum=1)
BERTH_LOG_POLL_MS = envint("BERTH_LOG_POLL_MS", 200, minimum=20)
BERTH_LOG_READER_TTL_S = envint("BERTH_LOG_READER_TTL_S", 6, minimum=2)
# Set: charts and the metrics API read from this Prometheus server, and the console scrapes nothing itself.
PROMETHEUS_URL = envstr("PROMETHEUS_URL", "")
# The shortest window its rate() queries use: at least four of that Prometheus's scrape intervals.
PROMETHEUS_RATE_WINDOW_S = envint("PROMETHEUS_RATE_WINDOW_S", 60, minimum=1)

# Secrets at rest (Fernet keys, comma-separated, newest first): BERTH_ENCRYPTION_KEYS(_FILE), else
# BERTH_DATA_DIR/encryption_keys, made once. Never derived from SECRET_KEY.
BERTH_ENCRYPTION_KEYS = configured_keys(DATA_DIR)

# HTTPS. BERTH_SECURE_COOKIES says the console is reached over HTTPS only (docs/configuration.md,
# "Running in production"): cookies are sent only over HTTPS, plain HTTP is redirected to HTTPS, and
# browsers are told (HSTS) to use nothing else for this host and its subdomains for a year.
BERTH_HTTPS_ONLY = envbool("BERTH_SECURE_COOKIES", False)
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SECURE = BERTH_HTTPS_ONLY
CSRF_COOKIE_SECURE = BERTH_HTTPS_ONLY
SECURE_SSL_REDIRECT = BERTH_HTTPS_ONLY
# Kubernetes replicas fetch their build inside the cluster over plain HTTP, with a token (deployments/api/artifacts.py).
SECURE_REDIRECT_EXEMPT = [r"^api/v1/builds/[0-9a-f-]+/artifact/$"]
SECURE_HSTS_SECONDS = 365 * 24 * 3600 if BERTH_HTTPS_ONLY else 0
SECURE_HSTS_INCLUDE_SUBDOMAINS = BERTH_HTTPS_ONLY
# Preloading is asked of browser vendors for a whole registered domain and is slow to undo: the
# domain's owner decides (BERTH_HSTS_PRELOAD), so `check --deploy` is not asked to insist on it.
SECURE_HSTS_PRELOAD = envbool("BERTH_HSTS_PRELOAD", False)
SILENCED_SYSTEM_CHECKS = ["security.W021"]
# Only behind a proxy that sets X-Forwarded-Proto on every request and drops any a client sent.
if envbool("BERTH_PROXY_SSL_HEADER", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
# Sent on every response by console.middleware.ContentSecurityPolicyMiddleware. No inline script,
# style or event handler anywhere (tests/test_security_headers.py scans templates/): behaviour lives
# in static/console/console.js, looks in console.css. 'self' covers the pages' WebSockets to the same
# host and port (ws: from http:, wss: from https:, CSP level 3).
CONTENT_SECURITY_POLICY = "; ".join([
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    "connect-src 'self'",
    "frame-ancestors 'none'",
    "base-uri 'self'",
    "form-action 'self'",
    "object-src 'none'",
])

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"routine_tasks": {"()": "console.log_filters.QuietRoutineTasks"}},
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": envstr("BERTH_LOG_LEVEL", "INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        "httpx": {"level": "WARNING"},  # one line per readiness probe otherwise
        "axes": {"level": "WARNING"},  # wrong passwords and lockouts; successful logins are in Admin → Access logs
        "celery.app.trace": {"filters": ["routine_tasks"]},
        "celery.worker.strategy": {"filters": ["routine_tasks"]},
    },
}
