"""Uploads through the browser (JSON, JSONL, CSV) and CSV through the items API."""

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from annotation import kinds, parsing
from annotation.models import Item
from core.errors import ApplicationError, PayloadTooLarge
from tests.factories import item_row

CSV = (
    "external_id,kind,prompt,category,response_a,response_b,model_a,harm_category,priority,"
    "metadata,gold,response,model,reference,group,tags\n"
    'i-1,instruction,Summarise this.,summarization,,,,,0.5,"{""source"": ""web""}",,,,,,\n'
    'p-1,preference,"Which, is better?",,First answer,Second answer,m-a,,,,"{""rating"": -2}"'
    ",,,,,\n"
    "r-1,refusal,Pick a lock?,,,,,illegal_activity,,,,,,,,\n"
    'u-1,rubric,Explain DNS.,,,,,,,,,"DNS maps **names**.",v3,A reference.,dns,"general, legal"\n'
)


def upload(web, project, name, body: bytes):
    return web.post(
        reverse("console:upload", args=[project.pk]),
        {"file": SimpleUploadedFile(name, body)},
    )


def jsonl(rows) -> bytes:
    return "\n".join(json.dumps(row) for row in rows).encode()


def test_a_jsonl_upload_creates_items_and_shows_the_counts(project, web):
    rows = [item_row("preference", n) for n in range(3)]

    response = upload(web, project, "items.jsonl", jsonl(rows))

    html = response.content.decode()
    assert response.status_code == 200
    assert 'data-testid="created">3<' in html
    assert Item.objects.filter(project=project).count() == 3


def test_a_second_upload_reports_updated_and_unchanged(project, web):
    rows = [item_row("preference", n) for n in range(3)]
    upload(web, project, "items.jsonl", jsonl(rows))
    rows[0]["priority"] = 5

    html = upload(web, project, "items.jsonl", jsonl(rows)).content.decode()

    assert 'data-testid="created">0<' in html
    assert 'data-testid="updated">1<' in html
    assert 'data-testid="unchanged">2<' in html


def test_a_json_array_upload_creates_items(project, web):
    body = json.dumps({"items": [item_row("refusal", 1), item_row("instruction", 2)]}).encode()

    response = upload(web, project, "batch.json", body)

    assert response.status_code == 200
    assert Item.objects.filter(project=project).count() == 2


def test_a_csv_upload_creates_items_of_every_kind(project, web):
    response = upload(web, project, "items.csv", CSV.encode())

    assert response.status_code == 200, response.content.decode()
    items = {i.external_id: i for i in Item.objects.filter(project=project)}
    assert items["i-1"].data == {"prompt": "Summarise this.", "category": "summarization"}
    assert items["i-1"].priority == 0.5
    assert items["i-1"].metadata == {"source": "web"}
    assert items["p-1"].data["responses"] == [
        {"text": "First answer", "model": "m-a"},
        {"text": "Second answer"},
    ]
    assert items["p-1"].is_gold and items["p-1"].gold == {"rating": -2}
    assert items["r-1"].data == {"prompt": "Pick a lock?", "harm_category": "illegal_activity"}
    assert items["u-1"].data == {
        "prompt": "Explain DNS.",
        "response": {"text": "DNS maps **names**.", "model": "v3"},
        "reference": "A reference.",
        "group": "dns",
        "tags": ["general", "legal"],
    }
    assert {i.kind for i in items.values()} == set(kinds.names())


def test_duplicates_are_listed_after_an_upload(project, web):
    same = {"prompt": "Same question", "responses": [{"text": "a"}, {"text": "b"}]}
    rows = [
        {"external_id": "one", "kind": "preference", "data": same},
        {"external_id": "two", "kind": "preference", "data": same},
    ]

    html = upload(web, project, "dups.jsonl", jsonl(rows)).content.decode()

    assert 'data-testid="duplicates">1<' in html
    assert 'data-testid="duplicates-table"' in html


def test_invalid_items_show_the_per_line_error_table_and_nothing_is_written(project, web):
    rows = [
        item_row("preference", 0),
        {"external_id": "bad-1", "kind": "preference", "data": {"prompt": "x"}},
        item_row("preference", 2),
        {"external_id": "bad-3", "kind": "nope", "data": {}},
    ]
    body = b"\n".join(
        [json.dumps(rows[0]).encode(), b"", *[json.dumps(r).encode() for r in rows[1:]]]
    )

    response = upload(web, project, "items.jsonl", body)

    html = response.content.decode()
    assert response.status_code == 400
    assert 'data-testid="errors-table"' in html
    assert "<td>1</td><td>3</td><td>bad-1</td><td><code>data.responses</code></td>" in html
    assert "<td>3</td><td>5</td><td>bad-3</td><td><code>kind</code></td>" in html
    assert not Item.objects.filter(project=project).exists()


def test_a_malformed_jsonl_line_is_reported_with_its_line(project, web):
    body = jsonl([item_row("preference", 0)]) + b"\n{not json\n"

    response = upload(web, project, "items.jsonl", body)

    assert response.status_code == 400
    assert "Malformed NDJSON at line 2" in response.content.decode()
    assert not Item.objects.filter(project=project).exists()


def test_csv_item_errors_name_the_csv_line(project, web):
    body = "external_id,kind,prompt\nok-1,instruction,Fine\nbad,instruction,\n"

    response = upload(web, project, "items.csv", body.encode())

    html = response.content.decode()
    assert response.status_code == 400
    assert "<td>1</td><td>3</td><td>bad</td><td><code>data.prompt</code></td>" in html
    assert not Item.objects.filter(project=project).exists()


