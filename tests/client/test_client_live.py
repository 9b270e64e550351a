"""The Python client and the `rubric` command against a live server (pytest-django's
live_server, real HTTP on 127.0.0.1), not mocks."""

import hashlib
import json
import os
import stat
import time
from pathlib import Path
from types import SimpleNamespace

import httpx
import pytest
from rubric_client import (
    BadRequest,
    ChecksumMismatch,
    Client,
    Conflict,
    NotFound,
    PermissionDenied,
    cli,
)

from annotation.models import Annotation, Item, Role
from core.tokens import token_for
from exports.models import ExportJob
from tests.factories import MembershipFactory, ProjectFactory, UserFactory
from webhooks.models import Delivery, DeliveryState, Endpoint

pytestmark = pytest.mark.usefixtures("transactional_db")


def row(n: int) -> dict:
    return {
        "external_id": f"p-{n}",
        "kind": "preference",
        "data": {
            "prompt": f"Question {n}?",
            "responses": [{"text": f"Answer A {n}"}, {"text": f"Answer B {n}"}],
        },
    }


@pytest.fixture
def setup(live_server):
    project = ProjectFactory(
        name="Client", annotations_per_item=1, review_sample_rate=0, gold_rate=0
    )
    lead = MembershipFactory(project=project, role=Role.LEAD).user
    return live_server.url, project, lead


def client_for(url, user, scope="admin", **kwargs) -> Client:
    return Client(url, token_for(user=user, scope=scope).key, **kwargs)


class DropFirstAnswer(httpx.HTTPTransport):
    """Sends the n-th POST to the server, then loses its answer (as a dropped connection
    would): the client cannot know whether the batch went through."""

    def __init__(self, lose: int) -> None:
        super().__init__()
        self.lose, self.posts = lose, 0

    def handle_request(self, request):
        response = super().handle_request(request)
        if request.method == "POST":
            self.posts += 1
            if self.posts == self.lose:
                response.read()
                raise httpx.ReadError("connection reset after the request was sent")
        return response


def test_push_20000_items_in_batches_and_a_lost_answer_is_retried_safely(setup):
    url, project, lead = setup
    transport = DropFirstAnswer(lose=2)
    with client_for(url, lead, transport=transport, backoff=0.01) as client:
        result = client.push_items(project.pk, (row(n) for n in range(20_000)), progress=False)
    assert transport.posts == 3  # the second batch was sent again
    assert result.batches == 2
    assert result.created == 10_000 and result.unchanged == 10_000  # the retry found it done
    assert Item.objects.filter(project=project).count() == 20_000


def test_an_interrupted_push_run_again_finishes_without_duplicates(setup):
    url, project, lead = setup

    def dies_half_way():
        for n in range(2_500):
            if n == 1_700:
                raise KeyboardInterrupt
            yield row(n)

    with client_for(url, lead) as client:
        with pytest.raises(KeyboardInterrupt):
            client.push_items(project.pk, dies_half_way(), batch_size=500, progress=False)
        assert Item.objects.filter(project=project).count() == 1_500
        again = client.push_items(
            project.pk, (row(n) for n in range(2_500)), batch_size=500, progress=False
        )
    assert (again.created, again.unchanged) == (1_000, 1_500)
    assert Item.objects.filter(project=project).count() == 2_500


def test_an_invalid_item_raises_with_the_apis_errors_indexed_from_the_start(setup):
    url, project, lead = setup
    items = [row(n) for n in range(7)]
    items[5]["data"]["responses"] = [{"text": "only one"}]
    with client_for(url, lead) as client, pytest.raises(BadRequest) as caught:
        client.push_items(project.pk, items, batch_size=3, progress=False)
    (error,) = caught.value.errors
    assert error["index"] == 5 and error["external_id"] == "p-5"
    assert caught.value.status == 400
    assert Item.objects.filter(project=project).count() == 3  # the first batch stands


