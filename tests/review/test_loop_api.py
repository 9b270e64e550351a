"""Issue 12's REST contract through the API, as a client drives it: a rejection sends an item
back (round 2) or drops it, a decision on an item another reviewer holds is a 409, skips stall
an item nobody can take and a lead re-queues it, and the `suggestions` setting."""

import pytest

from annotation.models import Annotation, ItemStatus, Role
from tests.factories import ItemFactory, MembershipFactory, annotate
from tests.review.review_fixtures import DISPUTED_PREFERENCE


@pytest.fixture
def setup(project):
    project.review_sample_rate = 0.0
    project.gold_rate = 0.0
    project.save()
    return project


def _member(project, role=Role.ANNOTATOR):
    return MembershipFactory(project=project, role=role).user


def _disputed(project, first, second):
    item = ItemFactory(project=project)
    annotate(item, first, DISPUTED_PREFERENCE[0])
    annotate(item, second, DISPUTED_PREFERENCE[1])
    item.refresh_from_db()
    assert item.status == ItemStatus.IN_REVIEW
    return item


def _claim(client, project):
    return client.post(f"/api/v1/projects/{project.pk}/claim/")


def _stalled_ids(client, project):
    listed = client.get(f"/api/v1/projects/{project.pk}/items/", {"status": "stalled"})
    assert listed.status_code == 200
    return [row["id"] for row in listed.json()["results"]]


def test_a_rejection_reads_open_in_round_2_and_goes_to_annotators_who_have_not_done_it(
    setup, lead, make_api
):
    first, second, fresh = _member(setup), _member(setup), _member(setup)
    reviewer = make_api(_member(setup, Role.REVIEWER))
    item = _disputed(setup, first, second)

    decided = reviewer.post(
        f"/api/v1/items/{item.pk}/review/",
        {"decision": "reject", "note": "Both off."},
        format="json",
    )

    assert decided.status_code == 201
    assert (decided.json()["item"]["status"], decided.json()["item"]["round"]) == ("open", 2)
    read = make_api(lead).get(f"/api/v1/items/{item.pk}/").json()
    assert (read["status"], read["round"]) == ("open", 2)
    assert _claim(make_api(first), setup).status_code == 204  # annotated it in round 1
    taken = _claim(make_api(fresh), setup)
    assert taken.status_code == 200 and taken.json()["item"]["id"] == item.pk
    mine = make_api(first).get(f"/api/v1/projects/{setup.pk}/my-work/").json()["results"]
    assert (mine[0]["status"], mine[0]["review_note"]) == ("rejected", "Both off.")


def test_a_dropped_item_reads_dropped_and_keeps_its_annotations(setup, lead, make_api):
    first, second = _member(setup), _member(setup)
    reviewer = make_api(_member(setup, Role.REVIEWER))
    item = _disputed(setup, first, second)

    decided = reviewer.post(
        f"/api/v1/items/{item.pk}/review/",
        {"decision": "reject", "note": "Spam.", "then": "drop"},
        format="json",
    )

    assert decided.status_code == 201 and decided.json()["item"]["status"] == "dropped"
    assert make_api(lead).get(f"/api/v1/items/{item.pk}/").json()["status"] == "dropped"
    assert Annotation.objects.filter(item=item).count() == 2
    assert _claim(make_api(_member(setup)), setup).status_code == 204


def test_a_decision_on_an_item_another_reviewer_holds_is_a_409_naming_the_expiry(setup, make_api):
    item = _disputed(setup, _member(setup), _member(setup))
    holder = make_api(_member(setup, Role.REVIEWER))
    other = make_api(_member(setup, Role.REVIEWER))
    held = holder.post(f"/api/v1/projects/{setup.pk}/review-claim/").json()
    assert held["item"]["id"] == item.pk
    assert other.post(f"/api/v1/projects/{setup.pk}/review-claim/").status_code == 204

    refused = other.post(
        f"/api/v1/items/{item.pk}/review/", {"decision": "reject", "note": "No."}, format="json"
    )

    assert refused.status_code == 409
    assert "Another reviewer holds this item" in refused.json()["detail"]
    assert refused.json()["lease_expires_at"] == held["lease_expires"].replace("Z", "+00:00")
    holder.post(f"/api/v1/review-leases/{held['lease_id']}/release/")
    again = other.post(
        f"/api/v1/items/{item.pk}/review/", {"decision": "reject", "note": "No."}, format="json"
    )
    assert again.status_code == 201


