import json

import pytest
from django.core.management import CommandError, call_command

from annotation.models import AnnotatorDay, Item, Membership, Project
from tests.factories import (
    ItemFactory,
    MembershipFactory,
    activity_rows,
    annotate,
    tally_rows,
)


@pytest.mark.django_db
def test_seed_demo_creates_the_project_users_and_items_and_is_safe_twice(capsys):
    call_command("seed_demo")
    first = capsys.readouterr().out
    assert "annotator1" in first and "passwords are shown this once" in first
    project = Project.objects.get()
    counts = {
        kind: Item.objects.filter(project=project, kind=kind).count()
        for kind in ("instruction", "preference", "refusal", "rubric")
    }
    assert min(counts[kind] for kind in ("instruction", "preference", "refusal")) >= 20
    # rubric items: two models on each test case, some cases rephrased (groups)
    assert counts["rubric"] >= 12
    assert Membership.objects.filter(project=project).count() == 4
    call_command("seed_demo")
    second = capsys.readouterr().out
    assert "passwords were printed on the first run" in second
    assert Project.objects.count() == 1
    assert sum(counts.values()) == Item.objects.count()


@pytest.mark.django_db
def test_import_items_loads_a_jsonl_file(tmp_path, project, capsys):
    path = tmp_path / "items.jsonl"
    path.write_text(
        "\n".join(
            json.dumps({"external_id": f"x{n}", "kind": "refusal", "data": {"prompt": f"q{n}"}})
            for n in range(3)
        )
    )
    call_command("import_items", str(project.pk), str(path), verbosity=0)
    assert "created 3" in capsys.readouterr().out
    assert Item.objects.filter(project=project).count() == 3


@pytest.mark.django_db
def test_import_items_reports_errors_and_writes_nothing(tmp_path, project):
    path = tmp_path / "items.json"
    path.write_text(json.dumps([{"external_id": "a", "kind": "refusal", "data": {}}]))
    with pytest.raises(CommandError, match="nothing was written"):
        call_command("import_items", project.name, str(path), verbosity=0)
    assert not Item.objects.exists()


def test_rebuild_rollups_repairs_rollups_gone_wrong_by_hand(project, capsys):
    user, _other = (MembershipFactory(project=project).user for _ in range(2))
    items = ItemFactory.create_batch(
        3, project=project, data={"prompt": "same", "responses": [{"text": "a"}, {"text": "b"}]}
    )
    annotate(items[0], user, {"rating": 1}, days_ago=1)
    expected_days = activity_rows(project)
    # Changes made behind the app's back: the rollups no longer match.
    Item.objects.filter(pk=items[1].pk).update(status="rejected", has_duplicate=False)
    AnnotatorDay.objects.filter(project=project).update(annotations=99)

    call_command("rebuild_rollups", "--project", str(project.pk))

    out = capsys.readouterr().out
    assert f"project {project.pk}" in out
    assert activity_rows(project) == expected_days
    assert tally_rows(project) == {
        ("preference", "open", False): 2,
        ("preference", "rejected", False): 1,
    }
    assert Item.objects.filter(project=project, has_duplicate=True).count() == 3


def test_rebuild_rollups_names_a_missing_project(db):
    with pytest.raises(CommandError, match="No project with id 424242"):
        call_command("rebuild_rollups", "--project", "424242")
