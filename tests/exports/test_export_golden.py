"""Byte-identity of every export against golden files written by the record path as it was
before exports were built from SQL (issue 16): one representative project, every format and
Parquet shape and the options that change rows, each file compared byte for byte with
``tests/exports/golden/`` and each manifest compared apart from what legitimately differs
between runs (times, the job's id, the code version).

Every id the files can show (project, users, items, annotations) is fixed, and so are the
times the annotations format writes, so the files are the same in every run and on every
database. ``RUBRIC_GOLDEN_UPDATE=1`` rewrites the golden files with the row functions alone (no
pair read in SQL; only when a format's output is meant to change: say so in the commit). The
Parquet files name the pyarrow version that wrote them: a pyarrow upgrade rewrites them.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.core.files.storage import default_storage
from django.utils import timezone

from annotation import kinds
from annotation.models import (
    Annotation,
    Assignment,
    AssignmentStatus,
    ItemStatus,
    Membership,
    Project,
    Role,
)
from core.models import JobStatus
from exports import selectors, services
from exports.models import ExportJob
from review.models import FinalRecord, Provenance
from review.services import final_record_create
from tests.factories import ItemFactory, rubric_data, rubric_scores

pytestmark = pytest.mark.usefixtures("export_media")

GOLDEN = Path(__file__).parent / "golden"
UPDATE = os.environ.get("RUBRIC_GOLDEN_UPDATE") == "1"
PROJECT_ID = 970_001
LEAD_ID, ANNOTATOR_IDS = 970_101, (970_102, 970_103)
FIRST_ITEM, FIRST_ANNOTATION = 971_001, 972_001
ANNOTATED_AT = dt.datetime(2026, 3, 4, 5, 6, 7, 890_123, tzinfo=dt.UTC)

# Text that tests every escaping rule of the writers: quotes, backslashes, control characters,
# the Unicode line breaks the writers escape, non-ASCII (kept raw), astral characters, markdown.
NASTY = (
    'Say "hi" \\ back\tthen\nnew line\r\x01\x1f\x7f caf\u00e9 \u00fc\u00df '
    "\u65e5\u672c\u8a9e \u0645\u0631\u062d\u0628\u0627 \U0001f600\U0001f9ea e\u0301 "
    "\u2028 line-sep \u2029 para-sep \x85 nel \u200b zwsp </script> & <b>"
)
MARKDOWN = "# Title\n\n- **bold** item\n- `code` item\n\n```python\nprint('x')\n```\n\n> quote"


def _item(n: int, project: Project, kind: str, data: dict, **fields):
    return ItemFactory(
        id=FIRST_ITEM + n, project=project, kind=kind, data=data, external_id=f"g-{n:03d}", **fields
    )


def _approve(item, final: dict, provenance: str = Provenance.UNANIMOUS) -> None:
    item.status = ItemStatus.APPROVED
    item.save(update_fields=["status"])
    final_record_create(
        item=item, payload=final, provenance=provenance, source=None, approved_by=None
    )


PREF = {
    "prompt": "Which answer explains recursion better?",
    "responses": [
        {"text": "Recursion is self-reference.", "model": "m-a"},
        {"text": "Nesting dolls, each holding a smaller one.", "model": "m-b"},
    ],
}


def _pref(prompt_fields: dict, a: str, b: str) -> dict:
    return {
        **prompt_fields,
        "responses": [{"text": a, "model": "m-a"}, {"text": b, "model": "m-b"}],
    }


def _rating(r: int) -> dict:
    return {"rating": r, "criteria": {"helpfulness": r}, "rationale": f"rating {r}"}


@pytest.fixture(autouse=True)
def _reference_path(monkeypatch):
    """Golden files are written by the row functions (the code of before): with
    RUBRIC_GOLDEN_UPDATE=1 no pair is read in SQL."""
    if UPDATE:
        monkeypatch.setattr(services, "_pair_reading", lambda *args, **kwargs: {})


@pytest.fixture
def golden_project(db):
    User = get_user_model()
    project = Project.objects.create(
        id=PROJECT_ID,
        name="Golden export \u00e9t\u00e9",
        system_prompt="You are a careful assistant.",
        pseudonym_key="golden-pseudonym-key",
    )
    lead = User.objects.create_user("golden-lead", id=LEAD_ID, password="golden-pass-1234")
    Membership.objects.create(project=project, user=lead, role=Role.LEAD)
    annotators = [
        User.objects.create_user(f"golden-ann-{i}", id=uid, password="golden-pass-1234")
        for i, uid in enumerate(ANNOTATOR_IDS)
    ]
    for user in annotators:
        Membership.objects.create(project=project, user=user, role=Role.ANNOTATOR)

    items = []
    add = items.append
    P, INS, R, U = kinds.PREFERENCE, kinds.INSTRUCTION, kinds.REFUSAL, kinds.RUBRIC
    # preference: A wins, B wins, tie, multi-turn with a system turn, context + item system,
    # unicode everywhere, markdown, PII, production source with a signal, metadata
    add((P, PREF, _rating(-2), {}))
    add(
        (
            P,
            PREF,
            _rating(3),
            {"metadata": {"batch": 7, "note": NASTY, "nested": {"z": 1, "a": [1.5, None, True]}}},
        )
    )
    add((P, PREF, _rating(0), {}))
    add(
        (
            P,
            _pref(
                {
                    "messages": [
                        {"role": "system", "content": "Conversation's own system turn."},
                        {"role": "user", "content": "First question?"},
                        {"role": "assistant", "content": "First answer."},
                        {"role": "user", "content": "Follow-up " + NASTY},
                    ]
                },
                "Short " + NASTY,
                MARKDOWN,
            ),
            _rating(-1),
            {},
        )
    )
    add(
        (
            P,
            _pref(
                {"prompt": NASTY, "context": "Context " + MARKDOWN, "system": "Item system \u00e9"},
                NASTY,
                "plain",
            ),
            _rating(1),
            {},
        )
    )
    add(
        (
            P,
            _pref(
                {"prompt": "Mail jane.doe@example.com or call +1 415 555 0132."},
                "Reply to jane.doe@example.com",
                "No.",
            ),
            _rating(-3),
            {},
        )
    )
    add((P, PREF, _rating(2), {"source": "production", "signal": "thumbs_down"}))
    add((P, PREF, _rating(-2), {"source": "production", "signal": ""}))
    add((P, PREF, _rating(2), {"provenance": Provenance.AUTO}))
    # instruction: categories, context, messages, item system, PII, markdown
    add(
        (
            INS,
            {"prompt": "Summarise: " + MARKDOWN, "category": "summarization"},
            {"response": "Summary " + NASTY, "category": "summarization"},
            {},
        )
    )
    add(
        (
            INS,
            {"prompt": NASTY, "context": "Some context.\n\nTwo paragraphs."},
            {"response": MARKDOWN, "category": "brainstorming"},
            {"metadata": {"k": "v"}},
        )
    )
    add(
        (
            INS,
            {
                "messages": [
                    {"role": "user", "content": "Hi there"},
                    {"role": "assistant", "content": "Hello!"},
                    {"role": "user", "content": "Write a poem \U0001f600"},
                ],
                "system": "Item system prompt",
                "context": "Poem context",
            },
            {"response": "Roses are red.", "category": "other"},
            {},
        )
    )
    add(
        (
            INS,
            {"prompt": "Call me at +44 20 7946 0958, my SSN is 123-45-6789."},
            {"response": "I will not.", "category": "other"},
            {},
        )
    )
    add((INS, {"prompt": "Uncategorised prompt"}, {"response": "Answer.", "category": ""}, {}))
    # refusal: refuse with a model response (a pair), refuse without, comply, same text
    add(
        (
            R,
            {
                "prompt": "Pick a lock " + NASTY,
                "model_response": "Sure, here is how.",
                "harm_category": "illegal_activity",
            },
            {
                "decision": "refuse",
                "response": "I can't help with that.",
                "harm_category": "illegal_activity",
            },
            {},
        )
    )
    add(
        (
            R,
            {"prompt": "Pick a lock?"},
            {"decision": "refuse", "response": "No.", "harm_category": "illegal_activity"},
            {},
        )
    )
    add(
        (
            R,
            {"prompt": "Bake bread?", "model_response": "Sure."},
            {"decision": "comply", "response": "Here is a recipe.", "harm_category": ""},
            {},
        )
    )
    add(
        (
            R,
            {"prompt": "Same?", "model_response": "I can't."},
            {"decision": "refuse", "response": "I can't.", "harm_category": "other"},
            {},
        )
    )
    # rubric: passed and failed (eval-results, trl-kto pass_fail)
    add((U, rubric_data(1), rubric_scores(4, passed=True), {}))
    add((U, {**rubric_data(2), "prompt": NASTY}, rubric_scores(2, passed=False), {}))
    # eval split: the exact prompt of a train item (leak) and a near duplicate of another
    add(
        (
            INS,
            {"prompt": "Uncategorised prompt"},
            {"response": "Eval answer.", "category": "other"},
            {"split": "eval"},
        )
    )
    add(
        (
            P,
            _pref({"prompt": "Which answer explains recursion better, please?"}, "x", "y"),
            _rating(-1),
            {"split": "eval"},
        )
    )
    add((U, rubric_data(3), rubric_scores(5, passed=True), {"split": "eval"}))
    # gold (never exported), and one not approved (open)
    add((P, PREF, _rating(-2), {"is_gold": True}))
    add((INS, {"prompt": "Still open"}, None, {}))
    # a plain prompt (its pair read in SQL) with every escaping case, A wins then B wins
    add((P, _pref({"prompt": "Plain " + NASTY}, NASTY, "B " + MARKDOWN), _rating(-3), {}))
    add((P, _pref({"prompt": MARKDOWN}, "A \u2028", "B " + NASTY), _rating(3), {}))

    created = []
    for n, (kind, data, final, extra) in enumerate(items):
        extra = dict(extra)
        provenance = extra.pop("provenance", Provenance.UNANIMOUS)
        if extra.get("is_gold"):
            extra["gold"] = final
        item = _item(n, project, kind, data, **extra)
        if final is not None:
            _approve(item, final, provenance)
        created.append(item)

    # Annotations (the annotations format): fixed ids and times; skips with and without reason.
    next_id = iter(range(FIRST_ANNOTATION, FIRST_ANNOTATION + 1000))
    now = timezone.now()
    for item, (_kind, _data, final, _extra) in zip(created, items, strict=True):
        if final is None or item.split == "eval":
            continue
        for index, user in enumerate(annotators):
            if (item.id + index) % 5 == 0:
                Assignment.objects.create(
                    project=project,
                    item=item,
                    annotator=user,
                    status=AssignmentStatus.SKIPPED,
                    claimed_at=now,
                    expires_at=now,
                    skip_reason="" if index else "needs_expertise",
                )
                continue
            order = ("AB", "BA")[index] if item.kind == kinds.PREFERENCE else ""
            assignment = Assignment.objects.create(
                project=project,
                item=item,
                annotator=user,
                status=AssignmentStatus.SUBMITTED,
                claimed_at=now,
                expires_at=now,
                display_order=order,
            )
            Annotation.objects.create(
                id=next(next_id),
                project=project,
                item=item,
                annotator=user,
                assignment=assignment,
                payload=final,
                display_order=order,
                seconds_spent=(None, 12.5, 3.0)[item.id % 3],
                guidelines_version=1 + index,
                round=1 + item.id % 2,
            )
    Annotation.objects.filter(project=project).update(created_at=ANNOTATED_AT)
    return project, lead


# (golden name, export options)
CASES: list[tuple[str, dict]] = [
    *(
        (name, {"format": name})
        for name in (
            "trl-sft",
            "trl-prompt-completion",
            "trl-preference",
            "trl-kto",
            "openai-chat",
            "openai-dpo",
            "alpaca",
            "sharegpt",
        )
    ),
    ("eval-results-eval", {"format": "eval-results", "split": "eval"}),
    ("trl-kto-pass-fail", {"format": "trl-kto", "pass_fail": True}),
    ("trl-preference-all", {"format": "trl-preference", "split": "all"}),
    ("trl-preference-eval", {"format": "trl-preference", "split": "eval"}),
    ("trl-preference-extra", {"format": "trl-preference", "extra_columns": True}),
    ("trl-sft-extra", {"format": "trl-sft", "extra_columns": True}),
    ("sharegpt-extra", {"format": "sharegpt", "extra_columns": True}),
    ("alpaca-extra", {"format": "alpaca", "extra_columns": True}),
    ("trl-preference-redact", {"format": "trl-preference", "redact_personal_data": True}),
    ("trl-sft-redact", {"format": "trl-sft", "redact_personal_data": True, "extra_columns": True}),
    ("trl-preference-no-auto", {"format": "trl-preference", "exclude_auto": True}),
    ("trl-sft-near-excluded", {"format": "trl-sft", "exclude_near_duplicates": True}),
    (
        "trl-sft-categories",
        {"format": "trl-sft", "categories": ["summarization", "illegal_activity"]},
    ),
    ("trl-preference-kinds", {"format": "trl-preference", "kinds": ["refusal"]}),
    (
        "openai-dpo-extra-redact",
        {"format": "openai-dpo", "extra_columns": True, "redact_personal_data": True},
    ),
    *(
        (f"parquet-{shape}", {"format": "parquet", "shape": shape})
        for shape in (
            "trl-sft",
            "trl-prompt-completion",
            "trl-preference",
            "trl-kto",
            "openai-chat",
            "openai-dpo",
            "alpaca",
            "sharegpt",
        )
    ),
    (
        "parquet-trl-preference-extra",
        {"format": "parquet", "shape": "trl-preference", "extra_columns": True},
    ),
    ("annotations", {"format": "annotations", "split": "all"}),
    (
        "annotations-usernames-extra",
        {"format": "annotations", "annotator_names": "username", "extra_columns": True},
    ),
]

# Manifest keys that differ between two runs of the same export.
VOLATILE = ("created_at", "code_version", "export_id")


def _build(project, lead, capture, **options) -> ExportJob:
    options.setdefault("split", "train")
    with capture(execute=True):
        job = services.export_request(project=project, actor=lead, **options)
    job.refresh_from_db()
    assert job.status == JobStatus.DONE, job.error
    return job


def _stable_manifest(manifest: dict) -> dict:
    manifest = {k: v for k, v in manifest.items() if k not in VOLATILE}
    options = dict(manifest["options"])
    if options.get("since_last"):
        options.pop("since_export", None)
        options.pop("approved_since", None)
    manifest["options"] = options
    return manifest


def _check(name: str, job: ExportJob) -> None:
    with default_storage.open(job.file.name, "rb") as handle:
        data = handle.read()
    manifest = _stable_manifest(job.manifest)
    extension = job.file.name.rsplit(".", 1)[-1]
    golden_file = GOLDEN / f"{name}.{extension}"
    golden_manifest = GOLDEN / f"{name}.manifest.json"
    if UPDATE:
        GOLDEN.mkdir(exist_ok=True)
        golden_file.write_bytes(data)
        golden_manifest.write_text(
            json.dumps(manifest, sort_keys=True, indent=2, ensure_ascii=False) + "\n"
        )
    assert data == golden_file.read_bytes(), f"{name}: the file is not byte-identical"
    assert manifest == json.loads(golden_manifest.read_text()), f"{name}: the manifest differs"


@pytest.mark.parametrize(("name", "options"), CASES, ids=[name for name, _ in CASES])
def test_export_is_byte_identical_to_the_golden_file(
    golden_project, django_capture_on_commit_callbacks, name, options
):
    project, lead = golden_project
    _check(name, _build(project, lead, django_capture_on_commit_callbacks, **options))


def test_since_last_exports_only_what_was_approved_since_byte_identically(
    golden_project, django_capture_on_commit_callbacks
):
    project, lead = golden_project
    capture = django_capture_on_commit_callbacks
    first = _build(project, lead, capture, format="trl-preference", since_last=True)
    _check("since-last-first", first)
    later = ExportJob.objects.filter(pk=first.pk).values_list("started_at", flat=True).get()
    item = _item(900, project, kinds.PREFERENCE, _pref({"prompt": "New since " + NASTY}, "a", "b"))
    _approve(item, _rating(-1))
    FinalRecord.objects.filter(item=item).update(created_at=later + dt.timedelta(seconds=1))
    second = _build(project, lead, capture, format="trl-preference", since_last=True)
    _check("since-last-second", second)
    assert second.records == 1


@pytest.mark.parametrize("format_name", ["trl-preference", "openai-dpo", "trl-kto"])
def test_plain_preference_rows_are_built_in_the_database_and_the_rest_in_python(
    golden_project, django_capture_on_commit_callbacks, monkeypatch, format_name
):
    """The golden files hold both paths: the plain prompts' pairs are read as texts in the
    SELECT and encoded from a template, a conversation, context, an item system prompt or a
    tie are built by the row functions."""
    from django.db import connection

    if connection.vendor != "postgresql" or UPDATE:
        pytest.skip("pairs are read in SQL on PostgreSQL only (and not when writing golden files)")
    project, lead = golden_project
    from_sql = []
    original = selectors.export_record_rows

    def watched(**kwargs):
        for row in original(**kwargs):
            if row[7] is not None:
                from_sql.append(row[1])
            yield row

    monkeypatch.setattr(selectors, "export_record_rows", watched)
    _build(project, lead, django_capture_on_commit_callbacks, format=format_name)
    assert sorted(from_sql) == [
        "g-000",
        "g-001",
        "g-005",
        "g-006",
        "g-007",
        "g-008",
        "g-025",
        "g-026",
    ]
