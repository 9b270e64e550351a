"""The members page: add, change roles, remove, the last-lead rule, staff creating users."""

from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse

from annotation.models import Membership, Role
from core.models import AuditEvent
from tests.console.helpers import EVIL, member
from tests.factories import UserFactory

User = get_user_model()


def members_url(project):
    return reverse("console:members", args=[project.pk])


def staff(user) -> Client:
    """A logged-in client of `user`, made staff (who may create users)."""
    user.is_staff = True
    user.save()
    client = Client()
    client.force_login(user)
    return client


def role_of(project, user):
    return Membership.objects.get(project=project, user=user).role


def test_the_page_lists_members_with_their_roles(project, web, lead, annotator):
    html = web.get(members_url(project)).content.decode()

    assert f'data-username="{lead.username}"' in html
    assert f'data-username="{annotator.username}"' in html
    assert '<option value="annotator" selected>' in html


def test_a_lead_adds_a_member_with_a_role(project, web):
    newcomer = UserFactory()

    response = web.post(
        reverse("console:member-add", args=[project.pk]),
        {"username": newcomer.username, "role": "reviewer"},
    )

    assert response.status_code == 302
    assert role_of(project, newcomer) == Role.REVIEWER
    assert AuditEvent.objects.filter(project=project, action="membership.add").exists()
    assert "added as Reviewer" in web.get(members_url(project)).content.decode()


def test_adding_an_unknown_user_re_renders_with_the_error(project, web):
    response = web.post(
        reverse("console:member-add", args=[project.pk]), {"username": "nobody", "role": "lead"}
    )

    assert response.status_code == 400
    assert "No such user." in response.content.decode()
    assert Membership.objects.filter(project=project).count() == 1


def test_a_lead_changes_a_members_role(project, web, annotator):
    response = web.post(
        reverse("console:member-role", args=[project.pk, annotator.pk]), {"role": "lead"}
    )

    assert response.status_code == 302
    assert role_of(project, annotator) == Role.LEAD


def test_a_lead_removes_a_member(project, web, annotator):
    response = web.post(reverse("console:member-remove", args=[project.pk, annotator.pk]))

    assert response.status_code == 302
    assert not Membership.objects.filter(project=project, user=annotator).exists()
    assert AuditEvent.objects.filter(project=project, action="membership.remove").exists()


def test_the_last_lead_can_neither_step_down_nor_be_removed(project, web, lead):
    demote = web.post(
        reverse("console:member-role", args=[project.pk, lead.pk]), {"role": "annotator"}
    )
    remove = web.post(reverse("console:member-remove", args=[project.pk, lead.pk]))

    assert demote.status_code == 409
    assert remove.status_code == 409
    assert "at least one lead" in demote.content.decode()
    assert role_of(project, lead) == Role.LEAD


def test_a_lead_who_steps_down_is_sent_to_the_project_page(project, web, lead):
    member(project, Role.LEAD)

    response = web.post(
        reverse("console:member-role", args=[project.pk, lead.pk]), {"role": "annotator"}
    )

    assert response.status_code == 302
    assert response["Location"] == reverse("annotation:project", args=[project.pk])
    assert role_of(project, lead) == Role.ANNOTATOR


def test_changing_the_role_of_a_non_member_is_404(project, web):
    stranger = UserFactory()

    response = web.post(
        reverse("console:member-role", args=[project.pk, stranger.pk]), {"role": "lead"}
    )

    assert response.status_code == 404


def test_non_staff_leads_see_no_create_user_form_and_cannot_post_it(project, web):
    page = web.get(members_url(project)).content.decode()
    response = web.post(
        reverse("console:user-create", args=[project.pk]), {"username": "fresh", "role": ""}
    )

    assert 'data-testid="user-create-form"' not in page
    assert response.status_code == 403
    assert not User.objects.filter(username="fresh").exists()


def test_staff_create_a_user_see_the_generated_password_once_and_add_them(project, lead):
    client = staff(lead)

    response = client.post(
        reverse("console:user-create", args=[project.pk]),
        {"username": "fresh", "email": "", "password": "", "role": "annotator"},
    )

    html = response.content.decode()
    created = User.objects.get(username="fresh")
    assert response.status_code == 201
    assert 'data-testid="generated-password"' in html
    password = html.split('data-testid="generated-password">')[1].split("<")[0]
    assert created.check_password(password)
    assert role_of(project, created) == Role.ANNOTATOR
    assert password not in client.get(members_url(project)).content.decode()


def test_staff_creating_a_taken_username_see_the_error(project, lead, annotator):
    client = staff(lead)

    response = client.post(
        reverse("console:user-create", args=[project.pk]),
        {"username": annotator.username, "password": "", "role": ""},
    )

    assert response.status_code == 409
    assert "already exists" in response.content.decode()


def test_usernames_are_escaped_on_the_members_page(project, web):
    member(project, username="x" + EVIL[:40].replace(" ", ""))

    html = web.get(members_url(project)).content.decode()

    assert "<script>alert(1)" not in html
