"""Read side of exports: the approved records an export takes, streamed in a stable order, and
the export jobs a lead may see."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from django.db import connection
from django.db.models import Q, QuerySet, TextField
from django.db.models.functions import Cast
from django.http import FileResponse, Http404, HttpResponseRedirect

from annotation import kinds
from annotation.access import membership_get
from annotation.models import Item, ItemStatus, Project, Role, Split
from core.db import fetch_all
from exports.models import ExportJob, ExportSplit
from exports.storage import export_storage, signed_url

# Rows fetched per query. Each page is one short keyset query (`id > last ORDER BY id LIMIT n`):
# memory stays flat, no transaction or server-side cursor stays open for the length of the
# export, and the job's progress is committed on the same connection as it goes.
PAGE_SIZE = 5_000

# (item id, external_id, kind, split, item data, final payload)
RecordRow = tuple[int, str, str, str, dict, dict]


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


def _page_query(selection: ExportSelection, after: int, page_size: int) -> tuple[str, tuple]:
    items = (
        export_items(selection=selection, after=after)
        .annotate(
            data_text=Cast("data", TextField()),
            payload_text=Cast("final_records__payload", TextField()),
        )
        .order_by("id")
        .values_list("id", "external_id", "kind", "split", "data_text", "payload_text")
    )
    return items[:page_size].query.sql_with_params()


def _pages(selection: ExportSelection, page_size: int) -> Iterator[list[tuple]]:
    """The raw pages. On PostgreSQL the next page is fetched in a helper thread while the
    caller works through the current one, so the database's work (the join, JSON to text) and
    the network overlap Python's. The helper uses this thread's own psycopg connection (safe to
    share between threads, one statement at a time), so it sees the same transaction, and
    binds the parameters server-side: every page sends the same statement text and psycopg
    prepares it once instead of the server planning each page."""
    if connection.vendor != "postgresql":
        last = 0
        while True:
            page = fetch_all(*_page_query(selection, last, page_size))
            yield page
            if len(page) < page_size:
                return
            last = page[-1][0]

    import psycopg

    connection.ensure_connection()
    raw = connection.connection

    def fetch(sql: str, params: tuple) -> list[tuple]:
        with psycopg.Cursor(raw) as cursor:
            cursor.execute(sql, params)
            return cursor.fetchall()

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="export-fetch") as helper:
        upcoming = helper.submit(fetch, *_page_query(selection, 0, page_size))
        try:
            while True:
                page = upcoming.result()
                if len(page) == page_size:
                    upcoming = helper.submit(fetch, *_page_query(selection, page[-1][0], page_size))
                yield page
                if len(page) < page_size:
                    return
        finally:
            # Stopped early (a failed export): let a fetch in flight finish before the
            # connection is used again or closed.
            upcoming.cancel() or upcoming.exception()


def export_record_rows(
    *, selection: ExportSelection, page_size: int | None = None
) -> Iterator[RecordRow]:
    """The selected records as plain tuples, ordered by item id, a page query at a time
    (see ``_pages``). JSON comes as text and is parsed with orjson, several times faster than
    the JSON field's own decoding."""
    for page in _pages(selection, page_size or PAGE_SIZE):
        for item_id, external_id, kind, split, data, payload in page:
            yield item_id, external_id, kind, split, _loads(data), _loads(payload)


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


# --- independence of evaluation data -----------------------------------------------------------


def prompt_text(data: Any) -> str:
    """The prompt an item asks: ``prompt``, or its user messages joined by newlines."""
    if not isinstance(data, dict):
        return ""
    messages = data.get("messages")
    if isinstance(messages, list) and messages:
        return "\n".join(
            m["content"]
            for m in messages
            if isinstance(m, dict) and m.get("role") == "user" and isinstance(m.get("content"), str)
        )
    prompt = data.get("prompt")
    return prompt if isinstance(prompt, str) else ""


def prompt_digest(data: Any) -> bytes | None:
    """A digest of the normalised prompt (case-folded, whitespace collapsed, stripped), or None
    for an empty prompt. Two prompts that differ only in case or spacing share a digest."""
    normalised = " ".join(prompt_text(data).casefold().split())
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
