"""Export jobs: a lead requests one, a Celery worker builds it.

The worker streams the approved final records from the database page by page, writes the file
to a local temporary file (``exports.formats.write_export``: flat memory, sha256 of the bytes
written), then hands it to Django's storage (local media by default; S3 or any other backend by
configuration) with a JSON manifest beside it, and only then marks the job done, in one
transaction. A worker killed half way leaves the job ``running`` with no file marked done; the
redelivered task (``acks_late``) starts it again from scratch.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, date, datetime
from datetime import time as dtime
from itertools import batched
from operator import itemgetter
from pathlib import Path
from typing import Any, TypeVar

import orjson
from django.conf import settings
from django.core.files import File
from django.core.files.base import ContentFile
from django.db import connection as db_connection
from django.db import transaction
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from django.utils.text import slugify

from annotation.models import Kind, Project, Split
from core import events, outbox
from core.audit import audit_record
from core.db import snapshot
from core.errors import ApplicationError
from core.models import JobStatus
from core.version import code_version
from exports import selectors
from exports.checks import NearDuplicateCheck
from exports.events import ExportFinished
from exports.formats import (
    EncodedBatch,
    ExportFormat,
    ExportFormatError,
    ExportRecord,
    ExportRecordError,
    ExportResult,
    encode_json,
    format_get,
    write_export,
)
from exports.formats.sql import (
    ROWS_PER_LINE,
    PairEncoder,
    PairSQL,
    pair_columns_sql,
    pair_encoder,
)
from exports.models import BUILD_TASK, ExportJob, ExportSplit
from exports.storage import export_storage
from hygiene.pii import RowScanner

logger = logging.getLogger(__name__)
T = TypeVar("T")

PROGRESS_EVERY = 2_000  # records between progress callbacks
BATCH_RECORDS = 2_000  # records read and encoded together (at most PROGRESS_EVERY)
# Rows per message of the streamed read (core.db.stream_rows): a few hundred kB each.
STREAM_PAGE = 2_000
PROGRESS_SECONDS = 0.5  # at most one progress write per this many seconds
LEAK_EXAMPLES = 20  # train external_ids listed in the eval-overlap warning
# How the annotations format names annotators: the per-project pseudonym, or usernames.
PSEUDONYMS, USERNAMES = "pseudonym", "username"
ANNOTATOR_NAMES = (PSEUDONYMS, USERNAMES)
MAX_CATEGORIES = 200
FILE_NAME_MAX = 100  # ExportJob.file's max_length
ERROR_MAX = 2_000


# --- request -----------------------------------------------------------------------------------


def _error(field: str, message: str) -> dict[str, str]:
    return {"field": field, "message": message}


def _aware(value: datetime) -> datetime:
    return value if timezone.is_aware(value) else timezone.make_aware(value, UTC)


def _parse_since(value: Any) -> datetime | None:
    """A datetime, a date (its start, UTC) or an ISO string of either; None when empty."""
    if value in (None, ""):
        return None
    if isinstance(value, datetime):
        return _aware(value)
    if isinstance(value, date):
        return datetime.combine(value, dtime.min, tzinfo=UTC)
    if isinstance(value, str):
        try:
            parsed = parse_datetime(value)
            if parsed is not None:
                return _aware(parsed)
            day = parse_date(value)
        except ValueError:
            day = None
        if day is not None:
            return datetime.combine(day, dtime.min, tzinfo=UTC)
    raise ValueError("not a date or datetime")


def _string_list(value: Any) -> list[str] | None:
    if value is None:
        return None
    if isinstance(value, str) or not isinstance(value, list | tuple):
        raise ValueError
    if not all(isinstance(v, str) for v in value):
        raise ValueError
    return list(value)


def export_options_clean(
    *,
    project: Project,
    format: str,
    split: Any,
    kinds: Any = None,
    categories: Any = None,
    approved_since: Any = None,
    shape: Any = None,
    pass_fail: Any = False,
    exclude_auto: Any = False,
    since_last: Any = False,
    extra_columns: Any = False,
    redact_personal_data: Any = False,
    exclude_near_duplicates: Any = False,
    annotator_names: Any = None,
) -> dict[str, Any]:
    """The job's options, checked: raises ApplicationError with an ``errors`` list.

    ``since_last``: only records approved since the previous export of the same format and
    split started (``approved_since`` is then that moment; a record approved while that
    export ran may come in both, none in neither); everything when there was none."""
    errors: list[dict[str, str]] = []
    for name, value in (("exclude_auto", exclude_auto), ("since_last", since_last)):
        if value not in (None, True, False):
            errors.append(_error(name, "Must be true or false."))
    exclude_auto, since_last = exclude_auto is True, since_last is True
    if since_last and approved_since not in (None, ""):
        errors.append(_error("since_last", "Give since_last or approved_since, not both."))
    fmt = None
    flags: dict[str, bool] = {}
    for name, value in (
        ("extra_columns", extra_columns),
        ("redact_personal_data", redact_personal_data),
        ("exclude_near_duplicates", exclude_near_duplicates),
    ):
        if value not in (None, True, False):
            errors.append(_error(name, "Must be true or false."))
        flags[name] = bool(value) if value in (None, True, False) else False
    if annotator_names in (None, ""):
        annotator_names = PSEUDONYMS
    if annotator_names not in ANNOTATOR_NAMES:
        errors.append(_error("annotator_names", f"One of {', '.join(ANNOTATOR_NAMES)}."))
        annotator_names = PSEUDONYMS
    pass_fail = bool(pass_fail) if pass_fail in (None, True, False) else pass_fail
    if not isinstance(pass_fail, bool):
        errors.append(_error("pass_fail", "Must be true or false."))
        pass_fail = False
    if not isinstance(format, str) or not format:
        errors.append(_error("format", "Choose an export format."))
    elif shape is not None and not isinstance(shape, str):
        errors.append(_error("shape", "Must be a format name."))
    else:
        try:
            fmt = format_get(format, shape=shape or None, pass_fail=pass_fail)
        except ExportFormatError as exc:
            field = "shape" if format == "parquet" and shape else "format"
            errors.append(_error("pass_fail" if pass_fail else field, str(exc)))
    split = split or ExportSplit.TRAIN
    if split not in ExportSplit.values:
        errors.append(_error("split", f"One of {', '.join(ExportSplit.values)}."))
    try:
        kind_list = _string_list(kinds)
    except ValueError:
        kind_list = None
        errors.append(_error("kinds", "Must be a list of kinds."))
    if kind_list is not None:
        unknown = [k for k in kind_list if k not in Kind.values]
        if unknown:
            errors.append(_error("kinds", f"Unknown kind {unknown[0]!r}; one of {Kind.values}."))
        elif not kind_list:
            errors.append(_error("kinds", "Choose at least one kind, or leave the filter out."))
        elif fmt is not None and not set(kind_list) & fmt.kinds:
            errors.append(
                _error(
                    "kinds",
                    f"{fmt.name} takes {' and '.join(sorted(fmt.kinds))} records; "
                    "none of the chosen kinds.",
                )
            )
        kind_list = sorted(set(kind_list))
    try:
        category_list = _string_list(categories)
    except ValueError:
        category_list = None
        errors.append(_error("categories", "Must be a list of category names."))
    if category_list is not None:
        known = set(project.categories) | set(project.harm_categories)
        unknown = [c for c in category_list if c not in known]
        if unknown:
            errors.append(
                _error(
                    "categories",
                    f"{unknown[0]!r} is not an instruction category or harm category of this "
                    "project.",
                )
            )
        elif not category_list:
            errors.append(
                _error("categories", "Choose at least one category, or leave the filter out.")
            )
        elif len(category_list) > MAX_CATEGORIES:
            errors.append(_error("categories", f"At most {MAX_CATEGORIES} categories."))
        category_list = sorted(set(category_list))
    try:
        since = _parse_since(approved_since)
    except ValueError:
        since = None
        errors.append(_error("approved_since", "Must be a date (YYYY-MM-DD) or an ISO datetime."))
    per_annotation = fmt is not None and fmt.per_annotation
    if per_annotation:
        # The annotations format reads every annotation, not final records.
        if categories is not None:
            errors.append(_error("categories", "Applies to final records, not to annotations."))
        if approved_since not in (None, ""):
            errors.append(_error("approved_since", "Applies to final records, not to annotations."))
    elif annotator_names != PSEUDONYMS:
        errors.append(_error("annotator_names", "Applies to the annotations format only."))
    if errors:
        first = errors[0]
        raise ApplicationError(
            f"Invalid export: {first['field']}: {first['message']}", {"errors": errors}
        )
    assert fmt is not None
    since_export = None
    if since_last:
        previous = (
            ExportJob.objects.filter(
                project=project, format=fmt.name, split=split, status=JobStatus.DONE
            )
            .order_by("-id")
            .first()
        )
        if previous is not None:
            since_export = previous.pk
            since = previous.started_at or previous.created_at
    return {
        "exclude_auto": exclude_auto,
        "since_last": since_last,
        "since_export": since_export,
        "format": fmt.name,
        "shape": fmt.shape if fmt.container == "parquet" else None,
        "split": split,
        "kinds": kind_list,
        "categories": category_list,
        "approved_since": since.isoformat() if since else None,
        "pass_fail": pass_fail,
        **flags,
        "annotator_names": annotator_names,
    }


def export_request(
    *,
    project: Project,
    actor: Any,
    format: str,
    split: str | None = ExportSplit.TRAIN,
    kinds: list[str] | None = None,
    categories: list[str] | None = None,
    approved_since: datetime | date | str | None = None,
    shape: str | None = None,
    pass_fail: bool = False,
    exclude_auto: bool = False,
    since_last: bool = False,
    extra_columns: bool = False,
    redact_personal_data: bool = False,
    exclude_near_duplicates: bool = False,
    annotator_names: str | None = None,
) -> ExportJob:
    """Queue an export of the project's approved records (or, in the annotations format, of
    every annotation); a worker builds it after commit."""
    options = export_options_clean(
        exclude_auto=exclude_auto,
        since_last=since_last,
        project=project,
        format=format,
        split=split,
        kinds=kinds,
        categories=categories,
        approved_since=approved_since,
        shape=shape,
        pass_fail=pass_fail,
        extra_columns=extra_columns,
        redact_personal_data=redact_personal_data,
        exclude_near_duplicates=exclude_near_duplicates,
        annotator_names=annotator_names,
    )
    # Options that are off by default are kept only when asked for, so other jobs' options
    # stay as they were.
    optional = (
        "pass_fail",
        "exclude_auto",
        "extra_columns",
        "redact_personal_data",
        "exclude_near_duplicates",
    )
    kept = (
        "shape",
        "kinds",
        "categories",
        "approved_since",
        *(name for name in optional if options[name]),
        *(("since_last", "since_export") if options["since_last"] else ()),
        *(("annotator_names",) if options["annotator_names"] != PSEUDONYMS else ()),
    )
    with transaction.atomic():
        job = ExportJob.objects.create(
            project=project,
            created_by=actor if getattr(actor, "is_authenticated", False) else None,
            format=options["format"],
            split=options["split"],
            options={k: options[k] for k in kept},
        )
        audit_record(
            actor=actor,
            action="export.request",
            obj=job,
            project=project,
            after={"format": job.format, "split": job.split, "options": job.options},
        )
        # The job is recorded in this transaction; the outbox hands it to a worker once it
        # commits (at once, or when the task queue is back).
        outbox.enqueue(BUILD_TASK, key=job.outbox_key, job_id=job.pk)
    return job


def export_requeued(reason: str, *, job_id: int) -> None:
    """The outbox hands a job whose worker stopped back to the queue: it is queued again."""
    job = ExportJob.objects.select_for_update().filter(pk=job_id).first()
    if job is None or job.status in (JobStatus.DONE, JobStatus.FAILED):
        return
    before = job.status
    job.status, job.progress = JobStatus.QUEUED, 0.0
    job.save(update_fields=["status", "progress"])
    audit_record(
        actor=None,
        action="export.requeue",
        obj=job,
        project=job.project,
        before={"status": before},
        after={"status": job.status, "reason": reason},
    )


def export_give_up(reason: str, *, job_id: int) -> None:
    """The outbox gave up on the job (its worker kept dying): it fails with the reason."""
    job = ExportJob.objects.select_related("project").filter(pk=job_id).first()
    if job is not None:
        _fail(job, reason)
        _remove_leftovers(job_id)


# --- build -------------------------------------------------------------------------------------


def selection_of(job: ExportJob) -> selectors.ExportSelection:
    options = job.options or {}
    since = options.get("approved_since")
    kinds, categories = options.get("kinds"), options.get("categories")
    return selectors.ExportSelection(
        project_id=job.project_id,
        split=job.split,
        kinds=tuple(kinds) if kinds is not None else None,
        categories=tuple(categories) if categories is not None else None,
        approved_since=_parse_since(since) if since else None,
        exclude_auto=bool(options.get("exclude_auto")),
    )


def export_file_name(job: ExportJob) -> str:
    """``exports/<project>/<job>/<project-slug>-<format>[-<shape>]-<split>.<ext>``: the same
    job always gets the same name, and it fits the file field."""
    fmt = format_get(job.format, shape=job.options.get("shape"))
    folder = f"exports/{job.project_id}/{job.pk}/"
    tail = f"-{fmt.name}{'-' + fmt.shape if fmt.container == 'parquet' else ''}-{job.split}"
    tail += f".{fmt.extension}"
    room = max(FILE_NAME_MAX - len(folder) - len(tail), 0)
    slug = slugify(job.project.name)[:room].strip("-") or f"project-{job.project_id}"[:room]
    return f"{folder}{slug}{tail}"


def _temp_dir() -> Path:
    path = Path(settings.MEDIA_ROOT) / "tmp"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _temp_prefix(job_id: int) -> str:
    return f"export-{job_id}-"


def _remove_leftovers(job_id: int) -> None:
    """A killed worker leaves its temporary file behind; the retry removes it."""
    for path in _temp_dir().glob(f"{_temp_prefix(job_id)}*"):
        path.unlink(missing_ok=True)


def _remove_stored(name: str) -> None:
    for stored in (name, selectors.manifest_name(name)):
        if export_storage().exists(stored):
            export_storage().delete(stored)


class LeakCheck:
    """Train records whose normalised prompt equals an eval prompt of the project."""

    def __init__(self, eval_digests: set[bytes]) -> None:
        self.eval_digests = eval_digests
        self.count = 0
        self.examples: list[str] = []

    def check(self, external_id: str, data: dict) -> None:
        digest = selectors.prompt_digest(data)
        if digest is not None and digest in self.eval_digests:
            self.count += 1
            if len(self.examples) < LEAK_EXAMPLES:
                self.examples.append(external_id)

    def warnings(self) -> list[dict[str, Any]]:
        if not self.count:
            return []
        return [
            {
                "code": "eval_prompt_overlap",
                "message": (
                    f"{self.count} train record(s) have the same normalised prompt as an eval "
                    "item of this project; training on them leaks evaluation data."
                ),
                "count": self.count,
                "external_ids": self.examples,
            }
        ]


@dataclass
class _Built:
    result: ExportResult
    warnings: list[dict[str, Any]]
    guideline_versions: list[int]
    personal_data: dict[str, Any]
    near_duplicates: dict[str, Any] | None
    sources: dict[str, Any] | None = None


class _Progress:
    """``write_export``'s progress callback: writes the job's progress now and then, each
    write its own short transaction. ``elsewhere``: the export reads inside a transaction of
    its own (``core.db.snapshot``), whose writes nobody would see until the end, so progress
    is written by a helper thread on its own connection; that thread also runs the export's
    side queries (``beside``) in the export's snapshot (``snapshot_id``) while it streams.
    Inside a caller's transaction nothing is written until the end: nobody would see it
    before the caller commits, and on PostgreSQL the rows' stream holds the connection."""

    def __init__(
        self, job: ExportJob, *, elsewhere: bool = False, snapshot_id: str | None = None
    ) -> None:
        self.job_id, self.snapshot_id = job.pk, snapshot_id
        self.total: Callable[[], int] = lambda: 0
        self.last = 0.0
        self.helper = (
            ThreadPoolExecutor(max_workers=1, thread_name_prefix="export-progress")
            if elsewhere
            else None
        )

    def beside(self, query: Callable[[], T]) -> Callable[[], T]:
        """``query``'s result, as a call that gives it: run by the helper, in the export's
        snapshot, while the rows stream (the call waits for it), or here and now when there is
        no helper or no snapshot to share."""
        if self.helper is None or self.snapshot_id is None:
            value = query()
            return lambda: value
        return self.helper.submit(self._in_snapshot, query).result

    def _in_snapshot(self, query: Callable[[], T]) -> T:
        with transaction.atomic(), db_connection.cursor() as cursor:
            cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            cursor.execute("SET TRANSACTION SNAPSHOT %s", [self.snapshot_id])
            return query()

    def _write(self, records: int) -> None:
        total = self.total()  # the helper's own earlier task: done by now
        if total:
            fraction = min(records / total, 0.99)
            ExportJob.objects.filter(pk=self.job_id, status=JobStatus.RUNNING).update(
                progress=fraction
            )

    def __call__(self, records: int, rows: int) -> None:
        now = time.monotonic()
        if now - self.last < PROGRESS_SECONDS:
            return
        self.last = now
        if self.helper is None:
            if not db_connection.in_atomic_block:
                self._write(records)
        else:
            self.helper.submit(self._write, records)

    def close(self) -> None:
        if self.helper is not None:
            self.helper.submit(_close_connection).result()
            self.helper.shutdown()


