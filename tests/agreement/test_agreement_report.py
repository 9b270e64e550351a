"""Agreement reports: what the service computes and stores, and how it survives a crash."""

import math
from datetime import timedelta

import numpy as np
import pytest
from django.utils import timezone

from agreement import engine, reader, services
from agreement.engine import (
    NOTE_ALL_SAME,
    alpha_from_reliability_data,
    cohen_kappa,
    gwet_ac1,
    kappa_from_confusion,
    krippendorff_alpha,
    percent_agreement,
)
from agreement.models import AgreementReport
from agreement.selectors import agreement_report_latest, agreement_report_pending
from agreement.services import (
    agreement_maybe_schedule,
    agreement_report_build,
    agreement_report_request,
)
from annotation import kinds
from annotation.models import Role
from annotation.queue import assignment_claim_next, assignment_submit
from annotation.services import project_update
from core.models import AuditEvent, JobStatus
from tests.agreement.conftest import annotate, member, rated
from tests.factories import ItemFactory, MembershipFactory, ProjectFactory

NAN = math.nan
RATINGS = list(range(-3, 4))


def build(project, actor=None) -> AgreementReport:
    report = AgreementReport.objects.create(project=project, requested_by=actor)
    return agreement_report_build(report_id=report.pk)


def rounded(value):
    """Floats rounded to 12 places, in nested dicts and lists (sums may differ in order)."""
    if isinstance(value, float):
        return round(value, 12)
    if isinstance(value, dict):
        return {k: rounded(v) for k, v in value.items()}
    if isinstance(value, list):
        return [rounded(v) for v in value]
    return value


def by_name(report: AgreementReport) -> dict[str, dict]:
    return {row["annotator"]: row for row in report.annotators}


# --- the hand-built preference project (tests/agreement/conftest.py: `seeded`) ----------------


def test_rating_percent_agreement_pools_pairs_of_equal_ratings(seeded):
    rating = build(seeded.project).fields["preference.rating"]
    # p1: 1 of 3 pairs equal (-2, -2), p2: 0 of 1, p3: 1 of 3 (0, 0); p4 has no pair.
    assert rating["percent_agreement"] == pytest.approx(2 / 7)
    assert rating["units"] == 3
    assert rating["annotations"] == 9


def test_side_agreement_with_ties_counts_a_tie_as_a_side(seeded):
    rating = build(seeded.project).fields["preference.rating"]
    # p1: 3 of 3 pairs prefer A, p2: 0 of 1, p3: 1 of 3 (the two ties).
    assert rating["side_agreement_with_ties"] == pytest.approx(4 / 7)


def test_side_agreement_without_ties_uses_only_pairs_of_non_tie_ratings(seeded):
    rating = build(seeded.project).fields["preference.rating"]
    # p1: 3 of 3, p2: 0 of 1, p3: only one non-tie rating, no pair.
    assert rating["side_agreement_without_ties"] == pytest.approx(3 / 4)


def test_rating_alphas_match_the_engine_on_the_same_ratings(seeded):
    rating = build(seeded.project).fields["preference.rating"]
    # coders x items p1..p4 (gold g1 left out)
    data = np.array([[-2, 1, 0, 3], [-1, -1, 0, NAN], [-2, NAN, 2, NAN]])
    ordinal = alpha_from_reliability_data(data, "ordinal", values=RATINGS).alpha
    interval = alpha_from_reliability_data(data, "interval", values=RATINGS).alpha
    nominal = alpha_from_reliability_data(np.sign(data), "nominal", values=[-1, 0, 1]).alpha
    assert rating["alpha_ordinal"] == pytest.approx(ordinal)
    assert rating["alpha_interval"] == pytest.approx(interval)
    assert rating["alpha_nominal"] == pytest.approx(nominal)
    assert rating["notes"] == []


