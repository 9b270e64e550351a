"""What an annotator's own actions on "My work" write."""

from django.utils import timezone

from annotation.models import Membership


def work_seen(*, membership: Membership) -> None:
    """The member opened "My work": what arrived before now is no longer news."""
    Membership.objects.filter(pk=membership.pk).update(work_seen_at=timezone.now())
