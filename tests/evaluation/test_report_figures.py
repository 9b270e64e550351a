"""What an evaluation report says beyond the main flow: one model only, its filters, the
consistency within groups, the reliability warning, criteria whose scale changed between
rubric versions, reproducibility, and the JSON and CSV downloads with their provenance."""

import csv
import io
import json

import pytest
from django.test import Client

from annotation import kinds
from annotation.models import Role
from annotation.services import project_update
from evaluation.models import EvaluationReport
from evaluation.reader import Filters
from evaluation.selectors import evaluation_report_csv
from evaluation.services import evaluation_compute, evaluation_report_build
from tests.factories import ItemFactory, MembershipFactory, ProjectFactory, complete

pytestmark = pytest.mark.django_db


@pytest.fixture
def project():
    return ProjectFactory(
        kinds=[kinds.RUBRIC, kinds.PREFERENCE],
        annotations_per_item=2,
        review_sample_rate=0,
        agreement_every=0,
    )


@pytest.fixture
def annotators(project):
    return [MembershipFactory(project=project, role=Role.ANNOTATOR).user for _ in range(2)]


def scores(value: int, passed: bool = True, **other: int) -> dict:
    """A payload for the default rubric: every 1-5 criterion `value` unless named in `other`."""
    out = {
        c["name"]: passed if c["scale"] == "pass_fail" else other.get(c["name"], value)
        for c in kinds.default_rubric()
    }
    return {"scores": out}


def scored(project, annotators, model, payloads, *, group=None, tags=(), **item):
    """An approved rubric item of `model`, annotated with `payloads` (one per annotator, or
    one for both)."""
    data = {"prompt": "Say something.", "response": {"text": f"An answer by {model}."}}
    data["response"]["model"] = model
    if group:
        data["group"] = group
    if tags:
        data["tags"] = list(tags)
    created = ItemFactory(project=project, kind=kinds.RUBRIC, data=data, **item)
    if isinstance(payloads, dict):
        payloads = [payloads, payloads]
    done = complete(created, annotators, payloads)
    assert done.status == "approved", done.status
    return done


def compute(project, **filters):
    return evaluation_compute(project=project, filters=Filters(**filters), resamples=200)


def test_a_report_over_one_model_is_a_clear_empty_state(project, annotators):
    scored(project, annotators, "only-model", scores(4))
    result = compute(project)
    assert result["empty"] == "Only one model so far: a ranking needs two or more."
    assert [m["model"] for m in result["models"]] == ["only-model"]
    assert result["bradley_terry"] == [] and result["bradley_terry_note"]


def test_the_page_shows_the_one_model_empty_state(project, annotators):
    scored(project, annotators, "only-model", scores(4))
    lead = MembershipFactory(project=project, role=Role.LEAD).user
    report = EvaluationReport.objects.create(project=project, filters=Filters().as_dict())
    evaluation_report_build(report_id=report.pk)
    client = Client()
    client.force_login(lead)
    page = client.get(f"/projects/{project.pk}/evaluation/")
    html = page.content.decode()
    assert page.status_code == 200
    assert 'data-testid="empty"' in html and "Only one model so far" in html


def test_filters_restrict_the_report_to_a_split_a_tag_and_a_category(project, annotators):
    scored(project, annotators, "m-a", scores(5), tags=["adversarial"], split="eval")
    scored(project, annotators, "m-b", scores(2), tags=["general"], split="train")
    scored(project, annotators, "m-b", scores(3), split="eval", metadata={"category": "legal"})

    def models(**filters):
        return {m["model"]: m["n"] for m in compute(project, **filters)["models"]}

    assert models() == {"m-a": 1, "m-b": 2}
    assert models(split="eval") == {"m-a": 1, "m-b": 1}
    assert models(split="train") == {"m-b": 1}
    assert models(tag="adversarial") == {"m-a": 1}
    assert models(category="legal") == {"m-b": 1}
    assert models(tag="nowhere") == {}


def test_a_tag_filter_leaves_comparisons_out(project, annotators):
    """A comparison carries no tags: a report for one tag ranks nothing from preferences."""
    scored(project, annotators, "m-a", scores(5), tags=["adversarial"])
    item = ItemFactory(project=project, kind=kinds.PREFERENCE)  # models m-a and m-b
    complete(item, annotators, [{"rating": -2}, {"rating": -2}])
    assert compute(project)["comparisons"] == 1
    assert compute(project, tag="adversarial")["comparisons"] == 0


