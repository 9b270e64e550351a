"""The raw annotations export (one row per annotation) and the extra columns option of the
training formats; both load in Hugging Face datasets."""

from __future__ import annotations

import json
import os

import pytest
from django.core.files.storage import default_storage

from annotation import kinds
from annotation.models import Membership, Project, Role
from annotation.pseudonyms import annotator_pseudonym
from annotation.queue import assignment_skip
from core.errors import ApplicationError
from core.models import JobStatus
from exports import services
from exports.models import ExportJob
from tests.factories import ItemFactory, MembershipFactory, annotate, lease

pytestmark = pytest.mark.usefixtures("export_media")
os.environ["HF_DATASETS_OFFLINE"] = "1"
os.environ["HF_HUB_OFFLINE"] = "1"


def build(project, lead, capture, **options) -> ExportJob:
    options.setdefault("split", "train")
    with capture(execute=True):
        job = services.export_request(project=project, actor=lead, **options)
    job.refresh_from_db()
    assert job.status == JobStatus.DONE, job.error
    return job


def file_bytes(job: ExportJob) -> bytes:
    with default_storage.open(job.file.name, "rb") as handle:
        return handle.read()


def lines(job: ExportJob) -> list[dict]:
    return [json.loads(line) for line in file_bytes(job).decode().splitlines() if line]


def members(project: Project, n: int, role: str = Role.ANNOTATOR):
    return [MembershipFactory(project=project, role=role).user for _ in range(n)]


@pytest.fixture
def annotated(project, django_capture_on_commit_callbacks):
    """Two preference items annotated by two annotators (one completes and is approved as
    unanimous), one instruction item with one annotation and two skips, a gold item."""
    project.review_sample_rate = 0  # the agreed item is approved, never sampled for review
    project.save()
    one, two, three = members(project, 3)
    approved = ItemFactory(
        project=project,
        kind=kinds.PREFERENCE,
        external_id="pref-1",
        data={
            "prompt": "Which reply is kinder?",
            "responses": [{"text": "A reply", "model": "SECRET-A"}, {"text": "B reply"}],
        },
        metadata={"source": "prod", "batch": 7},
    )
    with django_capture_on_commit_callbacks(execute=True):
        annotate(
            approved,
            one,
            {"rating": -2, "rationale": "A is kinder"},
            display_order="BA",
            seconds=12.5,
        )
        annotate(approved, two, {"rating": -1}, display_order="AB", seconds=30)
    open_item = ItemFactory(project=project, kind=kinds.INSTRUCTION, external_id="inst-1")
    for user, reason in ((one, "unclear_guidelines"), (two, "")):
        assignment = lease(open_item, user)
        assignment_skip(assignment_id=assignment.pk, annotator=user, reason=reason)
    with django_capture_on_commit_callbacks(execute=True):
        annotate(open_item, three, {"response": "Done.", "category": "other"}, seconds=4)
    gold = ItemFactory(
        project=project,
        kind=kinds.REFUSAL,
        is_gold=True,
        gold={"decision": "refuse", "response": "No.", "harm_category": "none"},
    )
    annotate(gold, three, {"decision": "refuse", "response": "No.", "harm_category": "none"})
    return {"users": (one, two, three), "approved": approved, "open": open_item}