def _close_connection() -> None:
    """Close the calling thread's own connection (a helper thread's, at its end)."""
    db_connection.close()


def _snapshot_id(own_transaction: bool) -> str | None:
    """The id of the export's snapshot, for the helper connection to read in it too."""
    if not own_transaction:
        return None
    with db_connection.cursor() as cursor:
        cursor.execute("SELECT pg_export_snapshot()")
        return cursor.fetchone()[0]


def _line_filter(scanner: RowScanner, rows_per_line: int, constant: bytes | None) -> Any:
    """The personal data scanner over rows encoded from pair texts (EncodedBatch): the row
    hint over the batch's texts at once (the format's constant bytes, ``constant``, once: when
    they may match, every row is checked whole), and only for the records where it may match,
    each row decoded, scanned (redacted) and encoded again, as ``write_export`` does for the
    rows it builds."""
    constant = constant or b""
    every_row = not scanner.rules_out(constant, 0)

    def apply(batch: EncodedBatch) -> EncodedBatch:
        records = len(batch)
        if not every_row:
            hits = scanner.rows_with_hints(
                batch.lines, batch.texts, constant=constant, rows=records * rows_per_line
            )
            if not hits:
                return batch
        lines = batch.lines.split(b"\n")  # a JSON line holds no raw line end
        if every_row:
            hits = [
                index
                for index in range(records)
                if not scanner.rules_out(
                    b"\n".join(lines[index * rows_per_line : (index + 1) * rows_per_line]),
                    rows_per_line,
                )
            ]
        changed = False
        for index in hits:
            item_id = batch.item_ids[index]
            for at in range(index * rows_per_line, (index + 1) * rows_per_line):
                row = orjson.loads(lines[at])
                scanned = scanner.walk(item_id, row)
                if scanned is not row:  # redacted
                    lines[at] = encode_json(scanned)
                    changed = True
        if not changed:
            return batch
        return dataclasses.replace(batch, lines=b"\n".join(lines))

    return apply


