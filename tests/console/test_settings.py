"""The settings page and the guidelines editor."""

import pytest
from django.urls import reverse

from annotation.models import Annotation, Project
from core.models import AuditEvent
from tests.console.helpers import EVIL, member
from tests.factories import annotate

VALID = {
    "name": "Renamed",
    "kinds": ["preference", "refusal"],
    "annotations_per_item": "3",
    "review_sample_rate": "0.2",
    "gold_rate": "0.05",
    "gold_threshold": "0.8",
    "lease_seconds": "900",
    "eval_fraction": "0.1",
    "agreement_every": "50",
    "categories": "code\nreasoning\n",
    "criteria": "helpfulness\nhonesty",
    "harm_categories": "none\nmalware",
    "system_prompt": "Be brief.",
    "auto_approve_text": "on",
    "suggestions": "confirm",
    "queue_order": "uncertainty",
    "auto_accept_above": "0.9",
    "audit_rate": "0.1",
    "always_review": '[{"signal": true}, {"tag": "vip"}]',
    "calibration_target": "0.05",
    "near_duplicate_threshold": "0.85",
    "review_prediction": "after_judgement",
    "review_gold_rate": "0.05",
}


def settings_url(project):
    return reverse("console:settings", args=[project.pk])


def guidelines_url(project):
    return reverse("console:guidelines", args=[project.pk])


def test_the_settings_page_shows_every_setting_with_help_text(project, web):
    html = web.get(settings_url(project)).content.decode()

    for name in VALID:
        assert f'name="{name}"' in html
    assert "Overlap: how many different annotators annotate each item" in html
    assert 'aria-describedby="id_lease_seconds_helptext"' in html


def test_saving_settings_updates_every_one_and_audits_the_change(project, web):
    response = web.post(settings_url(project), VALID)

    project.refresh_from_db()
    assert response.status_code == 302
    assert project.name == "Renamed"
    assert project.kinds == ["preference", "refusal"]
    assert project.annotations_per_item == 3
    assert project.review_sample_rate == 0.2
    assert project.gold_rate == 0.05
    assert project.gold_threshold == 0.8
    assert project.lease_seconds == 900
    assert project.eval_fraction == 0.1
    assert project.agreement_every == 50
    assert project.categories == ["code", "reasoning"]
    assert project.criteria == ["helpfulness", "honesty"]
    assert project.harm_categories == ["none", "malware"]
    assert project.system_prompt == "Be brief."
    assert project.auto_approve_text is True
    assert project.suggestions == "confirm"
    assert project.queue_order == "uncertainty"
    assert project.auto_accept_above == 0.9
    assert project.audit_rate == 0.1
    assert project.always_review == [{"signal": True}, {"tag": "vip"}]
    assert project.calibration_target == 0.05
    assert project.near_duplicate_threshold == 0.85
    event = AuditEvent.objects.get(project=project, action="project.update")
    assert event.before["name"] != "Renamed"
    assert event.after["name"] == "Renamed"


def test_invalid_settings_re_render_with_the_services_messages_and_change_nothing(project, web):
    before = Project.objects.get(pk=project.pk)
    bad = {
        **VALID,
        "annotations_per_item": "11",
        "review_sample_rate": "1.5",
        "lease_seconds": "10",
        "categories": "code\ncode",
        "kinds": [],
    }

    response = web.post(settings_url(project), bad)

    html = response.content.decode()
    project.refresh_from_db()
    assert response.status_code == 400
    assert "Must be from 1 to 10." in html
    assert "Must be from 0 to 1." in html
    assert "Must be from 60 to 86400." in html
    assert "Entries must be unique." in html
    assert "Must be a non-empty list of names." in html
    assert project.name == before.name
    assert project.annotations_per_item == before.annotations_per_item


def test_a_setting_that_is_not_a_number_re_renders_with_the_forms_message(project, web):
    response = web.post(settings_url(project), {**VALID, "gold_rate": "lots"})

    assert response.status_code == 400
    assert "Enter a number." in response.content.decode()


@pytest.mark.parametrize(
    "text, says",
    [
        ("[" * 50_000 + "]" * 50_000, "nested deeper than 64 levels"),
        ('[{"tag": "\\ud800"}]', "lone surrogate"),
        ('[{"tag": NaN}]', "NaN is not a JSON number"),
    ],
)
@pytest.mark.parametrize("name", ["always_review", "rubric"])
def test_json_a_setting_cannot_store_re_renders_with_the_reason(project, web, name, text, says):
    before = Project.objects.values().get(pk=project.pk)
    response = web.post(settings_url(project), {**VALID, name: text})

    assert response.status_code == 400
    html = response.content.decode()
    assert "Not valid JSON: " in html and says in html
    assert Project.objects.values().get(pk=project.pk) == before


def test_the_settings_form_escapes_names_in_label_lists(project, web):
    project.categories = [EVIL]
    project.save()

    html = web.get(settings_url(project)).content.decode()

    assert "<script>alert(1)" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


# --- guidelines -----------------------------------------------------------------------------------


def test_saving_guidelines_bumps_the_version(project, web):
    version = project.guidelines_version

    response = web.post(guidelines_url(project), {"guidelines": "# Rules\n\nBe kind."})

    project.refresh_from_db()
    assert response.status_code == 302
    assert project.guidelines == "# Rules\n\nBe kind."
    assert project.guidelines_version == version + 1
    page = web.get(guidelines_url(project)).content.decode()
    assert f'data-testid="guidelines-version">{version + 1}<' in page
    assert f"Version {version + 1}" in page


def test_saving_the_same_guidelines_keeps_the_version(project, web):
    web.post(guidelines_url(project), {"guidelines": "Same."})
    project.refresh_from_db()
    version = project.guidelines_version

    web.post(guidelines_url(project), {"guidelines": "Same."})

    project.refresh_from_db()
    assert project.guidelines_version == version


def test_the_preview_renders_markdown_and_sanitises_it(project, web):
    text = "# Title\n\n**bold** <script>alert(1)</script> [x](javascript:alert(1))"

    response = web.post(
        reverse("console:guidelines-preview", args=[project.pk]),
        {"guidelines": text},
        HTTP_HX_REQUEST="true",
    )

    html = response.content.decode()
    assert response.status_code == 200
    assert "<h1>Title</h1>" in html
    assert "<strong>bold</strong>" in html
    assert "<script>" not in html
    assert 'href="javascript' not in html
    assert 'id="preview"' in html


def test_the_editor_page_shows_the_sanitised_preview_of_the_saved_text(project, web):
    project.guidelines = "Hello <script>alert(1)</script> *there*"
    project.save()

    html = web.get(guidelines_url(project)).content.decode()

    assert "<em>there</em>" in html
    assert "<script>alert(1)</script>" not in html


def test_the_preview_is_403_for_an_annotator(project, annotator, client):
    client.force_login(annotator)

    response = client.post(
        reverse("console:guidelines-preview", args=[project.pk]), {"guidelines": "x"}
    )

    assert response.status_code == 403


def test_annotations_record_the_version_and_annotators_see_a_notice_after_a_change(
    project, web, item, client
):
    user = member(project)
    annotate(item, user, {"rating": 1})
    Annotation.objects.filter(annotator=user).update(guidelines_version=project.guidelines_version)

    web.post(guidelines_url(project), {"guidelines": "New rules."})

    client.force_login(user)
    html = client.get(reverse("annotation:project", args=[project.pk])).content.decode()
    assert "The guidelines changed since your last annotation" in html
