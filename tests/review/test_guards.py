"""Automation-bias guards (issue 14, section 4): reviewers never see a prediction's confidence;
the prediction hidden until their own judgement when the project says so; review gold (seeded
wrong predictions) drawn by a stable hash, graded caught or missed, never reaching a final
record; the reviewers' figures on the dashboard."""

import pytest
from django.test import Client

from annotation import kinds
from annotation.models import Item, ItemStatus, Project
from review import guards
from review.models import FinalRecord, PredictionCheck
from tests.factories import MembershipFactory, preference_data, rubric_scores
from tests.review.review_fixtures import (
    DISPUTED_PREFERENCE,
    DISPUTED_REFUSAL,
    annotations_of,
    completed_item,
    disputed_preference,
)

HTMX = {"HTTP_HX_REQUEST": "true"}
CONFIDENCE = 0.8731
PREDICTION = {"payload": {"rating": 2}, "confidence": CONFIDENCE, "model": "secret-model-x"}


def browser(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def page(project) -> str:
    return f"/projects/{project.pk}/review/"


def decide_url(item) -> str:
    return f"/projects/{item.project_id}/review/items/{item.pk}/decide/"


def settle(project, **values) -> None:
    Project.objects.filter(pk=project.pk).update(**values)
    project.refresh_from_db()


def predicted_item(project, prediction=PREDICTION):
    return disputed_preference(project, prediction=prediction)


def _leaks(text: str) -> list[str]:
    return [s for s in ("0.8731", "87.31", "87%", "secret-model-x", 'confidence":') if s in text]


# --- confidence is never shown -------------------------------------------------------------------


def test_the_review_page_shows_the_prediction_without_its_confidence_or_model(project, reviewer):
    predicted_item(project)
    html = browser(reviewer).get(page(project)).content.decode()
    assert 'data-testid="prediction-rows"' in html
    assert _leaks(html) == []


def test_the_review_claim_api_shows_the_prediction_payload_only(project, reviewer, make_api):
    item = predicted_item(project)
    body = make_api(reviewer).post(f"/api/v1/projects/{project.pk}/review-claim/").json()
    assert body["item"]["id"] == item.pk
    assert body["item"]["prediction"] == {"payload": {"rating": 2}}
    assert body["item"]["prediction_hidden"] is False
    assert _leaks(str(body)) == []


def test_the_items_api_never_shows_a_reviewer_the_prediction(project, reviewer, lead, make_api):
    item = predicted_item(project)
    api = make_api(reviewer)
    detail = api.get(f"/api/v1/items/{item.pk}/").json()
    assert detail["prediction"] is None
    listed = api.get(f"/api/v1/projects/{project.pk}/items/").json()
    queue = api.get(f"/api/v1/projects/{project.pk}/review-queue/").json()
    assert _leaks(str(detail)) + _leaks(str(listed)) + _leaks(str(queue)) == []
    # The lead still reads all of it.
    assert make_api(lead).get(f"/api/v1/items/{item.pk}/").json()["prediction"] == PREDICTION


# --- the prediction after the reviewer's own judgement -------------------------------------------


def test_after_judgement_the_page_hides_the_prediction_until_the_judgement_is_recorded(
    project, reviewer
):
    settle(project, review_prediction="after_judgement")
    item = predicted_item(project)
    first, second = annotations_of(item)
    web = browser(reviewer)
    html = web.get(page(project)).content.decode()
    assert 'data-testid="prediction-hidden"' in html
    assert 'data-testid="prediction-rows"' not in html
    assert 'name="step" value="judge"' in html
    # The judgement step records the reviewer's answer and decides nothing.
    response = web.post(decide_url(item), {"step": "judge", "approve": first.pk}, **HTMX)
    html = response.content.decode()
    item.refresh_from_db()
    assert item.status == ItemStatus.IN_REVIEW
    assert 'data-testid="prediction-rows"' in html and 'data-testid="judgement-rows"' in html
    assert 'name="step"' not in html and _leaks(html) == []
    check = PredictionCheck.objects.get(item=item, reviewer=reviewer)
    assert check.judgement == first.payload and check.judged_at is not None
    # Then the decision, graded on the blind judgement (A preferred; the model said B).
    web.post(decide_url(item), {"approve": second.pk}, **HTMX)
    item.refresh_from_db()
    check.refresh_from_db()
    assert item.status == ItemStatus.APPROVED
    assert check.answer == first.payload and check.agreed is False
    # ... and the final, approved once the answer was shown, agrees with it: changed over.
    assert check.final_agreed is True
    assert check.review.annotation_id == second.pk and check.seconds >= 0


def test_after_judgement_the_api_refuses_an_approval_before_the_judgement(
    project, reviewer, make_api
):
    settle(project, review_prediction="after_judgement")
    item = predicted_item(project)
    first, second = annotations_of(item)
    api = make_api(reviewer)
    body = api.post(f"/api/v1/projects/{project.pk}/review-claim/").json()
    assert body["item"]["prediction"] is None and body["item"]["prediction_hidden"] is True
    refused = api.post(
        f"/api/v1/items/{item.pk}/review/",
        {"decision": "approve", "annotation": first.pk},
        format="json",
    )
    assert refused.status_code == 400
    judged = api.post(
        f"/api/v1/items/{item.pk}/review-judgement/", {"annotation": second.pk}, format="json"
    )
    assert judged.status_code == 201
    assert judged.json() == {"judgement": second.payload, "prediction": {"payload": {"rating": 2}}}
    again = api.post(
        f"/api/v1/items/{item.pk}/review-judgement/", {"annotation": first.pk}, format="json"
    )
    assert again.status_code == 409
    decided = api.post(
        f"/api/v1/items/{item.pk}/review/",
        {"decision": "approve", "annotation": first.pk},
        format="json",
    )
    assert decided.status_code == 201
    check = PredictionCheck.objects.get(item=item)
    assert check.answer == second.payload and check.agreed is True  # both prefer B


def test_a_judgement_needs_the_item_held_and_a_valid_answer(project, reviewer, make_api):
    settle(project, review_prediction="after_judgement")
    item = predicted_item(project)
    api = make_api(reviewer)
    url = f"/api/v1/items/{item.pk}/review-judgement/"
    assert (
        api.post(url, {"annotation": annotations_of(item)[0].pk}, format="json").status_code == 409
    )
    api.post(f"/api/v1/projects/{project.pk}/review-claim/")
    assert api.post(url, {}, format="json").status_code == 400
    bad = api.post(url, {"final": {"rating": 9}}, format="json")
    assert bad.status_code == 400


# --- review gold ---------------------------------------------------------------------------------


def test_the_seeded_share_is_the_rate_within_binomial_tolerance_and_stable():
    project = Project(pk=41, review_gold_rate=0.1)
    items = [
        Item(external_id=f"prod-{i}", kind=kinds.PREFERENCE, prediction=PREDICTION)
        for i in range(10_000)
    ]
    seeded = {i.external_id for i in items if guards.seeded_payload(project, i) is not None}
    # n p = 1,000, sd = 30: four standard deviations either way.
    assert 880 <= len(seeded) <= 1120
    again = {i.external_id for i in items if guards.seeded_payload(project, i) is not None}
    assert again == seeded
    project.review_gold_rate = 0.0
    assert all(guards.seeded_payload(project, i) is None for i in items[:500])


@pytest.mark.parametrize(
    "kind, payload",
    [
        (kinds.PREFERENCE, {"rating": 2, "criteria": {"helpfulness": 1}}),
        (kinds.PREFERENCE, {"rating": 0}),
        (kinds.REFUSAL, {"decision": "refuse", "response": "No.", "harm_category": "none"}),
        (kinds.REFUSAL, {"decision": "partial", "response": "Some.", "harm_category": "none"}),
        (kinds.INSTRUCTION, {"response": "A summary.", "category": "summarization"}),
        (kinds.RUBRIC, rubric_scores(3)),
        (kinds.RUBRIC, rubric_scores(4, passed=False)),
    ],
)
def test_each_kind_makes_a_valid_wrong_answer_that_disagrees(kind, payload):
    vocabulary = kinds.Vocabulary()
    spec = kinds.kind_get(kind)
    wrong = spec.seeded_wrong(payload, vocabulary)
    assert wrong is not None
    assert spec.prediction_correct(payload, wrong) is False
    assert kinds.validate_payload(kind, wrong, vocabulary) == []


def _claim_and_approve(api, project, annotation):
    api.post(f"/api/v1/projects/{project.pk}/review-claim/")
    response = api.post(
        f"/api/v1/items/{annotation.item_id}/review/",
        {"decision": "approve", "annotation": annotation.pk},
        format="json",
    )
    assert response.status_code == 201, response.json()


def test_a_seeded_error_is_graded_caught_or_missed_and_never_reaches_a_final_record(
    project, reviewer, make_api
):
    settle(project, review_gold_rate=1.0)
    api = make_api(reviewer)
    # The model says B (rating 2); the reviewer is shown A (rating -2) instead.
    missed = predicted_item(project)
    body = api.post(f"/api/v1/projects/{project.pk}/review-claim/").json()
    assert body["item"]["prediction"] == {"payload": {"rating": -2}}
    a_side = annotations_of(missed)[0]  # prefers A: agrees with the seeded error
    api.post(
        f"/api/v1/items/{missed.pk}/review/",
        {"decision": "approve", "annotation": a_side.pk},
        format="json",
    )
    caught = predicted_item(project)
    _claim_and_approve(api, project, annotations_of(caught)[1])  # prefers B
    checks = {c.item_id: c for c in PredictionCheck.objects.filter(reviewer=reviewer)}
    assert checks[missed.pk].seeded and checks[missed.pk].shown == {"rating": -2}
    assert (checks[missed.pk].agreed, checks[caught.pk].agreed) == (True, False)
    for item in (missed, caught):
        item.refresh_from_db()
        assert item.prediction == PREDICTION
        record = FinalRecord.objects.get(item=item, is_current=True)
        assert record.payload in DISPUTED_PREFERENCE


def test_a_seeded_refusal_is_shown_with_another_decision(project, reviewer, make_api):
    settle(project, review_gold_rate=1.0)
    prediction = {"payload": DISPUTED_REFUSAL[0], "confidence": 0.4}
    item = completed_item(project, DISPUTED_REFUSAL, kind=kinds.REFUSAL, prediction=prediction)
    body = make_api(reviewer).post(f"/api/v1/projects/{project.pk}/review-claim/").json()
    assert body["item"]["prediction"]["payload"]["decision"] == "comply"
    assert PredictionCheck.objects.get(item=item).seeded


# --- settings ------------------------------------------------------------------------------------


def test_bad_guard_settings_are_400(project, lead, make_api):
    api = make_api(lead)
    url = f"/api/v1/projects/{project.pk}/"
    for body, field in (
        ({"review_gold_rate": 1.5}, "review_gold_rate"),
        ({"review_gold_rate": -0.1}, "review_gold_rate"),
        ({"review_gold_rate": "often"}, "review_gold_rate"),
        ({"review_prediction": "sometimes"}, "review_prediction"),
    ):
        response = api.patch(url, body, format="json")
        assert response.status_code == 400, body
        assert response.json()["errors"][0]["field"] == field
    response = api.patch(
        url, {"review_gold_rate": 0.05, "review_prediction": "after_judgement"}, format="json"
    )
    assert response.status_code == 200
    assert (response.json()["review_gold_rate"], response.json()["review_prediction"]) == (
        0.05,
        "after_judgement",
    )


def test_the_settings_page_takes_the_guard_settings(project, lead):
    web = browser(lead)
    html = web.get(f"/projects/{project.pk}/settings/").content.decode()
    assert 'name="review_prediction"' in html and 'name="review_gold_rate"' in html


# --- the dashboard -------------------------------------------------------------------------------


def _checks(project, item, reviewer, rows):
    """Decided checks from (seeded, agreed, seconds[, final_agreed after a judgement])."""
    from django.utils import timezone

    now = timezone.now()
    PredictionCheck.objects.bulk_create(
        PredictionCheck(
            project=project,
            item=item,
            reviewer=reviewer,
            seeded=row[0],
            shown={"rating": 1},
            claimed_at=now,
            judgement={"rating": -1} if len(row) > 3 else None,
            judged_at=now if len(row) > 3 else None,
            agreed=row[1],
            final_agreed=row[3] if len(row) > 3 else row[1],
            decided_at=now,
            seconds=row[2],
        )
        for row in rows
    )


def test_the_dashboard_shows_each_reviewers_figures_and_flags(project, lead, make_api):
    item = completed_item(project, DISPUTED_PREFERENCE, data=preference_data(7))
    fast = MembershipFactory(project=project, role="reviewer", user__username="fast").user
    careful = MembershipFactory(project=project, role="reviewer", user__username="careful").user
    # fast: 20 real predictions, all accepted, 4 s each: accepts nearly everything fast.
    _checks(project, item, fast, [(False, True, 4.0)] * 20)
    # careful: 4 real (3 accepted), 6 seeded (2 caught), one rejection answering nothing;
    # times 10, 20, ..., 110 s: median 60 s.
    rows = [(False, True, 10.0), (False, True, 20.0), (False, True, 30.0), (False, False, 40.0)]
    rows += [(True, False, 50.0), (True, False, 60.0)]
    rows += [(True, True, s) for s in (70.0, 80.0, 90.0, 100.0)]
    rows += [(False, None, 110.0)]
    _checks(project, item, careful, rows)
    # swayed: three blind judgements, two disagreeing with the model; after seeing it, one of
    # those two approved a final that agrees with it.
    swayed = MembershipFactory(project=project, role="reviewer", user__username="swayed").user
    _checks(project, item, swayed, [(False, False, 30.0, True), (False, False, 30.0, False)])
    _checks(project, item, swayed, [(False, True, 30.0, True)])

    body = make_api(lead).get(f"/api/v1/projects/{project.pk}/dashboard/").json()
    by_name = {r["username"]: r for r in body["reviewers"]}
    assert by_name["fast"]["accepted"]["k"] == 20 and by_name["fast"]["accepted"]["n"] == 20
    assert by_name["fast"]["median_seconds"] == 4.0
    assert by_name["fast"]["flag_kinds"] == ["rubber_stamp"]
    c = by_name["careful"]
    assert c["decided"] == 11
    assert (c["accepted"]["k"], c["accepted"]["n"], c["accepted"]["value"]) == (3, 4, 0.75)
    assert (c["caught"]["k"], c["caught"]["n"]) == (2, 6)
    # Wilson 95 % of 2 / 6, worked by hand: centre 0.3984, half-width 0.3016.
    assert c["caught"]["low"] == pytest.approx(0.0968, abs=1e-3)
    assert c["caught"]["high"] == pytest.approx(0.7000, abs=1e-3)
    assert c["median_seconds"] == 60.0
    assert c["flag_kinds"] == ["misses_seeded"]
    assert "Caught 2 of 6" in c["flags"][0]
    assert (c["switched"]["k"], c["switched"]["n"]) == (0, 0)
    s = by_name["swayed"]
    assert (s["switched"]["k"], s["switched"]["n"]) == (1, 2)
    assert (s["accepted"]["k"], s["accepted"]["n"]) == (1, 3)

    html = browser(lead).get(f"/projects/{project.pk}/dashboard/").content.decode()
    assert 'data-testid="reviewers-table"' in html
    assert "Caught 2 of 6 seeded wrong answers" in html
    assert "Accepted the model&#x27;s answer 100% of the time (20 of 20)" in html


def test_the_dashboard_says_so_when_no_reviewer_decided_a_prediction(project, lead, make_api):
    html = browser(lead).get(f"/projects/{project.pk}/dashboard/").content.decode()
    assert 'data-testid="reviewers-empty"' in html
    assert make_api(lead).get(f"/api/v1/projects/{project.pk}/dashboard/").json()["reviewers"] == []


def test_reviewers_read_the_reviewer_figures_under_pseudonyms(project, reviewer, make_api):
    item = completed_item(project, DISPUTED_PREFERENCE)
    other = MembershipFactory(project=project, role="reviewer", user__username="named").user
    _checks(project, item, other, [(False, True, 5.0)])
    body = make_api(reviewer).get(f"/api/v1/projects/{project.pk}/dashboard/").json()
    assert [r["user_id"] for r in body["reviewers"]] == [None]
    assert body["reviewers"][0]["username"] != "named"


def test_there_is_no_judgement_step_while_the_project_shows_predictions(
    project, reviewer, make_api
):
    item = predicted_item(project)
    api = make_api(reviewer)
    api.post(f"/api/v1/projects/{project.pk}/review-claim/")
    url = f"/api/v1/items/{item.pk}/review-judgement/"
    response = api.post(url, {"annotation": annotations_of(item)[0].pk}, format="json")
    assert response.status_code == 409
    assert PredictionCheck.objects.get(item=item).judgement is None
