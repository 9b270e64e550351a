"""Items whose annotations are all in, routed by review.services.item_complete.

Imported explicitly by the review tests (plain helpers, not fixtures)."""

from annotation import kinds
from annotation.models import Annotation, Item, Role
from review.selectors import review_display_order
from tests.factories import ItemFactory, MembershipFactory, complete

# Ratings on opposite sides: a dispute.
DISPUTED_PREFERENCE = [{"rating": -2, "criteria": {"helpfulness": -1}}, {"rating": 3}]
# Both prefer A: agreed.
AGREED_PREFERENCE = [{"rating": -1}, {"rating": -3}]
AGREED_INSTRUCTION = [
    {"response": "First summary.", "category": "summarization"},
    {"response": "Second summary.", "category": "summarization"},
]
DISPUTED_REFUSAL = [
    {"decision": "refuse", "response": "I can't help with that.", "harm_category": "none"},
    {"decision": "comply", "response": "Here is how locks work.", "harm_category": "none"},
]


def annotators_for(project, count: int) -> list:
    return [MembershipFactory(project=project, role=Role.ANNOTATOR).user for _ in range(count)]


def completed_item(
    project, payloads: list[dict], *, kind: str = kinds.PREFERENCE, annotators=None, **item_fields
) -> Item:
    """An item of `project` annotated with `payloads` (one annotator each), then completed."""
    item = ItemFactory(project=project, kind=kind, **item_fields)
    annotators = annotators or annotators_for(project, len(payloads))
    return complete(item, annotators, payloads)


def disputed_preference(project, **fields) -> Item:
    return completed_item(project, DISPUTED_PREFERENCE, **fields)


def annotations_of(item: Item) -> list[Annotation]:
    return list(Annotation.objects.filter(item=item).order_by("id"))


def reviewer_seeing(project, item: Item, order: str):
    """A new reviewer of the project to whom `item`'s responses show in `order` ("AB": A on
    the left, "BA": swapped); the order is drawn per reviewer and item."""
    for _ in range(64):
        user = MembershipFactory(project=project, role=Role.REVIEWER).user
        if review_display_order(item.pk, user.pk) == order:
            return user
    raise AssertionError(f"no reviewer drew {order} in 64 tries")
