"""The raw annotations format: one row per annotation, not per approved item.

For teams that train on soft labels or study disagreement: every annotation of the selected
items, whatever became of the item, with the item's data as annotators saw it (no model
names), with who made it (a per-project pseudonym unless the lead
asks for usernames), how long it took, under which guidelines version and in which round,
the reasons annotators gave for skipping the item, and the item's final record when it has
one. Payloads are in A/B terms (a preference's ``display_order`` says which side the
annotator saw on the left).
"""

from __future__ import annotations

from dataclasses import dataclass

from annotation.kinds import blind_data

from .records import Row

ANNOTATION_COLUMNS = frozenset(
    {
        "annotation_id",
        "annotator",
        "created_at",
        "data",
        "display_order",
        "external_id",
        "final",
        "guidelines_version",
        "item_id",
        "kind",
        "payload",
        "round",
        "seconds_spent",
        "skip_reasons",
        "split",
    }
)
# Columns whose values differ in shape by kind: objects in JSON Lines, JSON text in Parquet.
ANNOTATION_JSON_COLUMNS = frozenset({"data", "payload", "final"})


@dataclass(frozen=True, slots=True)
class AnnotationRecord:
    item_id: int
    external_id: str
    kind: str
    split: str
    data: dict  # the item's data as imported (rows hold it as shown: no model names)
    annotation_id: int
    payload: dict  # in A/B terms
    annotator: str  # a pseudonym, or the username when the lead asked for usernames
    seconds_spent: float | None
    guidelines_version: int
    round: int
    display_order: str  # "AB", "BA" for a preference; "" otherwise
    created_at: str  # ISO 8601, UTC
    skip_reasons: tuple[str, ...]  # one per skip of the item ("none" when no reason given)
    final: dict | None  # the item's current final record's payload, if approved
    metadata: dict | None = None
    system_prompt: str = ""


def annotation_rows(record: AnnotationRecord) -> list[Row]:  # type: ignore[override]
    return [
        {
            "annotation_id": record.annotation_id,
            "annotator": record.annotator,
            "created_at": record.created_at,
            "data": blind_data(record.kind, record.data),
            "display_order": record.display_order,
            "external_id": record.external_id,
            "final": record.final,
            "guidelines_version": record.guidelines_version,
            "item_id": record.item_id,
            "kind": record.kind,
            "payload": record.payload,
            "round": record.round,
            "seconds_spent": record.seconds_spent,
            "skip_reasons": list(record.skip_reasons),
            "split": record.split,
        }
    ]
