"""Reading what an evaluation report is computed from, streamed in item order.

The kinds say where their data and payloads hold what a report needs
(`ItemKind.model_scoring`, `ItemKind.model_comparison`); the rows carry only those values,
extracted by the database (texts such as responses are never read).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db.models import QuerySet
from django.db.models.fields.json import KeyTextTransform, KeyTransform

from annotation import kinds
from annotation.models import Annotation, ItemStatus, Project, SettingVersion
from review.models import FinalRecord

FETCH_CHUNK = 5_000
SPLITS = ("all", "train", "eval")


@dataclass(frozen=True)
class Filters:
    split: str = "all"
    tag: str | None = None
    category: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"split": self.split, "tag": self.tag, "category": self.category}

    @classmethod
    def of(cls, value: dict[str, Any] | None) -> Filters:
        value = value or {}
        return cls(
            split=value.get("split") or "all",
            tag=value.get("tag") or None,
            category=value.get("category") or None,
        )


def _json(field: str, path: tuple[str | int, ...], *, text: bool) -> Any:
    """`field -> path[0] -> ... ->> path[-1]` (text) or `... -> path[-1]` (JSON)."""
    inner: Any = field
    for key in path[:-1]:
        inner = KeyTransform(str(key), inner)
    last = KeyTextTransform if text else KeyTransform
    return last(str(path[-1]), inner)


def _approved_records(project: Project, kind: str, filters: Filters) -> QuerySet[FinalRecord]:
    records = FinalRecord.objects.filter(
        project=project,
        kind=kind,
        is_current=True,
        item__status=ItemStatus.APPROVED,
        item__is_gold=False,
    )
    if filters.split != "all":
        records = records.filter(item__split=filters.split)
    if filters.category:
        records = records.filter(item__metadata__category=filters.category)
    return records


def scoring_kinds(project: Project) -> list[kinds.ItemKind]:
    return [k for k in kinds.registry if k.model_scoring is not None and k.name in project.kinds]


def comparison_kinds(project: Project) -> list[kinds.ItemKind]:
    return [k for k in kinds.registry if k.model_comparison is not None and k.name in project.kinds]


@dataclass(frozen=True)
class ScoredRow:
    item_id: int
    model: str | None
    group: str | None
    tags: list[str]
    scores: dict[str, Any]
    version: int | None  # None: decided from `approved_at`
    approved_at: datetime


def scored_rows(project: Project, kind: kinds.ItemKind, filters: Filters) -> Iterator[ScoredRow]:
    spec = kind.model_scoring
    assert spec is not None
    columns: list[Any] = [
        "item_id",
        _json("item__data", spec.model, text=True),
        _json("item__data", spec.group, text=True) if spec.group else None,
        _json("item__data", spec.tags, text=False) if spec.tags else None,
        _json("payload", spec.scores, text=False),
        f"source_annotation__{spec.setting}_version" if spec.setting else None,
        "created_at",
    ]
    present = [c for c in columns if c is not None]
    rows = (
        _approved_records(project, kind.name, filters)
        .order_by("item_id")
        .values_list(*present)
        .iterator(chunk_size=FETCH_CHUNK)
    )
    for row in rows:
        values = iter(row)
        full = [next(values) if c is not None else None for c in columns]
        item_id, model, group, tags, scores, version, approved_at = full
        tags = [t for t in tags if isinstance(t, str)] if isinstance(tags, list) else []
        if filters.tag and filters.tag not in tags:
            continue
        yield ScoredRow(
            item_id=item_id,
            model=model if isinstance(model, str) and model else None,
            group=group if isinstance(group, str) and group else None,
            tags=tags,
            scores=scores if isinstance(scores, dict) else {},
            version=version,
            approved_at=approved_at,
        )


@dataclass(frozen=True)
class ComparedRow:
    item_id: int
    first: str | None
    second: str | None
    outcome: int | None  # negative: the first preferred, positive: the second, 0: a tie


def compared_rows(
    project: Project, kind: kinds.ItemKind, filters: Filters
) -> Iterator[ComparedRow]:
    spec = kind.model_comparison
    assert spec is not None
    if filters.tag:  # a comparison carries no tags
        return
    rows = (
        _approved_records(project, kind.name, filters)
        .order_by("item_id")
        .values_list(
            "item_id",
            _json("item__data", spec.first, text=True),
            _json("item__data", spec.second, text=True),
            _json("payload", spec.outcome, text=True),
        )
        .iterator(chunk_size=FETCH_CHUNK)
    )
    for item_id, first, second, outcome in rows:
        try:
            number = int(float(outcome)) if outcome is not None else None
        except (TypeError, ValueError):
            number = None
        yield ComparedRow(item_id, first or None, second or None, number)


def annotation_scores(
    project: Project, kind: kinds.ItemKind, filters: Filters, item_ids: set[int] | None
) -> Iterator[tuple[int, dict[str, Any], int | None]]:
    """(item id, scores, setting version) of every annotation of the approved items, in item
    order: what reliability is measured on."""
    spec = kind.model_scoring
    assert spec is not None
    annotations = Annotation.objects.filter(
        project=project,
        item__kind=kind.name,
        item__status=ItemStatus.APPROVED,
        item__is_gold=False,
    )
    if filters.split != "all":
        annotations = annotations.filter(item__split=filters.split)
    if filters.category:
        annotations = annotations.filter(item__metadata__category=filters.category)
    version = f"{spec.setting}_version" if spec.setting else None
    columns = ["item_id", _json("payload", spec.scores, text=False)]
    if version:
        columns.append(version)
    rows = annotations.order_by("item_id", "id").values_list(*columns)
    for row in rows.iterator(chunk_size=FETCH_CHUNK):
        if item_ids is not None and row[0] not in item_ids:
            continue
        scores = row[1] if isinstance(row[1], dict) else {}
        yield row[0], scores, row[2] if version else None


@dataclass(frozen=True)
class Version:
    version: int
    criteria: list[dict[str, Any]]
    since: datetime | None


def setting_versions(project: Project, setting: str) -> list[Version]:
    """Every version of a versioned setting, oldest first, the current one last."""
    rows = SettingVersion.objects.filter(project=project, setting=setting).order_by("version")
    versions = {r.version: Version(r.version, r.value, r.created_at) for r in rows}
    current = getattr(project, f"{setting}_version")
    if current not in versions:
        versions[current] = Version(current, getattr(project, setting), None)
    return [versions[v] for v in sorted(versions)]
