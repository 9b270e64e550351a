"""The review REST API: the queue, decisions, 409s, roles and reopening."""

import json

import pytest

from annotation.models import Role
from review.models import FinalRecord
from tests.factories import MembershipFactory, ProjectFactory
from tests.review.review_fixtures import (
    DISPUTED_PREFERENCE,
    annotations_of,
    completed_item,
    disputed_preference,
)


def queue_url(project):
    return f"/api/v1/projects/{project.pk}/review-queue/"


def review(client, item, **body):
    return client.post(f"/api/v1/items/{item.pk}/review/", body, format="json")


def test_the_queue_lists_items_in_review_blind(project, reviewer, make_api):
    annotators = [MembershipFactory(project=project).user for _ in range(2)]
    item = completed_item(project, DISPUTED_PREFERENCE, annotators=annotators)
    response = make_api(reviewer).get(queue_url(project))
    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 1
    (entry,) = body["results"]
    assert entry["id"] == item.pk and entry["review_reason"] == "disputed"
    assert entry["disputed_fields"] == ["rating"]
    assert [a["label"] for a in entry["annotations"]] == ["Annotation 1", "Annotation 2"]
    text = json.dumps(body)
    assert all(user.username not in text for user in annotators)
    assert "m-a" not in text and "m-b" not in text  # the factory's model names


def test_the_queue_is_paginated_with_a_maximum(project, reviewer, make_api):
    for _ in range(3):
        disputed_preference(project)
    client = make_api(reviewer)
    page = client.get(queue_url(project), {"limit": 2}).json()
    assert len(page["results"]) == 2 and page["next"]
    assert len(client.get(page["next"]).json()["results"]) == 1
    assert client.get(queue_url(project), {"limit": 10_000}).status_code == 200


def test_annotators_cannot_see_the_review_queue(project, annotator, make_api):
    disputed_preference(project)
    assert make_api(annotator).get(queue_url(project)).status_code == 403


def test_non_members_get_404_on_the_queue_and_on_decisions(project, make_api):
    item = disputed_preference(project)
    outsider = MembershipFactory(project=ProjectFactory(), role=Role.LEAD).user
    client = make_api(outsider)
    assert client.get(queue_url(project)).status_code == 404
    assert review(client, item, decision="reject", note="x").status_code == 404
    assert client.post(f"/api/v1/items/{item.pk}/reopen/").status_code == 404


def test_approving_an_annotation_returns_the_final_record(project, reviewer, make_api):
    item = disputed_preference(project)
    second = annotations_of(item)[1]
    response = review(make_api(reviewer), item, decision="approve", annotation=second.pk)
    assert response.status_code == 201
    body = response.json()
    assert body["item"]["status"] == "approved"
    assert body["final_record"]["provenance"] == "adjudicated"
    assert body["final_record"]["payload"] == second.payload
    assert body["review"]["decision"] == "approve"


def test_a_written_final_is_approved_as_edited(project, reviewer, make_api):
    item = disputed_preference(project)
    final = {"rating": 1, "rationale": "B is a bit clearer."}
    response = review(make_api(reviewer), item, decision="approve", final=final)
    assert response.status_code == 201
    assert response.json()["final_record"]["provenance"] == "edited"


def test_an_invalid_final_is_a_400_listing_the_fields(project, reviewer, make_api):
    item = disputed_preference(project)
    response = review(make_api(reviewer), item, decision="approve", final={"rating": "B"})
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "rating"
    assert not FinalRecord.objects.exists()


def test_an_unknown_decision_is_a_400(project, reviewer, make_api):
    item = disputed_preference(project)
    response = review(make_api(reviewer), item, decision="shrug")
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "decision"


def test_a_rejection_without_a_note_is_a_400(project, reviewer, make_api):
    item = disputed_preference(project)
    response = review(make_api(reviewer), item, decision="reject")
    assert response.status_code == 400
    assert response.json()["errors"] == [{"field": "note", "message": "Required when rejecting."}]


def test_the_second_decision_is_a_409_showing_the_first(project, reviewer, make_api):
    other = MembershipFactory(project=project, role=Role.REVIEWER).user
    item = disputed_preference(project)
    first = annotations_of(item)[0]
    assert review(make_api(other), item, decision="approve", annotation=first.pk).status_code == 201
    response = review(make_api(reviewer), item, decision="reject", note="Nope.")
    assert response.status_code == 409
    body = response.json()
    assert body["status"] == "approved"
    assert body["decision"]["decision"] == "approve"
    assert body["decision"]["reviewer"] == other.username
    assert "Already decided" in body["detail"]


def test_annotators_cannot_decide(project, annotator, make_api):
    item = disputed_preference(project)
    response = review(make_api(annotator), item, decision="reject", note="x")
    assert response.status_code == 403


def test_a_reviewer_who_annotated_the_item_gets_403(project, reviewer, make_api):
    item = disputed_preference(
        project, annotators=[reviewer, MembershipFactory(project=project).user]
    )
    response = review(make_api(reviewer), item, decision="reject", note="x")
    assert response.status_code == 403
    assert (
        response.json()["detail"] == "You annotated this item, so someone else must adjudicate it."
    )
    assert make_api(reviewer).get(queue_url(project)).json()["count"] == 0


def test_a_lead_sends_an_approved_item_back_to_review(project, reviewer, lead, make_api):
    item = disputed_preference(project)
    review(make_api(reviewer), item, decision="approve", annotation=annotations_of(item)[0].pk)
    response = make_api(lead).post(
        f"/api/v1/items/{item.pk}/reopen/", {"note": "Look again."}, format="json"
    )
    assert response.status_code == 200
    assert response.json()["item"] == {
        "id": item.pk,
        "status": "in_review",
        "review_reason": "reopened",
        "round": 1,
    }
    assert response.json()["final_record"] is None
    queue = make_api(reviewer).get(queue_url(project)).json()
    assert [e["id"] for e in queue["results"]] == [item.pk]
    detail = make_api(lead).get(f"/api/v1/items/{item.pk}/").json()
    assert detail["final_record"] is None and len(detail["final_history"]) == 1


@pytest.mark.parametrize("role", [Role.ANNOTATOR, Role.REVIEWER])
def test_only_a_lead_may_reopen(project, role, make_api):
    item = disputed_preference(project)
    item.status = "approved"
    item.save()
    member = MembershipFactory(project=project, role=role).user
    assert make_api(member).post(f"/api/v1/items/{item.pk}/reopen/").status_code == 403


def test_reopening_an_item_in_review_is_a_409(project, lead, make_api):
    item = disputed_preference(project)
    assert make_api(lead).post(f"/api/v1/items/{item.pk}/reopen/").status_code == 409


def test_the_schema_describes_the_review_endpoints(project, lead, make_api):
    schema = make_api(lead).get("/api/schema/", {"format": "json"}).json()
    assert "/api/v1/projects/{project_id}/review-queue/" in schema["paths"]
    assert "/api/v1/items/{item_id}/review/" in schema["paths"]
    assert "ReviewInput" in schema["components"]["schemas"]
