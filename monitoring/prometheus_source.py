"""Chart series read from a Prometheus server (PROMETHEUS_URL) instead of the console's own scrape.

The one seam to Prometheus's HTTP API (`/api/v1/query_range`). Prometheus scrapes the replicas
itself and must put two labels on their series, `berth_deployment` (the deployment's id) and
`berth_variation` (docs/metrics.md, "Reading from Prometheus", has the scrape config). Every
metric is one PromQL query over the range, one point per resolution step, with the same meaning
as the stored series (monitoring.models.METRICS); `desired_replicas` is the variations' current
configuration, which Prometheus does not know.
"""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
from django.conf import settings

from deployments.models import Deployment
from monitoring.models import METRICS
from monitoring.series import RANGES, Series, resolution_s
from monitoring.sources import SourceUnavailable

TIMEOUT_S = 10.0
PREDICT = 'path="/v1/predict"'
QUERIES = {
    "latency_p50_ms": "1000 * histogram_quantile(0.5, sum by (le) (rate(berth_request_duration_seconds_bucket{S,P}[W])))",
    "latency_p95_ms": "1000 * histogram_quantile(0.95, sum by (le) (rate(berth_request_duration_seconds_bucket{S,P}[W])))",
    "latency_p99_ms": "1000 * histogram_quantile(0.99, sum by (le) (rate(berth_request_duration_seconds_bucket{S,P}[W])))",
    "throughput_rps": "sum(rate(berth_requests_total{S,P}[W]))",
    "error_rate_4xx_pct": '100 * sum(rate(berth_requests_total{S,P,code=~"4.."}[W])) / sum(rate(berth_requests_total{S,P}[W]))',
    "error_rate_5xx_pct": '100 * sum(rate(berth_requests_total{S,P,code=~"5.."}[W])) / sum(rate(berth_requests_total{S,P}[W]))',
    "cpu_pct": "100 * sum(rate(berth_process_cpu_seconds_total{S}[W]))",
    "memory_bytes": "sum(berth_process_resident_memory_bytes{S})",
    "ready_replicas": "count(max by (instance) (berth_model_ready{S}) == 1)",
    "batch_size_mean": "sum(rate(berth_batch_size_sum{S}[W])) / sum(rate(berth_batch_size_count{S}[W]))",
}


class PrometheusError(SourceUnavailable):
    """Prometheus did not answer a query; the message says what it said."""


def promql(metric: str, deployment_id: int, variation: str, window_s: int) -> str:
    """The query of `metric` for one deployment (all its variations when `variation` is "")."""
    selector = f'berth_deployment="{deployment_id}"' + (f',berth_variation="{variation}"' if variation else "")
    return QUERIES[metric].replace("{S,P", "{" + selector + "," + PREDICT).replace("{S", "{" + selector) \
        .replace("[W]", f"[{window_s}s]")


class PrometheusSource:
    def __init__(self, url: str) -> None:
        self.url = url.rstrip("/")

    def read(self, deployment: Deployment, range_name: str, now: datetime, variation: str = "") -> Series:
        start, step = now - RANGES[range_name], resolution_s(range_name)
        window = max(4 * step, settings.PROMETHEUS_RATE_WINDOW_S)  # rate() needs a few scrapes in its window
        with httpx.Client(base_url=self.url, timeout=TIMEOUT_S, trust_env=False) as client:
            answers: dict[str, dict[float, float | None]] = {metric: self._range(client, promql(metric, deployment.pk, variation, window), start, now, step)
                       for metric in QUERIES}
        answers["desired_replicas"] = {t: float(_desired(deployment, variation)) for t in _all_times(answers)}
        times = sorted(_all_times(answers))
        metrics = {name: [answers[name].get(t) for t in times] for name in METRICS}
        return Series(range_name, variation, step, start, now, [datetime.fromtimestamp(t, UTC) for t in times], metrics)

    def _range(self, client: httpx.Client, query: str, start: datetime, end: datetime,
               step: int) -> dict[float, float | None]:
        try:
            response = client.get("/api/v1/query_range", params={
                "query": query, "start": start.timestamp(), "end": end.timestamp(), "step": step})
            body = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise PrometheusError(f"Prometheus at {self.url} did not answer: {exc}") from None
        if body.get("status") != "success":
            raise PrometheusError(f"Prometheus at {self.url} refused {query!r}: {body.get('error', response.text[:200])}")
        results = body["data"]["result"]
        return {float(t): _number(v) for t, v in results[0]["values"]} if results else {}


def _number(text: str) -> float | None:
    value = float(text)
    return None if value != value else value  # NaN: no requests in the window (0/0), i.e. no data


def _all_times(answers: dict[str, dict[float, float | None]]) -> set[float]:
    return {t for values in answers.values() for t in values}


def _desired(deployment: Deployment, variation: str) -> int:
    rows = deployment.variations.filter(name=variation) if variation else deployment.variations.all()
    return sum(rows.values_list("replicas", flat=True))
