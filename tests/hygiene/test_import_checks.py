"""Near-duplicate groups and personal data flags kept at import, shown in the items browser,
and recomputed by manage.py hygiene_scan."""

import json

import pytest
from django.core.management import call_command
from django.urls import reverse

from annotation import kinds
from annotation.importing import item_import
from annotation.models import Item
from hygiene.models import ItemCheck, PromptBand
from hygiene.neardup import BANDS

POEM = "Write a short poem about the sea at night in the voice of an old lighthouse keeper"
POEM_EDIT = "Write a short poem about the sea at night, in the voice of an old lighthouse keeper!"
POEM_EDIT_2 = "write a short poem about the sea at night in the voice of a old lighthouse keeper"
RECIPE = "Give me a recipe for a vegan chocolate cake without nuts or soy"


def row(external_id, prompt, **extra):
    return {
        "external_id": external_id,
        "kind": kinds.INSTRUCTION,
        "data": {"prompt": prompt},
        **extra,
    }


def push(make_api, lead, project, rows):
    response = make_api(lead).post(f"/api/v1/projects/{project.pk}/items/", rows, format="json")
    assert response.status_code in (200, 201), response.content
    return response.json()


def group_of(project, external_id):
    return ItemCheck.objects.get(item__project=project, item__external_id=external_id).near_group


def test_an_import_groups_near_duplicate_prompts_and_reports_the_groups(make_api, lead, project):
    body = push(make_api, lead, project, [row("a", POEM), row("b", RECIPE), row("c", POEM_EDIT)])

    a = Item.objects.get(project=project, external_id="a")
    assert body["near_duplicates"] == [{"group": a.pk, "size": 2, "external_ids": ["a", "c"]}]
    assert group_of(project, "a") == group_of(project, "c") == a.pk
    assert group_of(project, "b") is None
    assert PromptBand.objects.filter(item=a).count() == BANDS


def test_a_later_import_joins_the_group_of_stored_items(make_api, lead, project):
    push(make_api, lead, project, [row("a", POEM), row("b", RECIPE)])
    body = push(make_api, lead, project, [row("c", POEM_EDIT)])
    a = Item.objects.get(project=project, external_id="a")
    assert body["near_duplicates"] == [{"group": a.pk, "size": 2, "external_ids": ["a", "c"]}]

    body = push(make_api, lead, project, [row("d", POEM_EDIT_2), row("e", "Hello there")])
    assert body["near_duplicates"][0]["size"] == 3
    assert {group_of(project, x) for x in "acd"} == {a.pk}


def test_two_groups_bridged_by_a_new_item_merge_under_the_first_name(lead, project):
    first = "alpha beta gamma delta epsilon zeta eta theta iota kappa"
    second = "alpha beta gamma delta epsilon zeta eta theta lambda mu"
    bridge = "alpha beta gamma delta epsilon zeta eta theta iota mu"
    project.near_duplicate_threshold = 0.8
    project.save()
    item_import(project=project, rows=[row("x", first), row("y", second)], actor=lead)
    assert group_of(project, "x") is None  # 8/12 = 0.67 apart
    item_import(project=project, rows=[row("z", bridge)], actor=lead)
    x = Item.objects.get(project=project, external_id="x")
    assert {group_of(project, n) for n in "xyz"} == {x.pk}


def test_the_project_threshold_decides(lead, project):
    a = "please list five healthy breakfast ideas for a family with two children"
    b = "please list five quick breakfast ideas for a family with two kids"  # 0.71
    item_import(project=project, rows=[row("a", a), row("b", b)], actor=lead)
    assert group_of(project, "b") is None
    project.near_duplicate_threshold = 0.7
    project.save()
    call_command("hygiene_scan", project=project.pk, stdout=open("/dev/null", "w"))  # noqa: SIM115
    assert group_of(project, "a") == group_of(project, "b") is not None


def test_an_import_reports_and_flags_personal_data(make_api, lead, project):
    body = push(
        make_api,
        lead,
        project,
        [
            row("mail", "Reply to jane@example.com about the invoice"),
            row("card", "My card is 4111 1111 1111 1111, is it safe?"),
            row("fake", "Is 4111 1111 1111 1112 a valid card number?"),
            row("clean", "Explain recursion"),
        ],
    )
    assert body["personal_data"] == {"CARD": 1, "EMAIL": 1}
    flagged = ItemCheck.objects.filter(item__project=project, has_personal_data=True)
    assert sorted(flagged.values_list("item__external_id", flat=True)) == ["card", "mail"]


def test_the_items_api_filters_by_near_duplicates_group_and_personal_data(make_api, lead, project):
    push(
        make_api,
        lead,
        project,
        [row("a", POEM), row("b", RECIPE), row("c", POEM_EDIT), row("m", "mail x@example.com")],
    )
    api = make_api(lead)
    url = f"/api/v1/projects/{project.pk}/items/"

    def ids(query):
        response = api.get(url + query)
        assert response.status_code == 200, response.content
        return sorted(i["external_id"] for i in response.json()["results"])

    group = group_of(project, "a")
    assert ids("?near_duplicates=true") == ["a", "c"]
    assert ids("?near_duplicates=false") == ["b", "m"]
    assert ids(f"?near_group={group}") == ["a", "c"]
    assert ids("?personal_data=true") == ["m"]
    assert ids("?personal_data=false") == ["a", "b", "c"]
    # The spellings every boolean filter takes; another value is a 400 naming the filter.
    for yes, no in (("yes", "no"), ("1", "0"), ("True", "FALSE")):
        assert ids(f"?near_duplicates={yes}") == ["a", "c"]
        assert ids(f"?near_duplicates={no}") == ["b", "m"]
        assert ids(f"?personal_data={yes}") == ["m"]
        assert ids(f"?personal_data={no}") == ["a", "b", "c"]
    for name in ("near_duplicates", "personal_data"):
        response = api.get(url, {name: "maybe"})
        assert response.status_code == 400
        assert response.json()["errors"] == [{"field": name, "message": "Use true or false."}]


