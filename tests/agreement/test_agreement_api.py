"""Agreement reports over the REST API and on the lead's page; a real worker builds one."""

import time

import pytest
from django.test import Client

from agreement.models import AgreementReport
from agreement.services import agreement_report_build
from annotation.models import Role
from core.models import JobStatus
from tests.factories import MembershipFactory, ProjectFactory


def url(project) -> str:
    return f"/api/v1/projects/{project.pk}/agreement/"


def page(project) -> str:
    return f"/projects/{project.pk}/agreement/"


def done_report(project) -> AgreementReport:
    report = AgreementReport.objects.create(project=project)
    return agreement_report_build(report_id=report.pk)


def browser(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


# --- API ---------------------------------------------------------------------------------------


def test_lead_post_answers_202_with_the_job(seeded, make_api, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = make_api(seeded.lead).post(url(seeded.project))
    assert response.status_code == 202
    body = response.json()
    assert set(body) == {"id", "status", "error", "created_at", "computed_at", "waiting"}
    report = AgreementReport.objects.get(pk=body["id"])
    assert report.requested_by == seeded.lead
    assert report.status == JobStatus.DONE  # run in-process once the request committed


def test_get_returns_the_latest_done_report(seeded, make_api):
    report = done_report(seeded.project)
    body = make_api(seeded.lead).get(url(seeded.project)).json()
    assert body["id"] == report.pk
    assert body["computed_at"] is not None
    rating = body["fields"]["preference.rating"]
    assert {
        "alpha_ordinal",
        "alpha_interval",
        "alpha_nominal",
        "percent_agreement",
        "units",
    } <= set(rating)
    assert {a["annotator"] for a in body["annotators"]} == {"ann", "bob", "<em>cy</em>"}
    assert body["kappa"]["preference.rating"]
    assert body["pending"] is None


def test_get_shows_a_newer_unfinished_report_as_pending(seeded, make_api):
    report = done_report(seeded.project)
    failed = AgreementReport.objects.create(
        project=seeded.project, status=JobStatus.FAILED, error="boom"
    )
    body = make_api(seeded.lead).get(url(seeded.project)).json()
    assert body["id"] == report.pk
    assert (body["pending"]["id"], body["pending"]["status"]) == (failed.pk, "failed")
    assert body["pending"]["error"] == "boom"


def test_get_before_any_report_is_an_empty_report(project, lead, make_api):
    body = make_api(lead).get(url(project)).json()
    assert body == {
        "id": None,
        "computed_at": None,
        "annotation_count": 0,
        "fields": {},
        "annotators": [],
        "kappa": {},
        "pending": None,
    }


def test_reviewer_may_read_reports(project, reviewer, make_api):
    assert make_api(reviewer).get(url(project)).status_code == 200


def test_a_reviewer_reads_reports_under_pseudonyms(seeded, make_api):
    done_report(seeded.project)
    reviewer = MembershipFactory(project=seeded.project, role=Role.REVIEWER).user
    as_lead = make_api(seeded.lead).get(url(seeded.project)).json()
    body = make_api(reviewer).get(url(seeded.project)).json()
    names = {a["annotator"] for a in as_lead["annotators"]}
    aliases = {a["annotator"] for a in body["annotators"]}
    assert len(aliases) == len(names) == 3
    assert not aliases & names
    assert all(a.startswith("Annotator ") for a in aliases)
    assert {a["user_id"] for a in body["annotators"]} == {None}
    pairs = body["kappa"]["preference.rating"]
    assert {p["a"] for p in pairs} | {p["b"] for p in pairs} <= aliases
    # The same figures, only the names differ; the pseudonyms are stable.
    assert sorted(a["annotations"] for a in body["annotators"]) == sorted(
        a["annotations"] for a in as_lead["annotators"]
    )
    assert make_api(reviewer).get(url(seeded.project)).json()["annotators"] == body["annotators"]
    page_html = browser(reviewer).get(page(seeded.project)).content.decode()
    assert "bob" not in page_html and sorted(aliases)[0] in page_html


def test_reviewer_may_request_a_report(project, reviewer, make_api):
    assert make_api(reviewer).post(url(project)).status_code == 202
    assert AgreementReport.objects.get(project=project).requested_by == reviewer


def test_annotator_may_not_request_a_report(project, annotator, make_api):
    assert make_api(annotator).post(url(project)).status_code == 403
    assert not AgreementReport.objects.exists()


@pytest.mark.parametrize("method", ["get", "post"])
def test_annotator_gets_403(project, annotator, make_api, method):
    response = getattr(make_api(annotator), method)(url(project))
    assert response.status_code == 403
    assert "detail" in response.json()


@pytest.mark.parametrize("method", ["get", "post"])
def test_non_member_gets_404(project, user, make_api, method):
    assert getattr(make_api(user), method)(url(project)).status_code == 404
    assert not AgreementReport.objects.exists()


# --- the page ----------------------------------------------------------------------------------


def test_page_shows_fields_annotators_and_kappa(seeded):
    done_report(seeded.project)
    html = browser(seeded.lead).get(page(seeded.project)).content.decode()
    assert 'data-field="preference.rating"' in html
    assert "Criterion: helpfulness" in html
    assert "66.7%" in html  # ann's position bias
    assert 'data-field="preference.rating"' in html.split("Cohen")[1]
    assert "Compute now</button>" in html


def test_page_escapes_usernames(seeded):
    done_report(seeded.project)
    html = browser(seeded.lead).get(page(seeded.project)).content.decode()
    assert "&lt;em&gt;cy&lt;/em&gt;" in html
    assert "<em>cy</em>" not in html


def test_page_has_an_empty_state_before_the_first_report(project, lead):
    html = browser(lead).get(page(project)).content.decode()
    assert 'data-testid="empty"' in html
    assert "No agreement report yet" in html


def test_page_says_when_tasks_run_in_process(project, lead):
    html = browser(lead).get(page(project)).content.decode()
    assert "computed in-process" in html


def test_page_polls_while_a_report_is_queued(project, lead):
    AgreementReport.objects.create(project=project)
    html = browser(lead).get(page(project)).content.decode()
    assert 'hx-trigger="every 2s"' in html
    assert "queued" in html


def test_page_stops_polling_once_the_report_is_done(seeded):
    done_report(seeded.project)
    client = browser(seeded.lead)
    html = client.get(
        f"/projects/{seeded.project.pk}/agreement/panel/", HTTP_HX_REQUEST="true"
    ).content.decode()
    assert 'hx-trigger="every 2s"' not in html
    assert html.lstrip().startswith('<section id="panel"')


def test_page_shows_why_the_last_request_failed(seeded):
    done_report(seeded.project)
    AgreementReport.objects.create(
        project=seeded.project, status=JobStatus.FAILED, error="<b>database gone</b>"
    )
    html = browser(seeded.lead).get(page(seeded.project)).content.decode()
    assert "failed" in html
    assert "&lt;b&gt;database gone&lt;/b&gt;" in html


def test_compute_button_posts_and_renders_the_panel(seeded, django_capture_on_commit_callbacks):
    client = browser(seeded.lead)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            f"/projects/{seeded.project.pk}/agreement/compute/", HTTP_HX_REQUEST="true"
        )
    assert response.status_code == 200
    assert response.content.decode().lstrip().startswith('<section id="panel"')
    assert AgreementReport.objects.get(project=seeded.project).status == JobStatus.DONE
    panel = client.get(f"/projects/{seeded.project.pk}/agreement/panel/", HTTP_HX_REQUEST="true")
    assert 'data-field="preference.rating"' in panel.content.decode()


def test_compute_without_htmx_redirects_to_the_page(project, lead):
    response = browser(lead).post(f"/projects/{project.pk}/agreement/compute/")
    assert response.status_code == 302
    assert response["Location"] == page(project)


def test_reviewer_sees_the_compute_button(project, reviewer):
    response = browser(reviewer).get(page(project))
    assert response.status_code == 200
    assert "Compute now</button>" in response.content.decode()


def test_reviewer_computes_from_the_page(project, reviewer):
    response = browser(reviewer).post(f"/projects/{project.pk}/agreement/compute/")
    assert response.status_code == 302
    assert AgreementReport.objects.filter(project=project).count() == 1


def test_annotator_cannot_compute_from_the_page(project, annotator):
    response = browser(annotator).post(f"/projects/{project.pk}/agreement/compute/")
    assert response.status_code == 403
    assert not AgreementReport.objects.exists()


def test_the_dashboard_button_posts_a_request(project, lead):
    html = browser(lead).get(f"/projects/{project.pk}/dashboard/").content.decode()
    action = f'action="/projects/{project.pk}/agreement/compute/"'
    assert f'<form class="inline" method="post" {action}>' in html
    assert 'data-testid="compute-agreement">Compute agreement now</button>' in html


def test_annotator_gets_403_on_the_page(project, annotator):
    assert browser(annotator).get(page(project)).status_code == 403


def test_non_member_gets_404_on_the_page(project, user):
    assert browser(user).get(page(project)).status_code == 404
    other = ProjectFactory()
    MembershipFactory(project=other, user=user, role=Role.LEAD)
    assert browser(user).post(f"/projects/{project.pk}/agreement/compute/").status_code == 404


def test_anonymous_visitors_are_sent_to_log_in(project, client):
    response = client.get(page(project))
    assert response.status_code == 302
    assert "/login/" in response["Location"]


# --- a real worker -----------------------------------------------------------------------------


@pytest.mark.worker
def test_a_real_worker_builds_the_report(celery_worker, transactional_db, seeded, make_api):
    client = make_api(seeded.lead)
    response = client.post(url(seeded.project))
    assert response.status_code == 202
    job = response.json()["id"]
    deadline = time.monotonic() + 30
    while True:
        body = client.get(url(seeded.project)).json()
        if body["id"] == job:
            break
        assert body["pending"] is None or body["pending"]["status"] != "failed", body["pending"]
        assert time.monotonic() < deadline, f"no report after 30 s: {body['pending']}"
        time.sleep(0.2)
    assert body["pending"] is None
    assert body["annotation_count"] == 9
    assert body["fields"]["preference.rating"]["units"] == 3
    assert len(body["annotators"]) == 3