def test_rating_ac1_is_gwets_on_the_preferred_side(seeded):
    rating = build(seeded.project).fields["preference.rating"]
    # side counts (A, tie, B) of p1..p4, the single rating of p4 included as Gwet does.
    counts = [[3, 0, 0], [1, 0, 1], [0, 2, 1], [0, 0, 1]]
    assert rating["ac1"] == pytest.approx(gwet_ac1(counts, n_categories=3).ac1)


def test_criteria_are_reported_per_criterion(seeded):
    fields = build(seeded.project).fields
    helpfulness = fields["preference.criteria.helpfulness"]
    assert helpfulness["percent_agreement"] == 1.0
    assert helpfulness["alpha_interval"] == pytest.approx(1.0)
    assert helpfulness["units"] == 2
    # A criterion nobody rated is listed, explained.
    assert fields["preference.criteria.honesty"]["alpha_ordinal"] is None
    assert fields["preference.criteria.honesty"]["notes"] == [engine.NOTE_NO_ANNOTATIONS]


def test_report_counts_non_gold_annotations(seeded):
    assert build(seeded.project).annotation_count == 9


def test_annotator_counts_and_items_shared(seeded):
    rows = by_name(build(seeded.project))
    assert [rows[n]["annotations"] for n in ("ann", "bob", "<em>cy</em>")] == [5, 4, 2]
    # p4 is ann's alone; the gold item is not an agreement item.
    assert [rows[n]["items_shared"] for n in ("ann", "bob", "<em>cy</em>")] == [3, 3, 2]


def test_agreement_with_others_is_the_share_of_agreeing_pairs_on_the_preferred_side(seeded):
    rows = by_name(build(seeded.project))
    # ann: p1 agrees with bob and cy, p2 not with bob, p3 with bob (tie) and not with cy.
    assert rows["ann"]["agreement_with_others"] == pytest.approx(3 / 5)
    assert rows["ann"]["agreement_pairs"] == 5
    assert rows["bob"]["agreement_with_others"] == pytest.approx(3 / 5)
    assert rows["<em>cy</em>"]["agreement_with_others"] == pytest.approx(2 / 4)


def test_gold_accuracy_is_the_share_of_correct_gold_answers(seeded):
    rows = by_name(build(seeded.project))
    assert (rows["ann"]["gold_answers"], rows["ann"]["gold_accuracy"]) == (1, 1.0)
    assert (rows["bob"]["gold_answers"], rows["bob"]["gold_accuracy"]) == (1, 0.0)
    assert (rows["<em>cy</em>"]["gold_answers"], rows["<em>cy</em>"]["gold_accuracy"]) == (0, None)


def test_gold_items_are_left_out_of_the_agreement_fields(seeded):
    report = build(seeded.project)
    pairs = {(k["a"], k["b"]): k["items"] for k in report.kappa["preference.rating"]}
    assert pairs[("ann", "bob")] == 3  # p1, p2, p3; not g1


def test_median_seconds_uses_every_annotation_with_a_time(seeded):
    rows = by_name(build(seeded.project))
    assert rows["ann"]["median_seconds"] == 30  # 10, 20, 30, 40 (gold), 100
    assert rows["bob"]["median_seconds"] == 40  # 20, 40, 60 (the gold answer has no time)
    assert rows["<em>cy</em>"]["median_seconds"] == 45


def test_position_bias_is_the_share_of_choices_for_the_left_response(seeded):
    rows = by_name(build(seeded.project))
    # ann: p1 A shown left (left), p2 B shown left (left), p4 B shown right; p3 is a tie.
    assert (rows["ann"]["position_bias_left"], rows["ann"]["position_choices"]) == (
        pytest.approx(2 / 3),
        3,
    )
    # bob: p1 chose A shown right, p2 chose A shown left.
    assert (rows["bob"]["position_bias_left"], rows["bob"]["position_choices"]) == (0.5, 2)
    assert rows["<em>cy</em>"]["position_bias_left"] == 1.0


