from datetime import timedelta

import pytest
from django.utils import timezone

from annotation.models import (
    Annotation,
    Assignment,
    AssignmentStatus,
    Item,
    ItemStatus,
    Membership,
    Role,
)
from annotation.queue import assignment_claim_next, assignments_expire
from review.models import FinalRecord
from tests.factories import ItemFactory, MembershipFactory

GOOD = {
    "preference": {"rating": -2},
    "refusal": {
        "decision": "refuse",
        "response": "I can't help with that.",
        "harm_category": "none",
    },
    "instruction": {"response": "A summary.", "category": "summarization"},
}


def claim(client, project):
    return client.post(f"/api/v1/projects/{project.pk}/claim/")


def submit(client, assignment_id, payload, **extra):
    return client.post(
        f"/api/v1/assignments/{assignment_id}/submit/", {"payload": payload, **extra}, format="json"
    )


@pytest.fixture
def annotators(project, make_api):
    members = [MembershipFactory(project=project, role=Role.ANNOTATOR) for _ in range(3)]
    return [(m.user, make_api(m.user)) for m in members]


def test_claim_returns_the_item_blind_and_204_when_nothing_is_left(project, annotators):
    item = ItemFactory(project=project, kind="preference")
    _, client = annotators[0]
    body = claim(client, project).json()
    assert body["item"]["id"] == item.pk
    assert body["item"]["data"]["responses"] == [
        {"text": r["text"]} for r in item.data["responses"]
    ]
    assert body["assignment"]["display_order"] in ("AB", "BA")
    assert "external_id" not in body["item"]
    submit(client, body["assignment"]["id"], GOOD["preference"])
    assert claim(client, project).status_code == 204


def test_claim_resumes_the_callers_active_assignment(project, annotators):
    ItemFactory.create_batch(3, project=project)
    _, client = annotators[0]
    first = claim(client, project).json()
    again = claim(client, project).json()
    assert again["assignment"]["id"] == first["assignment"]["id"]


def test_no_item_gets_more_than_its_overlap_and_nobody_gets_one_twice(project, annotators):
    project.annotations_per_item = 2
    project.save()
    item = ItemFactory(project=project)
    claims = [claim(client, project) for _, client in annotators]
    assert [c.status_code for c in claims] == [200, 200, 204]
    item.refresh_from_db()
    assert item.active_count == 2


def test_partly_annotated_items_come_first_then_priority(project, annotators):
    low = ItemFactory(project=project, priority=0.1)
    high = ItemFactory(project=project, priority=0.9)
    (_, a), (_, b), _ = annotators
    first = claim(a, project).json()
    assert first["item"]["id"] == high.pk
    submit(a, first["assignment"]["id"], GOOD["preference"])
    second = claim(a, project).json()
    assert second["item"]["id"] == low.pk
    # b: `high` is already partly annotated, so it comes before anything else
    assert claim(b, project).json()["item"]["id"] == high.pk


def test_a_skipped_item_is_not_offered_again_to_that_annotator(project, annotators):
    item = ItemFactory(project=project)
    (_, a), (_, b), _ = annotators
    body = claim(a, project).json()
    assert a.post(f"/api/v1/assignments/{body['assignment']['id']}/skip/").status_code == 200
    assert claim(a, project).status_code == 204
    assert claim(b, project).json()["item"]["id"] == item.pk
    item.refresh_from_db()
    assert item.active_count == 1


def test_an_expired_lease_frees_its_slot_at_once(project, annotators):
    project.annotations_per_item = 1
    project.save()
    item = ItemFactory(project=project)
    (_, a), (_, b), _ = annotators
    body = claim(a, project).json()
    assert claim(b, project).status_code == 204
    Assignment.objects.filter(pk=body["assignment"]["id"]).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    Item.objects.filter(pk=item.pk).update(lease_expires_at=timezone.now() - timedelta(seconds=1))
    taken = claim(b, project).json()
    assert taken["item"]["id"] == item.pk
    assert Assignment.objects.get(pk=body["assignment"]["id"]).status == "expired"


def test_submit_on_a_lost_lease_is_409_and_echoes_the_payload(project, annotators):
    ItemFactory(project=project)
    _, a = annotators[0]
    body = claim(a, project).json()
    Assignment.objects.filter(pk=body["assignment"]["id"]).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    payload = {"rating": 3, "rationale": "B is kinder. 👍"}
    response = submit(a, body["assignment"]["id"], payload)
    assert response.status_code == 409
    assert response.json()["payload"] == payload
    assert response.json()["status"] == "lease_lost"
    assert not Annotation.objects.exists()