def _batch_size() -> int:
    """Records encoded together: a batch's progress is reported as a whole, so at most the
    progress step."""
    return max(min(BATCH_RECORDS, PROGRESS_EVERY), 1)


def _records(
    selection: selectors.ExportSelection,
    leaks: LeakCheck | None,
    system_prompt: str,
    with_metadata: bool,
    sources: selectors.SourceCounts,
    pair: PairSQL | None = None,
    encode: PairEncoder | None = None,
    with_data: bool = True,
) -> Iterator[ExportRecord | EncodedBatch]:
    """The records of the selection, a batch at a time; the runs of those read as pair texts
    (``pair``, see exports.formats.sql) as EncodedBatches, their rows encoded together by
    ``encode``. Every row's source and signal go to ``sources``."""
    rows = selectors.export_record_rows(
        selection=selection,
        with_metadata=with_metadata,
        pair=pair,
        with_data=with_data,
        page_size=STREAM_PAGE,
    )
    for chunk in batched(rows, _batch_size()):
        sources.add(map(_SOURCE, chunk), map(_SIGNAL, chunk))
        if leaks is not None:
            for row in chunk:
                if row[3] == Split.TRAIN:
                    leaks.check(row[1], row[4])
        if encode is None:
            for row in chunk:
                yield _record(row, system_prompt)
            continue
        texts = list(map(_TEXTS, chunk))
        if None not in texts:  # the usual case: every record of the chunk read as texts
            yield _batch(chunk, texts, encode, with_data)
            continue
        start = 0
        for index, text in enumerate(texts):
            if text is None:
                if start < index:
                    yield _batch(chunk[start:index], texts[start:index], encode, with_data)
                yield _record(chunk[index], system_prompt)
                start = index + 1
        if start < len(chunk):
            yield _batch(chunk[start:], texts[start:], encode, with_data)


