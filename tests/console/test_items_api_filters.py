"""The items API takes the browser's filters (search, category, agreement, gold, duplicates):
both use annotation.filters.ItemFilter."""

from tests.console.helpers import member, refusal
from tests.factories import ItemFactory, complete


def external_ids(response) -> set[str]:
    assert response.status_code == 200, response.json()
    return {row["external_id"] for row in response.json()["results"]}


def test_the_items_api_searches_prompts_and_filters_like_the_browser(project, lead, make_api):
    pair = [member(project), member(project)]
    ItemFactory(
        project=project,
        external_id="otters",
        data={"prompt": "All about OTTERS", "responses": [{"text": "a"}, {"text": "b"}]},
    )
    complete(
        ItemFactory(project=project, external_id="split"), pair, [{"rating": -1}, {"rating": 1}]
    )
    refusal(project, "malware", 1, external_id="risky")
    ItemFactory(project=project, external_id="gold", is_gold=True, gold={"rating": 1})
    api = make_api(lead)
    url = f"/api/v1/projects/{project.pk}/items/"

    assert external_ids(api.get(url, {"q": "otter"})) == {"otters"}
    assert external_ids(api.get(url, {"agreement": "disputed"})) == {"split"}
    assert external_ids(api.get(url, {"category": "malware"})) == {"risky"}
    assert external_ids(api.get(url, {"gold": "yes"})) == {"gold"}
