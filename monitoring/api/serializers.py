"""What GET /api/v1/deployments/<id>/metrics/ takes and answers."""

from __future__ import annotations

from rest_framework import serializers

from monitoring.models import METRICS
from monitoring.series import RANGES

DEFAULT_RANGE = "1h"


class MetricsQuerySerializer(serializers.Serializer):
    range = serializers.ChoiceField(choices=list(RANGES), default=DEFAULT_RANGE, allow_blank=True,
                                    help_text="How far back from now: 15m, 1h and 6h read the raw points "
                                              "(one per scrape), 24h the one-minute points, 7d the ten-minute "
                                              "points. Empty: 1h.")
    variation = serializers.CharField(required=False, default="", allow_blank=True, max_length=36,
                                      help_text="One variation's series; without it (or empty), the whole "
                                                "deployment's.")

    def validate_range(self, value: str) -> str:
        return value or DEFAULT_RANGE


class MetricsSerializer(serializers.Serializer):
    deployment = serializers.IntegerField()
    range = serializers.CharField()
    variation = serializers.CharField(help_text='"" for the whole deployment.')
    resolution_s = serializers.IntegerField(help_text="Seconds between points.")
    start = serializers.DateTimeField()
    end = serializers.DateTimeField()
    times = serializers.ListField(child=serializers.DateTimeField(), help_text="When each point's interval ended, "
                                  "oldest first: the x values shared by every metric.")
    metrics = serializers.DictField(
        child=serializers.ListField(child=serializers.FloatField(allow_null=True)),
        help_text="Each of " + ", ".join(METRICS) + ": its value at each of `times` (null: no data in that "
                  "interval, e.g. no requests for a latency or an error rate). Latency in milliseconds "
                  "(percentiles of the interval's requests), throughput in requests per second, error rates in "
                  "percent of requests, CPU in percent of one core (summed over processes), memory in bytes "
                  "(resident, summed over processes), replicas as counts, batch size in rows per predict call.")
