"""The items browser: filters, search, keyset pages, and the item detail one click away."""

import pytest
from django.urls import reverse

from annotation.models import Item
from console import views as console_views
from tests.console.helpers import EVIL, approved_instruction, member, refusal
from tests.factories import ItemFactory, annotate, complete


def walrus(n: int) -> dict:
    return {"prompt": f"Tell me about walrus {n}.", "responses": [{"text": "a"}, {"text": "b"}]}


def items_url(project, **params):
    from urllib.parse import urlencode

    url = reverse("console:items", args=[project.pk])
    return f"{url}?{urlencode(params)}" if params else url


def listed(web, project, **params) -> list[str]:
    response = web.get(items_url(project, **params))
    assert response.status_code == 200, response.content.decode()
    return [row["item"].external_id for row in response.context["rows"]]


@pytest.fixture
def mixed(project):
    pair = [member(project), member(project)]
    items = {
        "pref-agreed": complete(
            ItemFactory(project=project, external_id="pref-agreed"),
            pair,
            [{"rating": -1}, {"rating": -2}],
        ),
        "pref-disputed": complete(
            ItemFactory(project=project, external_id="pref-disputed"),
            pair,
            [{"rating": -1}, {"rating": 2}],
        ),
        "pref-open": ItemFactory(
            project=project,
            external_id="pref-open",
            split="eval",
            data={"prompt": "Tell me about OTTERS", "responses": [{"text": "a"}, {"text": "b"}]},
        ),
        "gold": ItemFactory(project=project, external_id="gold", is_gold=True, gold={"rating": 1}),
        "refusal": refusal(project, "malware", 1, external_id="refusal"),
        "chat": ItemFactory(
            project=project,
            external_id="chat",
            kind="instruction",
            data={"messages": [{"role": "user", "content": "Say hello to the Otter"}]},
        ),
    }
    items["final-code"] = approved_instruction(project, pair, "code", 7)
    return items


def test_an_empty_project_shows_an_empty_state(project, web):
    html = web.get(items_url(project)).content.decode()

    assert 'data-testid="no-items"' in html
    assert reverse("console:upload", args=[project.pk]) in html


def test_items_are_listed_newest_first_with_links_to_their_detail(project, web, mixed):
    response = web.get(items_url(project))

    html = response.content.decode()
    ids = [row["item"].pk for row in response.context["rows"]]
    assert ids == sorted(ids, reverse=True)
    assert reverse("console:item", args=[project.pk, mixed["gold"].pk]) in html


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"kind": "refusal"}, {"refusal"}),
        ({"status": "in_review"}, {"pref-disputed"}),
        ({"split": "eval"}, {"pref-open"}),
        ({"agreement": "disputed"}, {"pref-disputed"}),
        ({"gold": "yes"}, {"gold"}),
        ({"category": "malware"}, {"refusal"}),
        ({"q": "otter"}, {"pref-open", "chat"}),
        ({"q": "gold"}, {"gold"}),
        ({"kind": "preference", "status": "open", "gold": "no"}, {"pref-open"}),
    ],
)
def test_filters_narrow_the_list(project, web, mixed, params, expected):
    assert set(listed(web, project, **params)) == expected


def test_the_category_filter_matches_the_final_category(project, web, mixed):
    assert mixed["final-code"].external_id in listed(web, project, category="code")


def test_the_duplicates_filter_lists_items_sharing_their_content(project, web, mixed):
    data = {"prompt": "Twice", "responses": [{"text": "a"}, {"text": "b"}]}
    ItemFactory(project=project, external_id="d1", data=data)
    ItemFactory(project=project, external_id="d2", data=data)

    assert set(listed(web, project, duplicates="true")) == {"d1", "d2"}


def test_the_search_is_answered_from_the_trigram_indexes(require_postgres, project):
    """The indexes of migration 0005 are on the exact expressions the search filters on, so
    the plan can read them instead of every item (a change in the SQL Django writes for the
    filter would break this). At 3,000 items reading the project's rows is still cheaper, so
    the plan is asked of the search alone (no project, no order) with scans turned off: the
    indexes must be usable for it (bench/dashboard.py shows them chosen at 100,000 items)."""
    from django.db import connection

    from console.forms import ItemBrowseFilter

    Item.objects.bulk_create(
        ItemFactory.build(project=project, external_id=f"bulk-{n}", data=walrus(n))
        for n in range(3_000)
    )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE annotation_item")
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL enable_indexscan = off")
    search = ItemBrowseFilter({"q": "walrus 1234"}, queryset=Item.objects.all())

    plan = search.qs.order_by().explain()

    assert "item_search_prompt" in plan
    assert "item_search_messages" in plan
    assert [item.external_id for item in search.qs] == ["bulk-1234"]


