"""Invitations to a project: by email or as a link, with a role, an expiry and a number of uses.

Only a SHA-256 of the token is stored; the link is shown (and mailed) once, when it is made.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from annotation.models import Project, Role
from core.models import in_choices


class InvitationState(models.TextChoices):
    PENDING = "pending", "Pending"
    EXPIRED = "expired", "Expired"
    REVOKED = "revoked", "Revoked"
    USED = "used", "Used up"


class Invitation(models.Model):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="invitations")
    role = models.CharField(max_length=16, choices=Role.choices)
    # By email: the address it was sent to ("" for a link a lead hands out).
    email = models.EmailField(blank=True, default="")
    token_hash = models.CharField(max_length=64, unique=True)
    # How many people may join with it; null: any number until it expires.
    max_uses = models.PositiveIntegerField(null=True, blank=True)
    uses = models.PositiveIntegerField(default=0)
    expires_at = models.DateTimeField()
    revoked_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["project", "-id"], name="invitation_project_recent")]
        constraints = [
            models.CheckConstraint(
                condition=in_choices("role", Role), name="invitation_role_valid"
            ),
            models.CheckConstraint(
                condition=Q(max_uses__isnull=True) | Q(max_uses__gte=1),
                name="invitation_max_uses_positive",
            ),
        ]

    def __str__(self) -> str:
        return f"invitation {self.pk} to project {self.project_id} as {self.role}"

    @property
    def state(self) -> str:
        """Revoked, used up, expired or pending (in that order: what the invitee is told)."""
        if self.revoked_at is not None:
            return InvitationState.REVOKED
        if self.max_uses is not None and self.uses >= self.max_uses:
            return InvitationState.USED
        if self.expires_at <= timezone.now():
            return InvitationState.EXPIRED
        return InvitationState.PENDING

    @property
    def kind(self) -> str:
        return "email" if self.email else "link"
