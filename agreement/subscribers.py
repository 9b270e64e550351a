"""What the agreement app does when other apps announce events (core.events)."""

from agreement.services import agreement_maybe_schedule_for
from annotation.events import AnnotationSubmitted
from core.events import subscribe


@subscribe(AnnotationSubmitted)
def schedule_agreement(event: AnnotationSubmitted) -> None:
    """After commit: at most a few index reads; requests a report every N annotations."""
    if not event.is_gold:
        agreement_maybe_schedule_for(project_id=event.project_id)
