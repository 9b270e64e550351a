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


# --- weighting by the audit rate -------------------------------------------------------------

# Threshold 0.8, audit rate 0.25: the two audited items above it count 4 each, the three sent
# to people count 1 (a rule sent them, so they were judged for sure).
WEIGHTED = Judged.of(
    [
        (0.95, True, True),
        (0.95, False, True),
        (0.85, True, False),
        (0.85, False, False),
        (0.85, True, False),
        (0.55, True, False),
    ],
    audit_rate=0.25,
)


def test_the_current_error_is_weighted_by_the_inverse_audit_rate_by_hand():
    result = figures(WEIGHTED, threshold=0.8, target=0.02, audit_rate=0.25, traffic=_traffic([0.9]))
    current = result["current_threshold_error"]
    # At or above 0.8: weights 4, 4, 1, 1, 1 (sum 11); wrong: 4 (audited) + 1 = 5.
    assert current["n"] == 5  # the raw count stays
    assert current["value"] == pytest.approx(5 / 11)  # unweighted it would be 2 / 5
    # Kish: 11^2 / (4^2 + 4^2 + 1 + 1 + 1) = 121 / 35; Wilson at p = 5/11 on n = 121/35.
    assert current["n_effective"] == pytest.approx(121 / 35)
    assert current["low"] == pytest.approx(0.11644, abs=1e-5)
    assert current["high"] == pytest.approx(0.84050, abs=1e-5)
    assert result["weighted"] is True
    assert "effective n 3 after weighting" in " ".join(result["warnings"])
    # The bins stay unweighted: 0.9-1.0 holds 2 items, 1 right.
    top = next(b for b in result["bins"] if b["low"] == 0.9)
    assert (top["n"], top["accuracy"]) == (2, 0.5)


def test_unit_weights_give_the_unweighted_figures():
    plain = figures(HAND, threshold=0.8, target=0.02, audit_rate=0.1, traffic=_traffic([0.9]))
    current = plain["current_threshold_error"]
    assert current["n_effective"] == 6 and plain["weighted"] is False
    assert (current["low"], current["high"]) == pytest.approx(wilson(1, 6))


def _production(n: int = 400_000, seed: int = 14, threshold: float = 0.9, rate: float = 0.05):
    """A calibrated model's traffic routed as an import routes it: under the threshold every
    item goes to people, above it the audit draw (rate) and a production signal (2 % of items,
    their predictions much worse) send some. Returns (judged, truth): `truth(t)` is the error
    rate of every item at or above t, judged or not."""
    rng = np.random.default_rng(seed)
    confidence = rng.uniform(0.5, 1.0, n)
    signal = rng.random(n) < 0.02
    correct = rng.random(n) < np.where(signal, confidence - 0.35, confidence)
    above = confidence >= threshold
    audited = above & ~signal & (rng.random(n) < rate)
    judged = ~above | signal | audited

    def truth(t: float) -> float:
        return float(1 - correct[confidence >= t].mean())

    rows = list(zip(confidence[judged], correct[judged], audited[judged], strict=True))
    return rows, confidence, truth


def test_on_simulated_traffic_the_weighted_error_is_unbiased_and_the_unweighted_is_not():
    rows, confidence, truth = _production()
    traffic = _traffic(np.floor(confidence * 100) / 100)
    weighted = figures(
        Judged.of(rows, audit_rate=0.05),
        threshold=0.9,
        target=0.02,
        audit_rate=0.05,
        traffic=traffic,
    )
    unweighted = figures(
        Judged.of(rows), threshold=0.9, target=0.02, audit_rate=0.05, traffic=traffic
    )
    true_error = truth(0.9)  # about 0.98 * 0.05 + 0.02 * 0.40
    w, u = weighted["current_threshold_error"], unweighted["current_threshold_error"]
    # The signal-flagged items above the threshold are all judged, the rest 1 in 20: unweighted
    # they weigh 20 times too much.
    assert u["value"] - true_error > 0.05
    assert w["value"] == pytest.approx(true_error, abs=0.01)
    assert w["low"] <= true_error <= w["high"]
    assert not u["low"] <= true_error <= u["high"]
    assert w["n"] == u["n"] and w["n_effective"] < w["n"]
    # The automated share is read from every predicted item: no weight, the true share.
    assert weighted["automated_share"] == unweighted["automated_share"]
    if weighted["recommended_threshold"] is not None:
        t = weighted["recommended_threshold"]
        assert weighted["automated_share"] == pytest.approx((confidence >= t).mean(), abs=0.01)