def test_one_row_per_annotation_with_its_provenance(
    project, lead, annotated, django_capture_on_commit_callbacks
):
    one, two, three = annotated["users"]
    job = build(project, lead, django_capture_on_commit_callbacks, format="annotations")

    rows = lines(job)
    assert len(rows) == 3  # the gold item's annotation is not exported
    assert job.records == 3 and job.manifest["counts_by_kind"] == {
        "instruction": 1,
        "preference": 2,
    }
    by_annotator = {(r["external_id"], r["annotator"]): r for r in rows}
    first = by_annotator[("pref-1", annotator_pseudonym(project, one.pk))]
    assert first["kind"] == "preference" and first["split"] == "train"
    assert first["payload"] == {"rating": -2, "rationale": "A is kinder"}  # A/B terms
    assert first["display_order"] == "BA"
    assert first["seconds_spent"] == 12.5
    assert first["guidelines_version"] == project.guidelines_version
    assert first["round"] == 1
    assert first["final"]["rating"] in (-2, -1)  # the unanimous final record
    assert first["skip_reasons"] == []
    assert first["data"]["responses"][0] == {"text": "A reply"}  # as shown: no model name
    inst = next(r for r in rows if r["external_id"] == "inst-1")
    assert inst["final"] is None
    assert inst["skip_reasons"] == ["none", "unclear_guidelines"]
    assert inst["annotator"] == annotator_pseudonym(project, three.pk)
    text = file_bytes(job).decode()
    for user in (one, two, three):
        assert user.username not in text
    assert "SECRET-A" not in text
    assert set(rows[0]) == {
        "annotation_id", "annotator", "created_at", "data", "display_order", "external_id",
        "final", "guidelines_version", "item_id", "kind", "payload", "round", "seconds_spent",
        "skip_reasons", "split",
    }  # fmt: skip


def test_pseudonyms_are_stable_and_differ_across_projects(
    project, lead, annotated, django_capture_on_commit_callbacks
):
    one = annotated["users"][0]
    first = build(project, lead, django_capture_on_commit_callbacks, format="annotations")
    again = build(project, lead, django_capture_on_commit_callbacks, format="annotations")
    assert file_bytes(first) == file_bytes(again)
    other = ItemFactory(project=Project.objects.create(name="Other"), kind=kinds.INSTRUCTION)
    Membership.objects.create(project=other.project, user=one, role=Role.ANNOTATOR)
    assert annotator_pseudonym(other.project, one.pk) != annotator_pseudonym(project, one.pk)


def test_a_lead_may_choose_usernames(project, lead, annotated, django_capture_on_commit_callbacks):
    job = build(
        project,
        lead,
        django_capture_on_commit_callbacks,
        format="annotations",
        annotator_names="username",
    )
    names = {r["annotator"] for r in lines(job)}
    assert names == {user.username for user in annotated["users"]}
    assert job.options["annotator_names"] == "username"


def test_the_kinds_filter_and_split_apply_and_final_record_filters_are_refused(
    project, lead, annotated, django_capture_on_commit_callbacks
):
    job = build(
        project,
        lead,
        django_capture_on_commit_callbacks,
        format="annotations",
        kinds=["instruction"],
    )
    assert [r["external_id"] for r in lines(job)] == ["inst-1"]
    assert (
        lines(
            build(
                project,
                lead,
                django_capture_on_commit_callbacks,
                format="annotations",
                split="eval",
            )
        )
        == []
    )
    with pytest.raises(ApplicationError) as error:
        services.export_request(
            project=project, actor=lead, format="annotations", approved_since="2026-01-01"
        )
    assert error.value.extra["errors"][0]["field"] == "approved_since"
    with pytest.raises(ApplicationError) as error:
        services.export_request(
            project=project, actor=lead, format="trl-sft", annotator_names="username"
        )
    assert error.value.extra["errors"][0]["field"] == "annotator_names"


def test_the_annotations_export_loads_in_datasets_as_jsonl_and_parquet(
    project, lead, annotated, django_capture_on_commit_callbacks, tmp_path
):
    datasets = pytest.importorskip("datasets")
    jsonl = build(project, lead, django_capture_on_commit_callbacks, format="annotations")
    parquet = build(
        project, lead, django_capture_on_commit_callbacks, format="parquet", shape="annotations"
    )
    (tmp_path / "a.jsonl").write_bytes(file_bytes(jsonl))
    (tmp_path / "a.parquet").write_bytes(file_bytes(parquet))

    from_jsonl = datasets.load_dataset(
        "json", data_files=str(tmp_path / "a.jsonl"), split="train", cache_dir=str(tmp_path / "c1")
    )
    from_parquet = datasets.load_dataset(
        "parquet",
        data_files=str(tmp_path / "a.parquet"),
        split="train",
        cache_dir=str(tmp_path / "c2"),
    )

    assert from_jsonl.num_rows == from_parquet.num_rows == 3
    assert sorted(from_jsonl["annotation_id"]) == sorted(from_parquet["annotation_id"])
    # Parquet holds the kind-shaped columns as JSON text
    by_id = {row["annotation_id"]: row for row in lines(jsonl)}
    for row in from_parquet:
        assert json.loads(row["payload"]) == by_id[row["annotation_id"]]["payload"]
        assert row["skip_reasons"] == by_id[row["annotation_id"]]["skip_reasons"]


