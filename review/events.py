"""What the review app announces (see core.events), after the transaction commits."""

from dataclasses import dataclass

from core.events import Event, event_type


@event_type
@dataclass(frozen=True)
class ItemApproved(Event):
    """An item got its final record: by the item-level rule (`reviewer_id` None) or a reviewer."""

    type = "item.approved"
    item_id: int
    final_record_id: int
    provenance: str
    reviewer_id: int | None


@event_type
@dataclass(frozen=True)
class ItemRejected(Event):
    type = "item.rejected"
    item_id: int
    review_id: int
    reviewer_id: int
    then: str  # "annotate_again" or "drop"


@event_type
@dataclass(frozen=True)
class ItemReopened(Event):
    """A decided item went back to review (a lead's call) or back to the queue (more
    annotations asked for)."""

    type = "item.reopened"
    item_id: int
    status: str
