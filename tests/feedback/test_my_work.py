""" "My work": what became of each annotation, the reviewer's note, gold results, and changing
an answer while its item is open."""

import pytest
from django.test import Client

from annotation.models import ItemStatus
from review.services import review_decide
from tests.factories import ItemFactory, MembershipFactory, annotate


def url(project) -> str:
    return f"/api/v1/projects/{project.pk}/my-work/"


@pytest.fixture
def team(project):
    project.review_sample_rate = 0.0
    project.save()
    return [MembershipFactory(project=project).user for _ in range(3)]


def _by_item(body):
    return {entry["item_id"]: entry for entry in body["results"]}


def test_my_work_says_what_became_of_each_annotation(project, team, reviewer, make_api):
    me, other, third = team
    waiting = ItemFactory(project=project)
    annotate(waiting, me, {"rating": 1})
    agreed = ItemFactory(project=project)
    annotate(agreed, me, {"rating": 2})
    annotate(agreed, other, {"rating": 1})  # agreed: approved, one answer stands for both
    disputed = ItemFactory(project=project)
    annotate(disputed, me, {"rating": -2})
    annotate(disputed, other, {"rating": 2})
    theirs = disputed.annotations.get(annotator=other)
    review_decide(
        item_id=disputed.pk,
        reviewer=reviewer,
        decision="approve",
        annotation_id=theirs.pk,
        note="B is clearly better: it answers the question.",
    )
    rejected = ItemFactory(project=project)
    annotate(rejected, me, {"rating": -1})
    annotate(rejected, third, {"rating": 3})
    review_decide(item_id=rejected.pk, reviewer=reviewer, decision="reject", note="Both off.")

    body = make_api(me).get(url(project)).json()

    entries = _by_item(body)
    assert entries[waiting.pk]["status"] == "waiting"
    assert entries[disputed.pk]["status"] == "edited"
    assert entries[disputed.pk]["final"] == {"rating": 2}
    assert entries[disputed.pk]["review_note"] == "B is clearly better: it answers the question."
    assert entries[rejected.pk]["status"] == "rejected"
    assert entries[rejected.pk]["review_note"] == "Both off."
    assert entries[agreed.pk]["status"] in ("approved", "edited")
    # Newest first.
    assert body["results"][0]["item_id"] == rejected.pk
    only = make_api(me).get(url(project), {"status": "rejected"}).json()["results"]
    assert [e["item_id"] for e in only] == [rejected.pk]


def test_gold_results_show_the_expected_answer_once_submitted(project, make_api):
    project.gold_rate = 1.0
    project.save()
    me = MembershipFactory(project=project).user
    hit = ItemFactory(project=project, is_gold=True, gold={"rating": 2})
    miss = ItemFactory(project=project, is_gold=True, gold={"rating": -2})
    annotate(hit, me, {"rating": 1})
    annotate(miss, me, {"rating": 1})
    entries = _by_item(make_api(me).get(url(project)).json())
    assert (entries[hit.pk]["gold"], entries[hit.pk]["status"]) == ("hit", "approved")
    assert (entries[miss.pk]["gold"], entries[miss.pk]["status"]) == ("miss", "rejected")
    assert entries[miss.pk]["expected"] == {"rating": -2}


def test_an_annotator_sees_only_their_own_work(project, team, make_api):
    me, other, _ = team
    item = ItemFactory(project=project)
    annotate(item, other, {"rating": 1})
    assert make_api(me).get(url(project)).json()["results"] == []


def test_changing_an_answer_while_the_item_is_open(project, team, make_api):
    me, other, _ = team
    item = ItemFactory(project=project)
    mine = annotate(item, me, {"rating": 1})
    api = make_api(me)
    changed = api.patch(
        f"/api/v1/annotations/{mine.pk}/", {"payload": {"rating": -3}}, format="json"
    )
    assert changed.status_code == 200
    assert changed.json()["payload"] == {"rating": -3}
    assert changed.json()["updated_at"] is not None
    assert (
        make_api(other)
        .patch(f"/api/v1/annotations/{mine.pk}/", {"payload": {"rating": 1}}, format="json")
        .status_code
        == 404
    )
    annotate(item, other, {"rating": -1})
    item.refresh_from_db()
    assert item.status != ItemStatus.OPEN
    late = api.patch(f"/api/v1/annotations/{mine.pk}/", {"payload": {"rating": 2}}, format="json")
    assert late.status_code == 409
    assert "read-only" in late.json()["detail"]
    entries = _by_item(api.get(url(project)).json())
    assert entries[item.pk]["editable"] is False


def test_a_change_is_audited(project, team):
    from annotation.queue import annotation_update
    from core.models import AuditEvent

    me = team[0]
    mine = annotate(ItemFactory(project=project), me, {"rating": 1})
    annotation_update(annotation_id=mine.pk, annotator=me, payload={"rating": 2})
    event = AuditEvent.objects.get(action="annotation.change")
    assert (event.before, event.after) == ({"payload": {"rating": 1}}, {"payload": {"rating": 2}})


