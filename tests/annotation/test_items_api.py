"""What each role may read of items through the API: leads everything, reviewers blind and
without gold, annotators only their own items, blind and alike whether gold or not."""

from annotation.models import ItemStatus
from annotation.queue import assignment_claim_next
from tests.factories import ItemFactory, MembershipFactory, annotate


def test_item_list_filters_and_paginates_with_a_cursor(project, lead, make_api):
    for n in range(5):
        ItemFactory(project=project, kind="preference", external_id=f"p{n}")
    ItemFactory(project=project, kind="refusal", external_id="r0", split="eval")
    client = make_api(lead)
    url = f"/api/v1/projects/{project.pk}/items/"
    first = client.get(url, {"kind": "preference", "page_size": 2}).json()
    assert [i["external_id"] for i in first["results"]] == ["p0", "p1"]
    second = client.get(first["next"]).json()
    assert [i["external_id"] for i in second["results"]] == ["p2", "p3"]
    assert [i["external_id"] for i in client.get(url, {"split": "eval"}).json()["results"]] == [
        "r0"
    ]


def test_an_unknown_filter_value_is_a_400(project, reviewer, make_api):
    response = make_api(reviewer).get(f"/api/v1/projects/{project.pk}/items/", {"status": "bogus"})
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "status"


def _claim(project, user):
    membership = project.memberships.get(user=user)
    return assignment_claim_next(membership=membership)


def test_an_annotator_lists_only_the_items_they_were_assigned_gold_included(
    project, annotator, lead, make_api
):
    project.gold_rate = 1.0
    project.save()
    gold = ItemFactory(project=project, is_gold=True, gold={"rating": 2}, external_id="gold")
    ItemFactory(project=project, external_id="never-served")
    assert _claim(project, annotator).item_id == gold.pk
    url = f"/api/v1/projects/{project.pk}/items/"
    listed = make_api(annotator).get(url).json()["results"]
    assert [i["id"] for i in listed] == [gold.pk]
    assert len(make_api(lead).get(url).json()["results"]) == 2


def test_an_annotators_view_of_a_gold_item_looks_like_any_other(project, annotator, make_api):
    project.gold_rate = 0.5
    project.save()
    ItemFactory(project=project, is_gold=True, gold={"rating": 2}, external_id="g")
    ItemFactory(project=project, external_id="plain")
    client = make_api(annotator)
    bodies = []
    for _ in range(2):
        assignment = _claim(project, annotator)
        while_active = client.get(f"/api/v1/items/{assignment.item_id}/").json()
        assert while_active["annotation"] is None
        assert while_active["assignment"]["status"] == "active"
        submitted = client.post(
            f"/api/v1/assignments/{assignment.pk}/submit/", {"payload": {"rating": 1}}, "json"
        )
        assert submitted.status_code == 201
        bodies.append(client.get(f"/api/v1/items/{assignment.item_id}/").json())
    assert {b["id"] for b in bodies} == set(project.items.values_list("pk", flat=True))
    assert set(bodies[0]) == set(bodies[1])
    for body in bodies:
        assert not {"is_gold", "gold", "status", "external_id", "split", "metadata"} & set(body)
        assert body["annotation"]["payload"] == {"rating": 1}
    listed = client.get(f"/api/v1/projects/{project.pk}/items/").json()["results"]
    assert set(listed[0]) == set(listed[1])


def test_an_annotator_never_sees_model_names(project, annotator, make_api):
    ItemFactory(project=project)
    assignment = _claim(project, annotator)
    client = make_api(annotator)
    detail = client.get(f"/api/v1/items/{assignment.item_id}/").json()
    listed = client.get(f"/api/v1/projects/{project.pk}/items/").json()["results"][0]
    for data in (detail["data"], listed["data"]):
        assert data["responses"] == [{"text": r["text"]} for r in assignment.item.data["responses"]]


