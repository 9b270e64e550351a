"""The dashboard's annotators table at 1280 px: every column, flags included, inside the page
without scrolling sideways, and the table region reachable from the keyboard."""

from annotation.models import Role
from tests.browser.conftest import login
from tests.console.helpers import annotator_entry, member, report
from tests.factories import ItemFactory, MembershipFactory, annotate


def test_the_annotators_table_fits_at_1280_px_with_its_flags(page, project):
    lead = MembershipFactory(project=project, role=Role.LEAD).user
    project.gold_threshold = 0.8
    project.save()
    annotators = [
        member(project, username="annotator-with-a-rather-long-name-" + str(n)) for n in range(3)
    ]
    for person in annotators:
        for n in range(4):
            item = ItemFactory(project=project, is_gold=True, gold={"rating": 1})
            annotate(item, person, {"rating": -1 if n else 1})  # mostly wrong: gold flag
    report(
        project,
        annotators=[
            annotator_entry(p, position_bias_left=0.8, position_choices=40) for p in annotators
        ],
    )
    login(page, lead)
    page.goto(f"/projects/{project.pk}/dashboard/")
    table = page.get_by_test_id("annotators-table")
    assert table.locator("tr.flagged").count() == 3
    assert table.locator("td.flags .flag").count() == 6
    sizes = page.evaluate(
        """() => {
        const region = document.querySelector('[data-testid=annotators-scroll]');
        const cells = [...document.querySelectorAll('[data-testid=annotators-table] td.flags')];
        return {
            scroll: region.scrollWidth, client: region.clientWidth,
            right: Math.max(...cells.map(c => c.getBoundingClientRect().right)),
            viewport: window.innerWidth,
            page: document.documentElement.scrollWidth,
        };
    }"""
    )
    assert sizes["scroll"] <= sizes["client"], sizes
    assert sizes["right"] <= sizes["viewport"], sizes
    assert sizes["page"] <= sizes["viewport"], sizes
    # Keyboard: the table's region takes the focus (a scrolled table stays reachable).
    region = page.get_by_test_id("annotators-scroll")
    assert region.get_attribute("tabindex") == "0"
    assert region.get_attribute("role") == "region"
    region.focus()
    assert page.evaluate("document.activeElement.dataset.testid") == "annotators-scroll"
    assert page.errors == []
