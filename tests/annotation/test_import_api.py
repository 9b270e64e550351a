import json

import pytest
from django.test import override_settings

from annotation.models import Item
from core.models import AuditEvent
from tests.factories import UserFactory, item_row


def url(project):
    return f"/api/v1/projects/{project.pk}/items/"


@pytest.fixture
def client(lead, make_api):
    return make_api(lead)


def push(client, project, body, content_type="application/json"):
    if not isinstance(body, bytes | str):
        body = json.dumps(body)
    return client.generic("POST", url(project), body, content_type=content_type)


def test_import_creates_items_from_a_json_array(client, project):
    rows = [item_row("preference", n) for n in range(3)] + [item_row("refusal", 1)]
    response = push(client, project, rows)
    assert response.status_code == 201
    assert response.json() == {
        "created": 4,
        "updated": 0,
        "unchanged": 0,
        "duplicates": [],
        "near_duplicates": [],
        "personal_data": {},
    }
    assert Item.objects.filter(project=project).count() == 4


def test_import_accepts_an_items_object_and_ndjson(client, project):
    assert push(client, project, {"items": [item_row("instruction", 1)]}).status_code == 201
    ndjson = "\n".join(json.dumps(item_row("refusal", n)) for n in range(2)) + "\n\n"
    response = push(client, project, ndjson, "application/x-ndjson")
    assert response.status_code == 201
    assert response.json()["created"] == 2


def test_identical_repush_counts_as_unchanged(client, project):
    rows = [item_row("preference", n) for n in range(5)]
    push(client, project, rows)
    response = push(client, project, rows)
    assert response.status_code == 200
    assert response.json() == {
        "created": 0,
        "updated": 0,
        "unchanged": 5,
        "duplicates": [],
        "near_duplicates": [],
        "personal_data": {},
    }


def test_a_push_that_creates_one_item_answers_201_and_an_update_alone_200(client, project):
    push(client, project, [item_row("refusal", 1)])
    changed = item_row("refusal", 1, priority=0.5)
    assert push(client, project, [changed]).status_code == 200
    assert push(client, project, [changed, item_row("refusal", 2)]).status_code == 201


@pytest.mark.parametrize("content_type", ["application/json", "application/x-www-form-urlencoded"])
@pytest.mark.parametrize("separator", ["\n", ""])  # "": curl -d drops the newlines
def test_ndjson_sent_with_another_content_type_names_the_one_to_use(
    client, project, content_type, separator
):
    ndjson = separator.join(json.dumps(item_row("refusal", n)) for n in range(3))
    response = push(client, project, ndjson, content_type)
    assert response.status_code == 400
    detail = response.json()["detail"]
    assert content_type in detail
    assert "application/x-ndjson" in detail
    assert not Item.objects.filter(project=project).exists()


def test_malformed_json_that_is_not_ndjson_keeps_the_json_message(client, project):
    response = push(client, project, '[{"external_id": "a",')
    assert response.status_code == 400
    assert response.json()["detail"].startswith("Malformed JSON")


def test_changed_data_updates_an_item_without_annotations(client, project):
    push(client, project, [item_row("refusal", 1)])
    changed = item_row("refusal", 1)
    changed["data"]["prompt"] = "A different prompt"
    response = push(client, project, [changed])
    assert response.json()["updated"] == 1
    assert Item.objects.get(project=project).data["prompt"] == "A different prompt"


def test_changed_data_of_an_annotated_item_is_an_error_and_nothing_is_written(
    client, project, annotator
):
    push(client, project, [item_row("refusal", 1)])
    item = Item.objects.get(project=project)
    Item.objects.filter(pk=item.pk).update(submitted_count=1)
    changed = item_row("refusal", 1)
    changed["data"]["prompt"] = "Edited after annotation"
    response = push(client, project, [item_row("refusal", 2), changed])
    assert response.status_code == 400
    assert response.json()["errors"][0]["index"] == 1
    assert response.json()["errors"][0]["field"] == "data"
    assert Item.objects.filter(project=project).count() == 1
    assert Item.objects.get(project=project).data["prompt"] != "Edited after annotation"


def test_priority_of_an_annotated_item_can_still_change(client, project):
    push(client, project, [item_row("refusal", 1)])
    Item.objects.filter(project=project).update(submitted_count=1)
    response = push(client, project, [item_row("refusal", 1, priority=0.9)])
    assert response.json()["updated"] == 1
    assert Item.objects.get(project=project).priority == 0.9


def test_one_invalid_item_rejects_the_whole_request_listing_every_error(client, project):
    rows = [
        item_row("preference", 0),
        {"external_id": "bad-1", "kind": "preference", "data": {"prompt": "p", "responses": []}},
        item_row("instruction", 2),
        {"external_id": "bad-3", "kind": "nonsense", "data": {}},
    ]
    response = push(client, project, rows)
    assert response.status_code == 400
    errors = response.json()["errors"]
    assert [(e["index"], e["external_id"], e["field"]) for e in errors] == [
        (1, "bad-1", "data.responses"),
        (3, "bad-3", "kind"),
    ]
    assert all(e["message"] for e in errors)
    assert not Item.objects.filter(project=project).exists()