def test_kappa_per_pair_matches_cohens_kappa_on_shared_items(seeded):
    kappas = {(k["a"], k["b"]): k for k in build(seeded.project).kappa["preference.rating"]}
    expected = cohen_kappa(["A", "B", "tie"], ["A", "A", "tie"]).kappa
    assert kappas[("ann", "bob")]["kappa"] == pytest.approx(expected)
    assert kappas[("<em>cy</em>", "ann")]["items"] == 2
    assert set(kappas) == {("ann", "bob"), ("<em>cy</em>", "ann"), ("<em>cy</em>", "bob")}


def test_report_is_the_same_whatever_the_batch_size(seeded, monkeypatch):
    whole = build(seeded.project)
    monkeypatch.setattr(reader, "BATCH_ROWS", 1)
    monkeypatch.setattr(reader, "FETCH_CHUNK", 2)
    pieces = build(seeded.project)
    assert rounded(pieces.fields) == rounded(whole.fields)
    assert pieces.annotators == whole.annotators
    assert pieces.kappa == whole.kappa


def test_build_marks_the_report_done_and_audits_it(seeded):
    report = build(seeded.project, actor=seeded.lead)
    assert report.status == JobStatus.DONE
    assert report.computed_at is not None
    assert AuditEvent.objects.filter(action="agreement_report.done", object_id=str(report.pk))


def test_reports_older_than_the_newest_30_keep_only_their_field_figures(seeded):
    now = timezone.now()
    older = AgreementReport.objects.bulk_create(
        AgreementReport(
            project=seeded.project,
            status=JobStatus.DONE,
            fields={"preference.rating": {"alpha_ordinal": n / 100}},
            annotators=[{"user_id": 1, "annotations": n}],
            kappa={"preference.side": [{"a": 1, "b": 2, "kappa": 0.5}]},
            computed_at=now - timedelta(hours=40 - n),
        )
        for n in range(services.REPORTS_KEPT_WHOLE)
    )

    newest = build(seeded.project, actor=seeded.lead)

    thinned = AgreementReport.objects.get(pk=older[0].pk)  # the oldest of 31
    assert (thinned.annotators, thinned.kappa) == ([], {})
    assert thinned.fields == {"preference.rating": {"alpha_ordinal": 0.0}}
    kept = AgreementReport.objects.filter(pk__in=[r.pk for r in older[1:]])
    assert all(report.annotators and report.kappa for report in kept)
    assert len(newest.annotators) > 0
    assert services._thin_old_reports(seeded.project) == 0  # thinned once


# --- other kinds -------------------------------------------------------------------------------


@pytest.fixture
def mixed(db):
    # "malware" is used, then removed from the project's list (below).
    project = ProjectFactory(
        kinds=[kinds.REFUSAL, kinds.INSTRUCTION],
        harm_categories=["none", "violence", "hate", "malware"],
    )
    a, b, c = (member(project, name) for name in ("a", "b", "c"))
    refusals = [ItemFactory(project=project, kind=kinds.REFUSAL) for _ in range(4)]
    answers = [
        # decision, harm category per annotator (None: did not annotate)
        [("refuse", "violence"), ("refuse", "violence"), ("refuse", "hate")],
        [("comply", "none"), ("partial", "none"), None],
        [("refuse", "malware"), ("refuse", "malware"), ("comply", "none")],
        [("comply", "none"), None, None],
    ]
    for item, row in zip(refusals, answers, strict=True):
        for user, answer in zip((a, b, c), row, strict=True):
            if answer:
                decision, harm = answer
                payload = {"decision": decision, "response": "...", "harm_category": harm}
                annotate(item, user, payload)
    instructions = [ItemFactory(project=project, kind=kinds.INSTRUCTION) for _ in range(3)]
    for item, labels in zip(
        instructions, [("code", "code"), ("code", "reasoning"), ("other", "other")], strict=True
    ):
        for user, label in zip((a, b), labels, strict=True):
            annotate(item, user, {"response": "...", "category": label})
    project_update(
        project=project, actor=None, changes={"harm_categories": ["none", "violence", "hate"]}
    )
    project.refresh_from_db()
    return project


