"""Invitations (issue 17, section 1): a lead invites by email or link; the invitee joins with
a new account or theirs; expired, revoked and used-up invitations say which and create
nothing; tokens are stored hashed."""

import threading
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.core import mail
from django.db import connection
from django.test import Client
from django.utils import timezone

from annotation.models import Membership, Role
from core.models import AuditEvent
from team import services
from team.models import Invitation
from tests.factories import MembershipFactory, ProjectFactory, UserFactory

User = get_user_model()
PASSWORD = "a long enough passphrase 7"
ACCEPT = "/api/v1/invitations/accept/"


def invitations_url(project) -> str:
    return f"/api/v1/projects/{project.pk}/invitations/"


def make(project, lead, **options):
    return services.invitation_create(project=project, actor=lead, role=Role.ANNOTATOR, **options)


def browser(user=None) -> Client:
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


# --- the API -------------------------------------------------------------------------------------


def test_a_lead_makes_a_link_and_only_its_hash_is_stored(project, lead, make_api):
    response = make_api(lead).post(
        invitations_url(project), {"role": "reviewer", "max_uses": 3}, format="json"
    )
    assert response.status_code == 201
    body = response.json()
    assert body["role"] == "reviewer" and body["max_uses"] == 3 and body["state"] == "pending"
    assert body["url"].endswith(f"/invite/{body['token']}/")
    stored = Invitation.objects.get(pk=body["id"])
    assert stored.token_hash == services.token_hash(body["token"])
    assert body["token"] not in str(Invitation.objects.filter(pk=body["id"]).values().first())
    assert AuditEvent.objects.filter(action="invitation.create", object_id=str(stored.pk)).exists()


