"""Invitations in Chromium: a lead invites from the members page, the invitee opens the link in
a browser of their own (a new context: no cookies), makes an account and lands in the project
with the role; an existing user logs in from the invitation and joins; a revoked link says so."""

import re

from annotation.models import Membership, Role
from tests.browser.conftest import PASSWORD, login
from tests.factories import MembershipFactory, ProjectFactory, UserFactory

NEW_PASSWORD = "tidal pools at dawn 42"


def _invite(page, project, *, how: str, role: str) -> str:
    page.goto(f"/projects/{project.pk}/members/")
    page.get_by_test_id("invitations-link").click()
    page.get_by_label("Send by email" if how == "email" else "Make a link to hand out").check()
    if how == "email":
        page.get_by_label("Email address").fill("newcomer@example.org")
    page.get_by_label("Role").select_option(role)
    with page.expect_navigation():
        page.get_by_role("button", name="Invite").click()
    link = page.get_by_test_id("invitation-link").inner_text()
    assert re.search(r"/invite/[\w-]{40,}/$", link), link
    return link


def test_an_invitee_joins_in_a_new_browser_and_lands_in_the_project(page, browser, live_server):
    project = ProjectFactory(name="Tide tables")
    lead = MembershipFactory(project=project, role=Role.LEAD).user
    login(page, lead)
    link = _invite(page, project, how="email", role="reviewer")
    assert page.get_by_test_id("pending-invitations").locator("tr[data-invitation]").count() == 1

    other = browser.new_context(base_url=live_server.url)
    try:
        invitee = other.new_page()
        invitee.goto(link)
        assert invitee.get_by_test_id("invitation-role").inner_text() == "reviewer"
        invitee.get_by_label("Username").fill("nadia")
        invitee.get_by_label("Password", exact=True).fill(NEW_PASSWORD)
        invitee.get_by_label("Password again").fill(NEW_PASSWORD)
        with invitee.expect_navigation():
            invitee.get_by_test_id("sign-up-join").click()
        assert invitee.url.endswith(f"/projects/{project.pk}/")
        assert invitee.get_by_role("heading", level=1).inner_text() == "Tide tables"
        assert "Your role: Reviewer" in invitee.locator("p.muted").first.inner_text()
        assert invitee.get_by_role("link", name="Review").count() == 1  # the reviewer's nav
        # The same link again, in yet another browser: used up, and no account is made.
        third = browser.new_context(base_url=live_server.url).new_page()
        third.goto(link)
        assert third.get_by_test_id("invitation-unusable").get_attribute("data-state") == "used"
        third.context.close()
    finally:
        other.close()
    nadia = Membership.objects.get(project=project, user__username="nadia")
    assert nadia.role == Role.REVIEWER

    page.goto(f"/projects/{project.pk}/invitations/")
    assert page.get_by_test_id("no-invitations").count() == 1  # used up: no longer pending


def test_an_existing_user_logs_in_from_the_invitation_and_joins(page, browser, live_server):
    project = ProjectFactory()
    lead = MembershipFactory(project=project, role=Role.LEAD).user
    login(page, lead)
    link = _invite(page, project, how="link", role="annotator")
    someone = UserFactory(username="sam")

    other = browser.new_context(base_url=live_server.url)
    try:
        invitee = other.new_page()
        invitee.goto(link)
        invitee.get_by_test_id("log-in-to-join").click()
        invitee.fill("input[name=username]", someone.username)
        invitee.fill("input[name=password]", PASSWORD)
        with invitee.expect_navigation():
            invitee.click("button[type=submit]")
        assert invitee.url == link  # back on the invitation, logged in
        with invitee.expect_navigation():
            invitee.get_by_test_id("join").click()
        assert invitee.url.endswith(f"/projects/{project.pk}/")
        assert "Your role: Annotator" in invitee.locator("p.muted").first.inner_text()
    finally:
        other.close()
    assert Membership.objects.get(project=project, user=someone).role == Role.ANNOTATOR


def test_a_revoked_link_says_so_in_the_browser(page, browser, live_server):
    project = ProjectFactory()
    lead = MembershipFactory(project=project, role=Role.LEAD).user
    login(page, lead)
    link = _invite(page, project, how="link", role="annotator")
    page.get_by_test_id("revoke").click()
    page.wait_for_selector('[data-testid="no-invitations"]')

    other = browser.new_context(base_url=live_server.url)
    try:
        invitee = other.new_page()
        response = invitee.goto(link)
        assert response.status == 410
        unusable = invitee.get_by_test_id("invitation-unusable")
        assert unusable.get_attribute("data-state") == "revoked"
        assert "revoked" in unusable.inner_text()
    finally:
        other.close()
