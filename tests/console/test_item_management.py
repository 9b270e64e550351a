"""Item management (issue 17, section 2): edit one item (data only while unannotated: 409
otherwise), drop and restore, priority, split, metadata; the same over a filtered selection in
one transaction, with the count confirmed and one audit event per item; no items: a message."""

from django.urls import reverse

from annotation.models import Item, ItemStatus
from core.models import AuditEvent
from tests.console.helpers import member
from tests.factories import ItemFactory, annotate, complete, rubric_data


def item_url(item) -> str:
    return f"/api/v1/items/{item.pk}/"


def bulk_url(project) -> str:
    return f"/api/v1/projects/{project.pk}/items/bulk/"


def pref(prompt: str) -> dict:
    return {"prompt": prompt, "responses": [{"text": "a"}, {"text": "b"}]}


def audit(action: str) -> int:
    return AuditEvent.objects.filter(action=action).count()


# --- one item, through the API --------------------------------------------------------------------


def test_a_lead_edits_the_data_of_an_unannotated_item(project, lead, make_api):
    item = ItemFactory(project=project, data=pref("Old"))
    response = make_api(lead).patch(
        item_url(item), {"data": pref("New"), "priority": 2.5}, format="json"
    )
    assert response.status_code == 200, response.json()
    item.refresh_from_db()
    assert item.data["prompt"] == "New" and item.priority == 2.5
    event = AuditEvent.objects.get(action="item.edit")
    assert event.before["data"]["prompt"] == "Old" and event.after["data"]["prompt"] == "New"


def test_editing_the_data_of_an_annotated_item_is_a_409_and_changes_nothing(
    project, lead, make_api
):
    item = ItemFactory(project=project, data=pref("Old"))
    annotate(item, member(project), {"rating": 1})
    response = make_api(lead).patch(
        item_url(item), {"data": pref("New"), "priority": 9}, format="json"
    )
    assert response.status_code == 409
    assert "annotations" in response.json()["detail"]
    item.refresh_from_db()
    assert item.data["prompt"] == "Old" and item.priority != 9
    assert audit("item.edit") == 0


def test_priority_split_and_metadata_change_on_an_annotated_item(project, lead, make_api):
    item = ItemFactory(project=project, split="train")
    annotate(item, member(project), {"rating": 1})
    response = make_api(lead).patch(
        item_url(item), {"priority": 1, "split": "eval", "metadata": {"batch": 7}}, format="json"
    )
    assert response.status_code == 200
    item.refresh_from_db()
    assert (item.priority, item.split, item.metadata) == (1.0, "eval", {"batch": 7})


def test_invalid_edits_are_a_400_naming_the_field(project, lead, make_api):
    item = ItemFactory(project=project)
    api = make_api(lead)
    for body, field in [
        ({"data": {"prompt": "x", "responses": [{"text": "same"}, {"text": "same"}]}}, "data"),
        ({"split": "test"}, "split"),
        ({"priority": "high"}, "priority"),
        ({"kind": "refusal"}, "kind"),
    ]:
        response = api.patch(item_url(item), body, format="json")
        assert response.status_code == 400, body
        assert any(field in e["field"] for e in response.json()["errors"]), response.json()


def test_only_leads_edit_and_drop(project, reviewer, make_api, user):
    item = ItemFactory(project=project)
    assert (
        make_api(reviewer).patch(item_url(item), {"priority": 3}, format="json").status_code == 403
    )
    assert make_api(reviewer).post(f"{item_url(item)}drop/", {}, format="json").status_code == 403
    assert make_api(user).patch(item_url(item), {"priority": 3}, format="json").status_code == 404


def test_drop_and_restore_through_the_api(project, lead, make_api):
    item = ItemFactory(project=project)
    api = make_api(lead)
    dropped = api.post(f"{item_url(item)}drop/", {"note": "off-topic"}, format="json")
    assert dropped.status_code == 200 and dropped.json()["status"] == "dropped"
    assert api.post(f"{item_url(item)}drop/", {}, format="json").status_code == 409
    restored = api.post(f"{item_url(item)}requeue/", format="json")
    assert restored.status_code == 200 and restored.json()["status"] == "open"


# --- many items, through the API ------------------------------------------------------------------


def test_a_bulk_action_wants_the_count_then_changes_each_item_with_an_audit_event(
    project, lead, make_api
):
    chosen = [ItemFactory(project=project, data=pref(f"walrus {n}")) for n in range(3)]
    ItemFactory(project=project, data=pref("otter"))
    api = make_api(lead)
    body = {"action": "priority", "value": 5, "filters": {"q": "walrus"}}

    unconfirmed = api.post(bulk_url(project), body, format="json")
    assert unconfirmed.status_code == 409
    assert unconfirmed.json()["count"] == 3 and "3 items" in unconfirmed.json()["detail"]
    assert audit("item.edit") == 0

    done = api.post(bulk_url(project), {**body, "confirm_count": 3}, format="json")
    assert done.status_code == 200
    assert done.json() == {
        "action": "priority",
        "count": 3,
        "changed": 3,
        "message": "Set priority: 3 of 3 items changed.",
    }
    assert {i.priority for i in Item.objects.filter(pk__in=[c.pk for c in chosen])} == {5.0}
    assert Item.objects.get(data__prompt="otter").priority == 0
    assert set(
        AuditEvent.objects.filter(action="item.edit").values_list("object_id", flat=True)
    ) == {str(c.pk) for c in chosen}


