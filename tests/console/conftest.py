import pytest
from django.test import Client

from tests.factories import ItemFactory, ProjectFactory


@pytest.fixture
def project(db):
    """Agreed items are approved at once (no QA sample, texts auto-approved), and no agreement
    report is scheduled behind the tests' backs."""
    return ProjectFactory(review_sample_rate=0, auto_approve_text=True, agreement_every=0)


@pytest.fixture
def web(lead) -> Client:
    client = Client()
    client.force_login(lead)
    return client


@pytest.fixture
def item(project):
    return ItemFactory(project=project)
