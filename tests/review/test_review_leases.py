"""Reviewers claim items like annotators: one reviewer holds one item, a decision on an item
another holds is refused, skipped items are remembered on the server."""

import threading

import pytest
from django.db import connection
from django.test import Client

from annotation.models import ItemStatus, Role
from core.errors import Conflict
from review.models import Review, ReviewLease, ReviewSkip
from review.services import (
    review_claim_item,
    review_claim_next,
    review_decide,
    review_lease_release,
    review_skip,
)
from tests.factories import MembershipFactory, ProjectFactory
from tests.review.review_fixtures import annotations_of, disputed_preference


def _reviewer(project):
    return MembershipFactory(project=project, role=Role.REVIEWER)


def test_two_reviewers_never_hold_the_same_item(project):
    first, second = _reviewer(project), _reviewer(project)
    only = disputed_preference(project)
    lease = review_claim_next(membership=first)
    assert lease.item_id == only.pk
    assert review_claim_next(membership=second) is None
    assert review_claim_next(membership=first).pk == lease.pk  # resume


def test_a_decision_on_an_item_another_reviewer_holds_is_a_409_with_the_expiry(project):
    first, second = _reviewer(project), _reviewer(project)
    item = disputed_preference(project)
    lease = review_claim_next(membership=first)
    with pytest.raises(Conflict) as held:
        review_decide(
            item_id=item.pk,
            reviewer=second.user,
            decision="approve",
            annotation_id=annotations_of(item)[0].pk,
        )
    assert held.value.extra["lease_expires_at"] == lease.expires_at.isoformat()
    review_lease_release(lease_id=lease.pk, reviewer=first.user)
    review_decide(
        item_id=item.pk,
        reviewer=second.user,
        decision="approve",
        annotation_id=annotations_of(item)[0].pk,
    )
    lease.refresh_from_db()
    assert lease.status == "released"


def test_deciding_ends_the_lease(project):
    first = _reviewer(project)
    item = disputed_preference(project)
    lease = review_claim_next(membership=first)
    review_decide(item_id=item.pk, reviewer=first.user, decision="reject", note="No.", then="drop")
    lease.refresh_from_db()
    assert lease.status == "decided"


def test_skipped_items_are_remembered_on_the_server(project):
    first = _reviewer(project)
    a, b = disputed_preference(project), disputed_preference(project)
    assert review_claim_next(membership=first).item_id == a.pk
    review_skip(membership=first, item_id=a.pk)
    assert review_claim_next(membership=first).item_id == b.pk
    assert ReviewSkip.objects.filter(reviewer=first.user).count() == 1
    # Another session (a new login) still remembers it.
    client = Client()
    client.force_login(first.user)
    page = client.get(f"/projects/{project.pk}/review/").content.decode()
    assert f'data-item="{b.pk}"' in page and "1 skipped" in page


def test_opening_an_item_held_by_another_reviewer_says_so(project):
    first, second = _reviewer(project), _reviewer(project)
    item = disputed_preference(project)
    review_claim_next(membership=first)
    with pytest.raises(Conflict, match="Another reviewer holds this item"):
        review_claim_item(membership=second, item_id=item.pk)
    client = Client()
    client.force_login(second.user)
    listed = client.get(f"/projects/{project.pk}/review/list/").content.decode()
    assert f'data-item="{item.pk}"' in listed and "by another reviewer until" in listed


def test_the_review_list_filters_by_reason_kind_and_field(project):
    reviewer = _reviewer(project)
    item = disputed_preference(project)
    client = Client()
    client.force_login(reviewer.user)
    url = f"/projects/{project.pk}/review/list/"
    assert f'data-item="{item.pk}"' in client.get(url, {"field": "rating"}).content.decode()
    assert f'data-item="{item.pk}"' not in client.get(url, {"field": "category"}).content.decode()
    assert f'data-item="{item.pk}"' not in client.get(url, {"reason": "sampled"}).content.decode()
    opened = client.get(f"/projects/{project.pk}/review/items/{item.pk}/").content.decode()
    assert f'data-item="{item.pk}"' in opened and "held for you until" in opened


@pytest.mark.parametrize("name, value", [("kind", "poem"), ("kind", "a\x00b"), ("reason", "\x00")])
def test_a_review_list_filter_that_is_not_offered_is_a_400_naming_it(project, name, value):
    client = Client()
    client.force_login(_reviewer(project).user)
    response = client.get(f"/projects/{project.pk}/review/list/", {name: value})
    assert response.status_code == 400
    assert f"Unknown {name}: choose one of" in response.content.decode()


def test_the_review_api_claims_and_releases(project, make_api):
    reviewer = _reviewer(project)
    item = disputed_preference(project)
    api = make_api(reviewer.user)
    claimed = api.post(f"/api/v1/projects/{project.pk}/review-claim/")
    assert claimed.status_code == 200
    body = claimed.json()
    assert body["item"]["id"] == item.pk and body["lease_expires"]
    other = make_api(_reviewer(project).user)
    assert other.post(f"/api/v1/projects/{project.pk}/review-claim/").status_code == 204
    release = api.post(f"/api/v1/review-leases/{body['lease_id']}/release/")
    assert release.status_code == 200
    assert other.post(f"/api/v1/projects/{project.pk}/review-claim/").status_code == 200


def test_the_rationale_of_an_author_who_saw_the_other_order_carries_a_note(project):
    from review.selectors import review_display_order, review_entry

    item = disputed_preference(project)
    reviewer = _reviewer(project).user
    entry = review_entry(item, reviewer_id=reviewer.pk)
    order = review_display_order(item.pk, reviewer.pk)
    for view, annotation in zip(entry.annotations, annotations_of(item), strict=True):
        if annotation.display_order == order:
            assert "as you do" in view.order_note
        else:
            assert "other way round" in view.order_note


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_twenty_reviewers_claiming_at_once_never_share_an_item(require_postgres):
    project = ProjectFactory()
    items = [disputed_preference(project) for _ in range(8)]
    reviewers = [_reviewer(project) for _ in range(20)]
    leases = [None] * 20
    errors = []
    barrier = threading.Barrier(20)

    def claim(i):
        try:
            barrier.wait(timeout=30)
            leases[i] = review_claim_next(membership=reviewers[i])
        except Exception as error:  # collected and asserted below
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=claim, args=(i,)) for i in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    held = [lease.item_id for lease in leases if lease is not None]
    assert sorted(held) == sorted(i.pk for i in items)  # every item held once, 12 got none
    assert ReviewLease.objects.filter(status="active").count() == 8

    # Everyone decides what they hold: every item decided exactly once.
    def decide(i):
        try:
            lease = leases[i]
            if lease is not None:
                first = annotations_of(lease.item)[0]
                review_decide(
                    item_id=lease.item_id,
                    reviewer=reviewers[i].user,
                    decision="approve",
                    annotation_id=first.pk,
                )
        except Exception as error:  # collected and asserted below
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=decide, args=(i,)) for i in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    assert Review.objects.count() == 8
    assert all(i.status == ItemStatus.APPROVED for i in project.items.all())
