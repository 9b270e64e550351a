"""The calibration report: figures against a hand-computed example, the recommended threshold
on simulated models whose calibration is known, and the report job through the API."""

import json

import numpy as np
import pytest

from annotation import kinds
from annotation.models import Item
from core.models import AuditEvent
from review.models import Provenance
from review.services import final_record_create
from routing import calibration
from routing.calibration import Judged, figures, wilson
from tests.factories import item_row

# conf 0.95 x2 (both right), 0.85 x4 (one wrong), 0.55 x2 (one wrong)
HAND = Judged.of(
    [
        (0.95, True, False),
        (0.95, True, True),
        (0.85, True, False),
        (0.85, True, False),
        (0.85, True, False),
        (0.85, False, True),
        (0.55, True, False),
        (0.55, False, False),
    ]
)


def _traffic(confidences):
    counts = np.zeros(calibration.GRID + 1, dtype=np.int64)
    for c in confidences:
        counts[int(c * calibration.GRID)] += 1
    return counts


def test_wilson_matches_the_published_interval():
    low, high = wilson(3, 4)
    assert (round(low, 4), round(high, 4)) == (0.3006, 0.9544)
    low, high = wilson(0, 10)
    assert (low, round(high, 4)) == (0.0, 0.2775)
    assert wilson(0, 0) == (None, None)


def test_bins_ece_and_brier_match_a_hand_computed_example():
    result = figures(
        HAND, threshold=0.8, target=0.02, audit_rate=0.1, traffic=_traffic(HAND.confidence)
    )
    bins = {round(b["low"], 1): b for b in result["bins"]}
    assert len(result["bins"]) == 10
    assert bins[0.9]["n"] == 2 and bins[0.9]["accuracy"] == 1.0
    assert bins[0.9]["mean_confidence"] == pytest.approx(0.95)
    assert bins[0.8]["n"] == 4 and bins[0.8]["accuracy"] == 0.75
    assert (round(bins[0.8]["ci_low"], 4), round(bins[0.8]["ci_high"], 4)) == (0.3006, 0.9544)
    assert bins[0.5]["n"] == 2 and bins[0.5]["accuracy"] == 0.5
    assert bins[0.1]["n"] == 0 and bins[0.1]["accuracy"] is None
    # ECE = 2/8 * 0.05 + 4/8 * 0.10 + 2/8 * 0.05
    assert result["ece"] == pytest.approx(0.075)
    # Brier = (2 * 0.05^2 + 3 * 0.15^2 + 0.85^2 + 0.45^2 + 0.55^2) / 8
    assert result["brier"] == pytest.approx(1.3 / 8)
    # At or above 0.8: 6 judged, 1 wrong.
    current = result["current_threshold_error"]
    assert current["n"] == 6 and current["value"] == pytest.approx(1 / 6)
    assert (current["low"], current["high"]) == pytest.approx(wilson(1, 6))
    assert result["n"] == 8 and result["predicted"] == 8


def test_under_100_judged_items_there_is_no_recommendation_and_the_reason_says_so():
    result = figures(HAND, threshold=None, target=0.02, audit_rate=0.05, traffic=_traffic([0.9]))
    assert result["recommended_threshold"] is None
    assert result["automated_share"] is None
    assert "Not enough evidence" in result["recommended_reason"]
    assert "8 judged" in result["recommended_reason"]


def _simulate(model: str, n: int = 20_000, seed: int = 7) -> Judged:
    rng = np.random.default_rng(seed)
    confidence = rng.uniform(0.5, 1.0, n)
    truth = confidence if model == "calibrated" else np.clip(confidence - 0.15, 0, 1)
    correct = rng.random(n) < truth
    return Judged(confidence=confidence, correct=correct, audited=np.zeros(n, dtype=bool))


def test_a_well_calibrated_model_gets_the_threshold_its_calibration_allows():
    judged = _simulate("calibrated")
    traffic = _traffic(judged.confidence)
    result = figures(judged, threshold=None, target=0.05, audit_rate=0.05, traffic=traffic)
    # The true error at or above t is (1 - t) / 2: 0.05 at 0.90; the interval's upper bound
    # must be under the target too, so a little higher.
    t = result["recommended_threshold"]
    assert 0.9 < t <= 0.95
    assert result["automated_share"] == pytest.approx((1 - t) / 0.5, abs=0.03)
    assert result["ece"] < 0.02
    above = judged.confidence >= t
    assert 1 - judged.correct[above].mean() < 0.05


def test_an_over_confident_model_gets_a_higher_threshold_or_none():
    calibrated = figures(
        _simulate("calibrated"),
        threshold=None,
        target=0.05,
        audit_rate=0.05,
        traffic=_traffic([0.9]),
    )
    over = figures(
        _simulate("over"), threshold=None, target=0.05, audit_rate=0.05, traffic=_traffic([0.9])
    )
    assert over["recommended_threshold"] is None or (
        over["recommended_threshold"] > calibrated["recommended_threshold"]
    )
    assert over["recommended_threshold"] is None  # its error is 10 %+ at every confidence
    assert "No threshold" in over["recommended_reason"]
    assert over["ece"] == pytest.approx(0.15, abs=0.02)
    assert over["brier"] > calibrated["brier"]


