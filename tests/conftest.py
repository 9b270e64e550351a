import os

import pytest
from django.db import connection
from rest_framework.test import APIClient

from annotation.models import Role
from tests.factories import MembershipFactory, ProjectFactory, UserFactory

# .ci/run sets this: there a missing service fails the run instead of skipping tests.
REQUIRE_SERVICES = os.environ.get("RUBRIC_REQUIRE_SERVICES") == "1"


def needs(condition: bool, reason: str) -> None:
    """Skip a test whose service is missing on a developer machine; fail it in CI."""
    if condition:
        return
    if REQUIRE_SERVICES:
        pytest.fail(f"{reason} (RUBRIC_REQUIRE_SERVICES=1: CI must not skip)")
    pytest.skip(reason)


@pytest.fixture
def require_postgres(db):
    needs(connection.vendor == "postgresql", "needs PostgreSQL (set DATABASE_URL)")


@pytest.fixture
def project(db):
    return ProjectFactory()


def _member(project, role):
    return MembershipFactory(project=project, role=role).user


@pytest.fixture
def lead(project):
    return _member(project, Role.LEAD)


@pytest.fixture
def reviewer(project):
    return _member(project, Role.REVIEWER)


@pytest.fixture
def annotator(project):
    return _member(project, Role.ANNOTATOR)


@pytest.fixture
def api():
    """An unauthenticated API client."""
    return APIClient()


@pytest.fixture
def make_api():
    from core.services import token_for

    def make(user):
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Token {token_for(user=user).key}")
        return client

    return make


@pytest.fixture
def user(db):
    return UserFactory()
