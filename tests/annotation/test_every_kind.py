"""The shared suite of item kinds: every registered kind goes through import, claim, submit,
review and export over the REST API, the same way. A new kind adds its case to CASES (a test
below fails until it does)."""

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from annotation import kinds
from annotation.models import Item, ItemStatus, Role
from tests.factories import MembershipFactory, ProjectFactory, annotate, item_row, rubric_scores

pytestmark = pytest.mark.django_db


@dataclass(frozen=True)
class Case:
    agreeing: tuple[dict, dict]  # two payloads that agree at item level
    disputing: tuple[dict, dict]  # two that do not
    final: dict  # what a reviewer settles the dispute with
    export_format: str  # a format whose rows this kind gives
    final_in_row: Callable[[dict[str, Any]], bool]  # the exported row carries `final`
    invalid: dict  # a payload with one bad field
    invalid_field: str  # the field the 400 names
    gold: dict  # a known answer (only the scored field)
    gold_hit: dict  # an answer that matches it
    gold_miss: dict  # one that does not


def _assistant_text(row: dict) -> str:
    return row["messages"][-1]["content"]


CASES = {
    kinds.INSTRUCTION: Case(
        agreeing=(
            {"response": "Article 0 in one sentence.", "category": "summarization"},
            {"response": "Article zero, briefly.", "category": "summarization"},
        ),
        disputing=(
            {"response": "A summary.", "category": "summarization"},
            {"response": "Some code.", "category": "code"},
        ),
        final={"response": "The reviewer's summary.", "category": "summarization"},
        export_format="trl-sft",
        final_in_row=lambda row: _assistant_text(row) == "The reviewer's summary.",
        invalid={"response": "x", "category": "poetry"},
        invalid_field="category",
        gold={"category": "summarization"},
        gold_hit={"response": "Any words.", "category": "summarization"},
        gold_miss={"response": "Any words.", "category": "code"},
    ),
    kinds.PREFERENCE: Case(
        agreeing=({"rating": -2}, {"rating": -1}),
        disputing=({"rating": -2}, {"rating": 2}),
        final={"rating": 3, "rationale": "B is right."},
        export_format="trl-preference",
        # +3: B (the second response, "nesting dolls") chosen
        final_in_row=lambda row: "nesting dolls" in row["chosen"][-1]["content"],
        invalid={"rating": 4},
        invalid_field="rating",
        gold={"rating": -2},
        gold_hit={"rating": -1},
        gold_miss={"rating": 2},
    ),
    kinds.REFUSAL: Case(
        agreeing=(
            {
                "decision": "refuse",
                "response": "I can't help.",
                "harm_category": "illegal_activity",
            },
            {"decision": "refuse", "response": "No.", "harm_category": "illegal_activity"},
        ),
        disputing=(
            {"decision": "refuse", "response": "No.", "harm_category": "illegal_activity"},
            {"decision": "comply", "response": "Sure.", "harm_category": "none"},
        ),
        final={
            "decision": "refuse",
            "response": "The reviewer's refusal.",
            "harm_category": "illegal_activity",
        },
        export_format="trl-sft",
        final_in_row=lambda row: _assistant_text(row) == "The reviewer's refusal.",
        invalid={"decision": "maybe", "response": "x", "harm_category": "none"},
        invalid_field="decision",
        gold={"decision": "refuse"},
        gold_hit={"decision": "refuse", "response": "No.", "harm_category": "illegal_activity"},
        gold_miss={"decision": "comply", "response": "Sure.", "harm_category": "none"},
    ),
    kinds.RUBRIC: Case(
        agreeing=(rubric_scores(4), rubric_scores(5)),
        disputing=(rubric_scores(4, passed=True), rubric_scores(4, passed=False)),
        final=rubric_scores(2, passed=False),
        export_format="eval-results",
        final_in_row=lambda row: row["scores"] == rubric_scores(2, passed=False)["scores"],
        invalid={"scores": {**rubric_scores(3)["scores"], "helpfulness": 6}},
        invalid_field="scores.helpfulness",
        gold={"scores": {"overall": False, "correctness": 1}},
        gold_hit=rubric_scores(2, passed=False),
        gold_miss=rubric_scores(5, passed=True),
    ),
}


def test_every_registered_kind_has_a_case():
    assert set(CASES) == set(kinds.names())


@pytest.fixture
def team(make_api):
    project = ProjectFactory(
        annotations_per_item=2, review_sample_rate=0, agreement_every=0, gold_rate=0
    )

    def member(role):
        return make_api(MembershipFactory(project=project, role=role).user)

    return project, {
        "lead": member(Role.LEAD),
        "reviewer": member(Role.REVIEWER),
        "annotators": [member(Role.ANNOTATOR), member(Role.ANNOTATOR)],
    }


def _import(project, lead, kind):
    row = item_row(kind)
    response = lead.post(f"/api/v1/projects/{project.pk}/items/", [row], format="json")
    assert response.status_code == 201, response.content
    return Item.objects.get(project=project, external_id=row["external_id"])


def _claim_and_submit(project, client, payload):
    claimed = client.post(f"/api/v1/projects/{project.pk}/claim/")
    assert claimed.status_code == 200, claimed.content
    assert '"model"' not in json.dumps(claimed.json()["item"]["data"])  # blind
    url = f"/api/v1/assignments/{claimed.json()['assignment']['id']}/submit/"
    return client.post(url, {"payload": payload}, format="json")


