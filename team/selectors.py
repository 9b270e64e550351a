"""Reading invitations."""

from django.db.models import F, Q, QuerySet
from django.utils import timezone

from annotation.models import Project
from team.models import Invitation

LIST_LIMIT = 200


def invitations_pending(*, project: Project) -> QuerySet[Invitation]:
    """Invitations that can still be used: not revoked, not expired, not used up; newest first."""
    return (
        Invitation.objects.filter(
            project=project, revoked_at__isnull=True, expires_at__gt=timezone.now()
        )
        .filter(Q(max_uses__isnull=True) | Q(uses__lt=F("max_uses")))
        .select_related("created_by")
        .order_by("-id")
    )


def invitations_all(*, project: Project) -> QuerySet[Invitation]:
    return Invitation.objects.filter(project=project).select_related("created_by").order_by("-id")
