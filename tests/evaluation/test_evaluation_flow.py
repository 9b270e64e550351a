"""A lead imports model outputs, annotators score them, a reviewer settles a dispute, and the
lead reads a report that ranks the models with intervals and exports the results: all through
the REST API."""

import csv
import io
import json

import pytest
from django.test import Client

from annotation import kinds
from annotation.models import Annotation, Item, ItemStatus, Role
from core.models import JobStatus
from evaluation.models import EvaluationReport
from tests.factories import MembershipFactory, ProjectFactory, rubric_scores

pytestmark = pytest.mark.django_db


def rubric_item(n, model, *, group=None, tags=("poetry",)):
    data = {"prompt": f"Prompt {n}", "response": {"text": f"**Answer** {n}", "model": model}}
    if group:
        data["group"] = group
    if tags:
        data["tags"] = list(tags)
    return {"external_id": f"r-{n}", "kind": kinds.RUBRIC, "data": data}


def preference_item(n, a, b):
    return {
        "external_id": f"p-{n}",
        "kind": kinds.PREFERENCE,
        "data": {
            "prompt": f"Compare {n}",
            "responses": [{"text": f"A {n}", "model": a}, {"text": f"B {n}", "model": b}],
        },
    }


@pytest.fixture
def team(make_api):
    project = ProjectFactory(annotations_per_item=2, review_sample_rate=0, agreement_every=0)
    users = {
        role: MembershipFactory(project=project, role=role).user
        for role in (Role.LEAD, Role.REVIEWER)
    }
    annotators = [MembershipFactory(project=project, role=Role.ANNOTATOR).user for _ in range(2)]
    clients = {name: make_api(user) for name, user in users.items()}
    clients["annotators"] = [make_api(user) for user in annotators]
    clients["pages"] = {}
    for role, user in users.items():
        clients["pages"][role] = Client()
        clients["pages"][role].force_login(user)
    return project, clients


def score(good: bool, *, spread: int = 0) -> dict:
    return rubric_scores(5 - spread if good else 2 + spread, passed=good)


def work(project, clients, answer):
    """Each annotator claims and submits until nothing is left; `answer(item, i)` is the
    payload annotator i gives an item."""
    for i, client in enumerate(clients["annotators"]):
        while True:
            claimed = client.post(f"/api/v1/projects/{project.pk}/claim/")
            if claimed.status_code == 204:
                break
            assert claimed.status_code == 200, claimed.content
            assert "model" not in json.dumps(claimed.json()["item"]["data"])  # blind
            item = Item.objects.get(pk=claimed.json()["item"]["id"])
            url = f"/api/v1/assignments/{claimed.json()['assignment']['id']}/submit/"
            response = client.post(url, {"payload": answer(item, i)}, format="json")
            assert response.status_code == 201, response.content


def test_scores_go_from_import_to_a_ranked_report_and_an_export(
    team, django_capture_on_commit_callbacks
):
    project, clients = team
    lead, reviewer = clients[Role.LEAD], clients[Role.REVIEWER]
    rows = [
        rubric_item(n, "good-model" if n % 2 else "weak-model", group=f"g{n // 4}")
        for n in range(12)
    ]
    rows += [preference_item(n, "good-model", "weak-model") for n in range(6)]
    response = lead.post(f"/api/v1/projects/{project.pk}/items/", rows, format="json")
    assert response.status_code == 201, response.content

    def answer(item, i):
        if item.kind == kinds.PREFERENCE:
            return {"rating": -2}  # A (good-model) better
        good = item.data["response"]["model"] == "good-model"
        if item.external_id == "r-0" and i == 1:
            return score(True)  # a dispute for the reviewer
        return score(good, spread=i)

    work(project, clients, answer)
    disputed = Item.objects.get(external_id="r-0")
    assert disputed.status == ItemStatus.IN_REVIEW
    final = rubric_scores(2, passed=False)
    response = reviewer.post(
        f"/api/v1/items/{disputed.pk}/review/",
        {"decision": "approve", "final": final},
        format="json",
    )
    assert response.status_code in (200, 201), response.content
    assert Item.objects.filter(project=project, status=ItemStatus.APPROVED).count() == 18

    with django_capture_on_commit_callbacks(execute=True):
        response = lead.post(f"/api/v1/projects/{project.pk}/evaluation/", {}, format="json")
    assert response.status_code == 202
    assert EvaluationReport.objects.get().status == JobStatus.DONE

    body = reviewer.get(f"/api/v1/projects/{project.pk}/evaluation/").json()
    models = {row["model"]: row for row in body["models"]}
    assert models["good-model"]["n"] == 6 and models["weak-model"]["n"] == 6
    good = models["good-model"]["criteria"]["helpfulness"]
    weak = models["weak-model"]["criteria"]["helpfulness"]
    assert good["low"] <= good["mean"] <= good["high"] and good["mean"] > weak["high"]
    assert models["good-model"]["pass_rate"]["value"] == 1.0
    assert models["weak-model"]["pass_rate"]["value"] == 0.0
    assert body["pairwise"] == [
        {"a": "good-model", "b": "weak-model", "wins": 6, "ties": 0, "losses": 0}
    ]
    assert body["bradley_terry"][0]["model"] == "good-model"
    assert sum(s["strength"] for s in body["bradley_terry"]) == pytest.approx(1.0)
    assert set(body["reliability"]) == {c["name"] for c in kinds.default_rubric()}
    assert "poetry" in body["by_tag"]
    assert len(body["data_sha256"]) == 64 and body["code_version"]
    assert body["rubric_versions"][0]["version"] == 1

    page = clients["pages"][Role.REVIEWER].get(f"/projects/{project.pk}/evaluation/")
    html = page.content.decode()
    assert page.status_code == 200 and 'data-testid="ranking"' in html and "<svg" in html
    assert "good-model" in html

    csv_response = reviewer.get(f"/api/v1/projects/{project.pk}/evaluation/?format=csv")
    assert csv_response.status_code == 200
    table = list(csv.DictReader(io.StringIO(csv_response.content.decode())))
    assert [r["model"] for r in table] == ["good-model", "weak-model"]
    assert float(table[0]["helpfulness_low"]) <= float(table[0]["helpfulness_mean"])

    with django_capture_on_commit_callbacks(execute=True):
        response = lead.post(
            f"/api/v1/projects/{project.pk}/exports/",
            {"format": "eval-results", "split": "all"},
            format="json",
        )
    export_id = response.json()["id"]
    data = lead.get(f"/api/v1/exports/{export_id}/download/")
    lines = [json.loads(line) for line in b"".join(data.streaming_content).splitlines()]
    assert len(lines) == 12
    r0 = next(line for line in lines if line["id"] == "r-0")
    assert r0["scores"] == final["scores"] and r0["model"] == "weak-model"