def test_an_email_invitation_is_mailed_once_committed_and_single_use(
    project, lead, make_api, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = make_api(lead).post(
            invitations_url(project),
            {"role": "annotator", "email": "new@example.org", "max_uses": 5},
            format="json",
        )
    body = response.json()
    assert response.status_code == 201 and body["max_uses"] == 1 and body["emailed"] is True
    [message] = mail.outbox
    assert message.to == ["new@example.org"]
    assert body["url"] in message.body
    assert project.name in message.subject


def test_a_bad_invitation_is_a_400_naming_the_field(project, lead, make_api):
    api = make_api(lead)
    for body, field in [
        ({"role": "owner"}, "role"),
        ({"role": "annotator", "email": "not-an-address"}, "email"),
        ({"role": "annotator", "expires_in_days": 0}, "expires_in_days"),
        ({"role": "annotator", "max_uses": 0}, "max_uses"),
    ]:
        response = api.post(invitations_url(project), body, format="json")
        assert response.status_code == 400, body
        assert field in {e["field"] for e in response.json()["errors"]}
    assert not Invitation.objects.exists()


def test_only_leads_manage_invitations(project, reviewer, make_api, user):
    posted = make_api(reviewer).post(invitations_url(project), {"role": "lead"}, format="json")
    assert posted.status_code == 403
    assert make_api(reviewer).get(invitations_url(project)).status_code == 403
    assert make_api(user).get(invitations_url(project)).status_code == 404
    assert not Invitation.objects.exists()


def test_pending_lists_only_usable_invitations_and_revoking_ends_one(project, lead, make_api):
    pending = make(project, lead).invitation
    expired = make(project, lead).invitation
    Invitation.objects.filter(pk=expired.pk).update(expires_at=timezone.now() - timedelta(1))
    used = make(project, lead).invitation
    Invitation.objects.filter(pk=used.pk).update(uses=1)
    revoked = make(project, lead)
    api = make_api(lead)
    assert api.delete(f"{invitations_url(project)}{revoked.invitation.pk}/").status_code == 204

    assert [row["id"] for row in api.get(invitations_url(project)).json()] == [pending.pk]
    other = ProjectFactory()
    assert api.delete(f"/api/v1/projects/{project.pk}/invitations/999999/").status_code == 404
    foreign = make(other, lead).invitation
    assert api.delete(f"{invitations_url(project)}{foreign.pk}/").status_code == 404


def test_a_user_joins_through_the_api_with_the_role(project, lead, make_api):
    made = services.invitation_create(project=project, actor=lead, role=Role.REVIEWER)
    joiner = UserFactory()
    response = make_api(joiner).post(ACCEPT, {"token": made.token}, format="json")
    assert response.status_code == 201
    assert response.json() == {"project": project.pk, "role": "reviewer", "joined": True}
    assert Membership.objects.get(project=project, user=joiner).role == Role.REVIEWER
    # The single use is spent: the next person is told so.
    late = make_api(UserFactory()).post(ACCEPT, {"token": made.token}, format="json")
    assert late.status_code == 410
    assert "used" in late.json()["detail"]


def test_a_member_already_keeps_their_role_and_spends_no_use(project, lead, make_api):
    made = services.invitation_create(project=project, actor=lead, role=Role.ANNOTATOR)
    response = make_api(lead).post(ACCEPT, {"token": made.token}, format="json")
    assert response.status_code == 200 and response.json()["joined"] is False
    assert Membership.objects.get(project=project, user=lead).role == Role.LEAD
    assert Invitation.objects.get(pk=made.invitation.pk).uses == 0


@pytest.mark.parametrize(
    ("state", "change", "words"),
    [
        ("expired", {"expires_at": timezone.now() - timedelta(seconds=1)}, "expired"),
        ("revoked", {"revoked_at": timezone.now()}, "revoked"),
        ("used", {"uses": 1}, "used"),
    ],
)
def test_an_unusable_invitation_says_which_and_creates_nothing(
    project, lead, make_api, state, change, words
):
    made = make(project, lead)
    Invitation.objects.filter(pk=made.invitation.pk).update(**change)
    users_before = User.objects.count()

    api = make_api(UserFactory())
    response = api.post(ACCEPT, {"token": made.token}, format="json")
    assert response.status_code == 410
    assert words in response.json()["detail"]

    page = browser().get(f"/invite/{made.token}/")
    assert page.status_code == 410
    assert f'data-state="{state}"' in page.content.decode()
    assert words in page.content.decode()
    posted = browser().post(
        f"/invite/{made.token}/",
        {"username": "newbie", "password": PASSWORD, "password_again": PASSWORD},
    )
    assert posted.status_code == 410
    assert User.objects.count() == users_before + 1  # the API caller made above, no one else
    assert not User.objects.filter(username="newbie").exists()
    assert Membership.objects.filter(project=project).count() == 1


def test_an_unknown_token_is_a_404_page_and_a_400_from_the_api(project, make_api, user):
    assert browser().get("/invite/not-a-real-token-at-all/").status_code == 404
    response = make_api(user).post(ACCEPT, {"token": "nope-nope-nope"}, format="json")
    assert response.status_code == 400


def test_a_link_for_any_number_lets_several_people_join(project, lead):
    made = make(project, lead, max_uses=None)
    for _ in range(3):
        services.invitation_accept(token=made.token, user=UserFactory())
    invitation = Invitation.objects.get(pk=made.invitation.pk)
    assert invitation.uses == 3 and invitation.state == "pending"
    assert Membership.objects.filter(project=project, role=Role.ANNOTATOR).count() == 3


def test_two_people_racing_for_the_last_use_let_one_in(require_postgres, transactional_db):
    project = ProjectFactory()
    lead = MembershipFactory(project=project, role=Role.LEAD).user
    made = make(project, lead, max_uses=1)
    people = [UserFactory(), UserFactory(), UserFactory(), UserFactory()]
    results: list[str] = []
    barrier = threading.Barrier(len(people))

    def join(person):
        try:
            barrier.wait()
            services.invitation_accept(token=made.token, user=person)
            results.append("joined")
        except services.InvitationUnusable:
            results.append("refused")
        finally:
            connection.close()

    threads = [threading.Thread(target=join, args=(p,)) for p in people]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == ["joined", "refused", "refused", "refused"]
    assert Invitation.objects.get(pk=made.invitation.pk).uses == 1
    assert Membership.objects.filter(project=project, role=Role.ANNOTATOR).count() == 1


# --- the pages ------------------------------------------------------------------------------------


def test_a_new_person_sets_a_username_and_password_and_lands_in_the_project(project, lead):
    made = services.invitation_create(project=project, actor=lead, role=Role.REVIEWER)
    client = browser()
    page = client.get(f"/invite/{made.token}/")
    assert page.status_code == 200
    assert 'data-testid="invitation-role">reviewer<' in page.content.decode()

    response = client.post(
        f"/invite/{made.token}/",
        {"username": "rita", "password": PASSWORD, "password_again": PASSWORD},
    )
    assert response.status_code == 302
    assert response["Location"] == f"/projects/{project.pk}/"
    rita = User.objects.get(username="rita")
    assert rita.check_password(PASSWORD)
    assert Membership.objects.get(project=project, user=rita).role == Role.REVIEWER
    landed = client.get(response["Location"])  # logged in as rita
    assert landed.status_code == 200
    assert "Your role: <strong>Reviewer</strong>" in landed.content.decode()


def test_a_sign_up_with_problems_creates_nothing(project, lead):
    UserFactory(username="taken")
    made = make(project, lead)
    client = browser()
    mismatch = client.post(
        f"/invite/{made.token}/",
        {"username": "newbie", "password": PASSWORD, "password_again": PASSWORD + "x"},
    )
    assert mismatch.status_code == 400 and "differ" in mismatch.content.decode()
    weak = client.post(
        f"/invite/{made.token}/", {"username": "newbie", "password": "1", "password_again": "1"}
    )
    assert weak.status_code == 400
    taken = client.post(
        f"/invite/{made.token}/",
        {"username": "taken", "password": PASSWORD, "password_again": PASSWORD},
    )
    assert taken.status_code == 409 and "log in to it to join" in taken.content.decode()
    assert not User.objects.filter(username="newbie").exists()
    assert Invitation.objects.get(pk=made.invitation.pk).uses == 0


def test_a_logged_in_user_joins_with_one_click(project, lead, user):
    made = make(project, lead)
    client = browser(user)
    page = client.get(f"/invite/{made.token}/").content.decode()
    assert 'data-testid="join"' in page and 'data-testid="sign-up"' not in page
    response = client.post(f"/invite/{made.token}/")
    assert response.status_code == 302
    assert Membership.objects.get(project=project, user=user).role == Role.ANNOTATOR


def test_an_anonymous_visitor_may_log_in_to_join(project, lead):
    made = make(project, lead)
    page = browser().get(f"/invite/{made.token}/").content.decode()
    assert f'href="/login/?next=%2Finvite%2F{made.token}%2F"' in page


def test_the_lead_page_makes_a_link_lists_and_revokes(project, lead):
    client = browser(lead)
    response = client.post(
        f"/projects/{project.pk}/invitations/new/",
        {"how": "link", "role": "annotator", "expires_in_days": 3, "uses": "multi", "max_uses": ""},
    )
    html = response.content.decode()
    assert response.status_code == 201
    invitation = Invitation.objects.get()
    assert invitation.max_uses is None
    assert 'data-testid="invitation-link"' in html and "/invite/" in html
    assert f'data-invitation="{invitation.pk}"' in html
    revoked = client.post(f"/projects/{project.pk}/invitations/{invitation.pk}/revoke/")
    assert revoked.status_code == 302
    page = client.get(f"/projects/{project.pk}/invitations/").content.decode()
    assert 'data-testid="no-invitations"' in page


def test_the_lead_page_needs_an_address_to_send_to(project, lead):
    response = browser(lead).post(
        f"/projects/{project.pk}/invitations/new/",
        {"how": "email", "role": "annotator", "expires_in_days": 7, "uses": "single"},
    )
    assert response.status_code == 400
    assert "Give the address" in response.content.decode()
    assert not Invitation.objects.exists()


def test_other_roles_get_403_and_non_members_404_on_the_lead_page(project, reviewer, user):
    assert browser(reviewer).get(f"/projects/{project.pk}/invitations/").status_code == 403
    assert browser(user).get(f"/projects/{project.pk}/invitations/").status_code == 404
    posted = browser(reviewer).post(
        f"/projects/{project.pk}/invitations/new/",
        {"how": "link", "role": "lead", "expires_in_days": 7, "uses": "single"},
    )
    assert posted.status_code == 403
    assert not Invitation.objects.exists()


def test_the_members_page_links_to_invitations(project, lead):
    html = browser(lead).get(f"/projects/{project.pk}/members/").content.decode()
    assert f'href="/projects/{project.pk}/invitations/"' in html


def test_without_a_mailer_the_invitation_stands_and_the_page_says_no_email_went(
    project, lead, settings, django_capture_on_commit_callbacks
):
    settings.MAILERS = {}  # production without EMAIL_HOST
    with django_capture_on_commit_callbacks(execute=True):
        response = browser(lead).post(
            f"/projects/{project.pk}/invitations/new/",
            {
                "how": "email",
                "email": "x@example.org",
                "role": "annotator",
                "expires_in_days": 7,
                "uses": "single",
            },
        )
    html = response.content.decode()
    assert response.status_code == 201
    assert 'data-testid="not-emailed"' in html and "/invite/" in html
    assert mail.outbox == []
    assert Invitation.objects.get().email == "x@example.org"