def test_the_page_warns_when_the_audit_rate_is_zero_with_auto_acceptance_on():
    result = figures(HAND, threshold=0.9, target=0.02, audit_rate=0.0, traffic=_traffic([0.9]))
    assert any("can no longer be measured" in w for w in result["warnings"])


def test_drift_of_the_last_audits_is_flagged():
    rows = [(0.95, True, True)] * 200 + [(0.95, False, True)] * 30
    judged = Judged.of(rows)
    result = figures(judged, threshold=0.9, target=0.02, audit_rate=0.05, traffic=_traffic([0.95]))
    assert result["drift"]["n"] == 50
    assert result["drift"]["drifting"] is True
    assert any("last 50 audits" in w for w in result["warnings"])


# --- the job and the API --------------------------------------------------------------------


def api_url(project):
    return f"/api/v1/projects/{project.pk}/calibration/"


@pytest.fixture
def client(lead, make_api):
    return make_api(lead)


def _import(client, project, rows):
    response = client.generic(
        "POST",
        f"/api/v1/projects/{project.pk}/items/",
        json.dumps(rows),
        content_type="application/json",
    )
    assert response.status_code == 201, response.content


def _decide(item, decision, lead):
    payload = {"decision": decision, "response": "A reply.", "harm_category": "none"}
    final_record_create(
        item=item,
        payload=payload,
        provenance=Provenance.ADJUDICATED,
        source=None,
        approved_by=lead,
    )


def test_a_project_without_predictions_gets_a_clear_empty_state(
    client, project, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(api_url(project), {}, format="json")
    assert response.status_code == 202
    body = client.get(api_url(project)).json()
    assert body["n"] == 0 and body["predicted"] == 0
    assert "No item of this project carries a prediction" in body["empty"]
    assert body["recommended_threshold"] is None


def test_the_report_reads_predictions_against_human_finals_by_the_kinds_rule(
    client, project, lead, django_capture_on_commit_callbacks
):
    project.auto_accept_above = 0.9
    project.audit_rate = 0.0
    project.always_review = []
    project.save()
    rows = []
    for n in range(10):
        rows.append(
            item_row(
                kinds.REFUSAL,
                n,
                prediction={
                    "payload": {"decision": "refuse", "response": "No.", "harm_category": "none"},
                    "confidence": 0.75,
                },
            )
        )
    rows.append(
        item_row(
            kinds.REFUSAL,
            99,
            prediction={
                "payload": {"decision": "refuse", "response": "No.", "harm_category": "none"},
                "confidence": 0.95,
            },
        )
    )
    _import(client, project, rows)
    items = Item.objects.filter(project=project, route="human").order_by("id")
    for i, item in enumerate(items):
        # The texts differ from the prediction's: only the decision counts (the kind's rule).
        _decide(item, "refuse" if i < 7 else "comply", lead)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(api_url(project), {}, format="json")
    assert response.status_code == 202
    assert set(response.json()) == {"id", "status", "error", "created_at", "computed_at", "waiting"}
    body = client.get(api_url(project)).json()
    assert body["n"] == 10  # the auto-accepted item's record is the model's own: not counted
    assert body["predicted"] == 11
    bin7 = next(b for b in body["bins"] if b["low"] == 0.7)
    assert (bin7["n"], bin7["accuracy"]) == (10, 0.7)
    assert body["ece"] == pytest.approx(0.05)
    assert body["current_threshold_error"]["n"] == 0
    assert body["current_automated_share"] == pytest.approx(1 / 11)
    assert body["recommended_threshold"] is None
    assert "Not enough evidence" in body["recommended_reason"]
    assert len(body["data_sha256"]) == 64 and body["code_version"]
    assert AuditEvent.objects.filter(project=project, action="calibration_report.done").exists()


def test_only_leads_request_or_read_reports(project, reviewer, make_api):
    api = make_api(reviewer)
    assert api.post(api_url(project), {}, format="json").status_code == 403
    assert api.get(api_url(project)).status_code == 403


def test_a_non_member_gets_404(project, user, make_api):
    assert make_api(user).get(api_url(project)).status_code == 404


def test_the_page_shows_counts_and_the_reliability_diagram(
    client, project, lead, django_capture_on_commit_callbacks
):
    from django.test import Client

    project.auto_accept_above = 0.9
    project.audit_rate = 0.0
    project.always_review = []
    project.save()
    rows = [
        item_row(
            kinds.REFUSAL,
            n,
            prediction={
                "payload": {"decision": "refuse", "response": "No.", "harm_category": "none"},
                "confidence": 0.95 if n % 2 else 0.6,
            },
        )
        for n in range(6)
    ]
    _import(client, project, rows)
    for item in Item.objects.filter(project=project, route="human"):
        _decide(item, "refuse", lead)
    browser = Client()
    browser.force_login(lead)
    with django_capture_on_commit_callbacks(execute=True):
        response = browser.post(f"/projects/{project.pk}/calibration/compute/")
    assert response.status_code == 302
    page = browser.get(f"/projects/{project.pk}/calibration/").content.decode()
    assert 'data-testid="count-auto">3<' in page
    assert 'data-testid="count-human">3<' in page
    assert "<svg" in page and 'data-testid="reliability"' in page
    assert "Not enough evidence" in page
    assert "style=" not in page and "<script>" not in page
