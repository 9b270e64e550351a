"""The way back out: auto-accepted records export unless excluded, production sources and
signals are counted in the manifest, and `since_last` builds what changed since the last
export of the same format and split."""

import json

import pytest

from annotation import kinds
from annotation.models import Item
from exports.models import ExportJob
from review.services import final_record_create
from tests.factories import item_row


@pytest.fixture
def client(lead, make_api, export_media):
    return make_api(lead)


@pytest.fixture
def export_media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


def _pref(n, confidence, **extra):
    return item_row(
        kinds.PREFERENCE,
        n,
        prediction={"payload": {"rating": -2}, "confidence": confidence},
        source="production",
        **extra,
    )


def _import(client, project, rows):
    response = client.post(f"/api/v1/projects/{project.pk}/items/", rows, format="json")
    assert response.status_code == 201, response.content


def _approve(item, lead, rating=2):
    item.status = "approved"
    item.save(update_fields=["status"])
    final_record_create(
        item=item,
        payload={"rating": rating},
        provenance="adjudicated",
        source=None,
        approved_by=lead,
    )


def _export(client, project, capture, **options):
    with capture(execute=True):
        response = client.post(
            f"/api/v1/projects/{project.pk}/exports/",
            {"format": "trl-preference", **options},
            format="json",
        )
    assert response.status_code == 202, response.content
    job = ExportJob.objects.get(pk=response.json()["id"])
    assert job.status == "done", job.error
    body = b"".join(client.get(f"/api/v1/exports/{job.pk}/download/").streaming_content)
    return job, [json.loads(line) for line in body.splitlines()]


@pytest.fixture
def routed(client, project, lead):
    project.auto_accept_above, project.audit_rate, project.always_review = 0.9, 0.0, []
    project.save()
    _import(
        client,
        project,
        [_pref(1, 0.95), _pref(2, 0.5, signal="user_thumbs_down"), _pref(3, 0.5)],
    )
    _approve(Item.objects.get(project=project, external_id="preference-2"), lead)
    return project


def test_auto_accepted_records_export_unless_excluded(
    client, routed, django_capture_on_commit_callbacks
):
    _, rows = _export(client, routed, django_capture_on_commit_callbacks)
    assert len(rows) == 2  # the auto-accepted one and the human one
    job, rows = _export(client, routed, django_capture_on_commit_callbacks, exclude_auto=True)
    assert len(rows) == 1
    assert job.options["exclude_auto"] is True
    assert job.manifest["records"] == 1


def test_the_manifest_counts_records_by_source_and_signal(
    client, routed, django_capture_on_commit_callbacks
):
    job, _ = _export(client, routed, django_capture_on_commit_callbacks)
    assert job.manifest["counts_by_source"] == {"production": 2}
    assert job.manifest["counts_by_signal"] == {"user_thumbs_down": 1}


def test_since_last_exports_what_was_approved_since_the_previous_export(
    client, routed, lead, django_capture_on_commit_callbacks
):
    first, rows = _export(client, routed, django_capture_on_commit_callbacks, since_last=True)
    assert len(rows) == 2 and first.options["since_export"] is None
    # Another format's export is not "the previous export" of trl-preference.
    with django_capture_on_commit_callbacks(execute=True):
        client.post(f"/api/v1/projects/{routed.pk}/exports/", {"format": "trl-kto"}, format="json")
    _approve(Item.objects.get(project=routed, external_id="preference-3"), lead, rating=-1)
    second, rows = _export(client, routed, django_capture_on_commit_callbacks, since_last=True)
    assert second.options["since_export"] == first.pk
    assert len(rows) == 1
    assert second.manifest["options"]["since_last"] is True
    third, rows = _export(client, routed, django_capture_on_commit_callbacks, since_last=True)
    assert rows == [] and third.options["since_export"] == second.pk


def test_since_last_with_approved_since_is_a_400(client, routed):
    response = client.post(
        f"/api/v1/projects/{routed.pk}/exports/",
        {"format": "trl-preference", "since_last": True, "approved_since": "2026-01-01"},
        format="json",
    )
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "since_last"


def test_the_export_page_offers_both_options(routed, lead, django_capture_on_commit_callbacks):
    from django.test import Client

    web = Client()
    web.force_login(lead)
    page = web.get(f"/projects/{routed.pk}/exports/").content.decode()
    assert 'name="exclude_auto"' in page and 'name="since_last"' in page
    with django_capture_on_commit_callbacks(execute=True):
        response = web.post(
            f"/projects/{routed.pk}/exports/new/",
            {
                "format": "trl-preference",
                "split": "train",
                "exclude_auto": "on",
                "since_last": "on",
            },
        )
    assert response.status_code == 302
    job = ExportJob.objects.get(project=routed)
    assert job.options["exclude_auto"] is True and job.options["since_last"] is True
    assert job.records == 1
