"""The dashboard: its figures, its warnings and flags, its API, and a query count that does not
grow with the project."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from agreement.models import AgreementReport
from agreement.services import agreement_report_build
from annotation.importing import item_import
from annotation.models import Item, Role
from console import dashboard
from tests.console.helpers import (
    EVIL,
    annotator_entry,
    approved_instruction,
    approved_refusal,
    instruction,
    member,
    refusal,
    report,
)
from tests.factories import ItemFactory, UserFactory, annotate, complete, item_row

# Queries of one dashboard page, whatever the project's size: session, user, membership, then
# the selector's reads (item tallies, annotations per day, annotations per annotator, users,
# reports, the newest report's annotators, final records, duplicates, and categories given at
# import).
# the aggregates, suggestions kept, reviewers' prediction checks, flagged items, the news badge
PAGE_QUERY_BOUND = 16
API_QUERY_BOUND = 14  # token user, membership, then the same aggregates


def dashboard_url(project):
    return reverse("console:dashboard", args=[project.pk])


def api_url(project):
    return f"/api/v1/projects/{project.pk}/dashboard/"


@pytest.fixture
def pair(project):
    return [member(project), member(project)]


def test_a_new_project_shows_empty_states_and_getting_started(project, web):
    response = web.get(dashboard_url(project))

    html = response.content.decode()
    assert response.status_code == 200
    assert 'data-testid="getting-started"' in html
    assert "No items yet. Upload a file of items to start." in html
    assert "No agreement report yet." in html
    assert "No duplicate items." in html
    assert reverse("agreement:report", args=[project.pk]) in html


def test_progress_counts_items_by_kind_and_status_without_gold(project, pair):
    complete(ItemFactory(project=project), pair, [{"rating": -1}, {"rating": -2}])
    complete(ItemFactory(project=project), pair, [{"rating": -1}, {"rating": 2}])
    ItemFactory(project=project)
    ItemFactory(project=project, is_gold=True, gold={"rating": 1})

    progress = dashboard.dashboard_get(project=project).progress

    assert progress.total == 3
    assert progress.approved == 1
    assert progress.in_review == 1
    assert progress.open == 1
    assert progress.gold_items == 1
    assert progress.by_kind["preference"] == {
        "open": 1,
        "stalled": 0,
        "in_review": 1,
        "approved": 1,
        "rejected": 0,
        "dropped": 0,
    }
    assert progress.annotations_done == 4
    assert progress.annotations_needed == 6


def test_the_page_shows_progress_as_a_bar_and_stacked_bars(project, web, pair):
    complete(ItemFactory(project=project), pair, [{"rating": -1}, {"rating": -2}])
    ItemFactory(project=project)

    html = web.get(dashboard_url(project)).content.decode()

    assert '<progress max="2" value="1"' in html
    assert 'data-testid="approved">1<' in html
    assert "Items by kind and status" in html
    assert "<svg" in html


def test_annotations_per_day_cover_the_last_30_days(project, pair):
    items = [ItemFactory(project=project) for _ in range(4)]
    annotate(items[0], pair[0], {"rating": 1})
    annotate(items[1], pair[0], {"rating": 1}, days_ago=2)
    annotate(items[2], pair[1], {"rating": 1}, days_ago=2)
    annotate(items[3], pair[1], {"rating": 1}, days_ago=40)

    board = dashboard.dashboard_get(project=project)

    per_day = dict(board.per_day)
    assert len(board.per_day) == dashboard.DAYS
    assert per_day[board.today] == 1
    assert per_day[board.today - timedelta(days=2)] == 2
    assert sum(per_day.values()) == 3


def test_annotators_get_live_counts_throughput_and_gold_accuracy(project, pair):
    ann, other = pair
    for n in range(3):
        annotate(ItemFactory(project=project), ann, {"rating": 1}, days_ago=n % 2)
    gold = [ItemFactory(project=project, is_gold=True, gold={"rating": 1}) for _ in range(4)]
    for n, item in enumerate(gold):
        annotate(item, ann, {"rating": 1 if n != 0 else -1})  # gold side: correct

    rows = {r.username: r for r in dashboard.dashboard_get(project=project).annotators}

    row = rows[ann.username]
    assert row.annotations == 7
    assert row.active_days == 2
    assert row.per_day == 3.5
    assert row.gold_answers == 4
    assert row.gold_accuracy == 0.75
    assert rows[other.username].annotations == 0  # an annotator who has not started yet


def test_a_gold_accuracy_below_the_threshold_is_flagged(project, web, pair):
    project.gold_threshold = 0.8
    project.save()
    ann = pair[0]
    for n in range(5):
        item = ItemFactory(project=project, is_gold=True, gold={"rating": 1})
        annotate(item, ann, {"rating": 1 if n < 3 else -1})  # gold side: correct

    html = web.get(dashboard_url(project)).content.decode()

    assert "Gold accuracy 60% is below the project&#x27;s 80% threshold" in html
    assert f'<tr data-annotator="{ann.username}" class="flagged">' in html


def test_too_few_gold_answers_are_not_flagged(project, pair):
    item = ItemFactory(project=project, is_gold=True, gold={"rating": 1})
    annotate(item, pair[0], {"rating": -1})  # not the gold side: wrong

    [row] = [r for r in dashboard.dashboard_get(project=project).annotators if r.annotations]

    assert row.gold_accuracy == 0.0
    assert row.flags == []


def test_a_70_30_position_bias_from_the_report_is_flagged(project, pair):
    ann, fair = pair
    report(
        project,
        annotators=[
            annotator_entry(ann, position_bias_left=0.7, position_choices=30),
            annotator_entry(fair, position_bias_left=0.55, position_choices=40),
        ],
    )

    rows = {r.username: r for r in dashboard.dashboard_get(project=project).annotators}

    assert rows[ann.username].flags == [
        "Chose the response shown on the left 70% of the time (30 choices): beyond a 60/40 "
        "position bias."
    ]
    assert rows[fair.username].flags == []


def test_position_bias_is_not_flagged_under_20_choices(project, pair):
    report(
        project, annotators=[annotator_entry(pair[0], position_bias_left=0.9, position_choices=19)]
    )

    rows = dashboard.dashboard_get(project=project).annotators

    assert all(not row.flags for row in rows)


def test_position_bias_flag_from_a_report_built_from_annotations(project, pair):
    ann = pair[0]
    for n in range(20):
        # Shown A|B; A preferred (left) 14 times, B (right) 6 times.
        annotate(
            ItemFactory(project=project), ann, {"rating": -1 if n < 14 else 1}, display_order="AB"
        )
    built = AgreementReport.objects.create(project=project)
    agreement_report_build(report_id=built.pk)

    rows = {r.username: r for r in dashboard.dashboard_get(project=project).annotators}

    assert rows[ann.username].position_bias_left == pytest.approx(0.7)
    assert rows[ann.username].position_choices == 20
    assert "beyond a 60/40 position bias" in rows[ann.username].flags[0]


def test_agreement_over_time_draws_each_fields_alpha_per_report(project, web):
    earlier = timezone.now() - timedelta(days=1)
    report(
        project,
        fields={
            "preference.rating": {"alpha_ordinal": 0.4},
            "refusal.decision": {"alpha_nominal": None},
        },
        computed_at=earlier,
    )
    report(
        project,
        fields={
            "preference.rating": {"alpha_ordinal": 0.6},
            "refusal.decision": {"alpha_nominal": 0.8},
        },
    )

    board = dashboard.dashboard_get(project=project)
    html = web.get(dashboard_url(project)).content.decode()

    assert board.agreement.series == {
        "preference.rating": [0.4, 0.6],
        "refusal.decision": [None, 0.8],
    }
    assert "Krippendorff" in html
    assert "<polyline" in html


def test_coverage_warns_about_a_category_over_half_of_the_approved_items(project, pair):
    for n in range(3):
        approved_instruction(project, pair, "code", n)
    approved_instruction(project, pair, "summarization", 3)
    approved_instruction(project, pair, "reasoning", 4)

    mix = dashboard.dashboard_get(project=project).mix

    assert mix.instruction.basis == "approved"
    rows = {row.label: row for row in mix.instruction.rows}
    assert rows["code"].share == 0.6
    assert rows["code"].warn == "high"
    assert rows["summarization"].warn == ""
    assert rows["translation"].warn == "low"  # a category of the project with no item
    assert any("“code” is 60.0%" in w and "over 50%" in w for w in mix.instruction.warnings)


def test_coverage_warns_about_a_category_under_5_percent(project):
    for n in range(49):
        refusal(project, "violence" if n % 2 else "malware", n)
    refusal(project, "privacy", 99)
    project.harm_categories = ["violence", "malware", "privacy"]
    project.save()

    coverage = dashboard.dashboard_get(project=project).mix.refusal

    assert coverage.basis == "imported"
    rows = {row.label: row for row in coverage.rows}
    assert rows["privacy"].share == pytest.approx(0.02)
    assert rows["privacy"].warn == "low"
    assert rows["violence"].warn == rows["malware"].warn == ""
    assert coverage.warnings == [
        "Harm category “privacy” is 2.0% of the total (1 of 50): under 5%."
    ]


def test_coverage_warnings_are_shown_on_the_page(project, web, pair):
    for n in range(3):
        approved_instruction(project, pair, "code", n)

    html = web.get(dashboard_url(project)).content.decode()

    assert 'data-testid="coverage-warnings"' in html
    assert "“code” is 100.0%" in html
    assert 'class="bar warn"' in html


def test_balanced_coverage_gives_no_warning(project, pair):
    project.categories = ["a", "b", "c"]
    project.save()
    for n, category in enumerate(["a", "b", "c", "a", "b", "c"]):
        approved_instruction(project, pair, category, n)

    assert dashboard.dashboard_get(project=project).mix.instruction.warnings == []


def test_categories_given_at_import_stand_in_until_something_is_approved(project, pair):
    instruction(project, "code", 1)
    instruction(project, "code", 2)
    approved_instruction(project, pair, "reasoning", 3)

    coverage = dashboard.dashboard_get(project=project).mix.instruction

    assert coverage.basis == "approved"
    assert {r.label: r.count for r in coverage.rows if r.count} == {"reasoning": 1}


def test_refusal_share_of_sft_data_and_the_decision_distribution(project, pair):
    for n in range(3):
        approved_instruction(project, pair, "code", n)
    approved_refusal(project, pair, "malware", "refuse", 10)
    approved_refusal(project, pair, "none", "comply", 11)
    refusal(project, "violence", 12)  # not approved: not counted

    mix = dashboard.dashboard_get(project=project).mix

    assert mix.sft_instruction == 3
    assert mix.sft_refusal == 2
    assert mix.refusal_share == pytest.approx(0.4)
    assert mix.decisions == {"refuse": 1, "comply": 1, "partial": 0}


def test_duplicates_are_counted_and_linked_to_the_items_browser(project, lead, web):
    data = {"prompt": "Same", "responses": [{"text": "a"}, {"text": "b"}]}
    rows = [{"external_id": f"same-{n}", "kind": "preference", "data": data} for n in range(3)]
    item_import(project=project, rows=[*rows, item_row(n=1), item_row(n=2)], actor=lead)

    board = dashboard.dashboard_get(project=project)
    html = web.get(dashboard_url(project)).content.decode()

    assert (board.duplicates.groups, board.duplicates.items) == (1, 3)
    assert f"{reverse('console:items', args=[project.pk])}?duplicates=true" in html


def test_duplicates_follow_later_imports_that_add_or_change_content(project, lead):
    def figures():
        board = dashboard.dashboard_get(project=project).duplicates
        return board.groups, board.items

    item_import(project=project, rows=[item_row(n=1), item_row(n=2)], actor=lead)
    assert figures() == (0, 0)

    twin = {**item_row(n=1), "external_id": "twin-of-1"}
    item_import(project=project, rows=[twin], actor=lead)  # same content as an older item
    assert figures() == (1, 2)
    flagged = set(Item.objects.filter(has_duplicate=True).values_list("external_id", flat=True))
    assert flagged == {"preference-1", "twin-of-1"}

    changed = {**twin, "data": item_row(n=3)["data"]}  # the twin's content changes
    item_import(project=project, rows=[changed], actor=lead)
    assert figures() == (0, 0)
    assert not Item.objects.filter(has_duplicate=True).exists()

    onto_two = {**twin, "data": item_row(n=2)["data"]}  # ... and then to another item's
    item_import(project=project, rows=[onto_two], actor=lead)
    assert figures() == (1, 2)
    flagged = set(Item.objects.filter(has_duplicate=True).values_list("external_id", flat=True))
    assert flagged == {"preference-2", "twin-of-1"}


def test_categories_and_usernames_are_escaped_in_charts_and_tables(project, web):
    project.categories = [EVIL]
    project.save()
    pair = [member(project, username="a" + EVIL), member(project)]
    approved_instruction(project, pair, EVIL, 1)
    report(project, fields={EVIL: {"alpha_nominal": 0.5}})

    html = web.get(dashboard_url(project)).content.decode()

    assert "<script>alert(1)" not in html
    assert "<img src=x" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


# --- the API --------------------------------------------------------------------------------------


def test_the_api_returns_the_dashboards_figures(project, lead, make_api, pair):
    complete(ItemFactory(project=project), pair, [{"rating": -1}, {"rating": -2}])

    response = make_api(lead).get(api_url(project))

    body = response.json()
    assert response.status_code == 200
    assert body["progress"]["approved"] == 1
    assert body["progress"]["by_kind"]["preference"]["approved"] == 1
    assert len(body["annotations_per_day"]) == dashboard.DAYS
    assert {row["username"] for row in body["annotators"]} == {u.username for u in pair}
    assert body["coverage"]["instruction_categories"]["basis"] == ""
    assert body["duplicates"] == {"groups": 0, "items": 0}


def test_a_reviewer_may_read_the_dashboard_api(project, make_api):
    response = make_api(member(project, Role.REVIEWER)).get(api_url(project))

    assert response.status_code == 200


def test_a_reviewer_reads_the_dashboard_api_under_pseudonyms(project, make_api):
    annotator = member(project)
    item = ItemFactory(project=project)
    annotate(item, annotator, {"rating": 1})
    body = make_api(member(project, Role.REVIEWER)).get(api_url(project)).json()
    rows = [row for row in body["annotators"] if row["annotations"]]
    assert [(row["username"].startswith("Annotator "), row["user_id"]) for row in rows] == [
        (True, None)
    ]
    assert annotator.username not in str(body)


def test_the_dashboard_api_is_403_for_annotators_and_404_for_non_members(project, make_api):
    assert make_api(member(project)).get(api_url(project)).status_code == 403
    assert make_api(UserFactory()).get(api_url(project)).status_code == 404


# --- query counts ---------------------------------------------------------------------------------


def seed(project, size: int) -> None:
    """`size` items of each kind, most annotated by three annotators, some approved, gold
    items answered, duplicates, and agreement reports."""
    people = [member(project) for _ in range(3)]
    for n in range(size):
        complete(ItemFactory(project=project), people[:2], [{"rating": -1}, {"rating": -2}])
        approved_instruction(project, people[1:], "code" if n % 2 else "reasoning", n)
        approved_refusal(project, people[::2], "malware", "refuse", n)
        annotate(ItemFactory(project=project), people[n % 3], {"rating": 1}, display_order="BA")
        gold = ItemFactory(project=project, is_gold=True, gold={"rating": 1})
        annotate(gold, people[2], {"rating": 1 if n % 3 != 0 else -1})
        ItemFactory(
            project=project, data={"prompt": "dup", "responses": [{"text": "a"}, {"text": "b"}]}
        )
    for _ in range(3):
        report(
            project,
            fields={"preference.rating": {"alpha_ordinal": 0.5}},
            annotators=[
                annotator_entry(u, position_bias_left=0.5, position_choices=5) for u in people
            ],
        )


def count_queries(fetch) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = fetch()
    assert response.status_code == 200
    return len(queries)


@pytest.mark.parametrize("size", [5, 50])
def test_the_dashboard_page_runs_a_fixed_number_of_queries(
    size, project, lead, django_assert_max_num_queries
):
    seed(project, size)
    client = Client()
    client.force_login(lead)

    with django_assert_max_num_queries(PAGE_QUERY_BOUND):
        response = client.get(dashboard_url(project))

    assert response.status_code == 200


@pytest.mark.parametrize("size", [5, 50])
def test_the_dashboard_api_runs_a_fixed_number_of_queries(
    size, project, lead, make_api, django_assert_max_num_queries
):
    seed(project, size)
    api = make_api(lead)

    with django_assert_max_num_queries(API_QUERY_BOUND):
        response = api.get(api_url(project))

    assert response.status_code == 200


def test_the_query_count_is_the_same_at_two_sizes(lead, project):
    client = Client()
    client.force_login(lead)
    seed(project, 2)
    small = count_queries(lambda: client.get(dashboard_url(project)))
    seed(project, 20)
    large = count_queries(lambda: client.get(dashboard_url(project)))

    assert small == large


def test_suggestions_kept_show_per_annotator_beside_agreement_and_for_the_project(
    project, lead, web, make_api, monkeypatch
):
    monkeypatch.setattr(dashboard, "MIN_SUGGESTIONS", 3)
    project.suggestions = "confirm"
    project.save()
    stamper, judge = member(project), member(project)
    for n in range(4):  # the stamper keeps every suggestion, the judge one of four
        item = instruction(project, "summarization", n)
        annotate(item, stamper, {"response": "A.", "category": "summarization"})
        annotate(item, judge, {"response": "B.", "category": "code" if n else "summarization"})

    board = dashboard.dashboard_get(project=project)

    rows = {row.username: row for row in board.annotators}
    assert (rows[stamper.username].suggestions_shown, rows[stamper.username].suggestions_kept) == (
        4,
        4,
    )
    assert rows[judge.username].suggestion_acceptance == 0.25
    assert rows[stamper.username].flag_kinds == ["suggestions"]
    assert rows[judge.username].flag_kinds == []
    assert (board.suggestions.shown, board.suggestions.kept) == (8, 5)
    html = web.get(dashboard_url(project)).content.decode()
    assert "Suggestions kept" in html and "Agreement with others" in html
    assert 'data-testid="suggestions-kept">100%' in html
    assert 'data-testid="suggestions-kept">25%' in html
    assert "keeps suggestions" in html
    assert "Model suggestions kept: <strong>62%</strong> of 8 annotations" in html
    body = make_api(lead).get(api_url(project)).json()
    assert body["suggestions"] == {"mode": "confirm", "shown": 8, "kept": 5, "acceptance": 0.625}
    kept = {row["username"]: row["suggestion_acceptance"] for row in body["annotators"]}
    assert (kept[stamper.username], kept[judge.username]) == (1.0, 0.25)


def test_hidden_suggestions_are_said_and_never_counted(project, web):
    stamper = member(project)
    annotate(
        instruction(project, "summarization", 0),
        stamper,
        {"response": "A.", "category": "summarization"},
    )

    board = dashboard.dashboard_get(project=project)

    assert (board.suggestions.mode, board.suggestions.shown) == ("hidden", 0)
    html = web.get(dashboard_url(project)).content.decode()
    assert "Model suggestions are hidden from annotators" in html