def test_a_bulk_action_on_no_items_is_a_message_and_nothing_else(project, lead, make_api):
    ItemFactory(project=project)
    api = make_api(lead)
    before = AuditEvent.objects.count()
    response = api.post(
        bulk_url(project), {"action": "drop", "filters": {"q": "nothing like this"}}, format="json"
    )
    assert response.status_code == 200
    assert response.json()["count"] == 0 and "nothing was done" in response.json()["message"]
    assert AuditEvent.objects.count() == before


def test_a_bulk_action_that_does_not_fit_one_item_changes_none(project, lead, make_api):
    pair = [member(project), member(project)]
    open_items = [ItemFactory(project=project) for _ in range(2)]
    approved = complete(ItemFactory(project=project), pair, [{"rating": -1}, {"rating": -2}])
    assert approved.status in (ItemStatus.APPROVED, ItemStatus.IN_REVIEW)
    response = make_api(lead).post(
        bulk_url(project), {"action": "drop", "confirm_count": 3}, format="json"
    )
    assert response.status_code == 409
    body = response.json()
    assert [e["id"] for e in body["errors"]] == [approved.pk]
    assert not Item.objects.filter(status=ItemStatus.DROPPED).exists()
    assert audit("item.drop") == 0
    assert all(Item.objects.get(pk=i.pk).status == ItemStatus.OPEN for i in open_items)


def test_bulk_drop_restore_split_and_metadata(project, lead, make_api):
    items = [ItemFactory(project=project, metadata={"keep": 1, "old": 2}) for _ in range(2)]
    api = make_api(lead)

    def bulk(action, value=None, **filters):
        body = {"action": action, "value": value, "filters": filters, "confirm_count": 2}
        response = api.post(bulk_url(project), body, format="json")
        assert response.status_code == 200, response.json()
        return response.json()

    assert bulk("drop")["changed"] == 2
    assert bulk("restore", status="dropped")["changed"] == 2
    assert bulk("split", "eval")["changed"] == 2
    assert bulk("metadata", {"batch": "b7", "old": None})["changed"] == 2
    for item in items:
        item.refresh_from_db()
        assert item.status == ItemStatus.OPEN and item.split == "eval"
        assert item.metadata == {"keep": 1, "batch": "b7"}
    assert audit("item.drop") == 2 and audit("item.requeue") == 2
    bad = api.post(
        bulk_url(project),
        {"action": "split", "value": "test", "confirm_count": 2},
        format="json",
    )
    assert bad.status_code == 400 and bad.json()["errors"][0]["field"] == "value"


def test_bulk_reopen_sends_decided_items_back_to_review(project, lead, make_api):
    project.review_sample_rate = 0
    project.save()
    pair = [member(project), member(project)]
    decided = [
        complete(ItemFactory(project=project), pair, [{"rating": -1}, {"rating": -2}])
        for _ in range(2)
    ]
    assert {i.status for i in decided} == {ItemStatus.APPROVED}
    response = make_api(lead).post(
        bulk_url(project),
        {"action": "reopen", "filters": {"status": "approved"}, "confirm_count": 2},
        format="json",
    )
    assert response.status_code == 200
    assert set(Item.objects.values_list("status", flat=True)) == {ItemStatus.IN_REVIEW}
    assert audit("item.reopen") == 2


def test_bulk_needs_a_lead_and_valid_filters(project, lead, reviewer, make_api):
    body = {"action": "drop", "confirm_count": 0}
    assert make_api(reviewer).post(bulk_url(project), body, format="json").status_code == 403
    bad = make_api(lead).post(
        bulk_url(project), {"action": "drop", "filters": {"gold": "maybe"}}, format="json"
    )
    assert bad.status_code == 400 and bad.json()["errors"][0]["field"] == "gold"


# --- the pages ------------------------------------------------------------------------------------


def test_the_item_page_saves_an_edit(project, web):
    item = ItemFactory(project=project, data=pref("Before"))
    page = web.get(reverse("console:item", args=[project.pk, item.pk])).content.decode()
    assert 'data-testid="item-edit"' in page and "Before" in page
    response = web.post(
        reverse("console:item-edit", args=[project.pk, item.pk]),
        {
            "data": '{"prompt": "After", "responses": [{"text": "a"}, {"text": "b"}]}',
            "metadata": '{"source": "fix"}',
            "priority": "3",
            "split": "eval",
        },
    )
    assert response.status_code == 302
    item.refresh_from_db()
    assert (item.data["prompt"], item.metadata, item.priority, item.split) == (
        "After",
        {"source": "fix"},
        3.0,
        "eval",
    )


