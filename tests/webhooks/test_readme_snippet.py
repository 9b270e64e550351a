"""The README's signature check, run as it is printed there, on deliveries a real receiver got."""

import re
import time
from pathlib import Path

import pytest

from annotation.models import Role
from tests.factories import MembershipFactory
from tests.review.review_fixtures import annotations_of, disputed_preference
from webhooks import sender

README = Path(__file__).resolve().parents[2] / "README.md"


def readme_verify():
    """The `verify` function of the README's "Checking a delivery" snippet."""
    text = README.read_text()
    start = text.index("Checking a delivery")
    block = re.search(r"```python\n(.*?)```", text[start:], re.DOTALL)
    assert block is not None, "no Python snippet after 'Checking a delivery' in the README"
    namespace: dict = {}
    exec(compile(block.group(1), "README.md", "exec"), namespace)  # noqa: S102 (our own README)
    return namespace["verify"]


@pytest.fixture
def delivered(project, lead, make_api, receiver, django_capture_on_commit_callbacks):
    """One approval delivered to the receiver: (the endpoint's secret, the request received)."""
    hook = make_api(lead).post(
        f"/api/v1/projects/{project.pk}/webhooks/",
        {"url": receiver.url, "events": ["item.approved"]},
        format="json",
    )
    assert hook.status_code == 201, hook.content
    reviewer = MembershipFactory(project=project, role=Role.REVIEWER).user
    item = disputed_preference(project)
    with django_capture_on_commit_callbacks(execute=True):
        decided = make_api(reviewer).post(
            f"/api/v1/items/{item.pk}/review/",
            {"decision": "approve", "annotation": annotations_of(item)[0].pk},
            format="json",
        )
    assert decided.status_code == 201, decided.content
    (request,) = receiver.wait(1)
    return hook.json()["secret"], request


def test_the_readme_snippet_accepts_a_real_delivery(delivered):
    verify = readme_verify()
    secret, request = delivered
    # The headers as a receiver's framework hands them over (http.server's, case-insensitive).
    assert verify(secret, request.message, request.body) is True


def test_the_readme_snippet_refuses_a_wrong_secret_a_changed_body_and_an_old_timestamp(
    delivered,
):
    verify = readme_verify()
    secret, request = delivered
    headers = dict(request.message.items())
    assert verify("whsec_someone-else", headers, request.body) is False
    assert verify(secret, headers, request.body.replace(b'"type"', b'"tipe"')) is False
    # Signed correctly, but ten minutes ago: a replay, refused by the tolerance.
    old = int(time.time()) - 600
    replayed = {
        **headers,
        "Rubric-Timestamp": str(old),
        "Rubric-Signature": sender.signature(secret, old, request.body),
    }
    assert verify(secret, replayed, request.body) is False
    assert verify(secret, replayed, request.body, tolerance=3600) is True
