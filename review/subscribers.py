"""What the review app does when other apps announce events (core.events)."""

from annotation.events import ItemCompleted, ProjectSettingsChanged
from annotation.models import Project
from core.events import subscribe
from review import services


@subscribe(ItemCompleted, in_transaction=True)
def route_completed_item(event: ItemCompleted) -> None:
    """The item-level rule, in the transaction of the submit that completed the item."""
    services.item_complete_by_id(item_id=event.item_id)


@subscribe(ProjectSettingsChanged, in_transaction=True)
def reevaluate_items(event: ProjectSettingsChanged) -> None:
    project = Project.objects.get(pk=event.project_id)
    services.items_reevaluate(project=project, before=event.before, after=event.after)