def test_annotators_and_reviewers_may_not_request_and_annotators_may_not_read(team):
    project, clients = team
    url = f"/api/v1/projects/{project.pk}/evaluation/"
    assert clients[Role.REVIEWER].post(url, {}, format="json").status_code == 403
    assert clients["annotators"][0].get(url).status_code == 403


def test_a_report_over_nothing_is_a_clear_empty_state(team, django_capture_on_commit_callbacks):
    project, clients = team
    with django_capture_on_commit_callbacks(execute=True):
        clients[Role.LEAD].post(f"/api/v1/projects/{project.pk}/evaluation/", {}, format="json")
    body = clients[Role.LEAD].get(f"/api/v1/projects/{project.pk}/evaluation/").json()
    assert body["empty"] and body["models"] == [] and body["bradley_terry"] == []
    page = clients["pages"][Role.LEAD].get(f"/projects/{project.pk}/evaluation/")
    assert page.status_code == 200 and 'data-testid="empty"' in page.content.decode()


def test_old_annotations_keep_the_rubric_they_were_made_under(
    team, django_capture_on_commit_callbacks
):
    project, clients = team
    lead = clients[Role.LEAD]
    lead.post(
        f"/api/v1/projects/{project.pk}/items/",
        [rubric_item(n, "m-a" if n % 2 else "m-b", tags=()) for n in range(4)],
        format="json",
    )
    work(project, clients, lambda item, i: score(item.data["response"]["model"] == "m-a"))
    new_rubric = [{"name": "depth", "description": "Deep?", "scale": {"min": 1, "max": 3}}]
    response = lead.patch(f"/api/v1/projects/{project.pk}/", {"rubric": new_rubric}, format="json")
    assert response.status_code == 200 and response.json()["rubric"] == new_rubric
    assert set(Annotation.objects.values_list("rubric_version", flat=True)) == {1}
    lead.post(
        f"/api/v1/projects/{project.pk}/items/",
        [rubric_item(n, "m-a" if n % 2 else "m-b", tags=()) for n in range(10, 12)],
        format="json",
    )
    work(project, clients, lambda item, i: {"scores": {"depth": 3}})
    assert Annotation.objects.filter(rubric_version=2).count() == 4

    with django_capture_on_commit_callbacks(execute=True):
        lead.post(f"/api/v1/projects/{project.pk}/evaluation/", {}, format="json")
    body = lead.get(f"/api/v1/projects/{project.pk}/evaluation/").json()
    versions = {c["key"]: c["versions"] for c in body["criteria"]}
    assert versions["helpfulness"] == [1] and versions["depth"] == [2]
    assert [(v["version"], v["items"]) for v in body["rubric_versions"]] == [(1, 4), (2, 2)]


def test_a_bad_rubric_setting_is_a_400_naming_it(team):
    project, clients = team
    response = clients[Role.LEAD].patch(
        f"/api/v1/projects/{project.pk}/",
        {"rubric": [{"name": "x", "scale": {"min": 3, "max": 1}}]},
        format="json",
    )
    assert response.status_code == 400
    assert "'x'" in response.json()["detail"]


def test_trl_kto_takes_pass_fail_from_rubric_items_when_the_lead_asks(
    team, django_capture_on_commit_callbacks
):
    project, clients = team
    lead = clients[Role.LEAD]
    lead.post(
        f"/api/v1/projects/{project.pk}/items/",
        [rubric_item(n, "m-a" if n % 2 else "m-b", tags=()) for n in range(2)],
        format="json",
    )
    work(project, clients, lambda item, i: score(item.data["response"]["model"] == "m-a"))
    url = f"/api/v1/projects/{project.pk}/exports/"

    response = lead.post(url, {"format": "trl-sft", "pass_fail": True}, format="json")
    assert response.status_code == 400 and "pass_fail" in json.dumps(response.json())

    with django_capture_on_commit_callbacks(execute=True):
        response = lead.post(url, {"format": "trl-kto", "pass_fail": True}, format="json")
    assert response.status_code in (201, 202), response.content
    data = lead.get(f"/api/v1/exports/{response.json()['id']}/download/")
    rows = [json.loads(line) for line in b"".join(data.streaming_content).splitlines()]
    labels = {row["completion"][0]["content"]: row["label"] for row in rows}
    assert labels == {"**Answer** 0": False, "**Answer** 1": True}

    with django_capture_on_commit_callbacks(execute=True):
        response = lead.post(url, {"format": "trl-kto"}, format="json")
    data = lead.get(f"/api/v1/exports/{response.json()['id']}/download/")
    assert b"".join(data.streaming_content) == b""  # without pass_fail: no rubric rows