def test_on_simulated_traffic_the_recommendation_is_weighted():
    """Below the current threshold the judged items are all there, above it a 5 % sample:
    unweighted, the error of a threshold under the current one mixes the two as if equally
    sampled. Weighted, the recommended threshold's true error is under the target."""
    rows, confidence, truth = _production(threshold=0.97, rate=0.05)
    traffic = _traffic(np.floor(confidence * 100) / 100)
    weighted = figures(
        Judged.of(rows, audit_rate=0.05),
        threshold=0.97,
        target=0.06,
        audit_rate=0.05,
        traffic=traffic,
    )
    unweighted = figures(
        Judged.of(rows), threshold=0.97, target=0.06, audit_rate=0.05, traffic=traffic
    )
    t = weighted["recommended_threshold"]
    assert t is not None and truth(t) < 0.06
    assert weighted["recommended_error"]["value"] == pytest.approx(truth(t), abs=0.01)
    # Unweighted, the few audits above 0.97 are swamped by everything judged under it and by
    # the signal-flagged items: it demands a higher threshold than the traffic needs.
    assert unweighted["recommended_threshold"] > t
    assert unweighted["automated_share"] < weighted["automated_share"]


def test_the_postgresql_cells_give_the_figures_of_the_items_one_by_one(
    client, project, lead, require_postgres
):
    """The report aggregates in SQL; the same judged items one by one (the ORM path) give the
    same figures, weights included."""
    project.auto_accept_above = 0.9
    project.audit_rate = 0.5
    project.always_review = [{"signal": True}]  # flagged items above 0.9 count 1, audits 2
    project.save()
    decisions = ["refuse", "comply"]
    rows = [
        item_row(
            kinds.REFUSAL,
            n,
            prediction={
                "payload": {"decision": "refuse", "response": f"No {n}.", "harm_category": "none"},
                "confidence": [0.29, 0.55, 0.8, 0.899999, 0.9, 0.93, 0.97, 1.0][n % 8],
            },
            source="production",
            **({"signal": "policy_flag"} if n % 5 == 0 else {}),
        )
        for n in range(160)
    ]
    _import(client, project, rows)
    judged = Item.objects.filter(project=project, route__in=["human", "audit"]).order_by("id")
    assert judged.filter(route="audit").count() >= 10
    for i, item in enumerate(judged):
        _decide(item, decisions[(i * 7) % 5 == 0], lead)
    sql = calibration.report_compute(project=project)
    one_by_one = calibration._judged_read_orm(project)
    orm = calibration.figures_of_cells(
        one_by_one.cells,
        one_by_one.recent_audits,
        threshold=0.9,
        target=project.calibration_target,
        audit_rate=0.5,
        traffic=calibration.traffic_of(project),
    )
    assert sql["weighted"] is True and sql["n"] == judged.count()
    for key in ("n", "predicted", "recommended_threshold", "automated_share", "weighted"):
        assert sql[key] == orm[key], key
    for key in ("ece", "brier"):
        assert sql[key] == pytest.approx(orm[key], rel=1e-12)
    for ours, theirs in zip(sql["bins"], orm["bins"], strict=True):
        assert ours == {k: v if v is None else pytest.approx(v) for k, v in theirs.items()}
    assert sql["current_threshold_error"] == pytest.approx(orm["current_threshold_error"])
    assert sql["drift"] == pytest.approx(orm["drift"])
    assert sql["current_threshold_error"]["n_effective"] < sql["current_threshold_error"]["n"]
