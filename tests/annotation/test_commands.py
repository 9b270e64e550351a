import json

import pytest
from django.core.management import CommandError, call_command

from annotation.models import Item, Membership, Project


@pytest.mark.django_db
def test_seed_demo_creates_the_project_users_and_items_and_is_safe_twice(capsys):
    call_command("seed_demo")
    first = capsys.readouterr().out
    assert "annotator1" in first and "passwords are shown this once" in first
    project = Project.objects.get()
    counts = {
        kind: Item.objects.filter(project=project, kind=kind).count()
        for kind in ("instruction", "preference", "refusal")
    }
    assert min(counts.values()) >= 20
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