def test_refusal_decision_figures_match_the_engine(mixed):
    decision = build(mixed).fields["refusal.decision"]
    # value counts (refuse, comply, partial) per refusal item
    counts = [[3, 0, 0], [0, 1, 1], [2, 1, 0], [0, 1, 0]]
    assert decision["alpha_nominal"] == pytest.approx(
        krippendorff_alpha(counts, ["refuse", "comply", "partial"]).alpha
    )
    assert decision["percent_agreement"] == pytest.approx(percent_agreement(counts).agreement)
    assert decision["ac1"] == pytest.approx(gwet_ac1(counts, n_categories=3).ac1)
    assert decision["units"] == 3


def test_a_harm_category_removed_from_the_project_still_counts(mixed):
    harm = build(mixed).fields["refusal.harm_category"]
    # values: none, violence, hate (the project's lists), then malware (used, since removed)
    counts = [[0, 2, 1, 0], [2, 0, 0, 0], [1, 0, 0, 2], [1, 0, 0, 0]]
    assert harm["ac1"] == pytest.approx(gwet_ac1(counts, n_categories=4).ac1)
    assert harm["alpha_nominal"] == pytest.approx(
        krippendorff_alpha(counts, ["none", "violence", "hate", "malware"]).alpha
    )
    assert harm["notes"] == []


def test_instruction_category_agreement_and_kappa(mixed):
    report = build(mixed)
    category = report.fields["instruction.category"]
    assert category["percent_agreement"] == pytest.approx(2 / 3)
    [pair] = report.kappa["instruction.category"]
    expected = cohen_kappa(["code", "code", "other"], ["code", "reasoning", "other"]).kappa
    assert (pair["a"], pair["b"], pair["items"]) == ("a", "b", 3)
    assert pair["kappa"] == pytest.approx(expected)


def test_agreement_with_others_pools_decisions_and_categories(mixed):
    rows = by_name(build(mixed))
    # a: refusal pairs 1+1 (refuse with b, c), 0 (comply/partial), 1+0 (b agrees, c not);
    # instruction pairs: code=code, code!=reasoning, other=other.
    assert rows["a"]["agreement_pairs"] == 5 + 3
    assert rows["a"]["agreement_with_others"] == pytest.approx((3 + 2) / 8)


def test_only_the_projects_kinds_and_kinds_with_annotations_are_reported(mixed):
    fields = build(mixed).fields
    assert "preference.rating" not in fields
    assert {"refusal.decision", "refusal.harm_category", "instruction.category"} <= set(fields)


def test_kappa_from_confusion_matches_cohens_kappa():
    a = ["x", "x", "y", "z", "y", "x"]
    b = ["x", "y", "y", "z", "x", "x"]
    codes = {"x": 0, "y": 1, "z": 2}
    confusion: dict = {}
    for u, v in zip(a, b, strict=True):
        confusion[(codes[u], codes[v])] = confusion.get((codes[u], codes[v]), 0) + 1
    assert kappa_from_confusion(confusion).kappa == pytest.approx(cohen_kappa(a, b).kappa)


# --- degenerate data ---------------------------------------------------------------------------


def test_a_project_without_annotations_gets_a_done_report_with_notes(project):
    report = build(project)
    assert report.status == JobStatus.DONE
    assert report.annotators == []
    rating = report.fields["preference.rating"]
    assert rating["alpha_ordinal"] is None
    assert rating["percent_agreement"] is None
    assert rating["notes"] == [engine.NOTE_NO_ANNOTATIONS]
    assert report.fields["refusal.decision"]["ac1"] is None
    assert report.kappa["instruction.category"] == []


def test_items_with_a_single_annotation_only_give_a_note_not_a_figure(project):
    a, b = member(project, "a"), member(project, "b")
    annotate(ItemFactory(project=project), a, rated(1))
    annotate(ItemFactory(project=project), b, rated(2))
    rating = build(project).fields["preference.rating"]
    assert rating["units"] == 0
    assert rating["alpha_interval"] is None
    assert "no item has two or more annotations" in rating["notes"][0]