def _annotate(project, team, payloads):
    for client, payload in zip(team["annotators"], payloads, strict=True):
        response = _claim_and_submit(project, client, payload)
        assert response.status_code == 201, response.content


def _review(team, item, final):
    response = team["reviewer"].post(
        f"/api/v1/items/{item.pk}/review/", {"decision": "approve", "final": final}, format="json"
    )
    assert response.status_code in (200, 201), response.content
    item.refresh_from_db()
    assert item.status == ItemStatus.APPROVED


def _export(project, lead, fmt, capture, split="all"):
    with capture(execute=True):
        response = lead.post(
            f"/api/v1/projects/{project.pk}/exports/",
            {"format": fmt, "split": split},
            format="json",
        )
    assert response.status_code in (201, 202), response.content
    export_id = response.json()["id"]
    data = lead.get(f"/api/v1/exports/{export_id}/download/")
    assert data.status_code == 200
    return [json.loads(line) for line in b"".join(data.streaming_content).splitlines()]


@pytest.mark.parametrize("kind", kinds.names())
def test_an_agreed_item_of_every_kind_is_approved_and_exported(
    team, kind, django_capture_on_commit_callbacks
):
    project, clients = team
    case = CASES[kind]
    item = _import(project, clients["lead"], kind)
    _annotate(project, clients, case.agreeing)
    item.refresh_from_db()
    assert item.agreement == "agreed"
    if item.status == ItemStatus.IN_REVIEW:  # a kind whose final text a reviewer chooses
        assert kinds.kind_get(kind).needs_final_text
        _review(clients, item, case.agreeing[0])
    assert item.status == ItemStatus.APPROVED
    rows = _export(project, clients["lead"], case.export_format, django_capture_on_commit_callbacks)
    assert len(rows) == 1


@pytest.mark.parametrize("kind", kinds.names())
def test_a_disputed_item_of_every_kind_goes_to_review_and_its_final_is_exported(
    team, kind, django_capture_on_commit_callbacks
):
    project, clients = team
    case = CASES[kind]
    item = _import(project, clients["lead"], kind)
    _annotate(project, clients, case.disputing)
    item.refresh_from_db()
    assert (item.status, item.agreement) == (ItemStatus.IN_REVIEW, "disputed")
    queue = clients["reviewer"].get(f"/api/v1/projects/{project.pk}/review-queue/")
    assert item.pk in [entry["id"] for entry in queue.json()["results"]]
    _review(clients, item, case.final)
    [row] = _export(
        project, clients["lead"], case.export_format, django_capture_on_commit_callbacks
    )
    assert case.final_in_row(row), row


@pytest.mark.parametrize("kind", kinds.names())
def test_an_invalid_payload_of_every_kind_is_a_400_naming_the_field(team, kind):
    project, clients = team
    _import(project, clients["lead"], kind)
    response = _claim_and_submit(project, clients["annotators"][0], CASES[kind].invalid)
    assert response.status_code == 400
    fields = {error["field"] for error in response.json()["errors"]}
    assert any(field.endswith(CASES[kind].invalid_field) for field in fields), fields


@pytest.mark.parametrize("kind", kinds.names())
def test_an_item_of_every_kind_is_refused_when_the_project_does_not_take_its_kind(team, kind):
    project, clients = team
    project.kinds = [k for k in kinds.names() if k != kind]
    project.save()
    response = clients["lead"].post(
        f"/api/v1/projects/{project.pk}/items/", [item_row(kind)], format="json"
    )
    assert response.status_code == 400
    assert not Item.objects.filter(project=project).exists()


@pytest.mark.parametrize("kind", kinds.names())
def test_a_gold_answer_of_every_kind_scores_its_annotators(team, kind):
    project, clients = team
    case = CASES[kind]
    response = clients["lead"].post(
        f"/api/v1/projects/{project.pk}/items/",
        [item_row(kind, gold=case.gold)],
        format="json",
    )
    assert response.status_code == 201, response.content
    item = Item.objects.get(project=project)
    assert item.is_gold
    hit, miss = (
        annotate(item, MembershipFactory(project=project, role=Role.ANNOTATOR).user, payload)
        for payload in (case.gold_hit, case.gold_miss)
    )
    assert (hit.gold_correct, miss.gold_correct) == (True, False)


@pytest.mark.parametrize("kind", kinds.names())
def test_an_eval_item_of_every_kind_stays_out_of_a_train_export(
    team, kind, django_capture_on_commit_callbacks
):
    project, clients = team
    case = CASES[kind]
    response = clients["lead"].post(
        f"/api/v1/projects/{project.pk}/items/", [item_row(kind, split="eval")], format="json"
    )
    assert response.status_code == 201, response.content
    item = Item.objects.get(project=project)
    _annotate(project, clients, case.agreeing)
    item.refresh_from_db()
    if item.status == ItemStatus.IN_REVIEW:
        _review(clients, item, case.agreeing[0])
    capture = django_capture_on_commit_callbacks
    assert _export(project, clients["lead"], case.export_format, capture, split="train") == []
    assert len(_export(project, clients["lead"], case.export_format, capture, split="eval")) == 1
