"""What the review app does when other apps announce events (core.events)."""

from annotation.events import ItemCompleted, ProjectSettingsChanged
from annotation.models import Item, ItemStatus, Project
from core.events import subscribe
from review import services


@subscribe(ItemCompleted, in_transaction=True)
def route_completed_item(event: ItemCompleted) -> None:
    """The item-level rule, in the transaction of the submit that completed the item."""
    # Lock the item's row only (of=self): the joined project row locked FOR UPDATE would queue
    # every insert that refers to the project behind this submit, and deadlock (bench/soak.py).
    item = (
        Item.objects.select_for_update(of=("self",)).select_related("project").get(pk=event.item_id)
    )
    if item.status == ItemStatus.OPEN:
        services.item_complete(item=item, project=item.project)


@subscribe(ProjectSettingsChanged, in_transaction=True)
def reevaluate_items(event: ProjectSettingsChanged) -> None:
    project = Project.objects.get(pk=event.project_id)
    services.items_reevaluate(project=project, before=event.before, after=event.after)