def test_annotate_through_the_client_then_export_and_verify_the_sha256(setup, tmp_path):
    url, project, lead = setup
    annotator = MembershipFactory(project=project, role=Role.ANNOTATOR).user
    with client_for(url, lead) as client:
        client.push_items(project.pk, [row(n) for n in range(12)], progress=False)
    done = 0
    with client_for(url, annotator, scope="annotate") as worker:
        while (task := worker.claim(project.pk)) is not None:
            rating = -2 if task["item"]["id"] % 2 else 3
            annotation = worker.submit(task["assignment"]["id"], {"rating": rating})
            assert annotation["id"]
            done += 1
        with pytest.raises(PermissionDenied):
            worker.start_export(project.pk, "trl-preference")
    assert done == 12 and Annotation.objects.filter(item__project=project).count() == 12
    with client_for(url, lead) as client:
        job = client.start_export(project.pk, "trl-preference", split="train")
        job = client.wait_export(job["id"], progress=False, timeout=60)
        path = client.download_export(job["id"], tmp_path / "data.jsonl", progress=False)
        manifest = client.manifest(job["id"])
    content = path.read_bytes()
    assert hashlib.sha256(content).hexdigest() == job["sha256"] == manifest["sha256"]
    lines = [json.loads(line) for line in content.splitlines()]
    assert len(lines) == job["records"] == 12
    assert set(lines[0]) == {"prompt", "chosen", "rejected"}


def _one_record_exported(url, project, lead) -> dict:
    """An item pushed, annotated (overlap 1: approved) and exported as trl-preference: the
    finished job as the client sees it."""
    annotator = MembershipFactory(project=project, role=Role.ANNOTATOR).user
    with client_for(url, lead) as client:
        client.push_items(project.pk, [row(0)], progress=False)
    with client_for(url, annotator) as worker:
        task = worker.claim(project.pk)
        worker.submit(task["assignment"]["id"], {"rating": 2})
    with client_for(url, lead) as client:
        return client.wait_export(
            client.start_export(project.pk, "trl-preference")["id"], progress=False
        )


def test_a_download_that_does_not_match_the_manifest_is_refused(setup, tmp_path, settings):
    url, project, lead = setup
    job = _one_record_exported(url, project, lead)
    with client_for(url, lead) as client:
        stored = Path(settings.MEDIA_ROOT) / ExportJob.objects.get(pk=job["id"]).file.name
        stored.write_bytes(stored.read_bytes() + b"tampered\n")
        with pytest.raises(ChecksumMismatch):
            client.download_export(job["id"], tmp_path / "bad.jsonl", progress=False)
    assert not (tmp_path / "bad.jsonl").exists()
    assert not list(tmp_path.glob(".rubric-*"))


def test_a_download_without_a_sha256_to_check_is_refused(setup, tmp_path):
    url, project, lead = setup
    job = _one_record_exported(url, project, lead)
    with client_for(url, lead) as client:
        stored = ExportJob.objects.get(pk=job["id"])
        stored.manifest = {**stored.manifest, "sha256": ""}
        stored.sha256 = ""
        stored.save(update_fields=["manifest", "sha256"])
        with pytest.raises(ChecksumMismatch, match="no sha256"):
            client.download_export(job["id"], tmp_path / "unchecked.jsonl", progress=False)
    assert not (tmp_path / "unchecked.jsonl").exists()
    assert not list(tmp_path.glob(".rubric-*"))


def test_a_download_from_object_storage_follows_the_presigned_url_and_is_verified(
    setup, s3, tmp_path
):
    url, project, lead = setup
    annotator = MembershipFactory(project=project, role=Role.ANNOTATOR).user
    with client_for(url, lead) as client:
        client.push_items(project.pk, [row(n) for n in range(3)], progress=False)
    with client_for(url, annotator) as worker:
        for _ in range(3):
            task = worker.claim(project.pk)
            worker.submit(task["assignment"]["id"], {"rating": 1})
    with client_for(url, lead) as client:
        job = client.wait_export(client.start_export(project.pk, "trl-preference")["id"])
        path = client.download_export(job["id"], tmp_path / "s3.jsonl", progress=False)
        assert client.manifest(job["id"])["sha256"] == job["sha256"]
    assert hashlib.sha256(path.read_bytes()).hexdigest() == job["sha256"]
    bucket_client, bucket, _ = s3
    stored = bucket_client.list_objects_v2(Bucket=bucket)["Contents"]
    assert len(stored) == 2  # the file and its manifest, in the bucket