# --- extra columns ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("format", "shape"),
    [
        # every training format, and Parquet in each row shape
        ("trl-sft", None),
        ("trl-prompt-completion", None),
        ("trl-preference", None),
        ("trl-kto", None),
        ("openai-chat", None),
        ("openai-dpo", None),
        ("alpaca", None),
        ("sharegpt", None),
        ("parquet", "trl-sft"),
        ("parquet", "trl-prompt-completion"),
        ("parquet", "trl-preference"),
        ("parquet", "trl-kto"),
        ("parquet", "openai-chat"),
        ("parquet", "openai-dpo"),
        ("parquet", "alpaca"),
        ("parquet", "sharegpt"),
    ],
)
def test_extra_columns_add_external_id_and_metadata_and_datasets_still_loads(
    project, lead, approved, django_capture_on_commit_callbacks, tmp_path, format, shape
):
    datasets = pytest.importorskip("datasets")
    approved(project, kinds.INSTRUCTION, external_id="i-1", metadata={"source": "prod", "n": 1})
    approved(project, kinds.REFUSAL, external_id="r-1", metadata={})
    approved(project, kinds.PREFERENCE, external_id="p-1", metadata={"source": "eval-set"})
    plain = build(project, lead, django_capture_on_commit_callbacks, format=format, shape=shape)
    extra = build(
        project,
        lead,
        django_capture_on_commit_callbacks,
        format=format,
        shape=shape,
        extra_columns=True,
    )
    assert extra.options["extra_columns"] is True and "extra_columns" not in plain.options

    suffix = "parquet" if format == "parquet" else "json"
    (tmp_path / f"plain.{suffix}").write_bytes(file_bytes(plain))
    (tmp_path / f"extra.{suffix}").write_bytes(file_bytes(extra))
    loader = "parquet" if format == "parquet" else "json"
    base = datasets.load_dataset(
        loader,
        data_files=str(tmp_path / f"plain.{suffix}"),
        split="train",
        cache_dir=str(tmp_path / "c1"),
    )
    more = datasets.load_dataset(
        loader,
        data_files=str(tmp_path / f"extra.{suffix}"),
        split="train",
        cache_dir=str(tmp_path / "c2"),
    )

    assert set(more.column_names) == set(base.column_names) | {"external_id", "metadata"}
    assert more.num_rows == base.num_rows > 0
    for column in base.column_names:  # the training columns are unchanged
        assert more[column] == base[column]
    metadata = {
        row["external_id"]: (
            json.loads(row["metadata"]) if isinstance(row["metadata"], str) else row["metadata"]
        )
        for row in more
    }
    if "i-1" in metadata:
        assert metadata["i-1"] == {"source": "prod", "n": 1}
    if "p-1" in metadata:
        assert metadata["p-1"] == {"source": "eval-set"}


def test_extra_columns_through_the_api(
    project, lead, approved, make_api, django_capture_on_commit_callbacks
):
    approved(project, kinds.INSTRUCTION, external_id="i-1", metadata={"k": "v"})
    with django_capture_on_commit_callbacks(execute=True):
        response = make_api(lead).post(
            f"/api/v1/projects/{project.pk}/exports/",
            {"format": "openai-chat", "extra_columns": True},
            format="json",
        )
    assert response.status_code == 202, response.content
    job = ExportJob.objects.get(pk=response.json()["id"])
    assert lines(job) == [{**lines(job)[0], "external_id": "i-1", "metadata": {"k": "v"}}]
    response = make_api(lead).post(
        f"/api/v1/projects/{project.pk}/exports/",
        {"format": "annotations", "annotator_names": "nobody"},
        format="json",
    )
    assert response.status_code == 400
