"""Fixtures for export jobs: approved items with their final records, built directly."""

from __future__ import annotations

import datetime as dt

import pytest

from annotation import kinds
from annotation.models import Item, ItemStatus
from review.models import FinalRecord, Provenance
from review.services import final_record_create
from tests.factories import ItemFactory
from tests.s3 import s3, s3_endpoint  # noqa: F401 (fixtures: a real S3 API server)

FINALS = {
    kinds.INSTRUCTION: lambda n: {"response": f"Summary {n}.", "category": "summarization"},
    kinds.PREFERENCE: lambda n: {"rating": -2, "criteria": {"helpfulness": -2}, "rationale": "A"},
    kinds.REFUSAL: lambda n: {
        "decision": "refuse",
        "response": f"I can't help with that ({n}).",
        "harm_category": "illegal_activity",
    },
}


@pytest.fixture
def export_media(settings, tmp_path):
    """Stored exports and temporary files go under the test's own folder."""
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


@pytest.fixture
def approved(db):
    """``approved(project, kind, data=..., final=..., split=..., approved_at=...)``: an approved
    item with its one current final record."""
    counter = iter(range(1, 1_000_000))

    def make(
        project,
        kind: str = kinds.PREFERENCE,
        *,
        data: dict | None = None,
        final: dict | None = None,
        split: str = "train",
        external_id: str | None = None,
        approved_at: dt.datetime | None = None,
        status: str = ItemStatus.APPROVED,
        **extra,
    ) -> Item:
        n = next(counter)
        fields = {"project": project, "kind": kind, "split": split, "status": status, **extra}
        if data is not None:
            fields["data"] = data
        if external_id is not None:
            fields["external_id"] = external_id
        item = ItemFactory(**fields)
        record = final_record_create(
            item=item,
            payload=final if final is not None else FINALS[kind](n),
            provenance=Provenance.UNANIMOUS,
            source=None,
            approved_by=None,
        )
        if approved_at is not None:
            FinalRecord.objects.filter(pk=record.pk).update(created_at=approved_at)
        return item

    return make