def test_review_and_reports_through_the_client(live_server):
    project = ProjectFactory(annotations_per_item=2, review_sample_rate=0, gold_rate=0)
    lead = MembershipFactory(project=project, role=Role.LEAD).user
    reviewer = MembershipFactory(project=project, role=Role.REVIEWER).user
    annotators = [MembershipFactory(project=project, role=Role.ANNOTATOR).user for _ in range(2)]
    url = live_server.url
    with client_for(url, lead) as client:
        client.push_items(project.pk, [row(n) for n in range(3)], progress=False)
    for annotator, rating in zip(annotators, (-2, 3), strict=True):  # they disagree
        with client_for(url, annotator) as worker:
            while (task := worker.claim(project.pk)) is not None:
                worker.submit(task["assignment"]["id"], {"rating": rating})
    with client_for(url, reviewer) as client:
        queue = list(client.review_queue(project.pk))
        assert len(queue) == 3
        entry = queue[0]
        decided = client.review(entry["id"], "approve", annotation=entry["annotations"][0]["id"])
        assert decided["final_record"]["provenance"] == "adjudicated"
        assert len(list(client.review_queue(project.pk))) == 2
    with client_for(url, lead) as client:
        assert client.request_agreement(project.pk)["status"] in ("queued", "running", "done")
        report = client.agreement(project.pk)
        assert "preference.rating" in report["fields"]
        job = client.request_evaluation(project.pk, split="all")
        assert job["status"] in ("queued", "running", "done")
        deadline = time.monotonic() + 60
        while (evaluation := client.evaluation(project.pk, split="all"))["id"] is None:
            assert time.monotonic() < deadline, "no evaluation report"
            time.sleep(0.1)
        assert evaluation["id"] == job["id"] and evaluation["filters"]["split"] == "all"
        assert client.evaluation(project.pk, split="eval")["id"] is None  # other filters
        assert client.dashboard(project.pk)["progress"]["approved"] == 1
        assert len(list(client.items(project.pk))) == 3
        assert [i["external_id"] for i in client.items(project.pk, status="approved")] == [
            next(i for i in client.items(project.pk) if i["id"] == entry["id"])["external_id"]
        ]


def test_errors_carry_the_apis_status_and_detail(setup):
    url, project, _ = setup
    outsider = UserFactory()
    with client_for(url, outsider) as client, pytest.raises(NotFound) as caught:
        client.project(project.pk)
    assert caught.value.status == 404 and caught.value.detail


def test_webhooks_through_the_client(setup):
    url, project, lead = setup
    with client_for(url, lead) as client:
        hook = client.create_webhook(project.pk, "http://127.0.0.1:9/hook", ["item.approved"])
        assert hook["secret"].startswith("whsec_")
        assert [h["id"] for h in client.webhooks(project.pk)] == [hook["id"]]
        assert client.update_webhook(hook["id"], active=False)["active"] is False
        assert list(client.deliveries(hook["id"])) == []
        endpoint = Endpoint.objects.get(pk=hook["id"])
        failed = Delivery.objects.create(
            endpoint=endpoint,
            event_type="item.approved",
            state=DeliveryState.FAILED,
            next_attempt_at=endpoint.created_at,
            created_at=endpoint.created_at,
        )
        with pytest.raises(Conflict):  # the endpoint is off
            client.redeliver(failed.pk)
        client.update_webhook(hook["id"], active=True)
        again = client.redeliver(failed.pk)
        assert again["redelivery_of"] == failed.pk and again["event_id"] == str(failed.event_id)
        assert [d["id"] for d in client.deliveries(hook["id"])] == [again["id"], failed.pk]
        client.delete_webhook(hook["id"])
        assert client.webhooks(project.pk) == []


# --- the command line ------------------------------------------------------------------------


@pytest.fixture
def cli_env(setup, tmp_path, monkeypatch):
    url, project, lead = setup
    monkeypatch.setenv("RUBRIC_CONFIG", str(tmp_path / "conf" / "config.json"))
    monkeypatch.delenv("RUBRIC_URL", raising=False)
    monkeypatch.delenv("RUBRIC_TOKEN", raising=False)
    return url, project, lead


def test_rubric_login_saves_a_token_readable_by_its_owner_only(cli_env, monkeypatch, capsys):
    url, project, lead = cli_env
    lead.set_password("pw-for-cli-1")
    lead.save()
    monkeypatch.setenv("RUBRIC_PASSWORD", "pw-for-cli-1")
    assert cli.main(["login", "--url", url, "--username", lead.username]) == 0
    path = Path(os.environ["RUBRIC_CONFIG"])
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    saved = json.loads(path.read_text())
    assert saved["url"] == url and saved["token"]
    assert "1 project(s)" in capsys.readouterr().out
    path.chmod(0o644)
    with pytest.raises(SystemExit, match="chmod 600"):
        cli.main(["status", str(project.pk)])


