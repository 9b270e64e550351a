"""Real responses match the OpenAPI schema: a walk through every endpoint (as lead, reviewer,
annotators and staff, errors included) whose every status code must be documented and whose
every JSON body must validate against the documented schema, item data and payloads of each
kind included."""

import json

import pytest
from django.contrib.auth import get_user_model
from rest_framework.test import APIClient

from annotation import kinds
from annotation.models import Assignment, Item
from tests.core.openapi import openapi, operation, path_of, response_schema, validate
from tests.factories import UserFactory, item_row, rubric_scores
from webhooks.models import Delivery

PAYLOADS = {
    kinds.INSTRUCTION: (
        {"response": "One sentence.", "category": "summarization"},
        {"response": "Another.", "category": "code"},
    ),
    kinds.PREFERENCE: ({"rating": -2, "criteria": {"honesty": 1}, "rationale": "A"}, {"rating": 3}),
    kinds.REFUSAL: (
        {"decision": "refuse", "response": "I can't.", "harm_category": "illegal_activity"},
        {"decision": "comply", "response": "Sure.", "harm_category": "none"},
    ),
    kinds.RUBRIC: (
        {**rubric_scores(5), "rationale": "Apt.", "flags": ["terse"]},
        rubric_scores(2, passed=False),
    ),
}


class Walk:
    """Calls the API and records what does not match the schema."""

    def __init__(self):
        self.problems: list[str] = []
        self.answered: set[tuple[str, str]] = set()

    def __call__(self, client, method, url, data=None, **extra):
        call = getattr(client, method)
        if data is None:
            response = call(url)
        elif "content_type" in extra:
            response = call(url, data, **extra)
        else:
            response = call(url, data, format="json")
        path = path_of(url)
        where = f"{method.upper()} {url} -> {response.status_code}"
        responses = operation(path, method)["responses"]
        if str(response.status_code) not in responses:
            self.problems.append(f"{where}: status not documented")
            return response
        if response.status_code < 300:
            self.answered.add((path, method))
        schema = response_schema(path, method, response.status_code)
        media = response.get("Content-Type", "").split(";")[0].strip()
        if schema is not None and media == "application/json":
            if response.streaming:
                body = json.loads(b"".join(response.streaming_content))
            else:
                body = response.json()
            for problem in validate(body, schema):
                self.problems.append(f"{where}: {problem}")
        return response