def test_skips_through_the_api_stall_an_item_and_a_lead_requeues_it(setup, lead, make_api):
    item = ItemFactory(project=setup)
    annotator = _member(setup)
    clients = [make_api(lead), make_api(annotator)]
    for client, reason in zip(clients, ["needs_expertise", "broken_item"], strict=True):
        assignment = _claim(client, setup).json()["assignment"]["id"]
        skipped = client.post(
            f"/api/v1/assignments/{assignment}/skip/",
            {"reason": reason, "note": "Cut off.", "flag": True},
            format="json",
        )
        assert skipped.status_code == 200
    assert make_api(lead).get(f"/api/v1/items/{item.pk}/").json()["status"] == "stalled"
    assert _stalled_ids(make_api(lead), setup) == [item.pk]

    assert make_api(annotator).post(f"/api/v1/items/{item.pk}/requeue/").status_code == 403
    requeued = make_api(lead).post(f"/api/v1/items/{item.pk}/requeue/")

    assert requeued.status_code == 200
    assert _stalled_ids(make_api(lead), setup) == []
    assert _claim(make_api(annotator), setup).json()["item"]["id"] == item.pk


def test_annotate_again_with_nobody_left_reads_stalled_and_loses_nothing(setup, lead, make_api):
    # Everyone who could take round 2 has done round 1 or skipped it: the lead and the
    # reviewer skipped it, two annotators answered it.
    item = ItemFactory(project=setup)
    reviewer_user = _member(setup, Role.REVIEWER)
    first, second = _member(setup), _member(setup)
    for user in (lead, reviewer_user):
        client = make_api(user)
        assignment = _claim(client, setup).json()["assignment"]["id"]
        client.post(f"/api/v1/assignments/{assignment}/skip/", {}, format="json")
    annotate(item, first, DISPUTED_PREFERENCE[0])
    annotate(item, second, DISPUTED_PREFERENCE[1])

    decided = make_api(reviewer_user).post(
        f"/api/v1/items/{item.pk}/review/", {"decision": "reject", "note": "Again."}, format="json"
    )

    assert decided.status_code == 201
    assert (decided.json()["item"]["status"], decided.json()["item"]["round"]) == ("stalled", 2)
    assert _stalled_ids(make_api(lead), setup) == [item.pk]
    assert Annotation.objects.filter(item=item, round=1).count() == 2
    assert make_api(lead).post(f"/api/v1/items/{item.pk}/requeue/").status_code == 200
    assert make_api(lead).get(f"/api/v1/items/{item.pk}/").json()["status"] == "open"


def test_the_suggestions_setting_defaults_to_hidden_and_takes_three_values(setup, lead, make_api):
    api = make_api(lead)
    url = f"/api/v1/projects/{setup.pk}/"
    assert api.get(url).json()["suggestions"] == "hidden"
    for mode in ("confirm", "preselect", "hidden"):
        changed = api.patch(url, {"suggestions": mode}, format="json")
        assert changed.status_code == 200 and changed.json()["suggestions"] == mode
    refused = api.patch(url, {"suggestions": "sometimes"}, format="json")
    assert refused.status_code == 400 and "suggestions" in refused.content.decode()
    annotator = make_api(_member(setup))
    assert annotator.patch(url, {"suggestions": "preselect"}, format="json").status_code == 403


def test_the_review_api_says_which_order_each_rationale_was_written_under(setup, make_api):
    first, second = _member(setup), _member(setup)
    item = ItemFactory(project=setup)
    annotate(item, first, {"rating": -2, "rationale": "Left is clearer."}, display_order="BA")
    annotate(item, second, {"rating": 2, "rationale": "Right is kinder."}, display_order="AB")
    reviewer = make_api(_member(setup, Role.REVIEWER))

    held = reviewer.post(f"/api/v1/projects/{setup.pk}/review-claim/").json()
    listed = reviewer.get(f"/api/v1/projects/{setup.pk}/review-queue/").json()["results"]

    for annotations in (held["item"]["annotations"], listed[0]["annotations"]):
        orders = {a["payload"]["rationale"]: a["display_order"] for a in annotations}
        assert orders == {"Left is clearer.": "BA", "Right is kinder.": "AB"}
