"""Personal API tokens: shown once, stored as a SHA-256 hash, optionally expiring."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser
from django.db import models
from django.db.models import Q
from django.utils import timezone

TOKEN_PREFIX = "berth_"  # noqa: S105 - the public marker every token starts with, not a secret
# How long a new token lasts: the form's choices, in this order; None never expires.
LIFETIMES: dict[str, tuple[str, timedelta | None]] = {
    "never": ("Never expires", None),
    "24h": ("24 hours", timedelta(hours=24)),
    "7d": ("7 days", timedelta(days=7)),
    "30d": ("30 days", timedelta(days=30)),
    "90d": ("90 days", timedelta(days=90)),
}
LAST_USED_EVERY = timedelta(minutes=1)  # last_used_at is written at most this often per token


def hash_token(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


class TokenStatus(models.TextChoices):
    ACTIVE = "active", "active"
    EXPIRED = "expired", "expired"
    REVOKED = "revoked", "revoked"


class ApiTokenQuerySet(models.QuerySet["ApiToken"]):
    def active(self) -> ApiTokenQuerySet:
        """Not revoked (expired ones included: authentication says when they expired)."""
        return self.filter(revoked_at__isnull=True)


class ApiToken(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=16, help_text="First characters, to recognise the token in lists.")
    token_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(null=True, blank=True, help_text="Refused from then on; empty: never.")
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    objects = ApiTokenQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]  # noqa: RUF012 - a tuple differs from the migration's list: a new migration

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @classmethod
    def issue(cls, user: AbstractBaseUser, name: str, lifetime: timedelta | None = None) -> tuple[ApiToken, str]:
        """Create a token; the raw value is returned here and never again."""
        raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
        expires_at = timezone.now() + lifetime if lifetime else None
        token = cls.objects.create(user=user, name=name, prefix=raw[:12], token_hash=hash_token(raw),
                                   expires_at=expires_at)
        return token, raw

    @property
    def is_active(self) -> bool:
        return self.status == TokenStatus.ACTIVE

    @property
    def status(self) -> TokenStatus:
        if self.revoked_at is not None:
            return TokenStatus.REVOKED
        if self.is_expired():
            return TokenStatus.EXPIRED
        return TokenStatus.ACTIVE

    def is_expired(self, now: datetime | None = None) -> bool:
        return self.expires_at is not None and self.expires_at <= (now or timezone.now())

    def revoke(self) -> None:
        if self.revoked_at is None:
            self.revoked_at = timezone.now()
            self.save(update_fields=["revoked_at"])

    def note_use(self, now: datetime | None = None) -> None:
        """Record a use, at most once per LAST_USED_EVERY: one conditional UPDATE, no write in between."""
        now = now or timezone.now()
        if self.last_used_at is not None and self.last_used_at > now - LAST_USED_EVERY:
            return  # as loaded with the token: no query at all
        stale = Q(last_used_at__isnull=True) | Q(last_used_at__lte=now - LAST_USED_EVERY)
        if ApiToken.objects.filter(stale, pk=self.pk).update(last_used_at=now):  # another request may have won
            self.last_used_at = now
