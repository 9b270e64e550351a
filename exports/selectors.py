"""Read side of exports: the approved records an export takes, streamed in a stable order, and
the export jobs a lead may see."""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
from django.db import connection
from django.db.models import F, Q, QuerySet, TextField
from django.db.models.functions import Cast
from django.http import FileResponse, Http404, HttpResponseRedirect

from annotation import kinds
from annotation.access import membership_get
from annotation.models import Item, ItemStatus, Project, Role, Split
from core.db import fetch_all, stream_rows
from exports.formats.sql import PairSQL
from exports.models import ExportJob, ExportSplit
from exports.storage import export_storage, signed_url
from review.models import Provenance

# Rows per message of PostgreSQL's streamed read, or per keyset page (SQLite).
PAGE_SIZE = 5_000

# (item id, external_id, kind, split, item data, final payload, item metadata or None, the
# (prompt, chosen, rejected) texts read in SQL or None, the item's source, its signal); payload
# None where the texts are set.
RecordRow = tuple[int, str, str, str, Any, Any, dict | None, tuple | None, str, str]


@dataclass(frozen=True, slots=True)
class ExportSelection:
    """Which approved records an export takes. ``kinds``/``categories`` None: no filter.

    ``categories`` narrows the kinds that have one (instruction ``category``, refusal
    ``harm_category`` of the final record); preference records have no category and are kept.
    """

    project_id: int
    split: str
    kinds: tuple[str, ...] | None = None
    categories: tuple[str, ...] | None = None
    approved_since: datetime | None = None
    # Leave out records auto-accepted by confidence (routing: provenance `auto`).
    exclude_auto: bool = False


def _loads(text: str) -> Any:
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:  # what orjson refuses (1e400), the stdlib still reads
        return json.loads(text)


def export_items(*, selection: ExportSelection, after: int | None = None) -> QuerySet[Item]:
    """The approved, non-gold items the selection takes, each joined to its current final
    record (one row per item: an item has at most one current record); with ``after``, only
    items with a greater id.

    Every condition on the final record sits in one ``filter()`` call, so they all apply to
    that one joined record and ``final_records__payload`` reads it too: a second ``filter()``
    on ``final_records__`` would join a second, unbounded copy of the table."""
    items = Item.objects.filter(
        project_id=selection.project_id, status=ItemStatus.APPROVED, is_gold=False
    )
    if selection.split != ExportSplit.ALL:
        items = items.filter(split=selection.split)
    if selection.kinds is not None:
        items = items.filter(kind__in=selection.kinds)
    on_record: dict[str, Any] = {"final_records__is_current": True}
    if after is not None:
        # Both sides of the join bounded, so both index scans start at the page.
        on_record.update(id__gt=after, final_records__item_id__gt=after)
    if selection.approved_since is not None:
        on_record["final_records__created_at__gte"] = selection.approved_since
    if selection.exclude_auto:
        # Positively, on the one joined record (a negated Q would test every record).
        on_record["final_records__provenance__in"] = [
            value for value in Provenance.values if value != Provenance.AUTO
        ]
    conditions = []
    if selection.categories is not None:
        categories = list(selection.categories)
        # A kind without categories passes; the others by their final record's category
        # (the kind's coverage field, copied onto the record when it was written).
        uncategorized = [kind.name for kind in kinds.registry if not kind.coverage_field]
        conditions.append(Q(kind__in=uncategorized) | Q(final_records__category__in=categories))
    return items.filter(*conditions, **on_record)


def export_record_count(*, selection: ExportSelection) -> int:
    return export_items(selection=selection).count()


def _page_query(
    selection: ExportSelection, after: int, page_size: int, with_metadata: bool = False
) -> tuple[str, tuple]:
    columns = [
        "id",
        "external_id",
        "kind",
        "split",
        "data_text",
        "payload_text",
        "source",
        "signal",
    ]
    items = export_items(selection=selection, after=after).annotate(
        data_text=Cast("data", TextField()),
        payload_text=Cast("final_records__payload", TextField()),
    )
    if with_metadata:
        items = items.annotate(metadata_text=Cast("metadata", TextField()))
        columns.append("metadata_text")
    items = items.order_by("id").values_list(*columns)
    return items[:page_size].query.sql_with_params()


def _pages(
    selection: ExportSelection, page_size: int, with_metadata: bool = False
) -> Iterator[list[tuple]]:
    """The raw pages of a database other than PostgreSQL (SQLite): keyset queries."""
    last = 0
    while True:
        page = fetch_all(*_page_query(selection, last, page_size, with_metadata))
        yield page
        if len(page) < page_size:
            return
        last = page[-1][0]


