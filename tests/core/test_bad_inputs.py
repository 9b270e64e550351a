"""Inputs a fuzzer rarely finds, sent to every API endpoint as three callers (staff lead, an
annotator, nobody): NUL bytes, lone surrogates and invalid UTF-8, very deep and very wide JSON,
NaN and huge numbers, wrong content types, empty bodies, and bad query strings (NUL, invalid
UTF-8, filters and orderings that are not offered, malformed cursors). None may give a 5xx."""

import pytest
from django.urls import URLResolver, get_resolver
from rest_framework.test import APIClient

from annotation import kinds
from annotation.models import Role
from core.tokens import token_for
from tests.core.objects import every_object, path_of
from tests.factories import (
    ItemFactory,
    MembershipFactory,
    lease,
)

TEXT = '"a\\u0000b"', '"a\\ud800b"', '"\\udfff"'
DEEP = "[" * 50_000 + "]" * 50_000
WIDE = "{" + ",".join(f'"k{i}": {i}' for i in range(100_000)) + "}"
HUGE = "1" + "0" * 400


def request_fields() -> list[str]:
    """Every property name of every request body in the OpenAPI schema, nested ones included."""
    from tests.core.openapi import components, openapi

    names: set[str] = set()
    seen: set[str] = set()
    stack: list = [
        content.get("schema")
        for operations in openapi()["paths"].values()
        for op in operations.values()
        for content in (op.get("requestBody") or {}).get("content", {}).values()
    ]
    while stack:
        node = stack.pop()
        if isinstance(node, list):
            stack.extend(node)
        elif isinstance(node, dict):
            ref = node.get("$ref")
            if ref is not None:
                name = ref.rsplit("/", 1)[-1]
                if name not in seen:
                    seen.add(name)
                    stack.append(components()[name])
                continue
            names.update(node.get("properties", {}))
            stack.extend(node.get("properties", {}).values())
            stack.extend(node.get(key) for key in ("items", "additionalProperties") if key in node)
            stack.extend(node.get(key, []) for key in ("oneOf", "anyOf", "allOf"))
    return sorted(names)


NESTED = {"payload", "draft", "final", "data", "categories", "kinds", "metadata", "items"}


def body(text: str) -> str:
    """Every field any endpoint reads (every request property of the schema, and a few read
    outside serializers), set to `text` (a JSON value), also inside the nested objects."""
    names = sorted(
        set(request_fields()) - NESTED
        | {"name", "guidelines", "username", "password", "email", "role", "approved_since", "shape"}
    )
    fields = ", ".join(f'"{name}": {text}' for name in names)
    item = f'{{"external_id": {text}, "kind": "instruction", "data": {{"prompt": {text}}}}}'
    return (
        f'{{{fields}, "payload": {{{fields}}}, "draft": {{{fields}}}, "final": {{{fields}}}, '
        f'"data": {{{fields}}}, "categories": [{text}], "kinds": [{text}], '
        f'"metadata": {{"x": {text}}}, "items": [{item}]}}'
    )


BODIES = {
    **{f"text {n}": (body(t), "application/json") for n, t in enumerate(TEXT)},
    "invalid utf-8": (b'{"name": "\xff\xfe", "payload": {"response": "\xc3"}}', "application/json"),
    "deep": (DEEP, "application/json"),
    "wide": (WIDE, "application/json"),
    "NaN": (body("NaN"), "application/json"),
    "Infinity": (body("-Infinity"), "application/json"),
    "huge integer": (body(HUGE), "application/json"),
    "huge float": (body("1e400"), "application/json"),
    "empty": ("", "application/json"),
    "null": ("null", "application/json"),
    "text/plain": ("hello", "text/plain"),
    "form": ("name=a%00b", "application/x-www-form-urlencoded"),
    "ndjson": (
        '{"external_id": "a", "kind": "instruction", "data": {"prompt": "\\ud800"}}\n'
        + DEEP
        + "\n",
        "application/x-ndjson",
    ),
    "csv": (
        "external_id,kind,prompt\nx\x00,instruction,\udcff\n".encode("utf-8", "surrogateescape"),
        "text/csv",
    ),
}
QUERIES = [
    "?q=%00", "?q=%ff%fe", "?q=" + "a" * 10_000, "?kind=%00", "?status=x&split=y&category=%00",
    "?agreement=z&gold=maybe&duplicates=2", "?ordering=item__project__name", "?ordering=-password",
    "?annotations__annotator__password=x", "?cursor=%00", "?cursor=garbage", "?limit=" + HUGE,
    "?offset=-1", "?limit=%00", "?part=%00", "?format=%00",
]  # fmt: skip


