from annotation.models import ItemStatus
from tests.factories import ItemFactory, MembershipFactory, annotate


def test_item_list_filters_and_paginates_with_a_cursor(project, annotator, make_api):
    for n in range(5):
        ItemFactory(project=project, kind="preference", external_id=f"p{n}")
    ItemFactory(project=project, kind="refusal", external_id="r0", split="eval")
    client = make_api(annotator)
    url = f"/api/v1/projects/{project.pk}/items/"
    first = client.get(url, {"kind": "preference", "page_size": 2}).json()
    assert [i["external_id"] for i in first["results"]] == ["p0", "p1"]
    second = client.get(first["next"]).json()
    assert [i["external_id"] for i in second["results"]] == ["p2", "p3"]
    assert [i["external_id"] for i in client.get(url, {"split": "eval"}).json()["results"]] == [
        "r0"
    ]


def test_an_unknown_filter_value_is_a_400(project, annotator, make_api):
    response = make_api(annotator).get(f"/api/v1/projects/{project.pk}/items/", {"status": "bogus"})
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "status"


def test_gold_items_are_not_listed_to_annotators(project, annotator, lead, make_api):
    ItemFactory(project=project, is_gold=True, gold={"rating": 2}, external_id="gold")
    ItemFactory(project=project, external_id="plain")
    url = f"/api/v1/projects/{project.pk}/items/"
    assert [i["external_id"] for i in make_api(annotator).get(url).json()["results"]] == ["plain"]
    assert len(make_api(lead).get(url).json()["results"]) == 2


def test_item_detail_shows_identities_to_reviewers_only(project, annotator, reviewer, make_api):
    item = ItemFactory(project=project, status=ItemStatus.IN_REVIEW)
    other = MembershipFactory(project=project).user
    annotate(item, other, {"rating": 2})
    annotate(item, annotator, {"rating": -1})
    as_reviewer = make_api(reviewer).get(f"/api/v1/items/{item.pk}/").json()
    assert {a["annotator"] for a in as_reviewer["annotations"]} == {
        other.username,
        annotator.username,
    }
    as_annotator = make_api(annotator).get(f"/api/v1/items/{item.pk}/").json()
    assert [a["annotator"] for a in as_annotator["annotations"]] == [None, None]
    assert [a["mine"] for a in as_annotator["annotations"]] == [False, True]
    assert "gold" not in as_annotator


def test_annotators_do_not_see_others_annotations_while_the_item_is_open(
    project, annotator, make_api
):
    item = ItemFactory(project=project)
    annotate(item, MembershipFactory(project=project).user, {"rating": 3})
    body = make_api(annotator).get(f"/api/v1/items/{item.pk}/").json()
    assert body["annotations"] == []
