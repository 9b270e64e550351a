"""project_dump and project_load: a whole project moves as one file; a dump, a load into an
empty database and a second dump give byte-identical files; a load never overwrites."""

import io
import os

import pytest
from django.apps import apps
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command

from agreement.services import agreement_report_build, agreement_report_request
from annotation import kinds
from annotation.models import Annotation, Assignment, Item, Project, Role, SettingVersion
from console import backup
from core.models import AuditEvent
from review.models import FinalRecord, PredictionCheck, Review
from tests.factories import ItemFactory, MembershipFactory, ProjectFactory, item_row, lease
from tests.review.review_fixtures import DISPUTED_PREFERENCE, completed_item, disputed_preference


@pytest.fixture
def rich(db, make_api):
    """A project with some of everything: settings, a guidelines change, gold, items of each
    kind, a skip, an active lease with a draft, annotations, reviews (approve and reject),
    final records, rollups, an agreement report and audit events."""
    project = ProjectFactory(name="Moving house", annotations_per_item=2, agreement_every=0)
    lead = MembershipFactory(project=project, role=Role.LEAD).user
    reviewer = MembershipFactory(project=project, role=Role.REVIEWER).user
    lead_api = make_api(lead)
    assert (
        lead_api.patch(
            f"/api/v1/projects/{project.pk}/",
            {
                "guidelines": "# Version 2\nBe kind.",
                "review_sample_rate": 0.25,
                "rubric": [{"name": "tone", "description": "Polite?", "scale": "pass_fail"}],
            },
            format="json",
        ).status_code
        == 200
    )
    # With a model's answer, claimed first: the reviewer's prediction check is graded.
    approved = disputed_preference(
        project, prediction={"payload": {"rating": 2}, "confidence": 0.6}
    )
    rejected = completed_item(project, DISPUTED_PREFERENCE)
    review_api = make_api(reviewer)
    claimed = review_api.post(f"/api/v1/projects/{project.pk}/review-claim/").json()
    assert claimed["item"]["id"] == approved.pk
    first = Annotation.objects.filter(item=approved).order_by("id").first()
    assert review_api.post(
        f"/api/v1/items/{approved.pk}/review/",
        {"decision": "approve", "annotation": first.pk},
        format="json",
    ).status_code in (200, 201)
    assert review_api.post(
        f"/api/v1/items/{rejected.pk}/review/",
        {"decision": "reject", "note": "Both wrong."},
        format="json",
    ).status_code in (200, 201)
    ItemFactory(project=project, kind=kinds.INSTRUCTION)
    ItemFactory(project=project, kind=kinds.REFUSAL, gold={"decision": "refuse"}, is_gold=True)
    open_item = ItemFactory(project=project, kind=kinds.INSTRUCTION, metadata={"source": "ü ✓"})
    annotator = MembershipFactory(project=project, role=Role.ANNOTATOR).user
    held = lease(open_item, annotator)
    Assignment.objects.filter(pk=held.pk).update(draft={"response": "half a thought"})
    report = agreement_report_request(project=project, actor=lead)
    agreement_report_build(report_id=report.pk)
    # Production items routed by confidence (one auto-accepted) and a calibration report.
    from routing.services import calibration_report_build, calibration_report_request

    lead_api.patch(f"/api/v1/projects/{project.pk}/", {"auto_accept_above": 0.9}, format="json")
    prediction = {"payload": {"decision": "refuse", "response": "No.", "harm_category": "none"}}
    rows = [
        item_row(kinds.REFUSAL, n, prediction={**prediction, "confidence": c}, source="production")
        for n, c in ((101, 0.99), (102, 0.4))
    ]
    response = lead_api.post(f"/api/v1/projects/{project.pk}/items/", rows, format="json")
    assert response.status_code == 201
    calibration = calibration_report_request(project=project, actor=lead)
    calibration_report_build(report_id=calibration.pk)
    return project


def dump(project) -> str:
    out = io.StringIO()
    backup.project_dump(project=project, out=out)
    return out.getvalue()


def _path_to_project(model, depth: int = 3) -> str | None:
    """The lookup from a row to its project: a foreign key to the project, or through the
    rows it refers to (an item, a webhook delivery's endpoint)."""
    relations = [
        field
        for field in model._meta.concrete_fields
        if field.is_relation and field.related_model is not get_user_model()
    ]
    for field in relations:
        if field.related_model is Project:
            return field.name
    for field in relations if depth > 1 else []:
        path = _path_to_project(field.related_model, depth - 1)
        if path is not None:
            return f"{field.name}__{path}"
    return None


def delete_everything(project) -> None:
    """The project's rows and its users go: as in a database that never held them."""
    users = list(get_user_model().objects.filter(memberships__project=project))
    for label in reversed(backup.SKIPPED):  # not moved; they refer to the project's rows
        model = apps.get_model(label)
        model.objects.filter(**{_path_to_project(model): project.pk}).delete()
    for label, selector in reversed(backup.DUMPED):
        rows = apps.get_model(label).objects.filter(**{selector: project.pk})
        rows._raw_delete(rows.db)  # in dependency order, past the PROTECTed references
    for user in users:
        user.delete()


