# syntax=docker/dockerfile:1
# The console image: web (uvicorn, ASGI), Celery worker and Celery beat run from this one image
# with different commands (docker/compose.yaml, docker/kubernetes/). Build from the repository root:
#   docker build -f docker/console.Dockerfile -t berth/console:1.0 .
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    BERTH_DATA_DIR=/var/lib/berth

# bubblewrap: the sandbox model code runs in while a build is validated (docs/runtime.md,
# "Security model"); libgomp1: OpenMP for LightGBM and XGBoost.
RUN apt-get update \
    && apt-get install -y --no-install-recommends bubblewrap libgomp1 \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --gid 10001 berth \
    && useradd --uid 10001 --gid 10001 --create-home --shell /usr/sbin/nologin berth \
    && mkdir -p /var/lib/berth \
    && chown berth:berth /var/lib/berth

WORKDIR /app
COPY requirements.txt /app/requirements.txt
RUN pip install -r /app/requirements.txt

COPY . /app
# No collectstatic: whitenoise serves static files straight from the apps' folders
# (WHITENOISE_USE_FINDERS in console/settings.py).

USER 10001:10001
EXPOSE 8000
CMD ["python", "-m", "uvicorn", "console.asgi:application", "--host", "0.0.0.0", "--port", "8000", \
     "--no-access-log", "--ws-ping-interval", "20", "--ws-ping-timeout", "20"]
