"""The OpenAPI schema (/api/schema/): valid, warning-free, and as precise as the bodies: item
data and payloads per kind, the real bodies of every endpoint, pagination and errors."""

import pytest
from django.core.management import call_command
from drf_spectacular.validation import validate_schema

from annotation import kinds
from annotation.filters import ItemFilter
from tests.core.openapi import component, components, openapi, operation, response_schema

KIND_LABELS = [kind.label for kind in kinds.registry]


def test_the_schema_is_valid_openapi():
    validate_schema(openapi())


def test_the_schema_generates_without_a_warning(tmp_path):
    # --fail-on-warn turns any warning (an unresolvable field, an enum collision, ...) into an
    # error, --validate checks the document against the OpenAPI 3.0 specification.
    call_command(
        "spectacular", "--validate", "--fail-on-warn", "--file", str(tmp_path / "schema.yaml")
    )


def test_the_schema_is_served(client):
    response = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    assert response.json()["components"]["schemas"]["AnnotationPayload"]["oneOf"]


def _ref(schema: dict) -> str:
    """The component a property refers to (directly, or wrapped to carry a description)."""
    return (schema["allOf"][0] if "allOf" in schema else schema)["$ref"].rsplit("/", 1)[-1]


def _one_of(schema: dict) -> list[str]:
    return [option["$ref"].rsplit("/", 1)[-1] for option in schema["oneOf"]]


def test_a_submitted_payload_is_one_of_the_kinds_payloads():
    body = component(
        operation("/api/v1/assignments/{assignment_id}/submit/", "post")["requestBody"]["content"][
            "application/json"
        ]["schema"]["$ref"]
    )
    payload = _ref(body["properties"]["payload"])
    assert _one_of(component(payload)) == [f"{label}Payload" for label in KIND_LABELS]
    assert len(kinds.registry) == len(component(payload)["oneOf"])


@pytest.mark.parametrize(
    "union", ["Item", "OwnItem", "ItemDetail", "ClaimItem", "ReviewQueueEntry", "ImportItem"]
)
def test_a_body_that_carries_its_kind_is_a_oneof_discriminated_by_kind(union):
    schema = component(union)
    assert _one_of(schema) == [f"{label}{union}" for label in KIND_LABELS]
    assert schema["discriminator"]["propertyName"] == "kind"
    mapping = schema["discriminator"]["mapping"]
    assert list(mapping) == list(kinds.names())
    for kind in kinds.registry:
        variant = component(mapping[kind.name])
        assert "kind" in variant["required"]
        assert component(variant["properties"]["kind"]["$ref"])["enum"] == [kind.name]
        assert _ref(variant["properties"]["data"]) == f"{kind.label}Data"


def test_the_payloads_inside_a_body_are_in_its_kinds_terms():
    for kind in kinds.registry:
        detail = component(f"{kind.label}ItemDetail")["properties"]
        annotation = component(detail["annotations"]["items"]["$ref"])
        assert _ref(annotation["properties"]["payload"]) == f"{kind.label}Payload"
        review = component(detail["reviews"]["items"]["$ref"])
        assert _ref(review["properties"]["final"]) == f"{kind.label}Payload"
        assert _ref(detail["gold"]) == f"{kind.label}Gold"
        entry = component(f"{kind.label}ReviewQueueEntry")["properties"]
        queued = component(entry["annotations"]["items"]["$ref"])
        assert _ref(queued["properties"]["payload"]) == f"{kind.label}Payload"


def test_each_kinds_data_and_payload_list_exactly_its_fields():
    for kind in kinds.registry:
        data = component(f"{kind.label}Data")["properties"]
        assert set(data) == {"prompt", "messages", "system"} | kind.data_fields
        payload = component(f"{kind.label}Payload")["properties"]
        assert set(payload) == kind.payload_fields
        gold = component(f"{kind.label}Gold")
        assert gold["required"] == [kind.scored_field]


def test_the_rating_says_which_sign_prefers_which_response():
    rating = component("PreferencePayload")["properties"]["rating"]
    assert (rating["minimum"], rating["maximum"]) == (-3, 3)
    text = rating["description"]
    assert "negative prefers A (the first response)" in text
    assert "positive prefers B" in text and "0 is a tie" in text


@pytest.mark.parametrize(
    ("path", "method", "fields"),
    [
        (
            "/api/v1/assignments/{assignment_id}/skip/",
            "post",
            {"id", "status", "reason", "flagged"},
        ),
        (
            "/api/v1/assignments/{assignment_id}/heartbeat/",
            "post",
            {"id", "status", "lease_expires_at"},
        ),
        ("/api/v1/assignments/{assignment_id}/draft/", "put", {"id", "draft_saved_at"}),
    ],
)
def test_skip_heartbeat_and_draft_declare_their_own_bodies(path, method, fields):
    schema = response_schema(path, method, 200)
    assert schema["$ref"] != "#/components/schemas/Claim"
    assert set(component(schema["$ref"])["properties"]) == fields


