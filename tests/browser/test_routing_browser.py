"""A lead routes production items by confidence from the browser: sets a threshold and an
audit rate, uploads production items with predictions, sees how many were auto-accepted,
audited and sent to people, and, once people have judged some, the reliability diagram."""

import json

import pytest

from annotation.models import Item, Role
from review.services import final_record_create
from tests.browser.conftest import login
from tests.factories import MembershipFactory, ProjectFactory

pytestmark = pytest.mark.browser


def production_file(tmp_path) -> str:
    rows = [
        {
            "external_id": f"prod-{n}",
            "kind": "preference",
            "source": "production",
            "data": {
                "prompt": f"Which reply is kinder? ({n})",
                "responses": [{"text": f"Sure, happy to help ({n})."}, {"text": f"No ({n})."}],
            },
            "prediction": {"payload": {"rating": -2}, "confidence": 0.95 if n % 2 else 0.55},
            **({"signal": "user_thumbs_down"} if n % 10 == 3 else {}),
        }
        for n in range(40)
    ]
    path = tmp_path / "production.jsonl"
    path.write_text("\n".join(json.dumps(row) for row in rows) + "\n")
    return str(path)


def test_a_lead_sets_a_threshold_imports_production_items_and_reads_calibration(page, tmp_path):
    project = ProjectFactory(name="Assistant in production")
    lead = MembershipFactory(project=project, role=Role.LEAD).user
    login(page, lead)

    page.goto(f"/projects/{project.pk}/settings/")
    page.get_by_label("Auto accept above").fill("0.9")
    page.get_by_label("Audit rate").fill("0.2")
    with page.expect_navigation():
        page.get_by_role("button", name="Save settings").click()
    assert "Settings saved." in page.get_by_test_id("flash").inner_text()
    project.refresh_from_db()
    assert (project.auto_accept_above, project.audit_rate) == (0.9, 0.2)

    page.locator(".project-nav").get_by_role("link", name="Upload").click()
    page.get_by_label("File").set_input_files(production_file(tmp_path))
    with page.expect_navigation():
        page.get_by_role("button", name="Upload and import").click()
    assert page.get_by_test_id("created").inner_text() == "40"

    routes = {
        route: Item.objects.filter(project=project, route=route).count()
        for route in ("auto", "audit", "human")
    }
    assert routes["auto"] + routes["audit"] == 16  # 20 sure ones, 4 of them with a signal
    assert routes["human"] == 24 and routes["audit"] >= 1
    # People judge what was sent to them: the model was right on most of them.
    for n, item in enumerate(Item.objects.filter(project=project).exclude(route="auto")):
        final_record_create(
            item=item,
            payload={"rating": -1 if n % 4 else 2},
            provenance="adjudicated",
            source=None,
            approved_by=lead,
        )

    with page.expect_navigation(wait_until="load"):
        page.locator(".project-nav").get_by_role("link", name="Calibration").click()
    assert page.get_by_test_id("count-auto").inner_text() == str(routes["auto"])
    assert page.get_by_test_id("count-audit").inner_text() == str(routes["audit"])
    assert page.get_by_test_id("count-human").inner_text() == str(routes["human"])
    assert page.get_by_test_id("empty").is_visible()
    page.get_by_role("button", name="Compute now").click()
    page.get_by_test_id("reliability").wait_for()
    assert page.locator("svg.reliability g.bin").count() >= 2
    assert "Not enough evidence" in page.get_by_test_id("recommended").inner_text()
    assert "n=" in page.get_by_test_id("current-error").inner_text()
    assert page.errors == []