def test_the_item_page_says_why_annotated_data_cannot_change_and_keeps_the_text(project, web):
    item = ItemFactory(project=project, data=pref("Before"))
    annotate(item, member(project), {"rating": 1})
    page = web.get(reverse("console:item", args=[project.pk, item.pk])).content.decode()
    assert 'data-testid="data-locked"' in page
    typed = '{"prompt": "My careful rewrite", "responses": [{"text": "a"}, {"text": "b"}]}'
    response = web.post(
        reverse("console:item-edit", args=[project.pk, item.pk]),
        {"data": typed, "metadata": "{}", "priority": "0", "split": "train"},
    )
    html = response.content.decode()
    assert response.status_code == 409
    assert "can no longer change" in html and "My careful rewrite" in html
    item.refresh_from_db()
    assert item.data["prompt"] == "Before"


def test_the_browser_confirms_the_count_then_applies(project, web):
    for n in range(4):
        ItemFactory(project=project, data=pref(f"walrus {n}"), split="train")
    ItemFactory(project=project, data=pref("otter"), split="train")
    listing = web.get(reverse("console:items", args=[project.pk]) + "?q=walrus").content.decode()
    assert 'data-testid="bulk-form"' in listing
    assert '<input type="hidden" name="q" value="walrus">' in listing

    url = reverse("console:items-bulk", args=[project.pk])
    form = {"q": "walrus", "action": "split", "value": "eval"}
    confirm = web.post(url, form)
    html = confirm.content.decode()
    assert confirm.status_code == 200
    assert "Set split: 4 items." in html
    assert Item.objects.filter(split="eval").count() == 0

    applied = web.post(url, {**form, "confirm_count": "4"})
    assert applied.status_code == 302 and "q=walrus" in applied["Location"]
    assert Item.objects.filter(split="eval").count() == 4
    followed = web.get(applied["Location"]).content.decode()
    assert "4 of 4 items changed" in followed


def test_the_browser_bulk_on_no_items_says_so(project, web):
    ItemFactory(project=project)
    url = reverse("console:items-bulk", args=[project.pk])
    response = web.post(url, {"q": "no such thing", "action": "drop"}, follow=True)
    assert "No item matches the selection: nothing was done." in response.content.decode()
    assert not Item.objects.filter(status=ItemStatus.DROPPED).exists()


def test_the_browser_shows_a_conflict_and_changes_nothing(project, web):
    pair = [member(project), member(project)]
    ItemFactory(project=project)
    complete(ItemFactory(project=project), pair, [{"rating": -1}, {"rating": -2}])
    url = reverse("console:items-bulk", args=[project.pk])
    response = web.post(url, {"action": "drop", "confirm_count": "2"}, follow=True)
    assert "do not allow this, so nothing was changed" in response.content.decode()
    assert not Item.objects.filter(status=ItemStatus.DROPPED).exists()


def test_others_cannot_use_the_bulk_page(project, reviewer):
    from django.test import Client

    client = Client()
    client.force_login(reviewer)
    ItemFactory(project=project)
    url = reverse("console:items-bulk", args=[project.pk])
    assert client.post(url, {"action": "drop", "confirm_count": "1"}).status_code == 403
    assert not Item.objects.filter(status=ItemStatus.DROPPED).exists()


def test_the_item_page_shows_what_the_kind_adds_to_the_prompt(project, web):
    """The kind says which of its data fields the page shows (a rubric's response and
    reference, which the page once left out)."""
    data = rubric_data(1)
    data["response"]["text"] = "An answer <b>to</b> score."
    item = ItemFactory(project=project, kind="rubric", data=data)
    page = web.get(reverse("console:item", args=[project.pk, item.pk])).content.decode()
    assert '<div class="text" data-testid="response">An answer &lt;b&gt;to&lt;/b&gt; score.' in page
    assert f'data-testid="reference">{data["reference"]}</div>' in page


def test_the_item_page_shows_a_preferences_responses_in_import_order_with_their_models(
    project, web
):
    item = ItemFactory(project=project)  # preference_data: m-a's response, then m-b's
    page = web.get(reverse("console:item", args=[project.pk, item.pk])).content.decode()
    page = page[page.index('id="data-title"') :]  # the data as shown, not the edit form's JSON
    first, second = item.data["responses"]
    assert page.index("Response A") < page.index(first["text"]) < page.index("Response B")
    assert page.index("Response B") < page.index(second["text"])
    assert "(m-a)" in page and "(m-b)" in page