def test_rubric_push_export_status_and_tail(cli_env, tmp_path, capsys):
    url, project, lead = cli_env
    assert cli.main(["login", "--url", url, "--token", token_for(user=lead).key]) == 0
    items = tmp_path / "items.jsonl"
    items.write_text("".join(json.dumps(row(n)) + "\n" for n in range(30)))
    assert cli.main(["push", str(project.pk), str(items), "-q", "--batch-size", "7"]) == 0
    assert "created 30, updated 0, unchanged 0 (5 batch(es))" in capsys.readouterr().out
    assert cli.main(["push", str(project.pk), str(items), "-q"]) == 0
    assert "created 0, updated 0, unchanged 30" in capsys.readouterr().out

    annotator = MembershipFactory(project=project, role=Role.ANNOTATOR).user
    with client_for(url, annotator) as worker:
        for _ in range(10):
            task = worker.claim(project.pk)
            worker.submit(task["assignment"]["id"], {"rating": -1})

    out = tmp_path / "data.jsonl"
    argv = ["export", str(project.pk), "--format", "trl-preference", "--split", "train"]
    assert cli.main([*argv, "--wait", "-o", str(out), "-q"]) == 0
    printed = capsys.readouterr().out
    assert "10 records" in printed and "(verified)" in printed
    assert len(out.read_text().splitlines()) == 10

    assert cli.main(["status", str(project.pk)]) == 0
    printed = capsys.readouterr().out
    assert "items 30: approved 10 (33%)" in printed and "open 20" in printed

    assert cli.main(["tail", str(project.pk), "--interval", "0.05", "--count", "1"]) == 0
    first = json.loads(capsys.readouterr().out.splitlines()[0])
    assert first["type"] == "status" and first["approved"] == 10


def test_rubric_tail_prints_a_line_for_each_change_export_and_agreement_report(
    cli_env, monkeypatch, capsys
):
    url, project, lead = cli_env
    assert cli.main(["login", "--url", url, "--token", token_for(user=lead).key]) == 0
    annotator = MembershipFactory(project=project, role=Role.ANNOTATOR).user
    with client_for(url, lead) as client:
        client.push_items(project.pk, [row(n) for n in range(3)], progress=False)
        client.wait_export(client.start_export(project.pk, "trl-preference")["id"], progress=False)
    capsys.readouterr()

    def meanwhile(seconds):
        """What happens while tail waits for its first poll: two approvals, an export, a report."""
        with client_for(url, annotator) as worker:
            for _ in range(2):
                task = worker.claim(project.pk)
                worker.submit(task["assignment"]["id"], {"rating": 2})
        with client_for(url, lead) as client:
            job = client.start_export(project.pk, "trl-preference")
            client.wait_export(job["id"], progress=False, timeout=60)
            client.request_agreement(project.pk)
            deadline = time.monotonic() + 60
            while client.agreement(project.pk)["id"] is None:
                assert time.monotonic() < deadline, "no agreement report"
                time.sleep(0.1)
        meanwhile.export_id = job["id"]

    monkeypatch.setattr(cli, "time", SimpleNamespace(sleep=meanwhile))
    assert cli.main(["tail", str(project.pk), "--interval", "1", "--count", "1"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [line["type"] for line in lines] == [
        "status",
        "status",
        "export.finished",
        "agreement.finished",
    ]
    assert lines[0]["approved"] == 0 and lines[0]["items"] == 3
    assert lines[1]["approved"] == 2 and lines[1]["changed"]["approved"] == 2
    assert lines[2]["id"] == meanwhile.export_id and lines[2]["status"] == "done"
    assert lines[2]["sha256"] == ExportJob.objects.get(pk=meanwhile.export_id).sha256
    assert lines[3]["status"] == "done" and lines[3]["id"]


def test_rubric_without_a_login_says_how(cli_env):
    with pytest.raises(SystemExit, match="rubric login"):
        cli.main(["status", "1"])


def test_rubric_push_reports_invalid_items_and_exits_2(cli_env, tmp_path, capsys):
    url, project, lead = cli_env
    cli.main(["login", "--url", url, "--token", token_for(user=lead).key])
    items = tmp_path / "items.jsonl"
    items.write_text(json.dumps({"external_id": "x", "kind": "preference", "data": {}}) + "\n")
    assert cli.main(["push", str(project.pk), str(items), "-q"]) == 2
    err = capsys.readouterr().err
    assert "error: 400" in err and '"external_id": "x"' in err