@pytest.mark.django_db(transaction=True)
def test_every_response_matches_the_schema(make_api, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    walk = Walk()
    staff = make_api(UserFactory(is_staff=True))
    walk(staff, "post", "/api/v1/users/", {"username": "ann1", "password": "a long passphrase 1"})
    walk(staff, "post", "/api/v1/users/", {"username": "ann2"})
    walk(staff, "post", "/api/v1/users/", {"username": "ann2"})  # 409
    walk(APIClient(), "post", "/api/v1/auth/token/", {"username": "ann1", "password": "nope"})
    walk(
        APIClient(),
        "post",
        "/api/v1/auth/token/",
        {"username": "ann1", "password": "a long passphrase 1"},
    )
    users = get_user_model().objects
    ann1, ann2 = users.get(username="ann1"), users.get(username="ann2")
    lead_user, reviewer_user = UserFactory(is_staff=True), UserFactory()
    lead, reviewer = make_api(lead_user), make_api(reviewer_user)
    a1, a2 = make_api(ann1), make_api(ann2)
    walk(a1, "post", "/api/v1/users/", {"username": "x"})  # 403

    project = walk(lead, "post", "/api/v1/projects/", {"name": "Contract"}).json()["id"]
    base = f"/api/v1/projects/{project}"
    walk(lead, "post", "/api/v1/projects/", {"lease_seconds": 1})
    walk(lead, "get", "/api/v1/projects/")
    walk(lead, "patch", f"{base}/", {"review_sample_rate": 0, "criteria": ["honesty"]})
    walk(lead, "patch", f"{base}/", {"gold_rate": 3})
    walk(lead, "get", f"{base}/")
    walk(lead, "get", "/api/v1/projects/999999/")
    for user, role in ((reviewer_user, "reviewer"), (ann1, "annotator"), (ann2, "annotator")):
        walk(lead, "post", f"{base}/members/", {"username": user.username, "role": role})
    walk(lead, "post", f"{base}/members/", {"username": "nobody", "role": "annotator"})
    walk(lead, "post", f"{base}/members/", {"username": lead_user.username, "role": "reviewer"})
    walk(lead, "get", f"{base}/members/")
    walk(a1, "get", f"{base}/members/")  # 403
    extra = UserFactory()
    walk(lead, "post", f"{base}/members/", {"username": extra.username, "role": "annotator"})
    walk(lead, "delete", f"{base}/members/{extra.pk}/")
    walk(lead, "delete", f"{base}/members/{extra.pk}/")  # 400: not a member

    # Each with a model's answer, which reviewers see only after their own judgement.
    walk(lead, "patch", f"{base}/", {"review_prediction": "after_judgement"})
    rows = [
        item_row(name, n, prediction={"payload": PAYLOADS[name][0], "confidence": 0.5})
        for n, name in enumerate(kinds.names())
    ]
    rows.append(item_row(kinds.PREFERENCE, 9, gold={"rating": 2}, metadata={"src": "x"}))
    walk(lead, "post", f"{base}/items/", rows)
    walk(lead, "post", f"{base}/items/", {"items": rows})
    walk(lead, "post", f"{base}/items/", [{"kind": "nope"}])
    walk(lead, "post", f"{base}/items/", "external_id,kind\n", content_type="text/csv")
    walk(lead, "get", f"{base}/items/?page_size=2")
    walk(lead, "get", f"{base}/items/?status=nope")
    walk(reviewer, "get", f"{base}/items/")

    for annotator, client in ((0, a1), (1, a2)):
        while True:
            claimed = walk(client, "post", f"{base}/claim/")
            if claimed.status_code == 204:
                break
            assignment = claimed.json()["assignment"]["id"]
            kind = claimed.json()["item"]["kind"]
            url = f"/api/v1/assignments/{assignment}"
            walk(client, "post", f"{url}/heartbeat/")
            walk(client, "put", f"{url}/draft/", {"draft": {"response": "half"}})
            walk(client, "put", f"{url}/draft/", {"draft": ["not an object"]})
            walk(client, "post", f"{url}/submit/", {"payload": {"nonsense": True}})
            submitted = walk(
                client, "post", f"{url}/submit/", {"payload": PAYLOADS[kind][annotator]}
            )
            change = f"/api/v1/annotations/{submitted.json()['id']}/"
            # The first annotator may still change it (200); after the second it completed (409).
            walk(client, "patch", change, {"payload": PAYLOADS[kind][annotator]})
            walk(client, "patch", change, {"payload": {"nonsense": True}})
            walk(lead, "patch", change, {"payload": PAYLOADS[kind][annotator]})  # 404
            walk(client, "post", f"{url}/submit/", {"payload": PAYLOADS[kind][annotator]})
            walk(client, "post", f"{url}/submit/", {"payload": PAYLOADS[kind][1 - annotator]})
            walk(client, "post", f"{url}/heartbeat/")
            walk(client, "post", f"{url}/skip/")
    skipped = UserFactory()
    walk(lead, "post", f"{base}/members/", {"username": skipped.username, "role": "annotator"})
    walk(lead, "post", f"{base}/items/", [item_row(kinds.REFUSAL, 99)])
    other = make_api(skipped)
    claimed = walk(other, "post", f"{base}/claim/").json()
    skip = f"/api/v1/assignments/{claimed['assignment']['id']}/skip/"
    walk(other, "post", skip, {"reason": "bored"})  # 400
    walk(other, "post", skip, {"reason": "broken_item", "note": "Cut off.", "flag": True})
    walk(a1, "get", f"{base}/items/")

    held = walk(reviewer, "post", f"{base}/review-claim/").json()
    walk(reviewer, "post", f"/api/v1/review-leases/{held['lease_id']}/heartbeat/")
    walk(lead, "post", f"/api/v1/review-leases/{held['lease_id']}/heartbeat/")  # 404
    judgement = f"/api/v1/items/{held['item']['id']}/review-judgement/"
    walk(reviewer, "post", judgement, {"annotation": "first"})  # 400
    first_id = held["item"]["annotations"][0]["id"]
    walk(reviewer, "post", judgement, {"annotation": first_id})
    walk(reviewer, "post", judgement, {"annotation": first_id})  # 409: recorded already
    walk(reviewer, "post", f"/api/v1/review-leases/{held['lease_id']}/release/")
    walk(reviewer, "post", f"/api/v1/review-leases/{held['lease_id']}/heartbeat/")  # 409
    walk(a1, "post", f"{base}/review-claim/")  # 403
    queue = walk(reviewer, "get", f"{base}/review-queue/?limit=2").json()["results"]
    walk(a1, "get", f"{base}/review-queue/")  # 403
    decided = []
    for n, entry in enumerate(queue):
        kind, first = entry["kind"], entry["annotations"][0]
        if n == 0:
            body = {"decision": "approve", "annotation": first["id"], "note": "fine"}
        else:
            body = {"decision": "approve", "final": PAYLOADS[kind][0] | {}}
        walk(reviewer, "post", f"/api/v1/items/{entry['id']}/review/", {"decision": "maybe"})
        walk(reviewer, "post", f"/api/v1/items/{entry['id']}/review/", body)
        walk(reviewer, "post", f"/api/v1/items/{entry['id']}/review/", body)  # 409
        decided.append(entry["id"])
    walk(reviewer, "post", f"/api/v1/items/{decided[0]}/reopen/", {})  # 403
    walk(lead, "post", f"/api/v1/items/{decided[0]}/reopen/", {"note": "again"})
    walk(lead, "post", f"/api/v1/items/{decided[0]}/reopen/", {})  # 409
    walk(reviewer, "post", f"/api/v1/items/{decided[0]}/review/", {"decision": "reject"})
    walk(
        reviewer,
        "post",
        f"/api/v1/items/{decided[0]}/review/",
        {"decision": "reject", "note": "no"},
    )
    walk(lead, "post", f"/api/v1/items/{decided[0]}/requeue/")  # 409: open again already
    walk(lead, "post", f"/api/v1/items/{decided[1]}/reopen/", {})
    drop = {"decision": "reject", "note": "spam", "then": "drop"}
    walk(reviewer, "post", f"/api/v1/items/{decided[1]}/review/", drop)
    walk(reviewer, "post", f"/api/v1/items/{decided[1]}/requeue/")  # 403
    walk(lead, "post", f"/api/v1/items/{decided[1]}/requeue/")
    walk(reviewer, "post", f"{base}/review-claim/")  # the requeued item is not in review: 204

    item_ids = sorted(Assignment.objects.values_list("item_id", flat=True).distinct())
    for item in [*item_ids, 999999]:
        for client in (lead, reviewer, a1, a2):
            walk(client, "get", f"/api/v1/items/{item}/")

    for client in (a1, a2):
        walk(client, "get", f"{base}/my-work/")
        walk(client, "get", f"{base}/my-work/?status=approved")
    walk(a1, "get", f"{base}/my-work/?status=nope")  # 400
    walk(reviewer, "get", f"{base}/agreement/")
    walk(a1, "post", f"{base}/agreement/")  # 403
    walk(lead, "post", f"{base}/agreement/")
    walk(lead, "get", f"{base}/agreement/")
    walk(reviewer, "get", f"{base}/agreement/")
    walk(reviewer, "get", f"{base}/evaluation/")  # before any report
    walk(reviewer, "post", f"{base}/evaluation/", {})  # 403
    walk(lead, "post", f"{base}/evaluation/", {"split": "nope"})  # 400
    walk(lead, "post", f"{base}/evaluation/", {})
    walk(reviewer, "get", f"{base}/evaluation/")
    walk(lead, "get", f"{base}/evaluation/?format=csv")
    walk(lead, "get", f"{base}/evaluation/?split=nope")  # 400
    walk(a1, "get", f"{base}/evaluation/")  # 403
    walk(lead, "get", f"{base}/calibration/")  # before any report
    walk(reviewer, "post", f"{base}/calibration/", {})  # 403
    walk(lead, "post", f"{base}/calibration/", {})
    walk(lead, "get", f"{base}/calibration/")
    walk(lead, "get", f"{base}/dashboard/")
    walk(reviewer, "get", f"{base}/dashboard/")
    walk(a1, "get", f"{base}/dashboard/")  # 403

    export = walk(lead, "post", f"{base}/exports/", {"format": "trl-sft"}).json()["id"]
    walk(lead, "post", f"{base}/exports/", {"format": "nope"})
    walk(lead, "get", f"{base}/exports/")
    walk(lead, "get", f"/api/v1/exports/{export}/")
    walk(lead, "get", f"/api/v1/exports/{export}/download/")
    walk(lead, "get", f"/api/v1/exports/{export}/download/?part=manifest")
    walk(lead, "get", f"/api/v1/exports/{export}/download/?part=nope")
    walk(a1, "get", f"{base}/exports/")  # 403
    walk(reviewer, "post", f"{base}/agreement/")  # 202: reviewers may request a report

    # Invitations.
    made = walk(lead, "post", f"{base}/invitations/", {"role": "reviewer", "max_uses": 2}).json()
    walk(lead, "post", f"{base}/invitations/", {"role": "owner"})  # 400
    walk(a1, "post", f"{base}/invitations/", {"role": "lead"})  # 403
    walk(lead, "get", f"{base}/invitations/")
    accept = "/api/v1/invitations/accept/"
    joiner = make_api(UserFactory())
    walk(joiner, "post", accept, {"token": made["token"]})  # 201
    walk(joiner, "post", accept, {"token": made["token"]})  # 200: a member already
    walk(joiner, "post", accept, {"token": "no-such-invitation-token"})  # 400
    walk(lead, "delete", f"{base}/invitations/{made['id']}/")
    walk(make_api(UserFactory()), "post", accept, {"token": made["token"]})  # 410: revoked
    walk(lead, "delete", f"{base}/invitations/999999/")  # 404

    # Item management, one item and many.
    annotated = item_ids[0]
    walk(lead, "patch", f"/api/v1/items/{annotated}/", {"priority": 2, "metadata": {"a": 1}})
    walk(lead, "patch", f"/api/v1/items/{annotated}/", {"data": {"prompt": "new"}})  # 400/409
    walk(lead, "patch", f"/api/v1/items/{annotated}/", {"split": "nope"})  # 400
    walk(reviewer, "patch", f"/api/v1/items/{annotated}/", {"priority": 1})  # 403
    walk(lead, "post", f"{base}/items/", [item_row(kinds.REFUSAL, 123)])
    fresh = Item.objects.filter(project_id=project, status="open").order_by("-pk").first().pk
    walk(lead, "post", f"/api/v1/items/{fresh}/drop/", {"note": "off-topic"})
    walk(lead, "post", f"/api/v1/items/{fresh}/drop/", {})  # 409
    bulk = f"{base}/items/bulk/"
    count = walk(lead, "post", bulk, {"action": "priority", "value": 1}).json()["count"]  # 409
    walk(lead, "post", bulk, {"action": "priority", "value": 1, "confirm_count": count})
    walk(lead, "post", bulk, {"action": "drop", "filters": {"q": "nothing matches this"}})
    walk(lead, "post", bulk, {"action": "nope"})  # 400
    walk(reviewer, "post", bulk, {"action": "drop"})  # 403

    # Webhooks: nothing listens on 127.0.0.1:9, so the delivery fails and waits for a retry.
    events = ["item.approved", "export.finished"]
    hook = walk(
        lead, "post", f"{base}/webhooks/", {"url": "http://127.0.0.1:9/hook", "events": events}
    ).json()["id"]
    walk(lead, "post", f"{base}/webhooks/", {"url": "ftp://x/", "events": events})  # 400
    walk(reviewer, "get", f"{base}/webhooks/")  # 403
    walk(lead, "get", f"{base}/webhooks/")
    walk(lead, "get", f"/api/v1/webhooks/{hook}/")
    walk(lead, "patch", f"/api/v1/webhooks/{hook}/", {"description": "CI"})
    walk(lead, "post", f"{base}/exports/", {"format": "trl-sft"})  # export.finished
    walk(lead, "get", f"/api/v1/webhooks/{hook}/deliveries/")
    delivery = Delivery.objects.filter(endpoint_id=hook).first()
    walk(lead, "post", f"/api/v1/deliveries/{delivery.pk}/redeliver/")
    walk(reviewer, "post", f"/api/v1/deliveries/{delivery.pk}/redeliver/")  # 403
    walk(lead, "delete", f"/api/v1/webhooks/{hook}/")

    assert walk.problems == []
    documented = {
        (path, method) for path, methods in openapi()["paths"].items() for method in methods
    }
    assert documented - walk.answered == set()
