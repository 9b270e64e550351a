"""What the annotation app announces (see core.events): other apps subscribe."""

from dataclasses import dataclass, field
from typing import Any

from core.events import Event, event_type


@event_type
@dataclass(frozen=True)
class AnnotationSubmitted(Event):
    """An annotator submitted an annotation (announced once, not on a retried submit)."""

    type = "annotation.submitted"
    item_id: int
    annotation_id: int
    annotator_id: int
    is_gold: bool


@event_type
@dataclass(frozen=True)
class ItemCompleted(Event):
    """An item holds as many annotations as the project's overlap asks for: the item-level
    rule (agreement, review routing, approval) applies now. Announced inside the transaction
    that completed it, with the item row locked."""

    type = "item.completed"
    item_id: int


@event_type
@dataclass(frozen=True)
class ProjectSettingsChanged(Event):
    """A lead changed project settings: `before` and `after` hold the changed ones only."""

    type = "project.settings_changed"
    before: dict[str, Any] = field(default_factory=dict)
    after: dict[str, Any] = field(default_factory=dict)


@event_type
@dataclass(frozen=True)
class ItemStalled(Event):
    """An item still needs annotations but nobody who may annotate it can take it any more."""

    type = "item.stalled"
    item_id: int
    round: int


@event_type
@dataclass(frozen=True)
class AnnotationChanged(Event):
    """An annotator changed an annotation they submitted, while its item was still open."""

    type = "annotation.changed"
    item_id: int
    annotation_id: int
    annotator_id: int


@event_type
@dataclass(frozen=True)
class ItemsImported(Event):
    """An import wrote items (announced inside its transaction, before the item tally).
    `routed`: how many new or changed items a router sent where ("route:rule" -> count);
    `approved`: the external_ids a router approved at import, whose final records the
    subscribers write in the same transaction."""

    type = "items.imported"
    created: int = 0
    updated: int = 0
    routed: dict[str, int] = field(default_factory=dict)
    approved: tuple[str, ...] = ()