def test_an_item_an_annotator_was_not_assigned_is_a_404(project, annotator, make_api):
    item = ItemFactory(project=project)
    gold = ItemFactory(project=project, is_gold=True, gold={"rating": 2})
    client = make_api(annotator)
    assert client.get(f"/api/v1/items/{item.pk}/").status_code == 404
    assert client.get(f"/api/v1/items/{gold.pk}/").status_code == 404


def test_an_annotator_sees_only_their_own_annotation_even_after_completion(
    project, annotator, make_api
):
    item = ItemFactory(project=project, status=ItemStatus.APPROVED)
    annotate(item, MembershipFactory(project=project).user, {"rating": 3})
    annotate(item, annotator, {"rating": 2})
    body = make_api(annotator).get(f"/api/v1/items/{item.pk}/").json()
    assert body["annotation"]["payload"] == {"rating": 2}
    assert "annotations" not in body


def test_annotators_filter_only_by_kind_and_text(project, annotator, make_api):
    ItemFactory(project=project)
    assignment = _claim(project, annotator)
    client = make_api(annotator)
    url = f"/api/v1/projects/{project.pk}/items/"
    # Filters that would tell gold apart (status, gold, agreement, ...) do not apply.
    assert len(client.get(url, {"gold": "yes"}).json()["results"]) == 1
    assert len(client.get(url, {"status": "approved"}).json()["results"]) == 1
    assert client.get(url, {"kind": "refusal"}).json()["results"] == []
    word = assignment.item.data["prompt"].split()[0]
    assert len(client.get(url, {"q": word}).json()["results"]) == 1


def test_a_reviewer_reads_items_blind(project, reviewer, make_api):
    item = ItemFactory(project=project, status=ItemStatus.IN_REVIEW, metadata={"model": "m-a"})
    first, second = (MembershipFactory(project=project).user for _ in range(2))
    annotate(item, first, {"rating": 2})
    annotate(item, second, {"rating": -1})
    client = make_api(reviewer)
    body = client.get(f"/api/v1/items/{item.pk}/").json()
    assert [a["annotator"] for a in body["annotations"]] == [None, None]
    assert [a["label"] for a in body["annotations"]] == ["Annotation 1", "Annotation 2"]
    assert all("model" not in r for r in body["data"]["responses"])
    assert body["metadata"] is None
    assert "gold" not in body and "is_gold" not in body
    listed = client.get(f"/api/v1/projects/{project.pk}/items/").json()["results"][0]
    assert all("model" not in r for r in listed["data"]["responses"])
    assert listed["metadata"] is None


def test_a_reviewer_never_sees_gold_items(project, reviewer, make_api):
    gold = ItemFactory(project=project, is_gold=True, gold={"rating": 2})
    ItemFactory(project=project)
    client = make_api(reviewer)
    assert client.get(f"/api/v1/items/{gold.pk}/").status_code == 404
    listed = client.get(f"/api/v1/projects/{project.pk}/items/", {"gold": "yes"}).json()
    assert listed["results"] == []


def test_a_lead_sees_names_models_metadata_and_gold(project, lead, make_api):
    item = ItemFactory(project=project, status=ItemStatus.IN_REVIEW, metadata={"src": "x"})
    other = MembershipFactory(project=project).user
    annotate(item, other, {"rating": 2})
    body = make_api(lead).get(f"/api/v1/items/{item.pk}/").json()
    assert [a["annotator"] for a in body["annotations"]] == [other.username]
    assert body["data"]["responses"][0]["model"] == "m-a"
    assert body["metadata"] == {"src": "x"}
    assert body["is_gold"] is False


def test_gold_items_are_served_only_to_annotators(project, reviewer, lead):
    project.gold_rate = 1.0
    project.save()
    ItemFactory(project=project, is_gold=True, gold={"rating": 2})
    plain = ItemFactory(project=project)
    assert _claim(project, reviewer).item_id == plain.pk
    assert _claim(project, lead).item_id == plain.pk
