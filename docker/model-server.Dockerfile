# syntax=docker/dockerfile:1
# The model-server image: what every replica and every gateway pod runs on Kubernetes.
# Only serving/ and its dependencies (requirements-serving.txt), plus the init container's
# fetch_build.py; nothing of the console. Build from the repository root:
#   docker build -f docker/model-server.Dockerfile -t berth/model-server:1.0 .
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONPATH=/opt/berth

# libgomp1: OpenMP for LightGBM and XGBoost.
RUN apt-get update \
    && apt-get install -y --no-install-recommends libgomp1 \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --gid 10001 berth \
    && useradd --uid 10001 --gid 10001 --no-create-home --home-dir /tmp --shell /usr/sbin/nologin berth

WORKDIR /opt/berth
COPY requirements-serving.txt /opt/berth/requirements-serving.txt
RUN pip install -r /opt/berth/requirements-serving.txt

COPY serving/ /opt/berth/serving/
COPY docker/fetch_build.py /opt/berth/fetch_build.py
RUN python -m compileall -q /opt/berth/serving /opt/berth/fetch_build.py

# The pods run it read-only as this user, with /tmp and the build directory as emptyDirs.
USER 10001:10001
EXPOSE 8080
CMD ["python", "-m", "serving.server", "--build", "/var/lib/berth/build", "--host", "0.0.0.0", "--port", "8080"]
