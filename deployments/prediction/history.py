"""Each user's last test calls per deployment: stored on every call, the oldest beyond KEEP removed."""

from __future__ import annotations

from django.contrib.auth.models import User
from django.db import transaction

from deployments.models import Deployment, PredictionCall
from deployments.prediction.gateway import Answer

KEEP = 20
MAX_STORED_CHARS = 64 * 1024


def _cut(text: str) -> tuple[str, bool]:
    return (text[:MAX_STORED_CHARS], True) if len(text) > MAX_STORED_CHARS else (text, False)


def record(deployment: Deployment, user: User, request_text: str, variation: str, answer: Answer) -> PredictionCall:
    request_body, cut = _cut(request_text)
    with transaction.atomic():
        call = PredictionCall.objects.create(
            deployment=deployment, user=user, variation=variation, served_by=answer.served_by[:36],
            request_body=request_body, request_truncated=cut, response_body=_cut(answer.body)[0],
            status_code=answer.status, error=answer.error, latency_ms=answer.latency_ms,
            request_id=answer.request_id[:128])
        stale = PredictionCall.objects.filter(deployment=deployment, user=user).values_list("pk", flat=True)[KEEP:]
        PredictionCall.objects.filter(pk__in=list(stale)).delete()
    return call


def recent(deployment: Deployment, user: User) -> list[PredictionCall]:
    return list(PredictionCall.objects.filter(deployment=deployment, user=user)[:KEEP])