def _routes() -> list[str]:
    def walk(patterns, prefix=""):
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                yield from walk(pattern.url_patterns, prefix + str(pattern.pattern))
            else:
                yield prefix + str(pattern.pattern)

    return [r for r in walk(get_resolver().url_patterns) if r.startswith("api/v1/")]


@pytest.fixture
def world(db):
    made = every_object()
    paths = sorted(path_of(route, made.ids) for route in _routes())
    clients = []
    for user in (made.lead, made.annotator, None):
        client = APIClient()
        if user is not None:
            client.credentials(HTTP_AUTHORIZATION=f"Token {token_for(user=user).key}")
        clients.append(client)
    return paths, clients


def test_no_bad_body_gives_a_5xx_anywhere(world):
    paths, clients = world
    failures = []
    for client in clients:
        for path in paths:
            for method in ("post", "put", "patch"):
                for name, (content, content_type) in BODIES.items():
                    response = getattr(client, method)(path, content, content_type=content_type)
                    if response.status_code >= 500:
                        failures.append((method.upper(), path, name, response.status_code))
    assert failures == []


def test_no_bad_query_string_gives_a_5xx_anywhere(world):
    paths, clients = world
    failures = []
    for client in clients:
        for path in paths:
            for query in QUERIES:
                response = client.get(path + query)
                if response.status_code >= 500:
                    failures.append((path + query[:40], response.status_code))
    assert failures == []


@pytest.mark.django_db
def test_deep_json_is_a_400_before_login(api):
    response = api.post("/api/v1/auth/token/", DEEP, content_type="application/json")
    assert response.status_code == 400
    assert "nested deeper" in response.json()["detail"]


@pytest.mark.django_db
@pytest.mark.parametrize(
    "text, says",
    [('"a\\ud800"', "lone surrogate"), ("NaN", "NaN is not a JSON number"), ("1e400", "")],
)
def test_unstorable_values_are_a_400(project, make_api, text, says):
    lead = MembershipFactory(project=project, role=Role.LEAD).user
    response = make_api(lead).patch(
        f"/api/v1/projects/{project.pk}/",
        f'{{"guidelines": {text}, "gold_rate": {text}}}',
        content_type="application/json",
    )
    assert response.status_code == 400
    assert says in response.json()["detail"]


@pytest.mark.django_db
@pytest.mark.parametrize(
    "draft",
    [
        {"criteria": "x", "rating": "abc", "rationale": 7},
        {"criteria": {"helpfulness": ["a"]}, "response": {"deep": {"er": 1}}},
        {"decision": {"a": 1}, "response": None, "harm_category": 3, "category": ["x"]},
    ],
)
@pytest.mark.parametrize("kind", kinds.names())
def test_a_draft_of_the_wrong_shape_never_breaks_the_work_page(
    project, make_api, client, kind, draft
):
    annotator = MembershipFactory(project=project, role=Role.ANNOTATOR).user
    held = lease(ItemFactory(project=project, kind=kind), annotator)
    saved = make_api(annotator).put(
        f"/api/v1/assignments/{held.pk}/draft/", {"draft": draft}, format="json"
    )
    assert saved.status_code == 200
    client.force_login(annotator)
    assert client.get(f"/projects/{project.pk}/work/").status_code == 200


@pytest.mark.django_db
def test_an_id_too_large_for_the_database_is_a_404(project, make_api, client):
    lead = MembershipFactory(project=project, role=Role.LEAD).user
    huge = "272074553124177219722149888"
    assert make_api(lead).get(f"/api/v1/projects/{huge}/").status_code == 404
    client.force_login(lead)
    assert client.get(f"/projects/{huge}/exports/").status_code == 404