def test_a_model_whose_pass_fail_changes_within_a_group_is_listed_with_the_group(
    project, annotators
):
    for passed in (True, False):  # m-a passes one rephrasing of case-1 and fails the other
        scored(project, annotators, "m-a", scores(4, passed), group="case-1")
    scored(project, annotators, "m-a", scores(4), group="case-2")
    scored(project, annotators, "m-a", scores(2, helpfulness=5), group="case-2")
    for _ in range(2):
        scored(project, annotators, "m-b", scores(3), group="case-1")
    result = compute(project)

    rows = {(r["model"], r["group"]): r for r in result["consistency"]}
    assert rows[("m-a", "case-1")]["pass_fail_changed"] is True
    assert rows[("m-a", "case-2")]["pass_fail_changed"] is False
    assert rows[("m-a", "case-2")]["spread"]["correctness"] == 2.0
    assert rows[("m-a", "case-2")]["spread"]["helpfulness"] == 1.0
    assert rows[("m-b", "case-1")]["max_spread"] == 0.0
    summary = {s["model"]: s for s in result["consistency_summary"]}
    assert summary["m-a"]["changed_groups"] == ["case-1"] and summary["m-a"]["groups"] == 2
    assert summary["m-b"]["changed"] == 0
    # the changed group is listed first
    assert (result["consistency"][0]["model"], result["consistency"][0]["group"]) == (
        "m-a",
        "case-1",
    )


def test_a_criterion_annotators_do_not_agree_on_is_flagged_below_0_667(project, annotators):
    """Helpfulness: the two annotators always one point apart, in turn up and down (each
    item still agrees: within one point), so alpha is far below 0.667. Correctness: equal
    scores that vary across items, alpha 1."""
    for n in range(8):
        low, high = (3, 4) if n % 2 else (4, 3)
        value = 1 + n % 5
        scored(
            project,
            annotators,
            "m-a" if n % 2 else "m-b",
            [
                scores(value, helpfulness=low),
                scores(value, helpfulness=high),
            ],
        )
    result = compute(project)
    assert result["reliability"]["correctness"] == pytest.approx(1.0)
    assert result["reliability"]["helpfulness"] < 0.667
    assert result["reliability_detail"]["helpfulness"]["warning"] is True
    assert result["reliability_detail"]["correctness"]["warning"] is False
    warnings = [w for w in result["warnings"] if "below 0.667" in w]
    assert len(warnings) == 1 and warnings[0].startswith("helpfulness:")


def test_a_criterion_whose_scale_changed_is_reported_per_version(project, annotators):
    """`helpfulness` is 1-5 in version 1 and pass/fail in version 2: two columns, each saying
    its version, each from its own annotations; `correctness` kept its scale: one column."""
    scored(project, annotators, "m-a", scores(5))
    scored(project, annotators, "m-b", scores(2))
    changed = [
        {**c, "scale": "pass_fail"} if c["name"] == "helpfulness" else c
        for c in kinds.default_rubric()
    ]
    project_update(project=project, actor=None, changes={"rubric": changed})
    project.refresh_from_db()
    assert project.rubric_version == 2
    scored(project, annotators, "m-a", scores(4, helpfulness=True))
    result = compute(project)

    keys = {c["key"]: c["versions"] for c in result["criteria"]}
    assert keys["helpfulness (v1)"] == [1] and keys["helpfulness (v2)"] == [2]
    assert keys["correctness"] == [1, 2]
    models = {m["model"]: m["criteria"] for m in result["models"]}
    assert models["m-a"]["helpfulness (v1)"]["mean"] == 5.0
    assert models["m-a"]["helpfulness (v1)"]["n"] == 1
    assert models["m-a"]["helpfulness (v2)"]["mean"] == 1.0  # a pass rate: one of one passed
    assert models["m-a"]["correctness"]["n"] == 2
    assert models["m-b"]["helpfulness (v2)"]["n"] == 0
    assert {"helpfulness (v1)", "helpfulness (v2)"} <= set(result["reliability"])
    assert [(v["version"], v["items"], v["current"]) for v in result["rubric_versions"]] == [
        (1, 2, False),
        (2, 1, True),
    ]
    table = evaluation_report_csv(EvaluationReport(result=result, code_version="c"))
    row = next(csv.DictReader(io.StringIO(table)))
    assert row["correctness_versions"] == "1 2"
    assert (row["helpfulness (v1)_versions"], row["helpfulness (v2)_versions"]) == ("1", "2")


def test_the_same_data_gives_the_same_report_and_new_data_a_new_sha256(project, annotators):
    for n in range(6):
        scored(project, annotators, "m-a" if n % 2 else "m-b", scores(1 + n % 5, n % 3 > 0))
    first, again = compute(project), compute(project)
    assert first == again
    assert first["seed"] and first["models"][0]["criteria"]["helpfulness"]["low"] is not None
    scored(project, annotators, "m-a", scores(5))
    assert compute(project)["data_sha256"] != first["data_sha256"]