def test_an_invalid_filter_is_a_400_with_the_error(project, web):
    response = web.get(items_url(project, kind="bogus"))

    assert response.status_code == 400
    assert "kind" in response.content.decode()


def test_pages_follow_each_other_by_keyset(project, web, monkeypatch):
    monkeypatch.setattr(console_views, "PAGE_SIZE", 2)
    for n in range(5):
        ItemFactory(project=project, external_id=f"i{n}")

    first = web.get(items_url(project))
    second = web.get(first.context["next_url"].replace("?", items_url(project) + "?", 1))
    third = web.get(second.context["next_url"].replace("?", items_url(project) + "?", 1))

    pages = [[r["item"].external_id for r in p.context["rows"]] for p in (first, second, third)]
    assert pages == [["i4", "i3"], ["i2", "i1"], ["i0"]]
    assert third.context["next_url"] is None
    assert first.context["total"] == 5


def test_another_projects_items_are_never_listed(project, web):
    ItemFactory(external_id="elsewhere")

    assert listed(web, project) == []


def test_the_item_page_shows_data_annotations_with_identities_and_the_final_record(
    project, web, mixed
):
    item = mixed["final-code"]
    annotators = {a.annotator.username for a in item.annotations.all()}

    html = web.get(reverse("console:item", args=[project.pk, item.pk])).content.decode()

    assert "Task code 7" in html
    for username in annotators:
        assert username in html
    assert 'data-testid="final-record"' in html
    assert "&quot;category&quot;: &quot;code&quot;" in html


def test_the_item_page_shows_messages_and_gold(project, web, mixed):
    chat = web.get(reverse("console:item", args=[project.pk, mixed["chat"].pk])).content.decode()
    gold = web.get(reverse("console:item", args=[project.pk, mixed["gold"].pk])).content.decode()

    assert "Say hello to the Otter" in chat
    assert "Gold answer" in gold


def test_item_texts_are_escaped(project, web):
    item = ItemFactory(
        project=project,
        external_id=EVIL,
        data={"prompt": EVIL, "responses": [{"text": EVIL, "model": EVIL}, {"text": "b"}]},
        metadata={"note": EVIL},
    )
    annotate(item, member(project, username="m" + EVIL), {"rating": 1, "rationale": EVIL})

    listing = web.get(items_url(project)).content.decode()
    detail = web.get(reverse("console:item", args=[project.pk, item.pk])).content.decode()

    for html in (listing, detail):
        assert "<script>alert(1)" not in html
        assert "<img src=x" not in html
    assert Item.objects.filter(project=project).count() == 1


def test_a_stalled_item_lists_who_skipped_it_and_why(project, web, lead):
    from annotation.queue import assignment_claim_next, assignment_skip

    item = ItemFactory(project=project, external_id="stuck-1")
    ItemFactory(project=project, external_id="fine-1")
    skipper = member(project, username="skipper-" + EVIL[:8])
    for user, reason, note, flag in (
        (lead, "needs_expertise", "", False),
        (skipper, "broken_item", "Second response cut off.", True),
    ):
        assignment = assignment_claim_next(membership=project.memberships.get(user=user))
        assert assignment.item_id == item.pk
        assignment_skip(
            assignment_id=assignment.pk, annotator=user, reason=reason, note=note, flag=flag
        )

    html = web.get(items_url(project, status="stalled")).content.decode()

    assert listed(web, project, status="stalled") == ["stuck-1"]
    assert html.count('data-testid="row-skips"') == 1
    assert f"skipped by {lead.username}: Needs expertise I do not have</li>" in html
    assert "The item is broken ⚑" in html and 'title="Second response cut off."' in html
    assert "skipper-&lt;script" in html and "skipper-<script" not in html