def test_a_retried_submit_creates_one_annotation_and_returns_it(project, annotators):
    ItemFactory(project=project)
    _, a = annotators[0]
    body = claim(a, project).json()
    first = submit(a, body["assignment"]["id"], GOOD["preference"], seconds_spent=12.5)
    second = submit(a, body["assignment"]["id"], GOOD["preference"], seconds_spent=12.5)
    assert (first.status_code, second.status_code) == (201, 200)
    assert first.json()["id"] == second.json()["id"]
    assert Annotation.objects.count() == 1
    assert Annotation.objects.get().seconds_spent == 12.5
    different = submit(a, body["assignment"]["id"], {"rating": 1})
    assert different.status_code == 409


def test_an_invalid_payload_is_400_and_keeps_the_lease(project, annotators):
    ItemFactory(project=project)
    _, a = annotators[0]
    body = claim(a, project).json()
    response = submit(a, body["assignment"]["id"], {"rating": 9})
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "rating"
    assert submit(a, body["assignment"]["id"], {"rating": 2}).status_code == 201


def test_heartbeat_extends_the_lease_and_answers_409_once_lost(project, annotators):
    ItemFactory(project=project)
    _, a = annotators[0]
    body = claim(a, project).json()
    assignment = Assignment.objects.get(pk=body["assignment"]["id"])
    Assignment.objects.filter(pk=assignment.pk).update(
        expires_at=timezone.now() + timedelta(seconds=5)
    )
    response = a.post(f"/api/v1/assignments/{assignment.pk}/heartbeat/")
    assert response.status_code == 200
    assignment.refresh_from_db()
    assert assignment.expires_at > timezone.now() + timedelta(seconds=project.lease_seconds - 5)
    Assignment.objects.filter(pk=assignment.pk).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    assert a.post(f"/api/v1/assignments/{assignment.pk}/heartbeat/").status_code == 409


def test_someone_elses_assignment_is_404(project, annotators):
    ItemFactory(project=project)
    (_, a), (_, b), _ = annotators
    body = claim(a, project).json()
    assert submit(b, body["assignment"]["id"], GOOD["preference"]).status_code == 404
    assert b.post(f"/api/v1/assignments/{body['assignment']['id']}/skip/").status_code == 404


def test_agreed_preference_is_approved_with_a_unanimous_final_record(project, annotators):
    project.review_sample_rate = 0
    project.save()
    item = ItemFactory(project=project)
    for rating, (_, client) in zip((-1, -3), annotators, strict=False):
        body = claim(client, project).json()
        submit(client, body["assignment"]["id"], {"rating": rating})
    item.refresh_from_db()
    assert (item.status, item.agreement) == (ItemStatus.APPROVED, "agreed")
    record = FinalRecord.objects.get(item=item)
    assert record.provenance == "unanimous" and record.payload["rating"] in (-1, -3)


def test_disputed_preference_goes_to_review(project, annotators):
    item = ItemFactory(project=project)
    for rating, (_, client) in zip((-1, 2), annotators, strict=False):
        body = claim(client, project).json()
        submit(client, body["assignment"]["id"], {"rating": rating})
    item.refresh_from_db()
    assert (item.status, item.review_reason) == (ItemStatus.IN_REVIEW, "disputed")
    assert not FinalRecord.objects.exists()


def test_agreed_text_items_need_a_reviewer_unless_auto_approved(project, annotators):
    project.review_sample_rate = 0
    project.save()
    text_item = ItemFactory(project=project, kind="refusal", priority=1)
    for _, client in annotators[:2]:
        body = claim(client, project).json()
        submit(client, body["assignment"]["id"], GOOD["refusal"])
    text_item.refresh_from_db()
    assert (text_item.status, text_item.review_reason) == (ItemStatus.IN_REVIEW, "text")
    project.auto_approve_text = True
    project.save()
    auto = ItemFactory(project=project, kind="instruction")
    for _, client in annotators[:2]:
        body = claim(client, project).json()
        submit(client, body["assignment"]["id"], GOOD["instruction"])
    auto.refresh_from_db()
    assert auto.status == ItemStatus.APPROVED