# The columns of selectors.RecordRow.
_ITEM_ID, _EXTERNAL_ID, _KIND, _SPLIT, _DATA = map(itemgetter, range(5))
_TEXTS, _SOURCE, _SIGNAL = map(itemgetter, range(7, 10))


def _record(row: tuple, system_prompt: str) -> ExportRecord:
    item_id, external_id, kind, split, data, payload, item_metadata = row[:7]
    return ExportRecord(
        item_id, external_id, kind, data, payload, system_prompt, item_metadata, split
    )


def _batch(
    rows: tuple | list, texts: list[tuple[str, ...]], encode: PairEncoder, with_data: bool
) -> EncodedBatch:
    return EncodedBatch(
        list(map(_ITEM_ID, rows)),
        list(map(_EXTERNAL_ID, rows)),
        list(map(_KIND, rows)),
        list(map(_SPLIT, rows)),
        texts,
        encode.lines(texts),
        encode.lines,
        list(map(_DATA, rows)) if with_data else None,
    )


def _pair_reading(job: ExportJob, fmt: ExportFormat, extra_columns: bool) -> dict[str, Any]:
    """``pair`` and ``encode`` for ``_records`` where the format's rows can be written from
    the pair texts (PostgreSQL, a pair shape in a JSON container, no extra columns, no
    pass_fail; see exports.formats.sql); else nothing."""
    if (
        db_connection.vendor != "postgresql"
        or fmt.container == "parquet"
        or fmt.per_annotation
        or extra_columns
        or job.options.get("pass_fail")
    ):
        return {}
    pair = pair_columns_sql(fmt.shape, fmt.kinds, **selectors.export_pair_columns())
    if pair is None:
        return {}
    return {"pair": pair, "encode": pair_encoder(fmt.shape, job.project.system_prompt)}