# The middle query works out once per record which kind's pair, if any, its texts are read
# by (``pair_which``, see exports.formats.sql.PairSQL); the outer query reads the texts by it.
_STREAM_SQL = """
SELECT r.id, r.external_id, r.kind, r.split, {texts},
       CASE WHEN r.pair_which = 0 OR %s THEN r.data::text END,
       CASE WHEN r.pair_which = 0 THEN r.payload::text END, r.source, r.signal{metadata}
FROM (SELECT q.*, {which} AS pair_which FROM ({inner}) q ORDER BY q.id OFFSET 0) r
"""
# OFFSET 0 keeps the planner from pulling the middle query up into the outer one, which would
# put the middle query's expressions in place of every reference to their columns, evaluating
# them again. The order is the middle query's (the inner one's index order: no sort); the
# outer query only scans it, and an ORDER BY there would sort every row again before the
# first came out.
_NO_TEXTS = "NULL::text, NULL::text, NULL::text"


def _stream_query(
    selection: ExportSelection,
    pair: PairSQL | None,
    with_data: bool,
    with_metadata: bool,
) -> tuple[str, list[Any]]:
    columns = ["id", "external_id", "kind", "split", "data", "payload", "source", "signal"]
    if with_metadata:
        columns.append("metadata")
    items = (
        export_items(selection=selection)
        .annotate(payload=F("final_records__payload"))
        .order_by("id")
        .values_list(*columns)
    )
    inner, inner_params = items.query.sql_with_params()
    texts, which, which_params = _NO_TEXTS, "0", []
    if pair is not None:
        texts, which, which_params = ", ".join(pair.columns), pair.which, pair.params
    sql = _STREAM_SQL.format(
        texts=texts,
        which=which,
        inner=inner,
        metadata=", r.metadata::text" if with_metadata else "",
    )
    return sql, [with_data, *which_params, *inner_params]


def export_pair_columns() -> dict[str, str]:
    """The SQL names ``exports.formats.sql.pair_columns_sql`` needs in the streamed query: the
    item's data, the final payload and the kind where ``pair_which`` is computed, and the data,
    the payload and ``pair_which`` where the texts are read."""
    return {
        "data": "q.data",
        "final": "q.payload",
        "kind": "q.kind",
        "outer_data": "r.data",
        "outer_final": "r.payload",
        "which": "r.pair_which",
    }


def export_record_rows(
    *,
    selection: ExportSelection,
    page_size: int | None = None,
    with_metadata: bool = False,
    pair: PairSQL | None = None,
    with_data: bool = True,
) -> Iterator[RecordRow]:
    """The selected records as plain tuples ``(id, external_id, kind, split, data, payload,
    metadata, pair, source, signal)``, ordered by item id.

    On PostgreSQL, one streamed query (``core.db.stream_rows``: the caller runs no other query
    on the connection until the last row; the export holds a ``core.db.snapshot`` around it).
    ``pair`` (``exports.formats.sql.pair_columns_sql`` over ``export_pair_columns()``) gives a
    record's (prompt, chosen, rejected) texts, or NULLs; where they are set the payload is not
    sent (None) and the data only ``with_data`` (for the checks that read prompts), and
    ``pair`` is the tuple of the three texts (else None). Elsewhere (SQLite) keyset pages, and
    no pair. JSON comes as text and is parsed with orjson, several times faster than the JSON
    field's own decoding. The items' metadata only ``with_metadata`` (else None); the item's
    source and signal always (the manifest counts them: ``SourceCounts``).
    """
    if connection.vendor != "postgresql":
        for page in _pages(selection, page_size or PAGE_SIZE, with_metadata):
            for row in page:
                item_id, external_id, kind, split, data, payload, source, signal = row[:8]
                metadata = _loads(row[8]) if with_metadata else None
                yield (
                    item_id,
                    external_id,
                    kind,
                    split,
                    _loads(data),
                    _loads(payload),
                    metadata,
                    None,
                    source,
                    signal,
                )
        return
    sql, params = _stream_query(selection, pair, with_data, with_metadata)
    loads = _loads
    for row in stream_rows(sql, params, chunk=page_size or PAGE_SIZE):
        data, payload = row[7], row[8]
        yield (
            row[0],
            row[1],
            row[2],
            row[3],
            None if data is None else loads(data),
            None if payload is None else loads(payload),
            loads(row[11]) if with_metadata else None,
            None if row[4] is None else row[4:7],
            row[9],
            row[10],
        )