def test_the_claim_declares_the_lease_and_the_item_by_kind():
    claim = component(response_schema("/api/v1/projects/{project_id}/claim/", "post", 200)["$ref"])
    assert set(claim["properties"]) == {"assignment", "item"}
    assert claim["properties"]["item"] == {"$ref": "#/components/schemas/ClaimItem"}
    responses = operation("/api/v1/projects/{project_id}/claim/", "post")["responses"]
    assert "content" not in responses["204"]


def test_the_import_takes_an_array_an_items_object_ndjson_or_csv():
    content = operation("/api/v1/projects/{project_id}/items/", "post")["requestBody"]["content"]
    assert set(content) == {"application/json", "application/x-ndjson", "text/csv"}
    body = component(content["application/json"]["schema"]["$ref"])
    array, wrapped = body["oneOf"]
    assert array == {"type": "array", "items": {"$ref": "#/components/schemas/ImportItem"}}
    items = component(wrapped["$ref"])["properties"]["items"]
    assert items == array
    for media in ("application/x-ndjson", "text/csv"):
        assert content[media]["schema"]["type"] == "string"
    assert "external_id" in content["text/csv"]["schema"]["description"]
    result = component(response_schema("/api/v1/projects/{project_id}/items/", "post", 201)["$ref"])
    assert set(result["properties"]) == {
        "created",
        "updated",
        "unchanged",
        "duplicates",
        "near_duplicates",
        "personal_data",
    }


def test_lists_are_paginated_as_they_are():
    items = component(response_schema("/api/v1/projects/{project_id}/items/", "get", 200)["$ref"])
    assert set(items["properties"]) == {"next", "previous", "results"}
    assert items["properties"]["results"]["items"] == {"$ref": "#/components/schemas/ListedItem"}
    assert _one_of(component("ListedItem")) == ["Item", "OwnItem"]
    names = {
        p["name"] for p in operation("/api/v1/projects/{project_id}/items/", "get")["parameters"]
    }
    assert {"cursor", "page_size", "kind", "q"} <= names
    assert set(ItemFilter.base_filters) <= names  # every filter the items list reads

    queue = "/api/v1/projects/{project_id}/review-queue/"
    page = component(response_schema(queue, "get", 200)["$ref"])
    assert set(page["properties"]) == {"count", "next", "previous", "results"}
    assert page["properties"]["results"]["items"] == {
        "$ref": "#/components/schemas/ReviewQueueEntry"
    }
    assert {"limit", "offset"} <= {p["name"] for p in operation(queue, "get")["parameters"]}


@pytest.mark.parametrize(
    ("path", "method", "codes"),
    [
        ("/api/v1/projects/{project_id}/items/", "post", {"400", "403", "404", "409", "413"}),
        ("/api/v1/assignments/{assignment_id}/submit/", "post", {"400", "404", "409"}),
        ("/api/v1/items/{item_id}/review/", "post", {"400", "403", "404", "409"}),
        ("/api/v1/items/{item_id}/", "get", {"404"}),
        ("/api/v1/projects/{project_id}/", "patch", {"400", "403", "404"}),
        ("/api/v1/exports/{export_id}/download/", "get", {"400", "404", "409"}),
    ],
)
def test_endpoints_declare_their_errors_with_the_error_body(path, method, codes):
    responses = operation(path, method)["responses"]
    assert codes <= set(responses)
    for code in codes:
        schema = component(responses[code]["content"]["application/json"]["schema"]["$ref"])
        assert {"detail", "errors"} <= set(schema["properties"])
        assert "detail" in schema["required"]


def test_every_operation_declares_its_errors():
    for path, methods in openapi()["paths"].items():
        if not path.startswith("/api/v1/projects/{") and "{" not in path:
            continue  # the project list, tokens and users need no object
        for method, op in methods.items():
            assert {"404"} <= set(op["responses"]), f"{method.upper()} {path}"


def test_a_lost_lease_and_a_decided_item_say_more_than_the_error():
    submit = operation("/api/v1/assignments/{assignment_id}/submit/", "post")["responses"]["409"]
    lost = component(submit["content"]["application/json"]["schema"]["$ref"])
    assert {"detail", "status", "payload"} <= set(lost["properties"])
    review = operation("/api/v1/items/{item_id}/review/", "post")["responses"]["409"]
    decided = component(review["content"]["application/json"]["schema"]["$ref"])
    assert {"detail", "decision", "status"} <= set(decided["properties"])


def test_no_body_is_a_free_form_placeholder():
    """Every component has properties or alternatives: no `{}` where a body was meant."""
    for name, schema in components().items():
        assert (
            schema.get("properties")
            or schema.get("oneOf")
            or schema.get("enum")
            or (schema.get("type") == "null")
        ), name