def test_the_page_shows_the_note_badge_and_an_edit_link(project, team, reviewer):
    me, other, _ = team
    open_item = ItemFactory(project=project)
    annotate(open_item, me, {"rating": 1})
    item = ItemFactory(project=project)
    annotate(item, me, {"rating": -1})
    annotate(item, other, {"rating": 3})
    review_decide(item_id=item.pk, reviewer=reviewer, decision="reject", note="<b>Read</b> again.")
    client = Client()
    client.force_login(me)
    home = client.get(f"/projects/{project.pk}/").content.decode()
    assert 'aria-label="1 new"' in home
    page = client.get(f"/projects/{project.pk}/my-work/").content.decode()
    assert "&lt;b&gt;Read&lt;/b&gt; again." in page
    assert f"/projects/{project.pk}/my-work/{open_item.annotations.get().pk}/" in page
    # Seen: the badge is gone.
    assert 'aria-label="1 new"' not in client.get(f"/projects/{project.pk}/").content.decode()


def test_the_change_page_saves_a_new_answer_in_the_terms_shown(project, team):
    me = team[0]
    item = ItemFactory(project=project)
    mine = annotate(item, me, {"rating": 1}, display_order="BA")
    client = Client()
    client.force_login(me)
    change = f"/projects/{project.pk}/my-work/{mine.pk}/"
    form = client.get(change).content.decode()
    assert 'value="3" checked' in form  # +1 (B) shown swapped: left slightly better, key 3
    response = client.post(change, {"rating": "7"})  # right much better: A, shown on the right
    assert response.status_code == 302
    mine.refresh_from_db()
    assert mine.payload == {"rating": -3}


def test_the_page_shows_my_gold_accuracy_approval_rate_and_agreement(project, team, reviewer):
    from feedback.selectors import my_figures
    from tests.console.helpers import annotator_entry, report

    me, other, third = team
    project.gold_rate = 1.0
    project.save()
    annotate(ItemFactory(project=project, is_gold=True, gold={"rating": 2}), me, {"rating": 1})
    annotate(ItemFactory(project=project, is_gold=True, gold={"rating": -2}), me, {"rating": 1})
    as_answered = ItemFactory(project=project)
    annotate(as_answered, me, {"rating": -2})
    annotate(as_answered, other, {"rating": 2})
    mine = as_answered.annotations.get(annotator=me)
    review_decide(
        item_id=as_answered.pk, reviewer=reviewer, decision="approve", annotation_id=mine.pk
    )
    rejected = ItemFactory(project=project)
    annotate(rejected, me, {"rating": -1})
    annotate(rejected, third, {"rating": 3})
    review_decide(item_id=rejected.pk, reviewer=reviewer, decision="reject", note="No.")
    annotate(ItemFactory(project=project), me, {"rating": 1})  # waiting: not decided
    report(project, annotators=[annotator_entry(me, agreement_with_others=0.8, agreement_pairs=5)])

    figures = my_figures(membership=project.memberships.get(user=me))

    assert (figures.annotations, figures.gold_answers, figures.gold_accuracy) == (5, 2, 0.5)
    assert (figures.decided, figures.approval_rate) == (2, 0.5)
    assert (figures.agreement_with_others, figures.agreement_pairs) == (0.8, 5)
    client = Client()
    client.force_login(me)
    page = client.get(f"/projects/{project.pk}/my-work/").content.decode()
    assert '50% <span class="muted">of 2 gold answers' in page
    assert '50% <span class="muted">of 2 decided' in page
    assert '80% <span class="muted">of 5 pairs' in page


def test_the_badge_counts_decisions_not_later_changes_to_the_item(
    project, team, reviewer, lead, make_api
):
    from feedback.selectors import news_count

    me, other, third = team
    membership = project.memberships.get(user=me)
    approved = ItemFactory(project=project)
    annotate(approved, me, {"rating": 1})
    annotate(approved, other, {"rating": 2})  # agreed: approved by the rule
    rejected = ItemFactory(project=project)
    annotate(rejected, me, {"rating": -1})
    annotate(rejected, third, {"rating": 3})
    review_decide(item_id=rejected.pk, reviewer=reviewer, decision="reject", note="Again.")
    membership.refresh_from_db()
    assert news_count(membership=membership) == 2
    make_api(me).get(url(project))  # seen
    membership.refresh_from_db()
    assert news_count(membership=membership) == 0

    # The lead edits the approved item; the rejected one's next round completes.
    edited = make_api(lead).patch(f"/api/v1/items/{approved.pk}/", {"priority": 9}, format="json")
    assert edited.status_code == 200
    for _ in range(2):
        annotate(rejected, MembershipFactory(project=project).user, {"rating": 2})
    rejected.refresh_from_db()
    assert rejected.status == ItemStatus.APPROVED
    assert news_count(membership=membership) == 0

    # A decision that is new is news.
    fresh = ItemFactory(project=project)
    annotate(fresh, me, {"rating": -2})
    annotate(fresh, other, {"rating": 2})
    review_decide(item_id=fresh.pk, reviewer=reviewer, decision="reject", note="No.", then="drop")
    assert news_count(membership=membership) == 1