def test_review_sample_rate_one_sends_every_agreed_item_to_review(project, annotators):
    project.review_sample_rate = 1
    project.save()
    item = ItemFactory(project=project)
    for _, client in annotators[:2]:
        body = claim(client, project).json()
        submit(client, body["assignment"]["id"], {"rating": 2})
    item.refresh_from_db()
    assert (item.status, item.review_reason) == (ItemStatus.IN_REVIEW, "sampled")


def test_gold_items_are_served_at_the_gold_rate_and_scored(project, annotators):
    project.gold_rate = 0.5
    project.annotations_per_item = 1
    project.save()
    gold = ItemFactory(project=project, is_gold=True, gold={"rating": -2}, priority=-5)
    ItemFactory.create_batch(3, project=project)
    user, client = annotators[0]
    served = []
    for _ in range(4):
        body = claim(client, project).json()
        served.append(body["item"]["id"])
        payload = {"rating": 1} if body["item"]["id"] == gold.pk else {"rating": -1}
        submit(client, body["assignment"]["id"], payload)
    assert served[0] == gold.pk  # due at once with rate 0.5
    assert served.count(gold.pk) == 1  # never twice to one annotator
    annotation = Annotation.objects.get(item=gold)
    assert annotation.gold_correct is False
    membership = Membership.objects.get(project=project, user=user)
    assert (membership.served_count, membership.gold_served_count) == (4, 1)
    gold.refresh_from_db()
    assert gold.status == ItemStatus.OPEN  # gold items are never completed into training data


def test_gold_scoring_matches_the_preferred_side(project, annotators):
    project.gold_rate = 1
    project.save()
    gold = ItemFactory(project=project, is_gold=True, gold={"rating": -2})
    _, client = annotators[0]
    body = claim(client, project).json()
    assert body["item"]["id"] == gold.pk
    submit(client, body["assignment"]["id"], {"rating": -3})
    assert Annotation.objects.get(item=gold).gold_correct is True


def test_expire_task_frees_slots_of_run_out_leases(project, annotators):
    item = ItemFactory(project=project)
    _, a = annotators[0]
    body = claim(a, project).json()
    Assignment.objects.filter(pk=body["assignment"]["id"]).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    assert assignments_expire() == 1
    item.refresh_from_db()
    assert item.active_count == 0 and item.lease_expires_at is None


def test_drafts_are_kept_on_the_server_even_after_the_lease_is_lost(project, annotators):
    ItemFactory(project=project)
    _, a = annotators[0]
    body = claim(a, project).json()
    aid = body["assignment"]["id"]
    Assignment.objects.filter(pk=aid).update(expires_at=timezone.now() - timedelta(seconds=1))
    response = a.put(
        f"/api/v1/assignments/{aid}/draft/",
        {"draft": {"rationale": "half a thought"}},
        format="json",
    )
    assert response.status_code == 200
    assert Assignment.objects.get(pk=aid).draft == {"rationale": "half a thought"}


def test_removed_member_cannot_submit(project, annotators):
    ItemFactory(project=project)
    user, a = annotators[0]
    body = claim(a, project).json()
    Membership.objects.filter(project=project, user=user).delete()
    assert submit(a, body["assignment"]["id"], GOOD["preference"]).status_code == 404


@pytest.mark.parametrize("assignment_id", [0, 2**63, 10**30])
def test_a_submit_to_an_id_no_row_can_have_is_404(project, annotators, assignment_id):
    """The URL takes any digits; ids beyond a bigint name nothing (not a database error)."""
    _, a = annotators[0]
    assert submit(a, assignment_id, GOOD["preference"]).status_code == 404


def test_claim_service_returns_none_on_an_empty_project(project, annotator):
    membership = Membership.objects.get(project=project, user=annotator)
    assert assignment_claim_next(membership=membership) is None


def test_removing_a_member_ends_their_leases_and_frees_the_slot(project, lead):
    from annotation.services import membership_remove

    project.annotations_per_item = 1
    project.save()
    item = ItemFactory(project=project)
    membership = MembershipFactory(project=project)
    assignment = assignment_claim_next(membership=membership)
    assert assignment.item_id == item.pk
    membership_remove(project=project, actor=lead, membership=membership)
    assignment.refresh_from_db()
    item.refresh_from_db()
    assert assignment.status == AssignmentStatus.EXPIRED
    assert (item.active_count, item.lease_expires_at) == (0, None)
    other = MembershipFactory(project=project)
    assert assignment_claim_next(membership=other).item_id == item.pk