def test_dump_load_dump_is_byte_identical_and_the_project_works(rich, make_api):
    first = dump(rich)
    counts = {
        "items": Item.objects.filter(project=rich).count(),
        "annotations": Annotation.objects.filter(project=rich).count(),
        "reviews": Review.objects.filter(item__project=rich).count(),
        "finals": FinalRecord.objects.filter(project=rich).count(),
        "audit": AuditEvent.objects.filter(project=rich).count(),
        "setting versions": SettingVersion.objects.filter(project=rich).count(),
        "prediction checks": PredictionCheck.objects.filter(project=rich, agreed=False).count(),
    }
    assert (
        counts["reviews"] == 2
        and counts["prediction checks"] == 1
        and counts["finals"] >= 1
        and counts["setting versions"] >= 2
    )
    old_id = rich.pk
    delete_everything(rich)
    assert not Project.objects.filter(pk=old_id).exists()

    loaded = backup.project_load(lines=io.StringIO(first))

    project = loaded.project
    assert project.pk != old_id
    assert loaded.users_created == get_user_model().objects.count()
    assert dump(project) == first
    assert counts == {
        "items": Item.objects.filter(project=project).count(),
        "annotations": Annotation.objects.filter(project=project).count(),
        "reviews": Review.objects.filter(item__project=project).count(),
        "finals": FinalRecord.objects.filter(project=project).count(),
        "audit": AuditEvent.objects.filter(project=project).count(),
        "setting versions": SettingVersion.objects.filter(project=project).count(),
        "prediction checks": PredictionCheck.objects.filter(project=project, agreed=False).count(),
    }
    assert project.guidelines.startswith("# Version 2") and project.review_sample_rate == 0.25
    # the lead, back with a new token, reads the project and its agreement report
    lead = project.memberships.get(role=Role.LEAD).user
    assert not lead.has_usable_password()
    api = make_api(lead)
    assert api.get(f"/api/v1/projects/{project.pk}/items/").status_code == 200
    report = api.get(f"/api/v1/projects/{project.pk}/agreement/").json()
    assert report["annotation_count"] == counts["annotations"]
    assert {row["user_id"] for row in report["annotators"]} <= set(
        project.memberships.values_list("user_id", flat=True)
    )


def test_loading_where_the_project_exists_refuses_clearly(rich, tmp_path):
    path = tmp_path / "project.jsonl"
    call_command("project_dump", str(rich.pk), str(path), stderr=io.StringIO())
    before = Item.objects.count()

    with pytest.raises(CommandError, match="exists in this database already"):
        call_command("project_load", str(path))
    assert Item.objects.count() == before  # nothing written


def test_the_commands_move_a_project_through_a_file(rich, tmp_path):
    path = tmp_path / "project.jsonl"
    call_command("project_dump", str(rich.pk), str(path), stderr=io.StringIO())
    delete_everything(rich)
    out = io.StringIO()
    call_command("project_load", str(path), stdout=out)
    assert "Loaded project 'Moving house'" in out.getvalue()
    again = tmp_path / "again.jsonl"
    project = Project.objects.get(name="Moving house")
    call_command("project_dump", str(project.pk), str(again), stderr=io.StringIO())
    assert again.read_bytes() == path.read_bytes()


@pytest.mark.django_db
def test_a_file_that_is_not_a_dump_is_refused():
    with pytest.raises(backup.BackupError, match="Not a project dump"):
        backup.project_load(lines=io.StringIO('{"hello": 1}\n'))


def test_every_table_that_refers_to_a_project_or_an_item_is_dumped_or_skipped():
    """A new table of project data must say whether a backup moves it."""
    listed = {label for label, _ in backup.DUMPED} | set(backup.SKIPPED)
    project_data = {"annotation.project", "annotation.item"}
    missing = []
    for model in apps.get_models():
        label = model._meta.label_lower
        refers = any(
            field.is_relation
            and field.many_to_one | field.one_to_one
            and field.related_model is not None
            and field.related_model._meta.label_lower in project_data
            for field in model._meta.concrete_fields
        )
        if refers and label not in listed:
            missing.append(label)
    assert missing == []


def test_a_dump_loaded_into_a_freshly_migrated_database_dumps_byte_identical(
    rich, tmp_path, require_postgres
):
    """Another installation for real: a new database, migrated, the commands run in their own
    processes against it."""
    import re
    import subprocess
    import sys

    import psycopg
    from django.db import connection

    from tests.workers import ROOT, database_url

    first, second = tmp_path / "first.jsonl", tmp_path / "second.jsonl"
    call_command("project_dump", str(rich.pk), str(first), stderr=io.StringIO())
    fresh = f"{connection.settings_dict['NAME']}_fresh"
    admin = connection.get_connection_params()
    admin.pop("cursor_factory", None)
    admin.pop("context", None)
    admin["dbname"] = "postgres"

    def manage(*args: str) -> str:
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "config.settings.test",
            "DATABASE_URL": database_url().rsplit("/", 1)[0] + f"/{fresh}",
        }
        done = subprocess.run(
            [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True
        )
        assert done.returncode == 0, done.stderr[-3000:]
        return done.stdout

    with psycopg.connect(**admin, autocommit=True) as server:
        server.execute(f'DROP DATABASE IF EXISTS "{fresh}"')
        server.execute(f'CREATE DATABASE "{fresh}"')
    try:
        manage("migrate", "--noinput", "-v", "0")
        said = manage("project_load", str(first))
        project_id = re.search(r"as id (\d+):", said).group(1)
        manage("project_dump", project_id, str(second))
    finally:
        with psycopg.connect(**admin, autocommit=True) as server:
            server.execute(f'DROP DATABASE IF EXISTS "{fresh}" WITH (FORCE)')
    assert second.read_bytes() == first.read_bytes()
    assert len(first.read_bytes()) > 1000