def _split_of(record: Any) -> str:
    return record.split


def _write(job: ExportJob, fileobj: Any) -> _Built:
    """The export's file, everything read from one snapshot (PostgreSQL)."""
    with snapshot() as own_transaction:
        return _write_rows(job, fileobj, own_transaction)


def _write_rows(job: ExportJob, fileobj: Any, own_transaction: bool) -> _Built:
    options = job.options or {}
    fmt = format_get(job.format, shape=options.get("shape"))
    selection = selection_of(job)
    extra_columns = bool(options.get("extra_columns"))
    records: Iterator[Any]
    leaks = None
    sources = None
    progress = _Progress(job, elsewhere=own_transaction, snapshot_id=_snapshot_id(own_transaction))
    try:
        if fmt.per_annotation:
            progress.total = progress.beside(
                lambda: selectors.export_annotation_count(selection=selection)
            )
            records = selectors.export_annotation_records(
                selection=selection,
                project=job.project,
                usernames=options.get("annotator_names") == USERNAMES,
                with_metadata=extra_columns,
            )
            versions = progress.beside(
                lambda: selectors.export_annotation_guideline_versions(selection=selection)
            )
        eval_items = []
        if job.split != ExportSplit.EVAL:
            eval_items = selectors.eval_prompts(project_id=job.project_id)
        pair_reading = {} if fmt.per_annotation else _pair_reading(job, fmt, extra_columns)
        encode = pair_reading.get("encode")
        if not fmt.per_annotation:
            # The count (for progress) and the guideline versions are read beside the rows
            # (by the helper connection, in the same snapshot), not before them.
            progress.total = progress.beside(
                lambda: selectors.export_record_count(selection=selection)
            )
            versions = progress.beside(
                lambda: selectors.export_guideline_versions(selection=selection)
            )
            if job.split != ExportSplit.EVAL:
                digests = selectors.eval_prompt_digests(project_id=job.project_id)
                leaks = LeakCheck(digests) if digests else None
            sources = selectors.SourceCounts()
            records = _records(
                selection,
                leaks,
                job.project.system_prompt,
                extra_columns,
                sources,
                **pair_reading,
                with_data=leaks is not None or bool(eval_items),
            )
        near = None
        if job.split != ExportSplit.EVAL and eval_items:
            near = NearDuplicateCheck(
                eval_items,
                threshold=job.project.near_duplicate_threshold,
                exclude=bool(options.get("exclude_near_duplicates")),
            )
            records = near.filter(records, split_of=_split_of)
        scanner = RowScanner(
            redact=bool(options.get("redact_personal_data")),
            region=settings.RUBRIC_PHONE_REGION,
            process_after=settings.RUBRIC_PII_HINT_PROCESS_AFTER,
        )
        result = write_export(
            job.format,
            records,
            fileobj,
            shape=options.get("shape"),
            pass_fail=bool(options.get("pass_fail")),
            on_progress=progress,
            progress_every=PROGRESS_EVERY,
            extra_columns=extra_columns,
            row_filter=scanner,
            line_filter=_line_filter(
                scanner, ROWS_PER_LINE.get(fmt.shape, 1), getattr(encode, "constant", None)
            ),
        )
        guideline_versions = versions()
    finally:
        progress.close()
    warnings = leaks.warnings() if leaks is not None else []
    if near is not None:
        warnings.extend(near.warnings())
    personal_data = scanner.summary()
    if personal_data["findings"] and not personal_data["redacted"]:
        counts = ", ".join(f"{n} {kind}" for kind, n in personal_data["findings"].items())
        warnings.append(
            {
                "code": "personal_data",
                "message": (
                    f"Possible personal data in the rows written ({counts}); export again with "
                    "redact_personal_data to replace it with [EMAIL], [PHONE], ..."
                ),
                "count": sum(personal_data["findings"].values()),
                "item_ids": sorted({i for ids in personal_data["item_ids"].values() for i in ids})[
                    :LEAK_EXAMPLES
                ],
            }
        )
    return _Built(
        result=result,
        warnings=warnings,
        guideline_versions=guideline_versions,
        personal_data=personal_data,
        near_duplicates=near.summary() if near is not None else None,
        sources=None if sources is None else sources.result(),
    )