def test_an_upload_with_another_extension_is_refused(project, web):
    response = upload(web, project, "items.txt", b"[]")

    assert response.status_code == 400
    assert "Choose a .json, .jsonl" in response.content.decode()


def test_an_upload_without_a_file_re_renders_the_form(project, web):
    response = web.post(reverse("console:upload", args=[project.pk]), {})

    assert response.status_code == 400
    assert "This field is required." in response.content.decode()


def test_an_upload_by_an_annotator_is_403_and_writes_nothing(project, annotator, client):
    client.force_login(annotator)

    response = upload(client, project, "items.jsonl", jsonl([item_row("preference", 1)]))

    assert response.status_code == 403
    assert not Item.objects.filter(project=project).exists()


def test_uploaded_text_is_escaped_in_the_error_table(project, web):
    row = {"external_id": "<script>alert(1)</script>", "kind": "preference", "data": {}}

    html = upload(web, project, "x.jsonl", jsonl([row])).content.decode()

    assert "<script>alert(1)" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


# --- CSV parsing --------------------------------------------------------------------------------


def test_csv_empty_cells_are_absent_values():
    rows = parsing.rows_from_csv(
        b"external_id,kind,prompt,system,priority,split\nx,refusal,Hi,,,\n"
    )

    assert rows == [{"external_id": "x", "kind": "refusal", "data": {"prompt": "Hi"}}]


def test_csv_messages_are_json_text():
    body = (
        'external_id,kind,messages\nm,instruction,"[{""role"": ""user"", ""content"": ""Hi""}]"\n'
    )

    [row] = parsing.rows_from_csv(body.encode())

    assert row["data"] == {"messages": [{"role": "user", "content": "Hi"}]}


def test_csv_lines_count_multiline_cells_and_skip_blank_rows():
    body = b'external_id,prompt\na,"two\nlines"\n\nb,one\n'

    rows, lines = parsing.csv_rows_and_lines(body)

    assert [r["external_id"] for r in rows] == ["a", "b"]
    assert lines == [2, 5]


def test_csv_unknown_columns_and_a_missing_external_id_are_reported_at_once():
    with pytest.raises(ApplicationError) as caught:
        parsing.rows_from_csv(b"id,kind,colour\n1,instruction,red\n")

    fields = [e["field"] for e in caught.value.extra["errors"]]
    assert fields == ["id", "colour", "external_id"]


def test_csv_cell_errors_name_their_line():
    body = b'external_id,priority,metadata\na,high,\nb,1,"{oops"\n'

    with pytest.raises(ApplicationError) as caught:
        parsing.rows_from_csv(body)

    errors = caught.value.extra["errors"]
    assert [(e["line"], e["field"]) for e in errors] == [(2, "priority"), (3, "metadata")]


def test_csv_a_row_with_the_wrong_number_of_cells_is_reported():
    with pytest.raises(ApplicationError) as caught:
        parsing.rows_from_csv(b"external_id,kind\na,instruction,extra\n")

    assert caught.value.extra["errors"][0]["line"] == 2


def test_csv_accepts_a_byte_order_mark():
    rows = parsing.rows_from_csv("\ufeffexternal_id,kind\nx,instruction\n".encode())

    assert rows[0]["external_id"] == "x"


def test_csv_with_only_a_header_is_an_error():
    with pytest.raises(ApplicationError, match="no items"):
        parsing.rows_from_csv(b"external_id,kind\n")


def test_csv_beyond_the_item_limit_is_413(settings):
    settings.RUBRIC_IMPORT_MAX_ITEMS = 2
    body = b"external_id\na\nb\nc\n"

    with pytest.raises(PayloadTooLarge):
        parsing.rows_from_csv(body)


def test_rows_from_file_and_body_pick_csv():
    body = b"external_id,kind,prompt\nx,refusal,Hi\n"

    assert parsing.rows_from_file("a.CSV", body) == parsing.rows_from_body(body, "text/csv")


# --- CSV through the API -------------------------------------------------------------------------


def test_the_items_api_imports_csv(project, lead, make_api):
    response = make_api(lead).post(
        f"/api/v1/projects/{project.pk}/items/", CSV, content_type="text/csv; charset=utf-8"
    )

    assert response.status_code == 201, response.json()
    assert response.json()["created"] == 4


def test_the_items_api_reports_csv_cell_errors_with_their_line(project, lead, make_api):
    body = "external_id,kind,priority\na,instruction,soon\n"

    response = make_api(lead).post(
        f"/api/v1/projects/{project.pk}/items/", body, content_type="text/csv"
    )

    assert response.status_code == 400
    assert response.json()["errors"][0] == {
        "index": 0,
        "line": 2,
        "external_id": "a",
        "field": "priority",
        "message": "Must be a number.",
    }


def test_an_upload_larger_than_the_limit_is_413_before_it_is_read(project, web, settings):
    settings.RUBRIC_IMPORT_MAX_BYTES = 1024

    response = upload(web, project, "big.jsonl", b" " * (200 * 1024))

    assert response.status_code == 413
    assert "at most" in response.content.decode()
    assert not Item.objects.filter(project=project).exists()


def test_a_file_over_the_limit_in_a_small_request_is_413(project, web, settings):
    settings.RUBRIC_IMPORT_MAX_BYTES = 1024

    response = upload(web, project, "big.jsonl", b" " * 2048)

    assert response.status_code == 413