class SourceCounts:
    """The manifest's ``counts_by_source`` and ``counts_by_signal``, counted from the streamed
    rows (``export_record_rows``' source and signal): the same figures as
    ``export_source_counts`` without a second pass over the records."""

    def __init__(self) -> None:
        self.by_source: Counter[str] = Counter()
        self.by_signal: Counter[str] = Counter()

    def add(self, sources: Iterable[str], signals: Iterable[str]) -> None:
        """The sources and signals of some rows (two columns, in any order)."""
        self.by_source.update(sources)
        self.by_signal.update(signals)

    def result(self) -> dict[str, Any]:
        return {
            "by_source": dict(sorted(self.by_source.items())),
            "by_signal": dict(sorted((k, n) for k, n in self.by_signal.items() if k)),
        }


def export_guideline_versions(*, selection: ExportSelection) -> list[int]:
    """The guideline versions the selected items were annotated under (all their annotations:
    an edited or adjudicated final record has no single source annotation)."""
    from annotation.models import Annotation

    items = export_items(selection=selection).values("id")
    versions = (
        Annotation.objects.filter(item_id__in=items)
        .order_by("guidelines_version")
        .values_list("guidelines_version", flat=True)
        .distinct()
    )
    return list(versions)


# --- raw annotations -----------------------------------------------------------------------------


def export_annotations(*, selection: ExportSelection) -> QuerySet:
    """Every annotation of the selection's non-gold items (split and kinds filters), whatever
    the item's status."""
    from annotation.models import Annotation

    annotations = Annotation.objects.filter(project_id=selection.project_id, item__is_gold=False)
    if selection.split != ExportSplit.ALL:
        annotations = annotations.filter(item__split=selection.split)
    if selection.kinds is not None:
        annotations = annotations.filter(item__kind__in=selection.kinds)
    return annotations


def export_annotation_count(*, selection: ExportSelection) -> int:
    return export_annotations(selection=selection).count()


def export_annotation_records(
    *,
    selection: ExportSelection,
    project: Project,
    usernames: bool = False,
    with_metadata: bool = False,
    page_size: int | None = None,
) -> Iterator[Any]:
    """AnnotationRecords of the selection, by annotation id, a keyset page at a time; each
    page reads its items' skips and current final records in two more queries. Annotators go
    by their per-project pseudonym unless ``usernames``."""
    from django.contrib.auth import get_user_model

    from annotation.models import Assignment, AssignmentStatus
    from annotation.pseudonyms import annotator_pseudonym
    from exports.formats import AnnotationRecord
    from review.models import FinalRecord

    page_size = page_size or PAGE_SIZE
    names: dict[int, str] = {}
    columns = [
        "id",
        "item_id",
        "item__external_id",
        "item__kind",
        "item__split",
        "data_text",
        "payload_text",
        "annotator_id",
        "seconds_spent",
        "guidelines_version",
        "round",
        "display_order",
        "created_at",
    ]
    base = export_annotations(selection=selection).annotate(
        data_text=Cast("item__data", TextField()), payload_text=Cast("payload", TextField())
    )
    if with_metadata:
        base = base.annotate(metadata_text=Cast("item__metadata", TextField()))
        columns.append("metadata_text")
    base = base.order_by("id").values_list(*columns)
    last = 0
    while True:
        page = list(base.filter(id__gt=last)[:page_size])
        if not page:
            return
        item_ids = sorted({row[1] for row in page})
        skips: dict[int, list[str]] = {}
        for item_id, reason in Assignment.objects.filter(
            item_id__in=item_ids, status=AssignmentStatus.SKIPPED
        ).values_list("item_id", "skip_reason"):
            skips.setdefault(item_id, []).append(reason or "none")
        finals = {
            item_id: _loads(text)
            for item_id, text in FinalRecord.objects.filter(item_id__in=item_ids, is_current=True)
            .annotate(text=Cast("payload", TextField()))
            .values_list("item_id", "text")
        }
        unknown = {row[7] for row in page} - names.keys()
        if unknown and usernames:
            users = get_user_model().objects.filter(pk__in=unknown)
            names.update(users.values_list("pk", "username"))
        for user_id in unknown - names.keys():
            names[user_id] = annotator_pseudonym(project, user_id)
        for row in page:
            created_at = row[12].astimezone(UTC).isoformat().replace("+00:00", "Z")
            yield AnnotationRecord(
                item_id=row[1],
                external_id=row[2],
                kind=row[3],
                split=row[4],
                data=_loads(row[5]),
                annotation_id=row[0],
                payload=_loads(row[6]),
                annotator=names[row[7]],
                seconds_spent=row[8],
                guidelines_version=row[9],
                round=row[10],
                display_order=row[11],
                created_at=created_at,
                skip_reasons=tuple(sorted(skips.get(row[1], ()))),
                final=finals.get(row[1]),
                metadata=_loads(row[13]) if with_metadata else None,
            )
        if len(page) < page_size:
            return
        last = page[-1][0]