def export_manifest(job: ExportJob, built: _Built, *, file_name: str) -> dict[str, Any]:
    result = built.result
    summary = result.as_dict()
    fmt = format_get(job.format, shape=job.options.get("shape"))
    return {
        "project": {"id": job.project_id, "name": job.project.name},
        "export_id": job.pk,
        "format": fmt.name,
        "shape": fmt.shape,
        "split": job.split,
        "options": dict(sorted(job.options.items())),
        "records": result.records,
        "rows": result.rows,
        "counts_by_kind": summary["counts_by_kind"],
        "counts_by_category": summary["counts_by_category"],
        # Records selected by the item's source and a production monitor's signal.
        "counts_by_source": (built.sources or {}).get("by_source", {}),
        "counts_by_signal": (built.sources or {}).get("by_signal", {}),
        "skipped": summary["skipped"],
        "skipped_by_kind": summary["skipped_by_kind"],
        "file": file_name.rsplit("/", 1)[-1],
        "content_type": fmt.content_type,
        "sha256": result.sha256,
        "bytes": result.bytes,
        "created_at": timezone.now().isoformat(),
        "code_version": code_version(),
        "guideline_versions": built.guideline_versions,
        "warnings": built.warnings,
        "personal_data": built.personal_data,
        "near_duplicates": built.near_duplicates,
    }


