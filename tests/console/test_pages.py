"""Every console page: rendered for a lead, 403 for other members, 404 for non-members."""

import pytest
from django.test import Client
from django.urls import reverse

from annotation.models import Membership, Project, Role
from tests.console.helpers import EVIL, member
from tests.factories import ItemFactory, ProjectFactory, UserFactory

PAGES = ["settings", "guidelines", "members", "upload", "dashboard", "items"]


def page_url(name, project, item=None):
    if name == "item":
        return reverse("console:item", args=[project.pk, item.pk])
    return reverse(f"console:{name}", args=[project.pk])


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.mark.parametrize("name", [*PAGES, "item"])
def test_each_page_renders_for_a_lead(name, project, web, item):
    response = web.get(page_url(name, project, item))

    assert response.status_code == 200
    assert b'class="project-nav"' in response.content


@pytest.mark.parametrize("role", [Role.ANNOTATOR, Role.REVIEWER])
@pytest.mark.parametrize("name", [*PAGES, "item"])
def test_each_page_is_403_for_members_who_are_not_leads(name, role, project, item):
    response = client_for(member(project, role)).get(page_url(name, project, item))

    assert response.status_code == 403


@pytest.mark.parametrize("name", [*PAGES, "item"])
def test_each_page_is_404_for_non_members(name, project, item):
    response = client_for(UserFactory()).get(page_url(name, project, item))

    assert response.status_code == 404


@pytest.mark.parametrize("name", PAGES)
def test_pages_send_anonymous_visitors_to_log_in(name, project, client):
    response = client.get(page_url(name, project))

    assert response.status_code == 302
    assert "/login/" in response["Location"]


def test_an_item_of_another_project_is_404_on_the_item_page(project, web):
    other = ItemFactory(project=ProjectFactory())

    response = web.get(reverse("console:item", args=[project.pk, other.pk]))

    assert response.status_code == 404


def test_posts_to_console_actions_are_404_for_non_members(project, lead):
    outsider = client_for(UserFactory())
    urls = [
        reverse("console:settings", args=[project.pk]),
        reverse("console:guidelines", args=[project.pk]),
        reverse("console:guidelines-preview", args=[project.pk]),
        reverse("console:member-add", args=[project.pk]),
        reverse("console:member-role", args=[project.pk, lead.pk]),
        reverse("console:member-remove", args=[project.pk, lead.pk]),
        reverse("console:user-create", args=[project.pk]),
        reverse("console:upload", args=[project.pk]),
    ]

    statuses = {url: outsider.post(url, {}).status_code for url in urls}

    assert set(statuses.values()) == {404}
    assert Membership.objects.filter(project=project).count() == 1


# --- a new project --------------------------------------------------------------------------------


@pytest.fixture
def staff(db):
    return UserFactory(is_staff=True)


def test_staff_create_a_project_and_become_its_lead(staff):
    user = staff
    client = client_for(user)

    response = client.post(
        reverse("console:new"),
        {"name": "Safety set", "kinds": ["refusal", "instruction"], "annotations_per_item": 3},
    )

    project = Project.objects.get(name="Safety set")
    assert response.status_code == 302
    assert response["Location"] == reverse("console:dashboard", args=[project.pk])
    assert project.kinds == ["refusal", "instruction"]
    assert project.annotations_per_item == 3
    assert Membership.objects.get(project=project, user=user).role == Role.LEAD


def test_a_new_project_form_re_renders_the_services_errors(staff):
    response = client_for(staff).post(
        reverse("console:new"), {"name": "X", "kinds": [], "annotations_per_item": 11}
    )

    html = response.content.decode()
    assert response.status_code == 400
    assert "Must be from 1 to 10." in html
    assert "Must be a non-empty list of names." in html
    assert not Project.objects.filter(name="X").exists()


def test_the_new_project_page_renders_for_staff(staff):
    response = client_for(staff).get(reverse("console:new"))

    assert response.status_code == 200
    assert b'data-testid="new-project-form"' in response.content


def test_the_home_page_offers_a_new_project_button_to_staff(staff):
    response = client_for(staff).get(reverse("home"))

    assert reverse("console:new").encode() in response.content


def test_others_neither_see_nor_use_the_new_project_page(user):
    client = client_for(user)

    assert reverse("console:new").encode() not in client.get(reverse("home")).content
    assert client.get(reverse("console:new")).status_code == 403
    response = client.post(reverse("console:new"), {"name": "Sneaky", "kinds": ["refusal"]})
    assert response.status_code == 403
    assert not Project.objects.filter(name="Sneaky").exists()


def test_everyone_may_create_projects_when_the_setting_says_so(user, settings):
    settings.PROJECT_CREATORS = "everyone"
    client = client_for(user)

    assert reverse("console:new").encode() in client.get(reverse("home")).content
    assert client.get(reverse("console:new")).status_code == 200


# --- navigation -----------------------------------------------------------------------------------


def test_the_workspace_project_page_shows_the_nav_with_lead_links_for_a_lead(project, web):
    response = web.get(reverse("annotation:project", args=[project.pk]))

    html = response.content.decode()
    assert reverse("console:dashboard", args=[project.pk]) in html
    assert reverse("exports:list", args=[project.pk]) in html
    assert reverse("review:queue", args=[project.pk]) in html


def test_the_nav_shows_an_annotator_only_the_work_link(project, annotator):
    response = client_for(annotator).get(reverse("annotation:project", args=[project.pk]))

    html = response.content.decode()
    assert 'class="project-nav"' in html
    assert reverse("console:dashboard", args=[project.pk]) not in html
    assert reverse("review:queue", args=[project.pk]) not in html
    assert reverse("agreement:report", args=[project.pk]) not in html


def test_the_nav_shows_a_reviewer_review_and_agreement_but_no_lead_links(project):
    reviewer = member(project, Role.REVIEWER)

    response = client_for(reviewer).get(reverse("annotation:project", args=[project.pk]))

    html = response.content.decode()
    assert reverse("review:queue", args=[project.pk]) in html
    assert reverse("agreement:report", args=[project.pk]) in html
    assert reverse("console:settings", args=[project.pk]) not in html


@pytest.mark.parametrize("name", [*PAGES, "item"])
def test_pages_escape_the_project_name(name, project, web, item):
    project.name = EVIL
    project.save()

    html = web.get(page_url(name, project, item)).content.decode()

    assert "<script>alert(1)" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<img src=x" not in html