def test_the_downloads_carry_the_code_version_and_the_data_sha256(project, annotators):
    scored(project, annotators, "m-a", scores(5))
    scored(project, annotators, "m-b", scores(2, passed=False))
    reviewer = MembershipFactory(project=project, role=Role.REVIEWER).user
    report = EvaluationReport.objects.create(project=project, filters=Filters().as_dict())
    report = evaluation_report_build(report_id=report.pk)
    client = Client()
    client.force_login(reviewer)
    url = f"/projects/{project.pk}/evaluation/{report.pk}/download/"

    body = json.loads(client.get(url).content)
    assert body["data_sha256"] == report.data_sha256 and len(body["data_sha256"]) == 64
    assert body["code_version"] == report.code_version and body["code_version"]
    assert [m["model"] for m in body["models"]] == ["m-a", "m-b"]

    response = client.get(url + "?format=csv")
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert {r["data_sha256"] for r in rows} == {report.data_sha256}
    assert {r["code_version"] for r in rows} == {report.code_version}
    assert {r["rubric_versions"] for r in rows} == {"1"}
    assert {r["helpfulness_versions"] for r in rows} == {"1"}
    assert [(r["model"], r["pass_rate"]) for r in rows] == [("m-a", "1.0"), ("m-b", "0.0")]

    stranger = Client()
    stranger.force_login(MembershipFactory(role=Role.LEAD).user)  # of another project
    assert stranger.get(url).status_code == 404


def test_a_tag_with_url_characters_survives_the_redirect_and_the_polling(project):
    lead = MembershipFactory(project=project, role=Role.LEAD).user
    client = Client()
    client.force_login(lead)
    response = client.post(f"/projects/{project.pk}/evaluation/compute/", {"tag": "q&a #1"})
    assert response.status_code == 302
    assert response["Location"].endswith("?split=all&tag=q%26a+%231")
    assert EvaluationReport.objects.get().filters["tag"] == "q&a #1"
    html = client.get(response["Location"]).content.decode()  # queued: the panel polls
    assert "evaluation/panel/?split=all&amp;tag=q%26a+%231" in html


def test_an_annotation_changed_after_the_rubric_changed_counts_under_the_new_version(
    project, annotators
):
    """The first annotator scores under version 1, the lead changes the rubric, the annotator
    changes the annotation (validated against version 2, so made under it) and the second
    scores under version 2: the item's scores are version 2's."""
    from annotation.queue import annotation_update
    from tests.factories import annotate

    item = ItemFactory(project=project, kind=kinds.RUBRIC)
    first = annotate(item, annotators[0], scores(4))
    assert first.rubric_version == 1
    depth = [{"name": "depth", "description": "", "scale": {"min": 1, "max": 3}}]
    project_update(project=project, actor=None, changes={"rubric": depth})
    changed = annotation_update(
        annotation_id=first.pk, annotator=annotators[0], payload={"scores": {"depth": 2}}
    )
    assert changed.rubric_version == 2
    changed.refresh_from_db()
    assert changed.rubric_version == 2
    annotate(item, annotators[1], {"scores": {"depth": 3}})
    item.refresh_from_db()
    assert item.status == "approved"
    result = compute(project)
    [row] = result["models"]
    assert row["criteria"]["depth"]["n"] == 1
    assert [(v["version"], v["items"]) for v in result["rubric_versions"]] == [(1, 0), (2, 1)]


def test_model_names_tags_and_groups_render_inert_on_the_page(project, annotators):
    evil = "<script>alert(1)</script><img src=x onerror=alert(1)>"
    for model in (evil, "plain"):
        for passed in (True, False):
            scored(project, annotators, model, scores(4, passed), group=evil, tags=[evil[:60]])
    item = ItemFactory(
        project=project,
        kind=kinds.PREFERENCE,
        data={
            "prompt": "p",
            "responses": [{"text": "a", "model": evil}, {"text": "b", "model": "plain"}],
        },
    )
    complete(item, annotators, [{"rating": -2}, {"rating": -2}])
    lead = MembershipFactory(project=project, role=Role.LEAD).user
    report = EvaluationReport.objects.create(project=project, filters=Filters().as_dict())
    evaluation_report_build(report_id=report.pk)
    client = Client()
    client.force_login(lead)
    html = client.get(f"/projects/{project.pk}/evaluation/").content.decode()
    assert 'data-testid="ranking"' in html and 'data-testid="consistency"' in html
    assert "<script>alert(1)" not in html and "<img src=x" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