def manifest_bytes(manifest: dict[str, Any]) -> bytes:
    return (json.dumps(manifest, sort_keys=True, indent=2, ensure_ascii=False) + "\n").encode()


def _start(job_id: int) -> ExportJob | None:
    """Mark the job running (again, after a killed attempt); None when there is nothing to do:
    no such job, or it is already done or failed."""
    with transaction.atomic():
        job = ExportJob.objects.select_for_update().filter(pk=job_id).first()
        if job is None or job.status in (JobStatus.DONE, JobStatus.FAILED):
            return None
        restarted = job.status == JobStatus.RUNNING
        job.status, job.progress, job.error = JobStatus.RUNNING, 0.0, ""
        job.started_at, job.finished_at = timezone.now(), None
        job.save(update_fields=["status", "progress", "error", "started_at", "finished_at"])
        audit_record(
            actor=None,
            action="export.restart" if restarted else "export.start",
            obj=job,
            project=job.project,
            after={"status": job.status},
        )
    return ExportJob.objects.select_related("project").get(pk=job_id)


class _TemporaryFile(File):
    """The export's temporary file, with its path: the local disk storage moves it into place
    (a rename) instead of copying every byte again; object storage reads it as any file."""

    def temporary_file_path(self) -> str:
        return self.file.name


