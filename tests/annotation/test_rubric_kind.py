"""The rubric kind: its data, payloads, agreement rule, review rows, form and settings."""

import pytest
from django.http import QueryDict

from annotation import kinds, project_settings
from annotation.kinds import Vocabulary, validate_item_data, validate_payload
from tests.factories import rubric_data, rubric_scores

V = Vocabulary()
KIND = kinds.kind_get(kinds.RUBRIC)


def fields(errors):
    return {e["field"] for e in errors}


def test_a_rubric_item_needs_a_response_with_its_model():
    data = rubric_data()
    del data["response"]["model"]
    assert fields(validate_item_data(kinds.RUBRIC, data, V)) == {"data.response.model"}


def test_rubric_tags_must_be_a_list_of_unique_names():
    data = {**rubric_data(), "tags": ["a", "a"]}
    assert fields(validate_item_data(kinds.RUBRIC, data, V)) == {"data.tags"}


def test_every_criterion_is_required_and_named():
    payload = rubric_scores(4)
    del payload["scores"]["correctness"]
    errors = validate_payload(kinds.RUBRIC, payload, V)
    assert fields(errors) == {"scores.correctness"}
    assert "correctness" in errors[0]["message"]


@pytest.mark.parametrize(
    ("criterion", "value"),
    [("helpfulness", 6), ("helpfulness", 0), ("helpfulness", True), ("overall", 1)],
)
def test_a_value_outside_the_scale_names_the_criterion(criterion, value):
    payload = rubric_scores(3)
    payload["scores"][criterion] = value
    errors = validate_payload(kinds.RUBRIC, payload, V)
    assert fields(errors) == {f"scores.{criterion}"}
    assert criterion in errors[0]["message"]


def test_an_unknown_criterion_is_rejected():
    payload = rubric_scores(3)
    payload["scores"]["style"] = 3
    assert fields(validate_payload(kinds.RUBRIC, payload, V)) == {"scores.style"}


def test_a_gold_answer_may_fix_some_criteria_only():
    assert validate_payload(kinds.RUBRIC, {"scores": {"overall": True}}, V, gold=True) == []


@pytest.mark.parametrize(
    ("rubric", "fragment"),
    [
        ([], "non-empty"),
        ([{"name": "a", "scale": "pass_fail"}, {"name": "a", "scale": "pass_fail"}], "duplicate"),
        ([{"name": "depth", "scale": {"min": 5, "max": 5}}], "'depth': scale min (5)"),
        ([{"name": "depth", "scale": {"min": 1}}], "'depth'"),
    ],
)
def test_a_bad_rubric_setting_is_named(rubric, fragment):
    assert fragment in project_settings.check("rubric", rubric)


def test_agreement_when_scores_lie_within_a_point_and_pass_fail_is_unanimous():
    assert KIND.agrees([rubric_scores(4), rubric_scores(5)])
    assert not KIND.agrees([rubric_scores(3), rubric_scores(5)])
    assert not KIND.agrees([rubric_scores(4), rubric_scores(4, passed=False)])


def test_disputed_fields_and_review_rows_name_the_criteria():
    one, two = rubric_scores(2), rubric_scores(2, passed=False)
    two["scores"]["helpfulness"] = 5
    disputed = KIND.disputed_fields([one, two])
    assert disputed == ["scores.helpfulness", "scores.overall"]
    rows = {r.name: r for r in KIND.review_rows(two, disputed)}
    assert rows["scores.helpfulness"].differs and rows["scores.helpfulness"].value == "5"
    assert rows["scores.overall"].value == "Fail" and not rows["scores.correctness"].differs


def test_the_form_sends_scores_keyed_by_criterion_and_pass_fail_as_booleans():
    class Project:
        rubric = kinds.default_rubric()
        criteria = ()

    post = QueryDict(mutable=True)
    post.update({"scores.helpfulness": "4", "scores.overall": "fail", "flags": "terse, terse"})
    values = KIND.form_values(post, Project())
    payload, errors = KIND.payload_from_form({**values, "rationale": " "}, "")
    assert errors == []
    assert payload == {"scores": {"helpfulness": 4, "overall": False}, "flags": ["terse"]}


def test_the_review_edit_form_gives_a_final():
    class Project:
        rubric = kinds.default_rubric()

    post = {f"final_scores.{c['name']}": "3" for c in Project.rubric}
    post["final_scores.overall"] = "pass"
    final = KIND.final_from_form(post, Project())
    assert validate_payload(kinds.RUBRIC, final, V) == []
    assert final["scores"]["overall"] is True


def test_blind_data_hides_the_model():
    assert KIND.blind(rubric_data())["response"] == {"text": rubric_data()["response"]["text"]}


def test_agreement_fields_measure_each_criterion_at_its_level():
    found = {f.key: f.metrics for f in KIND.agreement_fields(V, {})}
    assert found["rubric.helpfulness"] == ("ordinal", "interval")
    assert found["rubric.overall"] == ("nominal",)


def test_gold_scores_within_a_point_match():
    gold = {"scores": {"helpfulness": 4, "overall": True}}
    assert KIND.gold_matches(gold, rubric_scores(5))
    assert not KIND.gold_matches(gold, rubric_scores(2))