def test_the_items_browser_shows_groups_and_personal_data_and_filters(
    client, make_api, lead, project
):
    push(make_api, lead, project, [row("a", POEM), row("b", RECIPE), row("c", POEM_EDIT)])
    push(make_api, lead, project, [row("m", "call me on +1 212-555-0198 <b>now</b>")])
    client.force_login(lead)
    url = reverse("console:items", args=[project.pk])

    page = client.get(url).content.decode()
    group = group_of(project, "a")
    assert page.count(f'href="?near_group={group}"') == 2
    assert 'data-testid="personal-data"' in page and "PHONE" in page

    only = client.get(url, {"personal_data": "true"}).content.decode()
    assert ">m</a>" in only and ">a</a>" not in only
    grouped = client.get(url, {"near_group": group}).content.decode()
    assert ">a</a>" in grouped and ">c</a>" in grouped and ">b</a>" not in grouped
    assert 'data-testid="near-group-shown"' in grouped


def test_hygiene_scan_recomputes_a_project_from_scratch(lead, project):
    item_import(project=project, rows=[row("a", POEM), row("c", POEM_EDIT)], actor=lead)
    ItemCheck.objects.filter(item__project=project).delete()
    PromptBand.objects.filter(project=project).delete()

    call_command("hygiene_scan", project=project.pk, stdout=open("/dev/null", "w"))  # noqa: SIM115

    a = Item.objects.get(project=project, external_id="a")
    assert group_of(project, "a") == group_of(project, "c") == a.pk
    assert PromptBand.objects.filter(project=project).count() == 2 * BANDS


@pytest.mark.parametrize("field", ["near_duplicate_threshold"])
def test_the_threshold_is_a_project_setting_with_a_range(make_api, lead, project, field):
    api = make_api(lead)
    assert (
        api.patch(f"/api/v1/projects/{project.pk}/", {field: 0.5}, format="json").status_code == 400
    )
    response = api.patch(f"/api/v1/projects/{project.pk}/", {field: 0.9}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()[field] == 0.9


def test_the_upload_page_reports_near_duplicate_groups_and_personal_data(client, lead, project):
    from django.core.files.uploadedfile import SimpleUploadedFile

    rows = [row("a", POEM), row("c", POEM_EDIT), row("m", "write to <b>x@example.com</b>")]
    body = "\n".join(json.dumps(r) for r in rows).encode()
    client.force_login(lead)
    response = client.post(
        reverse("console:upload", args=[project.pk]),
        {"file": SimpleUploadedFile("items.jsonl", body)},
    )
    html = response.content.decode()
    assert response.status_code == 200
    group = group_of(project, "a")
    assert 'data-testid="near-duplicates"' in html
    assert f"?near_group={group}" in html and "a, c" in html
    assert "EMAIL 1" in html and "?personal_data=true" in html
    assert "<b>x@" not in html  # never rendered, and escaped wherever text is shown


def test_a_template_many_prompts_follow_costs_one_check_per_new_prompt(lead, project, monkeypatch):
    """Prompts made from one template ("Request 17: how should ...") share their band keys:
    an import checks each new prompt against the run's first and last stored prompts, as
    neardup.group pairs a long run, not against every stored prompt holding the key (that
    was quadratic: the soak's second import of 10,000 such prompts never answered)."""
    from hygiene import neardup

    template = "Request {}: how should a careful assistant answer this?"  # 8/10 = 0.8 apart
    stored = 120
    item_import(
        project=project, rows=[row(f"s{i}", template.format(i)) for i in range(stored)], actor=lead
    )
    checked = []
    jaccard = neardup.jaccard
    monkeypatch.setattr(neardup, "jaccard", lambda a, b: checked.append(1) or jaccard(a, b))
    new = 60
    rows = [row(f"n{i}", template.format(stored + i)) for i in range(new)]
    item_import(project=project, rows=rows, actor=lead)

    groups = set(ItemCheck.objects.filter(project=project).values_list("near_group", flat=True))
    first = Item.objects.get(project=project, external_id="s0")
    assert groups == {first.pk}
    # Per band at most a star and a chain among the new ones, and one star and one chain
    # pair to the stored ones: under 4 checks a new prompt, where every pair would be 120.
    assert len(checked) < 4 * new * neardup.BANDS / 2, len(checked)


def test_an_edited_prompt_is_checked_again_as_at_import(lead, project):
    """A lead's edit of an item's data regroups it and scans it for personal data."""
    from annotation.item_edit import item_update

    item_import(project=project, rows=[row("a", POEM), row("b", RECIPE)], actor=lead)
    b = Item.objects.get(project=project, external_id="b")
    assert group_of(project, "b") is None

    item_update(project=project, item_id=b.pk, actor=lead, changes={"data": {"prompt": POEM_EDIT}})
    a = Item.objects.get(project=project, external_id="a")
    assert group_of(project, "a") == group_of(project, "b") == a.pk
    assert PromptBand.objects.filter(item=b).count() == BANDS

    changes = {"data": {"prompt": f"{RECIPE}; write to jane.doe@example.com"}}
    item_update(project=project, item_id=b.pk, actor=lead, changes=changes)
    check = ItemCheck.objects.get(item=b)
    assert (check.has_personal_data, check.personal_data) == (True, ["EMAIL"])
    assert check.near_group is None  # no longer the poem's near-duplicate
