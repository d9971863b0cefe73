"""An invitation to join a project, waiting for the invitee to accept or decline it."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from deployments.models.project import Role


class Invitation(models.Model):
    """Pending until the invitee answers (the row then goes) or an admin revokes it.

    `invitee` is what the admin typed; `user` the account it named when it was sent, if any.
    The admins' side shows only `invitee`, so an invitation never says whether an account exists.
    """

    project = models.ForeignKey("deployments.Project", on_delete=models.CASCADE, related_name="invitations")
    invitee = models.CharField(max_length=254, help_text="Username or email, as the admin typed it.")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE,
                             related_name="invitations")
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.VIEWER)
    invited_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [models.UniqueConstraint(fields=["project", "invitee"], name="one_invitation_per_invitee")]

    def __str__(self) -> str:
        return f"{self.invitee} invited to {self.project_id} as {self.role}"
