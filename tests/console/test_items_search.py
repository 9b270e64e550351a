"""Section 6 of issue 17: the search covers the prompt, the responses and an external_id
prefix, answered from indexes on PostgreSQL; every boolean filter reads true/false and the old
spellings."""

import pytest
from django.db import connection

from annotation.filters import ItemFilter
from annotation.models import Item, Role
from tests.console.test_items_browser import listed, walrus
from tests.factories import ItemFactory, MembershipFactory, lease


def items_api(project):
    return f"/api/v1/projects/{project.pk}/items/"


def ids(response) -> set[str]:
    assert response.status_code == 200, response.json()
    return {row["external_id"] for row in response.json()["results"]}


@pytest.fixture
def texts(project):
    ItemFactory(
        project=project,
        external_id="batch7-pref",
        data={
            "prompt": "Pick one",
            "responses": [
                {"text": "The narwhal tusk is a tooth", "model": "whalebot"},
                {"text": "Elephants never forget", "model": "m2"},
            ],
        },
    )
    ItemFactory(
        project=project,
        external_id="batch7-refusal",
        kind="refusal",
        data={"prompt": "Help me", "model_response": "I cannot assist with LOCKPICKING."},
    )
    ItemFactory(
        project=project,
        external_id="batch8-rubric",
        kind="rubric",
        data={"prompt": "Explain", "response": {"text": "Photosynthesis uses light", "model": "m"}},
    )
    ItemFactory(
        project=project,
        external_id="batch8-draft",
        kind="instruction",
        data={"prompt": "Write", "draft": "A sonnet about marmalade"},
    )
    ItemFactory(project=project, external_id="other", data=walrus(1))


@pytest.mark.parametrize(
    ("term", "expected"),
    [
        ("narwhal", {"batch7-pref"}),
        ("ELEPHANTS never", {"batch7-pref"}),
        ("lockpicking", {"batch7-refusal"}),
        ("photosynth", {"batch8-rubric"}),
        ("marmalade", {"batch8-draft"}),
        ("walrus", {"other"}),  # the prompt, as before
        ("batch7", {"batch7-pref", "batch7-refusal"}),  # external_id prefix
        ("batch8-d", {"batch8-draft"}),
        ("7-pref", set()),  # not a prefix
        ("whalebot", set()),  # model names are never searched
    ],
)
def test_the_search_reads_prompts_responses_and_external_id_prefixes(
    project, lead, make_api, web, texts, term, expected
):
    assert ids(make_api(lead).get(items_api(project), {"q": term})) == expected
    assert set(listed(web, project, q=term)) == expected


def test_a_prefix_with_like_wildcards_matches_them_literally(project, lead, make_api):
    ItemFactory(project=project, external_id="a_b-1")
    ItemFactory(project=project, external_id="axb-1")
    assert ids(make_api(lead).get(items_api(project), {"q": "a_b"})) == {"a_b-1"}
    assert ids(make_api(lead).get(items_api(project), {"q": "%"})) == set()


def test_an_annotators_search_does_not_match_external_ids(project, make_api, texts):
    annotator = MembershipFactory(project=project, role=Role.ANNOTATOR).user
    lease(Item.objects.get(external_id="batch7-pref"), annotator)
    api = make_api(annotator)
    rows = api.get(items_api(project), {"q": "narwhal"}).json()["results"]
    assert len(rows) == 1
    assert api.get(items_api(project), {"q": "batch7"}).json()["results"] == []


@pytest.fixture
def flags(project):
    ItemFactory(project=project, external_id="gold", is_gold=True, gold={"rating": 1})
    Item.objects.filter(pk=ItemFactory(project=project, external_id="dup").pk).update(
        has_duplicate=True
    )
    ItemFactory(project=project, external_id="plain")


@pytest.mark.parametrize(
    ("name", "on", "off"),
    [
        ("gold", {"gold"}, {"dup", "plain"}),
        ("duplicates", {"dup"}, {"gold", "plain"}),
    ],
)
@pytest.mark.parametrize(
    ("yes", "no"), [("true", "false"), ("yes", "no"), ("True", "FALSE"), ("1", "0")]
)
def test_boolean_filters_read_true_false_and_the_old_spellings(
    project, lead, make_api, web, flags, name, on, off, yes, no
):
    api = make_api(lead)
    assert ids(api.get(items_api(project), {name: yes})) == on
    assert ids(api.get(items_api(project), {name: no})) == off
    assert ids(api.get(items_api(project), {name: ""})) == on | off
    assert set(listed(web, project, **{name: yes})) == on
    assert set(listed(web, project, **{name: no})) == off


@pytest.mark.parametrize("name", ["gold", "duplicates", "flagged"])
def test_a_boolean_filter_with_another_value_is_a_400_naming_it(project, lead, make_api, name):
    response = make_api(lead).get(items_api(project), {name: "maybe"})
    assert response.status_code == 400
    assert response.json()["errors"] == [{"field": name, "message": "Use true or false."}]


@pytest.mark.parametrize("yes", ["true", "yes", "1"])
def test_the_browser_shows_a_boolean_filter_set_whatever_its_spelling(project, web, yes):
    query = f"gold={yes}&duplicates={yes}&flagged={yes}&near_duplicates={yes}&personal_data={yes}"
    html = web.get(f"/projects/{project.pk}/items/?{query}").content.decode()
    assert '<option value="true" selected>Gold items only</option>' in html
    for name in ("duplicates", "flagged", "near_duplicates", "personal_data"):
        assert f'name="{name}" value="true" checked' in html, name
    html = web.get(f"/projects/{project.pk}/items/?gold=no&duplicates=no").content.decode()
    assert '<option value="false" selected>No gold items</option>' in html
    assert 'name="duplicates" value="true" checked' not in html


def test_the_browser_offers_true_and_false_for_gold(project, web):
    html = web.get(f"/projects/{project.pk}/items/?gold=true").content.decode()
    assert '<option value="true" selected>Gold items only</option>' in html
    assert '<option value="false">No gold items</option>' in html


def test_every_part_of_the_search_reads_an_index(require_postgres, project):
    """The plan of a search, with sequential scans and plain index scans turned off (at a few
    thousand rows reading the table is cheaper), uses the four indexes: the prompt, the
    messages, the responses (a change of a kind's response paths without a migration would
    fail here) and the external_id prefix."""
    Item.objects.bulk_create(
        ItemFactory.build(project=project, external_id=f"bulk-{n}", data=walrus(n))
        for n in range(3_000)
    )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE annotation_item")
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL enable_indexscan = off")
    search = ItemFilter({"q": "bulk-1234"}, queryset=Item.objects.all())

    plan = search.qs.order_by().explain()

    for index in (
        "item_search_prompt",
        "item_search_messages",
        "item_search_responses",
        "item_external_id_prefix",
    ):
        assert index in plan, plan
    assert "Seq Scan" not in plan
    assert [item.external_id for item in search.qs] == ["bulk-1234"]