def test_everyone_giving_the_same_value_leaves_alpha_undefined_and_explained(project):
    a, b = member(project, "a"), member(project, "b")
    for _ in range(3):
        item = ItemFactory(project=project)
        annotate(item, a, rated(-2))
        annotate(item, b, rated(-2))
    report = build(project)
    rating = report.fields["preference.rating"]
    assert rating["alpha_ordinal"] is None
    assert rating["alpha_nominal"] is None
    assert rating["percent_agreement"] == 1.0
    assert rating["side_agreement_without_ties"] == 1.0
    assert any(NOTE_ALL_SAME in note for note in rating["notes"])
    [pair] = report.kappa["preference.rating"]
    assert pair["kappa"] is None
    assert "undefined" in pair["note"]


def test_a_long_run_of_seconds_gives_a_median_within_half_a_percent(project, monkeypatch):
    monkeypatch.setattr(engine._MedianSketch, "EXACT", 4)
    a = member(project, "a")
    seconds = [3.0, 7.5, 12.0, 18.0, 25.0, 61.0, 400.0]
    for s in seconds:
        annotate(ItemFactory(project=project), a, rated(1), seconds=s)
    [row] = build(project).annotators
    assert row["median_seconds"] == pytest.approx(18.0, rel=0.005)


# --- crashes, retries, selectors ---------------------------------------------------------------


def test_a_build_killed_mid_run_leaves_the_previous_report_latest(seeded, monkeypatch):
    previous = build(seeded.project)
    report = AgreementReport.objects.create(project=seeded.project)

    def killed(project):
        raise SystemExit("worker killed")

    monkeypatch.setattr(services, "_compute", killed)
    with pytest.raises(SystemExit):
        agreement_report_build(report_id=report.pk)
    report.refresh_from_db()
    assert report.status == JobStatus.RUNNING
    assert agreement_report_latest(project=seeded.project) == previous
    assert agreement_report_pending(project=seeded.project, after=previous) == report