def test_the_same_external_id_twice_names_both_indexes(client, project):
    response = push(
        client, project, [item_row("refusal", 1), item_row("refusal", 2), item_row("refusal", 1)]
    )
    assert response.status_code == 400
    (error,) = response.json()["errors"]
    assert error["index"] == 2 and error["field"] == "external_id"
    assert "index 0" in error["message"]


def test_malformed_json_names_the_line(client, project):
    response = push(client, project, '[\n{"external_id": "a",\n "kind": }\n]')
    assert response.status_code == 400
    assert "line 3" in response.json()["detail"]


def test_malformed_ndjson_names_the_line(client, project):
    body = json.dumps(item_row("refusal", 1)) + "\n" + '{"external_id": "x", "kind"\n'
    response = push(client, project, body, "application/x-ndjson")
    assert response.status_code == 400
    assert "line 2" in response.json()["detail"]
    assert not Item.objects.exists()


def test_a_non_array_body_is_a_clear_400(client, project):
    response = push(client, project, {"external_id": "x"})
    assert response.status_code == 400
    assert "array" in response.json()["detail"]


@override_settings(RUBRIC_IMPORT_MAX_ITEMS=3)
def test_too_many_items_is_413_saying_the_limits(client, project):
    response = push(client, project, [item_row("refusal", n) for n in range(4)])
    assert response.status_code == 413
    assert "at most 3 items" in response.json()["detail"]
    assert not Item.objects.exists()


def test_more_than_ten_thousand_items_is_413(client, project):
    rows = [{"external_id": str(n)} for n in range(10_001)]
    response = push(client, project, rows)
    assert response.status_code == 413
    assert "10,000 items and 50 MB" in response.json()["detail"]


@override_settings(RUBRIC_IMPORT_MAX_BYTES=1000)
def test_too_large_a_body_is_413(client, project):
    rows = [item_row("refusal", n) for n in range(20)]
    response = push(client, project, rows)
    assert response.status_code == 413
    assert "bytes" in response.json()["detail"]


def test_exact_duplicate_prompts_are_reported_not_dropped(client, project):
    first = item_row("refusal", 1)
    push(client, project, [first])
    again = {**item_row("refusal", 1), "external_id": "copy-in-db"}
    within_a = {**item_row("instruction", 7), "external_id": "twin-a"}
    within_b = {**item_row("instruction", 7), "external_id": "twin-b"}
    response = push(client, project, [again, within_a, within_b])
    assert response.status_code == 201
    assert response.json()["created"] == 3
    assert response.json()["duplicates"] == [
        {
            "index": 0,
            "external_id": "copy-in-db",
            "duplicate_of": "refusal-1",
            "duplicate_index": None,
        },
        {"index": 2, "external_id": "twin-b", "duplicate_of": "twin-a", "duplicate_index": 1},
    ]


def test_text_is_stored_byte_exact(client, project):
    hebrew = "\u05e9\u05dc\u05d5\u05dd"
    flag = "\U0001f3f3\ufe0f\u200d\U0001f308"
    text = f"Family: 👨\u200d👩\u200d👧 \u200f{hebrew}\u200e e\u0301 {flag} \\u0000"
    row = {"external_id": "uni-\u200d", "kind": "instruction", "data": {"prompt": text}}
    assert push(client, project, [row]).status_code == 201
    item = Item.objects.get(project=project)
    assert item.data["prompt"].encode("utf-8") == text.encode("utf-8")
    assert item.external_id == "uni-\u200d"
    detail = client.get(f"/api/v1/items/{item.pk}/")
    assert detail.json()["data"]["prompt"] == text


def test_eval_fraction_derives_the_split_and_an_explicit_split_wins(client, project):
    project.eval_fraction = 0.5
    project.save()
    rows = [item_row("refusal", n) for n in range(40)] + [item_row("instruction", 1, split="eval")]
    push(client, project, rows)
    splits = dict(Item.objects.values_list("external_id", "split"))
    assert set(splits.values()) == {"train", "eval"}
    assert splits["instruction-1"] == "eval"


def test_gold_items_store_their_answer(client, project):
    row = item_row("preference", 1, gold={"rating": -2})
    assert push(client, project, [row]).status_code == 201
    item = Item.objects.get(project=project)
    assert item.is_gold and item.gold == {"rating": -2}


def test_import_writes_one_audit_event(client, project, lead):
    push(client, project, [item_row("refusal", n) for n in range(3)])
    event = AuditEvent.objects.get(action="items.import")
    assert event.actor == lead and event.project_id == project.pk
    assert event.after["created"] == 3


def test_kind_not_accepted_by_the_project_is_rejected(client, project):
    project.kinds = ["preference"]
    project.save()
    response = push(client, project, [item_row("refusal", 1)])
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "kind"


def test_active_lease_also_blocks_a_data_change(client, project, annotator):
    push(client, project, [item_row("refusal", 1)])
    Item.objects.filter(project=project).update(active_count=1)
    changed = item_row("refusal", 1)
    changed["data"]["prompt"] = "changed"
    assert push(client, project, [changed]).status_code == 400


def test_non_lead_member_cannot_import(project, annotator, reviewer, make_api):
    for user in (annotator, reviewer):
        response = push(make_api(user), project, [item_row("refusal", 1)])
        assert response.status_code == 403
    assert not Item.objects.exists()


def test_outsider_gets_404_on_import(project, make_api):
    response = push(make_api(UserFactory()), project, [item_row("refusal", 1)])
    assert response.status_code == 404
