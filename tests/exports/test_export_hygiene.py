"""What an export checks in the rows it writes: train items near-duplicating eval items
(a warning with the pairs; an option leaves the train side out) and personal data (counted
by type with item ids; an option redacts it)."""

from __future__ import annotations

import hashlib
import json

import pytest
from django.core.files.storage import default_storage
from django.urls import reverse

from annotation import kinds
from core.models import JobStatus
from exports import services
from exports.models import ExportJob
from tests.factories import ItemFactory

pytestmark = pytest.mark.usefixtures("export_media")

EVAL = "Summarize the causes of the French Revolution in three short bullet points for students"
TRAIN_NEAR = "Summarize the causes of the French Revolution in three bullet points for students"
TRAIN_FAR = "Write a limerick about a cat who learns to play the piano at midnight"


@pytest.fixture
def build_export(project, lead, django_capture_on_commit_callbacks):
    def run(**options) -> ExportJob:
        options.setdefault("format", "trl-sft")
        options.setdefault("split", "train")
        with django_capture_on_commit_callbacks(execute=True):
            job = services.export_request(project=project, actor=lead, **options)
        job.refresh_from_db()
        assert job.status == JobStatus.DONE, job.error
        return job

    return run


def file_bytes(job: ExportJob) -> bytes:
    with default_storage.open(job.file.name, "rb") as handle:
        return handle.read()


def prompts(job: ExportJob) -> list[str]:
    rows = [json.loads(line) for line in file_bytes(job).decode().splitlines() if line]
    return [row["messages"][-2]["content"] for row in rows]


def instruction(prompt: str) -> dict:
    return {"prompt": prompt}


@pytest.fixture
def near(project, approved):
    approved(project, kinds.INSTRUCTION, data=instruction(TRAIN_NEAR), external_id="train-near")
    approved(project, kinds.INSTRUCTION, data=instruction(TRAIN_FAR), external_id="train-far")
    ItemFactory(
        project=project,
        kind=kinds.INSTRUCTION,
        split="eval",
        external_id="eval-1",
        data=instruction(EVAL),
    )


def test_a_train_item_near_an_eval_item_is_a_warning_with_the_pair(near, build_export):
    job = build_export()

    warning = next(w for w in job.manifest["warnings"] if w["code"] == "eval_near_duplicate")
    assert warning["count"] == 1 and warning["excluded"] is False
    [pair] = warning["pairs"]
    assert (pair["train"], pair["eval"]) == ("train-near", "eval-1")
    assert 0.8 <= pair["jaccard"] < 1
    assert job.manifest["near_duplicates"]["pairs"] == 1
    assert sorted(prompts(job)) == sorted([TRAIN_NEAR, TRAIN_FAR])  # kept, only warned
    # the exact-equality check has nothing to say: the prompts differ
    assert all(w["code"] != "eval_prompt_overlap" for w in job.manifest["warnings"])


def test_the_option_leaves_the_train_side_out(near, build_export):
    job = build_export(exclude_near_duplicates=True)

    assert prompts(job) == [TRAIN_FAR]
    assert job.records == 1
    warning = next(w for w in job.manifest["warnings"] if w["code"] == "eval_near_duplicate")
    assert warning["excluded"] is True
    assert job.manifest["near_duplicates"]["excluded_records"] == 1


def test_unrelated_eval_items_give_no_warning(project, approved, build_export):
    approved(project, kinds.INSTRUCTION, data=instruction(TRAIN_FAR))
    ItemFactory(project=project, kind=kinds.INSTRUCTION, split="eval", data=instruction(EVAL))
    job = build_export(exclude_near_duplicates=True)
    assert job.manifest["warnings"] == []
    assert prompts(job) == [TRAIN_FAR]


def test_the_project_threshold_applies_at_export(project, near, build_export):
    project.near_duplicate_threshold = 0.95
    project.save()
    job = build_export()
    assert all(w["code"] != "eval_near_duplicate" for w in job.manifest["warnings"])
    assert job.manifest["near_duplicates"]["threshold"] == 0.95


def test_the_annotations_format_can_leave_near_duplicates_out(project, near, build_export):
    from annotation.models import Item, Role
    from tests.factories import MembershipFactory, annotate

    user = MembershipFactory(project=project, role=Role.ANNOTATOR).user
    for external_id in ("train-near", "train-far"):
        item = Item.objects.get(project=project, external_id=external_id)
        annotate(item, user, {"response": "ok", "category": "other"})
    job = build_export(format="annotations", exclude_near_duplicates=True)
    rows = [json.loads(line) for line in file_bytes(job).decode().splitlines()]
    assert [row["external_id"] for row in rows] == ["train-far"]


# --- personal data ---------------------------------------------------------------------------


@pytest.fixture
def personal(project, approved):
    return {
        "mail": approved(
            project, kinds.INSTRUCTION, data=instruction("Email jane@example.com the notes")
        ),
        "card": approved(
            project,
            kinds.INSTRUCTION,
            data=instruction("Is this card stolen? 4111 1111 1111 1111"),
            final={
                "response": "Call +1 212-555-0198 about card 4111 1111 1111 1111.",
                "category": "other",
            },
        ),
        "fake": approved(
            project, kinds.INSTRUCTION, data=instruction("Is 4111 1111 1111 1112 valid?")
        ),
        "clean": approved(project, kinds.INSTRUCTION, data=instruction(TRAIN_FAR)),
    }