def test_a_retried_build_completes_from_scratch(seeded, monkeypatch):
    report = AgreementReport.objects.create(project=seeded.project)
    real = services._compute
    monkeypatch.setattr(services, "_compute", lambda project: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        agreement_report_build(report_id=report.pk)
    monkeypatch.setattr(services, "_compute", real)
    done = agreement_report_build(report_id=report.pk)
    assert done.status == JobStatus.DONE
    assert done.fields["preference.rating"]["units"] == 3
    assert agreement_report_latest(project=seeded.project) == done


def test_building_a_done_report_again_changes_nothing(seeded, monkeypatch):
    report = build(seeded.project)
    monkeypatch.setattr(services, "_compute", lambda project: 1 / 0)
    assert agreement_report_build(report_id=report.pk).computed_at == report.computed_at


def test_the_task_marks_a_report_failed_with_the_error(seeded, monkeypatch):
    from agreement.tasks import agreement_report as task

    report = AgreementReport.objects.create(project=seeded.project)
    monkeypatch.setattr(services, "_compute", lambda project: 1 / 0)
    task.apply(args=[report.pk])
    report.refresh_from_db()
    assert report.status == JobStatus.FAILED
    assert "ZeroDivisionError" in report.error


def test_a_request_while_one_is_queued_returns_the_queued_one(seeded):
    first = agreement_report_request(project=seeded.project, actor=seeded.lead)
    second = agreement_report_request(project=seeded.project, actor=seeded.lead)
    assert first == second
    assert first.status == JobStatus.QUEUED  # the test transaction never commits
    assert AuditEvent.objects.filter(action="agreement_report.request").count() == 1


def test_a_request_runs_the_task_after_commit(seeded, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        report = agreement_report_request(project=seeded.project, actor=seeded.lead)
    report.refresh_from_db()
    assert report.status == JobStatus.DONE
    assert report.requested_by == seeded.lead


# --- automatic scheduling ----------------------------------------------------------------------


def submit_one(membership, rating: int = -1):
    assignment = assignment_claim_next(membership=membership)
    assert assignment is not None
    return assignment_submit(
        assignment_id=assignment.pk, annotator=membership.user, payload={"rating": rating}
    )


@pytest.fixture
def every_two(db):
    project = ProjectFactory(kinds=[kinds.PREFERENCE], agreement_every=2)
    ItemFactory.create_batch(4, project=project)
    return [MembershipFactory(project=project, role=Role.ANNOTATOR) for _ in range(2)]


def test_a_report_is_computed_after_every_n_annotations(
    every_two, django_capture_on_commit_callbacks
):
    first, second = every_two
    project = first.project
    with django_capture_on_commit_callbacks(execute=True):
        submit_one(first)
        assert not AgreementReport.objects.filter(project=project).exists()
        submit_one(second)
    [report] = AgreementReport.objects.filter(project=project)
    assert report.status == JobStatus.DONE  # tasks run in-process in the tests
    assert report.annotation_count == 2
    with django_capture_on_commit_callbacks(execute=True):
        submit_one(first)
    assert AgreementReport.objects.filter(project=project).count() == 1


def test_gold_annotations_do_not_count_towards_the_next_report(
    db, django_capture_on_commit_callbacks
):
    project = ProjectFactory(kinds=[kinds.PREFERENCE], agreement_every=1, gold_rate=1.0)
    ItemFactory(project=project, is_gold=True, gold={"rating": -1})
    membership = MembershipFactory(project=project)
    with django_capture_on_commit_callbacks(execute=True):
        submit_one(membership)
    assert not AgreementReport.objects.filter(project=project).exists()


def test_no_report_is_scheduled_when_agreement_every_is_zero(seeded):
    assert agreement_maybe_schedule(project=seeded.project) is None
    assert not AgreementReport.objects.filter(project=seeded.project).exists()


def test_no_report_is_scheduled_while_one_is_queued(seeded):
    seeded.project.agreement_every = 1
    queued = AgreementReport.objects.create(project=seeded.project)
    assert agreement_maybe_schedule(project=seeded.project) is None
    assert list(AgreementReport.objects.filter(project=seeded.project)) == [queued]


# --- rubric items: alpha per criterion at its level ------------------------------------------


def test_rubric_criteria_are_measured_at_their_levels(db):
    """Helpfulness (1-5): ordinal and interval alpha; the overall pass/fail: nominal; each
    over the two annotators' scores of four items, as the engine computes them from counts."""
    project = ProjectFactory(kinds=[kinds.RUBRIC], annotations_per_item=2, agreement_every=0)
    a, b = member(project, "a"), member(project, "b")
    pairs = [((4, True), (5, True)), ((2, False), (2, False))]
    pairs += [((5, True), (4, False)), ((1, True), (2, True))]
    for first, second in pairs:
        item = ItemFactory(project=project, kind=kinds.RUBRIC)
        for user, (value, passed) in zip((a, b), (first, second), strict=True):
            scores = {
                c["name"]: passed if c["scale"] == "pass_fail" else value
                for c in kinds.default_rubric()
            }
            annotate(item, user, {"scores": scores})
    fields = build(project).fields

    helpfulness = [[0, 0, 0, 1, 1], [0, 2, 0, 0, 0], [0, 0, 0, 1, 1], [1, 1, 0, 0, 0]]
    for level in ("ordinal", "interval"):
        expected = krippendorff_alpha(helpfulness, [1, 2, 3, 4, 5], level).alpha
        assert fields["rubric.helpfulness"][f"alpha_{level}"] == pytest.approx(expected)
    overall = [[0, 2], [2, 0], [1, 1], [0, 2]]
    assert fields["rubric.overall"]["alpha_nominal"] == pytest.approx(
        krippendorff_alpha(overall, [False, True]).alpha
    )
    assert "alpha_ordinal" not in fields["rubric.overall"]
    assert {f"rubric.{c['name']}" for c in kinds.default_rubric()} <= set(fields)
