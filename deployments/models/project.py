"""A team's space and who may do what in it."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.models import User
from django.core.validators import RegexValidator
from django.db import models

SLUG_RULE = RegexValidator(
    r"^[a-z0-9][a-z0-9_-]{0,62}$",
    "Use 1-63 lowercase letters, digits, '-' or '_', starting with a letter or digit.",
)


class Role(models.TextChoices):
    VIEWER = "viewer", "Viewer"
    DEPLOYER = "deployer", "Deployer"
    ADMIN = "admin", "Admin"


_RANK = {Role.VIEWER: 0, Role.DEPLOYER: 1, Role.ADMIN: 2}


def role_allows(role: str, needed: str) -> bool:
    return _RANK[Role(role)] >= _RANK[Role(needed)]


class ProjectQuerySet(models.QuerySet["Project"]):
    def for_user(self, user: object) -> ProjectQuerySet:
        return self.filter(memberships__user=user) if isinstance(user, User) else self.none()


class Project(models.Model):
    slug = models.CharField(max_length=63, unique=True, validators=[SLUG_RULE])
    name = models.CharField(max_length=100)
    description = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = ProjectQuerySet.as_manager()

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def role_of(self, user: object) -> str | None:
        membership = self.memberships.filter(user=user).first() if isinstance(user, User) else None
        return membership.role if membership else None


class Membership(models.Model):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.VIEWER)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["project", "user__username"]
        constraints = [models.UniqueConstraint(fields=["project", "user"], name="one_membership_per_user")]

    def __str__(self) -> str:
        return f"{self.user} in {self.project} as {self.role}"

    def allows(self, needed: str) -> bool:
        return role_allows(self.role, needed)