def test_the_manifest_counts_personal_data_by_type_with_item_ids(personal, build_export):
    job = build_export()

    found = job.manifest["personal_data"]
    assert found["findings"] == {"CARD": 2, "EMAIL": 1, "PHONE": 1}
    assert found["item_ids"] == {
        "CARD": [personal["card"].pk],
        "EMAIL": [personal["mail"].pk],
        "PHONE": [personal["card"].pk],
    }
    assert found["redacted"] is False
    assert b"jane@example.com" in file_bytes(job)
    warning = next(w for w in job.manifest["warnings"] if w["code"] == "personal_data")
    assert warning["item_ids"] == sorted([personal["card"].pk, personal["mail"].pk])


def test_redaction_replaces_findings_and_changes_the_sha256_reproducibly(personal, build_export):
    plain, plain_again = build_export(), build_export()
    redacted, redacted_again = (build_export(redact_personal_data=True) for _ in range(2))

    assert plain.sha256 == plain_again.sha256
    assert redacted.sha256 == redacted_again.sha256
    assert redacted.sha256 != plain.sha256
    data = file_bytes(redacted)
    assert hashlib.sha256(data).hexdigest() == redacted.sha256
    text = data.decode()
    assert "jane@example.com" not in text and "4111 1111 1111 1111" not in text
    assert "Email [EMAIL] the notes" in text
    assert "Call [PHONE] about card [CARD]." in text
    assert "4111 1111 1111 1112" in text  # Luhn-invalid: not a card
    assert redacted.manifest["personal_data"]["redacted"] is True
    assert (
        redacted.manifest["personal_data"]["findings"]
        == plain.manifest["personal_data"]["findings"]
    )
    assert all(w["code"] != "personal_data" for w in redacted.manifest["warnings"])


def test_redaction_in_parquet_and_with_extra_columns(project, approved, build_export):
    import io

    import pyarrow.parquet as pq

    approved(
        project,
        kinds.INSTRUCTION,
        data=instruction("mail bob@example.org"),
        metadata={"owner": "ops@example.org"},
    )
    job = build_export(format="parquet", extra_columns=True, redact_personal_data=True)
    table = pq.read_table(io.BytesIO(file_bytes(job)))
    assert json.loads(table.column("metadata")[0].as_py()) == {"owner": "[EMAIL]"}
    assert table.column("messages")[0].as_py()[0]["content"] == "mail [EMAIL]"
    assert job.manifest["personal_data"]["findings"] == {"EMAIL": 2}


def test_the_exports_page_offers_the_options_and_shows_findings(
    client, project, lead, personal, django_capture_on_commit_callbacks
):
    client.force_login(lead)
    url = reverse("exports:list", args=[project.pk])
    page = client.get(url).content.decode()
    for testid in ("extra-columns", "redact-personal-data", "exclude-near-duplicates"):
        assert f'data-testid="{testid}"' in page
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse("exports:create", args=[project.pk]),
            {
                "format": "trl-sft",
                "split": "train",
                "redact_personal_data": "on",
                "kinds": ["instruction"],
            },
        )
    assert response.status_code in (200, 302)
    job = ExportJob.objects.get()
    assert job.options.get("redact_personal_data") is True
    page = client.get(url).content.decode()
    assert 'data-testid="personal-data"' in page and "redacted" in page


def test_the_api_takes_the_hygiene_options_and_returns_the_manifest(
    project, lead, near, personal, make_api, django_capture_on_commit_callbacks
):
    api = make_api(lead)
    body = {"format": "trl-sft", "redact_personal_data": True, "exclude_near_duplicates": True}
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post(f"/api/v1/projects/{project.pk}/exports/", body, format="json")
    assert response.status_code == 202, response.content
    job = api.get(f"/api/v1/exports/{response.json()['id']}/").json()
    assert job["status"] == "done"
    assert job["options"]["redact_personal_data"] is True
    assert job["options"]["exclude_near_duplicates"] is True
    manifest = job["manifest"]
    assert manifest["personal_data"]["redacted"] is True
    assert manifest["near_duplicates"]["excluded_records"] == 1
    assert {w["code"] for w in manifest["warnings"]} == {"eval_near_duplicate"}
    bad = api.post(
        f"/api/v1/projects/{project.pk}/exports/",
        {"format": "trl-sft", "redact_personal_data": "maybe"},
        format="json",
    )
    assert bad.status_code == 400


@pytest.mark.parametrize("redact", [False, True])
def test_the_scan_in_a_helper_process_writes_the_same_files(
    personal, build_export, settings, monkeypatch, redact
):
    """Exports whose row hint a helper process searches (hygiene.hint_process; here from the
    first row, a row per batch) write the files and findings of the scan in this process."""
    from hygiene import pii

    formats = ("trl-sft", "alpaca", "openai-chat", "sharegpt")
    settings.RUBRIC_PII_HINT_PROCESS_AFTER = None
    here = {name: build_export(format=name, redact_personal_data=redact) for name in formats}
    settings.RUBRIC_PII_HINT_PROCESS_AFTER = 0
    monkeypatch.setattr(pii, "BATCH_ROWS", 1)
    started = []

    class Counted(pii.HintProcess):
        def __init__(self, pattern):
            super().__init__(pattern)
            started.append(self.running)

    monkeypatch.setattr(pii, "HintProcess", Counted)
    for name in formats:
        helped = build_export(format=name, redact_personal_data=redact)
        assert started.pop() is True, name  # a child ran
        assert helped.sha256 == here[name].sha256, name
        assert helped.manifest["personal_data"] == here[name].manifest["personal_data"], name
    assert here["trl-sft"].manifest["personal_data"]["findings"] == {
        "CARD": 2,
        "EMAIL": 1,
        "PHONE": 1,
    }
