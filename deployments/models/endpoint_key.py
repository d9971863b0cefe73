"""A project's endpoint keys: what callers send to a deployment that requires one.

Shown once, stored as a SHA-256 hash (as console.models.ApiToken does), optionally expiring.
The gateway gets the hashes with its routes (deployments/endpoint_keys/), so a key is
checked without the console; `last_used_at` is learnt from the gateways' /metrics.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from django.conf import settings
from django.db import models
from django.utils import timezone

from deployments.models.project import Project

KEY_PREFIX = "bek_"  # the public marker every endpoint key starts with
# How long a new key lasts: the form's and the API's choices, in this order; None never expires.
KEY_LIFETIMES: dict[str, tuple[str, timedelta | None]] = {
    "never": ("Never expires", None),
    "7d": ("7 days", timedelta(days=7)),
    "30d": ("30 days", timedelta(days=30)),
    "90d": ("90 days", timedelta(days=90)),
    "365d": ("365 days", timedelta(days=365)),
}


def hash_key(raw: str) -> str:
    """SHA-256 hex of a key: a fast hash suffices, a key being 256 random bits (no guessable words)."""
    return hashlib.sha256(raw.encode()).hexdigest()


class EndpointKeyQuerySet(models.QuerySet["EndpointKey"]):
    def accepted(self) -> EndpointKeyQuerySet:
        """Not revoked; expired ones stay listed for the gateway, which then says they expired."""
        return self.filter(revoked_at__isnull=True)


class EndpointKey(models.Model):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="endpoint_keys")
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=16, help_text="First characters, to recognise the key in lists.")
    key_hash = models.CharField(max_length=64, unique=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
                                   related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(null=True, blank=True, help_text="Refused from then on; empty: never.")
    last_used_at = models.DateTimeField(null=True, blank=True, help_text="As last scraped from the gateways.")
    revoked_at = models.DateTimeField(null=True, blank=True)

    objects = EndpointKeyQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @classmethod
    def issue(cls, project: Project, name: str, created_by: object = None,
              lifetime: timedelta | None = None) -> tuple[EndpointKey, str]:
        """Create a key; the raw value is returned here and never again."""
        raw = KEY_PREFIX + secrets.token_urlsafe(32)
        expires_at = timezone.now() + lifetime if lifetime else None
        key = cls.objects.create(project=project, name=name, prefix=raw[:10], key_hash=hash_key(raw),
                                 created_by=created_by, expires_at=expires_at)
        return key, raw

    @property
    def status(self) -> str:
        if self.revoked_at is not None:
            return "revoked"
        if self.is_expired():
            return "expired"
        return "active"

    def is_expired(self, now: datetime | None = None) -> bool:
        return self.expires_at is not None and self.expires_at <= (now or timezone.now())