def export_annotation_guideline_versions(*, selection: ExportSelection) -> list[int]:
    versions = (
        export_annotations(selection=selection)
        .order_by("guidelines_version")
        .values_list("guidelines_version", flat=True)
        .distinct()
    )
    return list(versions)


# --- independence of evaluation data -----------------------------------------------------------


def eval_prompts(*, project_id: int, page_size: int | None = None) -> list[tuple[int, str, Any]]:
    """(id, external_id, data) of every eval item of the project, whatever its status."""
    page_size = page_size or PAGE_SIZE
    items = Item.objects.filter(project_id=project_id, split=Split.EVAL).order_by("id")
    out: list[tuple[int, str, Any]] = []
    last = 0
    while True:
        page = list(items.filter(id__gt=last).values_list("id", "external_id", "data")[:page_size])
        out.extend(page)
        if len(page) < page_size:
            return out
        last = page[-1][0]


def prompt_digest(data: Any) -> bytes | None:
    """A digest of the normalised prompt (case-folded, whitespace collapsed, stripped), or None
    for an empty prompt. Two prompts that differ only in case or spacing share a digest."""
    normalised = " ".join(kinds.prompt_text(data).casefold().split())
    if not normalised:
        return None
    return hashlib.blake2b(normalised.encode("utf-8", "surrogatepass"), digest_size=16).digest()


def eval_prompt_digests(*, project_id: int, page_size: int | None = None) -> set[bytes]:
    """Digests of the normalised prompts of every eval item of the project, whatever its status
    (an eval prompt is held out whether or not it is annotated yet)."""
    page_size = page_size or PAGE_SIZE
    items = Item.objects.filter(project_id=project_id, split=Split.EVAL).order_by("id")
    digests: set[bytes] = set()
    last = 0
    while True:
        page = list(items.filter(id__gt=last).values_list("id", "data")[:page_size])
        for _, data in page:
            digest = prompt_digest(data)
            if digest is not None:
                digests.add(digest)
        if len(page) < page_size:
            return digests
        last = page[-1][0]


# --- export jobs ---------------------------------------------------------------------------------


def export_list(*, project: Project) -> QuerySet[ExportJob]:
    return ExportJob.objects.filter(project=project).select_related("created_by").order_by("-id")


def export_get_for_lead(*, user: Any, export_id: Any) -> ExportJob:
    """The export, for a lead of its project: 404 for a non-member, 403 for another role."""
    try:
        pk = int(export_id)
    except (TypeError, ValueError):
        raise Http404("No such export.") from None
    job = ExportJob.objects.select_related("project", "created_by").filter(pk=pk).first()
    if job is None:
        raise Http404("No such export.")
    try:
        membership_get(user=user, project_id=job.project_id, role=Role.LEAD)
    except Http404:
        raise Http404("No such export.") from None
    return job


def manifest_name(file_name: str) -> str:
    """Where an export's manifest is stored: beside its file."""
    return f"{file_name}.manifest.json"


def export_download_response(
    *, job: ExportJob, part: str = "file"
) -> FileResponse | HttpResponseRedirect:
    """The stored file (``part="file"``) or manifest (``part="manifest"``) of a done export, as
    an attachment (the page and the API alike). The caller checks the job is done."""
    from exports.formats import format_get

    name = job.file.name
    if part == "manifest":
        name = manifest_name(name)
        content_type = "application/json"
    else:
        content_type = format_get(job.format, shape=job.options.get("shape")).content_type
    filename = name.rsplit("/", 1)[-1]
    signed = signed_url(name, filename=filename, content_type=content_type)
    if signed is not None:
        return HttpResponseRedirect(signed)  # object storage: a pre-signed URL that expires
    try:
        fileobj = export_storage().open(name, "rb")
    except FileNotFoundError:
        raise Http404("The export's file is missing from storage.") from None
    return FileResponse(
        fileobj, as_attachment=True, filename=name.rsplit("/", 1)[-1], content_type=content_type
    )
