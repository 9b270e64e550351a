"""What routing does when other apps announce events (core.events)."""

from annotation.events import ItemsImported
from annotation.models import Item, Project, Route
from core.events import subscribe
from review.events import ItemReopened
from routing import services


@subscribe(ItemsImported, in_transaction=True)
def approve_auto_accepted(event: ItemsImported) -> None:
    """Final records of the items the import approved by confidence, and the audit of the
    routing decisions, in the import's transaction: both happen or neither."""
    if not event.routed and not event.approved:
        return
    project = Project.objects.get(pk=event.project_id)
    services.auto_accepted_finalise(project=project, external_ids=event.approved)
    services.routing_audit(project=project, routed=event.routed, approved=len(event.approved))


@subscribe(ItemReopened, in_transaction=True)
def reopened_goes_to_people(event: ItemReopened) -> None:
    """An auto-accepted item a lead reopened is people's from now on: a later import never
    approves it by confidence again."""
    Item.objects.filter(pk=event.item_id, route=Route.AUTO).update(
        route=Route.HUMAN, route_rule="reopened"
    )