def _finish(job: ExportJob, built: _Built, temp: Any) -> bool:
    """Store the file and its manifest, then mark the job done in one short transaction.

    The storage writes happen outside any transaction (a large file to S3 must not hold a row
    lock, nor SQLite's write lock): killed between the two steps, the job is still running with
    no file marked done, and the retry overwrites what was stored. False when another attempt
    finished the job first (its file, byte-identical to this one, stands)."""
    if ExportJob.objects.filter(pk=job.pk, status=JobStatus.DONE).exists():
        return False
    name = export_file_name(job)
    _remove_stored(name)  # a killed attempt's leftovers: the name must be free to stay the same
    temp.seek(0)
    storage = export_storage()
    stored = storage.save(name, _TemporaryFile(temp, name=name.rsplit("/", 1)[-1]))
    manifest = export_manifest(job, built, file_name=stored)
    storage.save(selectors.manifest_name(stored), ContentFile(manifest_bytes(manifest)))
    result = built.result
    with transaction.atomic():
        locked = ExportJob.objects.select_for_update().get(pk=job.pk)
        if locked.status == JobStatus.DONE:
            # Another attempt finished first (its file stands); a name the storage made up
            # beside it for this attempt's copy goes, so there is one file per export.
            if stored != locked.file.name:
                _remove_stored(stored)
            return False
        before = locked.status
        locked.status, locked.progress, locked.error = JobStatus.DONE, 1.0, ""
        locked.records, locked.size_bytes = result.records, result.bytes
        locked.sha256, locked.manifest, locked.file.name = result.sha256, manifest, stored
        locked.finished_at = timezone.now()
        locked.save(
            update_fields=[
                "status",
                "progress",
                "error",
                "records",
                "size_bytes",
                "sha256",
                "manifest",
                "file",
                "finished_at",
            ]
        )
        audit_record(
            actor=None,
            action="export.done",
            obj=locked,
            project=job.project,
            before={"status": before},
            after={"status": JobStatus.DONE, "sha256": result.sha256, "records": result.records},
        )
        events.announce(
            ExportFinished(project_id=job.project_id, export_id=locked.pk, status=JobStatus.DONE)
        )
    return True


def export_error_message(exc: BaseException) -> str:
    """What the lead reads on the page and in the API when the build fails."""
    if isinstance(exc, ApplicationError):
        message = exc.message
    elif isinstance(exc, ExportRecordError | ExportFormatError):
        message = str(exc)
    else:
        text = str(exc).strip()
        message = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    return message[:ERROR_MAX]


def _fail(job: ExportJob, exc: BaseException | str) -> None:
    with transaction.atomic():
        locked = ExportJob.objects.select_for_update().get(pk=job.pk)
        if locked.status in (JobStatus.DONE, JobStatus.FAILED):
            return
        before = locked.status
        try:
            _remove_stored(export_file_name(job))
        except Exception:  # the storage itself may be what failed: the job fails all the same
            logger.warning("export %s: could not remove what was stored", job.pk, exc_info=True)
        message = exc[:ERROR_MAX] if isinstance(exc, str) else export_error_message(exc)
        locked.status, locked.error = JobStatus.FAILED, message
        locked.finished_at = timezone.now()
        locked.file.name = ""
        locked.save(update_fields=["status", "error", "finished_at", "file"])
        audit_record(
            actor=None,
            action="export.failed",
            obj=locked,
            project=job.project,
            before={"status": before},
            after={"status": JobStatus.FAILED, "error": locked.error},
        )
        events.announce(
            ExportFinished(project_id=job.project_id, export_id=locked.pk, status=JobStatus.FAILED)
        )


def export_build(*, job_id: int) -> ExportJob | None:
    """Build the export: the worker's whole job. Safe to run again: a done (or failed) job is
    left as it is; a job left ``running`` by a killed worker is built again from scratch."""
    job = _start(job_id)
    if job is None:
        return ExportJob.objects.filter(pk=job_id).first()
    _remove_leftovers(job.pk)
    temp = tempfile.NamedTemporaryFile(  # noqa: SIM115 (closed in finally)
        prefix=_temp_prefix(job.pk), suffix=".partial", dir=_temp_dir(), delete=False
    )
    try:
        built = _write(job, temp)
        temp.flush()
        _finish(job, built, temp)
    except outbox.TRANSIENT:
        # The database went away (a restart, a failover, a terminated connection): not the
        # export's fault. The outbox runs it again later, from scratch, instead of failing it
        # for good (or, unable to record the failure, leaving it running until the sweeper).
        raise
    except Exception as exc:
        logger.exception("export %s failed", job.pk)
        try:
            _fail(job, exc)
        except Exception:
            logger.exception("export %s: could not record the failure", job.pk)
    finally:
        temp.close()
        Path(temp.name).unlink(missing_ok=True)
    return ExportJob.objects.filter(pk=job_id).first()
