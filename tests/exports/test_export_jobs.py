"""Export jobs built by the worker's code path: files, manifests, filters, failures, retries."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
from pathlib import Path

import pytest
from django.core.files.storage import default_storage
from django.utils import timezone

from annotation import kinds
from annotation.models import Annotation, Assignment, AssignmentStatus, Membership, Role
from annotation.queue import assignment_claim_next, assignment_submit
from core.errors import ApplicationError
from core.models import AuditEvent, JobStatus
from exports import selectors, services
from exports.models import ExportJob
from tests.factories import ItemFactory, MembershipFactory, ProjectFactory

os.environ["HF_DATASETS_OFFLINE"] = "1"
os.environ["HF_HUB_OFFLINE"] = "1"

pytestmark = pytest.mark.usefixtures("export_media")

UNICODE = (
    "Hi 👩\u200d💻 \u200f\u05e9\u05dc\u05d5\u05dd\u200f e\u0301 \u202eRTL 日本語 🇫🇷 \u2028 end"
)


def build(project, lead, django_capture_on_commit_callbacks, **options) -> ExportJob:
    """Request an export and run what the commit enqueues (in-process, as without a broker)."""
    options.setdefault("format", "trl-preference")
    options.setdefault("split", "train")
    with django_capture_on_commit_callbacks(execute=True):
        job = services.export_request(project=project, actor=lead, **options)
    job.refresh_from_db()
    return job


def file_bytes(job: ExportJob) -> bytes:
    with default_storage.open(job.file.name, "rb") as handle:
        return handle.read()


def lines(job: ExportJob) -> list[dict]:
    return [json.loads(line) for line in file_bytes(job).decode("utf-8").split("\n") if line]


def pref(a: str, b: str, prompt: str = "Which is better?") -> dict:
    return {
        "prompt": prompt,
        "responses": [{"text": a, "model": "m-a"}, {"text": b, "model": "m-b"}],
    }


def rating(value: int) -> dict:
    return {"rating": value}


@pytest.fixture
def build_export(project, lead, django_capture_on_commit_callbacks):
    def run(**options) -> ExportJob:
        return build(project, lead, django_capture_on_commit_callbacks, **options)

    return run


# --- the file ----------------------------------------------------------------------------------


def test_export_job_ends_done_with_records_size_and_sha256_of_the_stored_file(
    project, approved, build_export
):
    approved(project, data=pref("A1", "B1"), final=rating(-2))
    approved(project, data=pref("A2", "B2"), final=rating(3))

    job = build_export()

    content = file_bytes(job)
    assert job.status == JobStatus.DONE
    assert job.progress == 1.0
    assert job.records == 2
    assert job.size_bytes == len(content)
    assert job.sha256 == hashlib.sha256(content).hexdigest()
    assert job.error == ""
    assert job.started_at <= job.finished_at


def test_file_is_stored_under_a_deterministic_name(project, approved, build_export):
    project.name = "Kind Answers!"
    project.save()
    approved(project)

    job = build_export(split="all")

    assert job.file.name == f"exports/{project.pk}/{job.pk}/kind-answers-trl-preference-all.jsonl"


def test_chosen_follows_the_sign_of_the_final_rating(project, approved, build_export):
    approved(project, data=pref("A wins", "B loses"), final=rating(-1))
    approved(project, data=pref("A loses", "B wins"), final=rating(2))

    rows = lines(build_export())

    assert [(r["chosen"][0]["content"], r["rejected"][0]["content"]) for r in rows] == [
        ("A wins", "B loses"),
        ("B wins", "A loses"),
    ]


def test_ties_are_left_out_and_counted_as_skipped(project, approved, build_export):
    approved(project, data=pref("A", "B"), final=rating(0))
    approved(project, data=pref("A", "B", "Other?"), final=rating(1))

    job = build_export()

    assert job.records == 1
    assert job.manifest["skipped"] == {"tie": 1}


@pytest.fixture
def pair_project(db):
    project = ProjectFactory(annotations_per_item=2, review_sample_rate=0)
    annotators = [MembershipFactory(project=project, role=Role.ANNOTATOR) for _ in range(2)]
    lead = MembershipFactory(project=project, role=Role.LEAD).user
    return project, annotators, lead


def annotate_swapped(membership: Membership, rating_value: int) -> None:
    """Claim the next item with its responses shown swapped (B on the left) and submit a
    rating, in A/B terms as the browser maps it back."""
    assignment = assignment_claim_next(membership=membership)
    Assignment.objects.filter(pk=assignment.pk).update(display_order="BA")
    assignment_submit(
        assignment_id=assignment.pk, annotator=membership.user, payload={"rating": rating_value}
    )


def test_items_shown_swapped_export_chosen_by_the_a_b_rating(
    pair_project, django_capture_on_commit_callbacks
):
    project, annotators, lead = pair_project
    ItemFactory(project=project, data=pref("A is right", "B is wrong", "First?"))
    ItemFactory(project=project, data=pref("A is wrong", "B is right", "Second?"))
    for membership in annotators:
        annotate_swapped(membership, -2)  # the first item: A, shown on the right, is better
    for membership in annotators:
        annotate_swapped(membership, 3)  # the second item: B, shown on the left, is better
    assert set(Annotation.objects.values_list("display_order", flat=True)) == {"BA"}

    job = build(project, lead, django_capture_on_commit_callbacks)

    assert [(r["chosen"][0]["content"], r["rejected"][0]["content"]) for r in lines(job)] == [
        ("A is right", "B is wrong"),
        ("B is right", "A is wrong"),
    ]


def test_unicode_survives_byte_exact(project, approved, build_export):
    approved(
        project,
        kinds.INSTRUCTION,
        data={"prompt": UNICODE, "category": "other"},
        final={"response": UNICODE + " réponse", "category": "other"},
    )

    job = build_export(format="trl-sft")

    content = file_bytes(job)
    row = json.loads(content)
    assert row["messages"][0]["content"] == UNICODE
    assert row["messages"][1]["content"] == UNICODE + " réponse"
    assert "👩\u200d💻 \u200f\u05e9\u05dc\u05d5\u05dd\u200f e\u0301".encode() in content
    assert content.count(b"\n") == 1  # U+2028 is escaped, never a raw line break


def test_two_exports_of_the_same_data_are_byte_identical(project, approved, build_export):
    approved(project, kinds.INSTRUCTION)
    approved(project, kinds.REFUSAL, data={"prompt": "How?", "model_response": "Sure."})
    approved(project, data=pref("A", "B"), final=rating(-3))

    first, second = build_export(split="all"), build_export(split="all")

    assert first.file.name != second.file.name
    assert file_bytes(first) == file_bytes(second)
    assert first.sha256 == second.sha256


def test_records_are_ordered_by_item_id_across_pages(project, approved, build_export, monkeypatch):
    monkeypatch.setattr(selectors, "PAGE_SIZE", 2)
    items = [approved(project, data=pref(f"A{i}", f"B{i}", f"Q{i}?")) for i in range(5)]

    rows = lines(build_export())

    assert [r["prompt"][0]["content"] for r in rows] == [i.data["prompt"] for i in items]


@pytest.mark.parametrize(("format_name", "shape"), [("trl-sft", None), ("parquet", "trl-kto")])
def test_exported_file_loads_with_datasets(
    format_name, shape, project, approved, build_export, tmp_path
):
    import datasets

    approved(project, kinds.INSTRUCTION)
    approved(project, kinds.REFUSAL)
    approved(project, data=pref("A", "B"), final=rating(2))

    job = build_export(format=format_name, shape=shape, split="all")

    builder = "parquet" if format_name == "parquet" else "json"
    dataset = datasets.load_dataset(
        builder,
        data_files=default_storage.path(job.file.name),
        split="train",
        cache_dir=str(tmp_path / "hf-cache"),
    )
    assert len(dataset) == job.manifest["rows"]
    if shape == "trl-kto":
        assert sorted(dataset["label"]) == [False, True]
    else:
        assert [m["role"] for m in dataset[0]["messages"]] == ["user", "assistant"]


# --- selection ---------------------------------------------------------------------------------


def test_eval_items_never_appear_in_a_train_export(project, approved, build_export):
    approved(project, data=pref("A", "B", "Train prompt"), external_id="t-1")
    approved(project, data=pref("A", "B", "Eval prompt"), external_id="e-1", split="eval")

    train, evaluation, both = (build_export(split=s) for s in ("train", "eval", "all"))

    assert [r["prompt"][0]["content"] for r in lines(train)] == ["Train prompt"]
    assert [r["prompt"][0]["content"] for r in lines(evaluation)] == ["Eval prompt"]
    assert len(lines(both)) == 2


def test_gold_items_and_unapproved_items_are_never_exported(project, approved, build_export):
    approved(project, data=pref("A", "B", "Kept"))
    approved(project, data=pref("A", "B", "Gold"), is_gold=True, gold={"rating": -1})
    approved(project, data=pref("A", "B", "In review"), status="in_review")

    rows = lines(build_export(split="all"))

    assert [r["prompt"][0]["content"] for r in rows] == ["Kept"]


def test_manifest_warns_when_a_train_prompt_equals_an_eval_prompt(project, approved, build_export):
    approved(project, data=pref("A", "B", "  Explain   RECURSION\n"), external_id="train-leak")
    approved(project, data=pref("A", "B", "Something else"), external_id="train-ok")
    ItemFactory(project=project, split="eval", data=pref("X", "Y", "explain recursion"))

    job = build_export()

    # The near-duplicate check (tests/hygiene) reports the pair as well.
    overlap = [w for w in job.manifest["warnings"] if w["code"] == "eval_prompt_overlap"]
    assert overlap == [
        {
            "code": "eval_prompt_overlap",
            "count": 1,
            "external_ids": ["train-leak"],
            "message": job.manifest["warnings"][0]["message"],
        }
    ]


def test_leak_check_reads_the_user_turns_of_a_conversation(project, approved, build_export):
    messages = [
        {"role": "user", "content": "Hello"},
        {"role": "assistant", "content": "Hi!"},
        {"role": "user", "content": "What is 2+2?"},
    ]
    approved(project, data={**pref("A", "B"), "messages": messages}, external_id="conv")
    ItemFactory(project=project, split="eval", data=pref("X", "Y", "hello\nwhat is 2+2?"))

    job = build_export()

    assert job.manifest["warnings"][0]["external_ids"] == ["conv"]


def test_no_leak_warning_without_overlap_or_for_an_eval_export(project, approved, build_export):
    approved(project, data=pref("A", "B", "Same"), split="eval")
    approved(project, data=pref("A", "B", "Different"))

    assert build_export(split="train").manifest["warnings"] == []
    assert build_export(split="eval").manifest["warnings"] == []


def test_kinds_filter_takes_only_the_chosen_kinds(project, approved, build_export):
    approved(project, kinds.INSTRUCTION)
    approved(project, kinds.REFUSAL)

    job = build_export(format="trl-sft", kinds=["refusal"])

    assert job.manifest["counts_by_kind"] == {"refusal": 1}
    assert job.options["kinds"] == ["refusal"]


def test_categories_filter_narrows_instruction_and_refusal_records(project, approved, build_export):
    approved(project, kinds.INSTRUCTION, final={"response": "x", "category": "code"})
    approved(project, kinds.INSTRUCTION, final={"response": "y", "category": "translation"})
    approved(
        project,
        kinds.REFUSAL,
        final={"decision": "refuse", "response": "No.", "harm_category": "malware"},
    )
    approved(
        project,
        kinds.REFUSAL,
        final={"decision": "refuse", "response": "No.", "harm_category": "privacy"},
    )

    job = build_export(format="trl-sft", categories=["code", "malware"])

    assert job.manifest["counts_by_category"] == {
        "instruction": {"code": 1},
        "refusal": {"malware": 1},
    }


def test_approved_since_takes_records_approved_from_that_moment(project, approved, build_export):
    old = timezone.now() - dt.timedelta(days=30)
    approved(project, data=pref("A", "B", "Old"), final=rating(1), approved_at=old)
    approved(project, data=pref("A", "B", "New"), final=rating(1))

    job = build_export(approved_since=(timezone.now() - dt.timedelta(days=1)).date())

    assert [r["prompt"][0]["content"] for r in lines(job)] == ["New"]


# --- the manifest ------------------------------------------------------------------------------


def test_manifest_is_stored_beside_the_file_and_matches_the_job(project, approved, build_export):
    approved(project, kinds.INSTRUCTION, final={"response": "x", "category": "code"})
    approved(project, kinds.REFUSAL)

    job = build_export(format="trl-sft", split="all")

    with default_storage.open(selectors.manifest_name(job.file.name), "rb") as handle:
        stored = json.loads(handle.read())
    assert stored == job.manifest
    assert stored["project"] == {"id": project.pk, "name": project.name}
    assert stored["format"] == "trl-sft"
    assert stored["split"] == "all"
    assert stored["options"] == {
        "approved_since": None,
        "categories": None,
        "kinds": None,
        "shape": None,
    }
    assert stored["counts_by_kind"] == {"instruction": 1, "refusal": 1}
    assert stored["counts_by_category"] == {
        "instruction": {"code": 1},
        "refusal": {"illegal_activity": 1},
    }
    assert stored["sha256"] == job.sha256
    assert stored["bytes"] == job.size_bytes
    assert stored["code_version"]
    assert stored["file"] == Path(job.file.name).name
    assert dt.datetime.fromisoformat(stored["created_at"])


def test_manifest_lists_the_guideline_versions_the_items_were_annotated_under(
    pair_project, django_capture_on_commit_callbacks
):
    project, annotators, lead = pair_project
    ItemFactory(project=project, data=pref("A", "B"))
    for version, membership in zip((3, 4), annotators, strict=True):
        project.guidelines_version = version
        project.save()
        assignment = assignment_claim_next(membership=membership)
        assignment_submit(assignment_id=assignment.pk, annotator=membership.user, payload=rating(1))

    job = build(project, lead, django_capture_on_commit_callbacks)

    assert job.manifest["guideline_versions"] == [3, 4]


def test_export_request_and_completion_are_audited(project, lead, approved, build_export):
    approved(project)

    job = build_export()

    actions = list(
        AuditEvent.objects.filter(object_type="exports.exportjob", object_id=str(job.pk))
        .order_by("id")
        .values_list("action", flat=True)
    )
    assert actions == ["export.request", "export.start", "export.done"]
    assert AuditEvent.objects.get(action="export.request", object_id=str(job.pk)).actor == lead


# --- request validation ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"format": "csv"}, "format"),
        ({"format": "trl-sft", "split": "test"}, "split"),
        ({"format": "trl-sft", "kinds": ["preference"]}, "kinds"),
        ({"format": "trl-sft", "kinds": ["poem"]}, "kinds"),
        ({"format": "trl-sft", "categories": ["not-a-category"]}, "categories"),
        ({"format": "trl-sft", "approved_since": "yesterday"}, "approved_since"),
        ({"format": "trl-sft", "shape": "trl-kto"}, "format"),
        ({"format": "parquet", "shape": "nope"}, "shape"),
    ],
)
def test_export_request_rejects_bad_options_with_the_field(project, lead, options, field):
    options.setdefault("split", "train")
    with pytest.raises(ApplicationError) as raised:
        services.export_request(project=project, actor=lead, **options)

    assert raised.value.extra["errors"][0]["field"] == field
    assert not ExportJob.objects.exists()


def test_parquet_export_records_its_shape(project, approved, build_export):
    approved(project)

    job = build_export(format="parquet", shape="trl-preference")

    assert job.options["shape"] == "trl-preference"
    assert job.file.name.endswith("-parquet-trl-preference-train.parquet")


# --- progress, failures, retries ---------------------------------------------------------------


def test_inside_a_callers_transaction_progress_is_written_at_the_end_only(
    project, approved, lead, monkeypatch
):
    """In a caller's transaction (here the test's) nobody could see progress before the
    caller commits, and on PostgreSQL the rows' stream holds the connection: no progress
    write until the export ends, then the job is done (progress 1)."""
    for i in range(6):
        approved(project, data=pref("A", "B", f"Q{i}"))
    monkeypatch.setattr(services, "PROGRESS_EVERY", 1)
    monkeypatch.setattr(services, "PROGRESS_SECONDS", 0)
    writes = []
    monkeypatch.setattr(services._Progress, "_write", lambda self, records: writes.append(records))
    job = services.export_request(
        project=project, actor=lead, format="trl-preference", split="train"
    )

    services.export_build(job_id=job.pk)

    assert writes == []
    job.refresh_from_db()
    assert (job.status, job.progress, job.records) == ("done", 1.0, 6)


@pytest.mark.django_db(transaction=True)
def test_progress_is_seen_by_others_while_the_export_reads_in_its_own_snapshot(
    project, approved, lead, monkeypatch
):
    """Outside a test's transaction the export reads from a snapshot transaction of its own
    (PostgreSQL): its progress still reaches other connections as it goes."""
    import time as clock
    from concurrent.futures import ThreadPoolExecutor

    from django.db import connection

    for i in range(6):
        approved(project, data=pref("A", "B", f"Q{i}"))
    monkeypatch.setattr(services, "PROGRESS_EVERY", 1)
    monkeypatch.setattr(services, "PROGRESS_SECONDS", 0)
    original = selectors.export_record_rows
    seen = []

    def from_elsewhere() -> float:
        try:
            return ExportJob.objects.get().progress
        finally:
            connection.close()

    def watched(**kwargs):
        for index, row in enumerate(original(**kwargs)):
            if index == 4:
                with ThreadPoolExecutor(1) as other:
                    deadline = clock.monotonic() + 5
                    while (value := other.submit(from_elsewhere).result()) != 4 / 6:
                        if clock.monotonic() > deadline:
                            break
                        clock.sleep(0.01)
                seen.append(value)
            yield row

    monkeypatch.setattr(selectors, "export_record_rows", watched)
    job = services.export_request(
        project=project, actor=lead, format="trl-preference", split="train"
    )
    services.export_build(job_id=job.pk)

    assert seen == [4 / 6]
    job.refresh_from_db()
    assert job.status == JobStatus.DONE and job.progress == 1.0


@pytest.mark.django_db(transaction=True)
def test_an_export_in_its_own_snapshot_reads_its_count_and_guideline_versions_in_it(
    project, approved, lead, monkeypatch, require_postgres
):
    """Outside a test's transaction the record count (for progress) and the guideline versions
    are read beside the streamed rows by the helper connection, in the export's own snapshot:
    an approval committed meanwhile is in neither the file nor the manifest. (PostgreSQL: on
    SQLite an export reads without a snapshot of its own, core.db.snapshot.)"""
    from concurrent.futures import ThreadPoolExecutor

    from django.db import connection

    now = timezone.now()

    def annotated(prompt: str, version: int) -> None:
        item = approved(project, data=pref("A", "B", prompt))
        assignment = Assignment.objects.create(
            project=project,
            item=item,
            annotator=lead,
            status=AssignmentStatus.SUBMITTED,
            claimed_at=now,
            expires_at=now,
        )
        Annotation.objects.create(
            project=project,
            item=item,
            annotator=lead,
            assignment=assignment,
            payload=rating(-2),
            guidelines_version=version,
        )

    for i in range(3):
        annotated(f"Q{i}", 1)

    def approve_another() -> None:
        try:
            annotated("Approved while the export runs", 2)
        finally:
            connection.close()

    read = {}

    def after_a_commit(name: str):
        original = getattr(selectors, name)

        def query(*, selection):
            with ThreadPoolExecutor(1) as other:
                other.submit(approve_another).result()
            read[name] = original(selection=selection)
            return read[name]

        return query

    for name in ("export_record_count", "export_guideline_versions"):
        monkeypatch.setattr(selectors, name, after_a_commit(name))
    job = services.export_request(
        project=project, actor=lead, format="trl-preference", split="train"
    )

    services.export_build(job_id=job.pk)

    job.refresh_from_db()
    assert read == {"export_record_count": 3, "export_guideline_versions": [1]}
    assert job.status == JobStatus.DONE and job.records == 3
    assert job.manifest["guideline_versions"] == [1]
    assert job.manifest["counts_by_source"] == {"curated": 3}


@pytest.mark.parametrize("batch", [1, 2, 3, 2_000])
def test_the_file_and_manifest_do_not_depend_on_how_many_records_are_encoded_together(
    project, approved, build_export, monkeypatch, batch
):
    """Plain preference records are encoded a batch at a time, the others (a conversation, a
    tie) one by one between them; personal data is found and redacted in whichever batch."""
    conversation = {
        "messages": [{"role": "user", "content": "Hi"}],
        "responses": [{"text": "A", "model": "m-a"}, {"text": "B", "model": "m-b"}],
    }
    for i in range(7):
        approved(project, data=pref(f"A {i}", f"B {i}", f"Question {i}?"))
        if i % 3 == 1:
            approved(project, data=conversation)
        if i == 4:
            approved(project, data=pref("mail me: jane.doe@example.com", "no"))
            approved(project, data=pref("A", "B"), final=rating(0))
    reference = build_export(redact_personal_data=True)
    monkeypatch.setattr(services, "BATCH_RECORDS", batch)

    job = build_export(redact_personal_data=True)

    assert file_bytes(job) == file_bytes(reference)
    assert b"[EMAIL]" in file_bytes(job)
    for key in ("records", "counts_by_kind", "skipped", "personal_data", "counts_by_source"):
        assert job.manifest[key] == reference.manifest[key], key


def test_a_failed_export_says_why_and_leaves_no_file(project, approved, lead):
    approved(project, kinds.INSTRUCTION)
    bad = approved(
        project,
        kinds.INSTRUCTION,
        data={
            "messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "!"}]
        },
        external_id="bad-one",
    )
    job = services.export_request(project=project, actor=lead, format="trl-sft", split="train")

    services.export_build(job_id=job.pk)

    job.refresh_from_db()
    assert job.status == JobStatus.FAILED
    assert "bad-one" in job.error
    assert f"item {bad.pk}" in job.error
    assert job.file.name == ""
    assert not default_storage.exists(f"exports/{project.pk}/{job.pk}")
    assert list(services._temp_dir().iterdir()) == []


def test_a_lost_database_connection_queues_the_export_again_and_the_retry_completes(
    project, approved, lead, monkeypatch, settings, django_capture_on_commit_callbacks
):
    from django.db import OperationalError
    from django.utils import timezone

    from core import outbox
    from core.models import OutboxJob, OutboxState

    approved(project)
    write = services._write
    calls = []

    def write_once_then_lose_the_database(job, fileobj):
        calls.append(job.pk)
        if len(calls) == 1:
            fileobj.write(b"partial")
            raise OperationalError("terminating connection due to administrator command")
        return write(job, fileobj)

    monkeypatch.setattr(services, "_write", write_once_then_lose_the_database)
    with django_capture_on_commit_callbacks(execute=True):
        job = services.export_request(
            project=project, actor=lead, format="trl-preference", split="train"
        )

    job.refresh_from_db()
    assert job.status == JobStatus.QUEUED and job.error == ""
    row = OutboxJob.objects.get(key=job.outbox_key)
    assert row.state == OutboxState.PENDING and "the database was unavailable" in row.error
    assert list(services._temp_dir().iterdir()) == []

    OutboxJob.objects.filter(pk=row.pk).update(available_at=timezone.now())
    outbox.relay()

    job.refresh_from_db()
    assert job.status == JobStatus.DONE and job.records == 1
    assert len(calls) == 2


def test_a_storage_failure_fails_the_job_and_removes_what_was_stored(
    project, approved, lead, monkeypatch
):
    approved(project)
    job = services.export_request(
        project=project, actor=lead, format="trl-preference", split="train"
    )

    def broken_manifest(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(services, "export_manifest", broken_manifest)
    services.export_build(job_id=job.pk)

    job.refresh_from_db()
    assert job.status == JobStatus.FAILED
    assert job.error == "OSError: disk full"
    assert not default_storage.exists(services.export_file_name(job))


class WorkerKilled(BaseException):
    """Stands in for SIGKILL: nothing in the worker gets to handle it."""


def test_a_worker_killed_mid_export_leaves_nothing_done_and_the_retry_completes(
    project, approved, lead, monkeypatch
):
    for i in range(5):
        approved(project, data=pref("A", "B", f"Q{i}"))
    job = services.export_request(
        project=project, actor=lead, format="trl-preference", split="train"
    )
    original = selectors.export_record_rows

    def dies_half_way(**kwargs):
        for index, row in enumerate(original(**kwargs)):
            if index == 3:
                raise WorkerKilled
            yield row

    monkeypatch.setattr(selectors, "export_record_rows", dies_half_way)
    with pytest.raises(WorkerKilled):
        services.export_build(job_id=job.pk)

    job.refresh_from_db()
    assert job.status == JobStatus.RUNNING
    assert job.file.name == ""
    assert not default_storage.exists(services.export_file_name(job))
    # a real kill also leaves the temporary file behind
    stale = services._temp_dir() / f"{services._temp_prefix(job.pk)}stale.partial"
    stale.write_bytes(b'{"half": ')

    monkeypatch.setattr(selectors, "export_record_rows", original)
    services.export_build(job_id=job.pk)  # the redelivered task

    job.refresh_from_db()
    assert job.status == JobStatus.DONE
    assert len(lines(job)) == 5
    assert not stale.exists()


def test_building_a_done_export_again_changes_nothing(project, approved, build_export):
    approved(project)
    job = build_export()

    services.export_build(job_id=job.pk)

    again = ExportJob.objects.get(pk=job.pk)
    assert (again.finished_at, again.sha256, again.file.name) == (
        job.finished_at,
        job.sha256,
        job.file.name,
    )


def test_building_a_missing_job_is_a_no_op(db):
    assert services.export_build(job_id=999_999) is None


def test_the_task_builds_the_export(project, approved, lead):
    from exports.tasks import build_export as task

    approved(project)
    job = services.export_request(
        project=project, actor=lead, format="trl-preference", split="train"
    )

    task.apply(args=[job.pk])

    job.refresh_from_db()
    assert job.status == JobStatus.DONE
