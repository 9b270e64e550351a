import secrets
from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction

from annotation import parsing
from annotation.importing import item_import
from annotation.models import Membership, Project, Role
from annotation.services import project_create
from core.services import token_for

DEMO_FILE = Path(__file__).resolve().parents[2] / "demo" / "demo_items.jsonl"
DEMO_PROJECT = "Demo: assistant behaviour"
DEMO_USERS = [
    ("lead", Role.LEAD),
    ("reviewer", Role.REVIEWER),
    ("annotator1", Role.ANNOTATOR),
    ("annotator2", Role.ANNOTATOR),
]
GUIDELINES = """# How to annotate

**Instruction items**: write the answer a careful expert would give. Keep the requested format;
fix the draft when one is shown rather than starting over. Pick the task category.

**Preference items**: read the prompt, then both responses. Rate which one is better on the
7-point scale (the middle means *no real difference*). Judge helpfulness, harmlessness and
honesty; a confident wrong answer is worse than a short correct one.

**Refusal items**: decide whether the assistant should *refuse*, *comply*, or help *partially*
(safe part only), then write the ideal reply. Over-refusing harmless requests is a failure too.

**Rubric items**: score one model answer on each criterion of the rubric, reading the
criterion's description first; compare with the reference answer when one is shown. Score the
answer as written, not the model you guess wrote it.

Keyboard: `1` to `7` rate, `Ctrl+Enter` submits, `Alt+S` skips, `?` lists the shortcuts.
"""


class Command(BaseCommand):
    help = (
        "Create the demo project and users (lead, reviewer, annotator1, annotator2). Safe to rerun."
    )

    @transaction.atomic
    def handle(self, *args, **options):
        User = get_user_model()
        created_passwords = []
        users = {}
        for username, _ in DEMO_USERS:
            user = User.objects.filter(username=username).first()
            if user is None:
                password = secrets.token_urlsafe(9)
                user = User.objects.create_user(username=username, password=password)
                created_passwords.append((username, password))
            users[username] = user
        project = Project.objects.filter(name=DEMO_PROJECT).first()
        if project is None:
            project = project_create(
                actor=users["lead"],
                values={
                    "name": DEMO_PROJECT,
                    "guidelines": GUIDELINES,
                    "gold_rate": 0.1,
                    "review_sample_rate": 0.1,
                    "annotations_per_item": 2,
                },
            )
        for username, role in DEMO_USERS:
            Membership.objects.get_or_create(
                project=project, user=users[username], defaults={"role": role}
            )
        rows = parsing.rows_from_file(DEMO_FILE.name, DEMO_FILE.read_bytes())
        result = item_import(project=project, rows=rows, actor=users["lead"])
        self.stdout.write(
            f"Demo project {project.name!r} (id {project.pk}): {result.created} items created, "
            f"{result.unchanged} unchanged."
        )
        if created_passwords:
            self.stdout.write(
                "Demo users (passwords are shown this once; reset with manage.py changepassword):"
            )
            for username, password in created_passwords:
                self.stdout.write(
                    f"  {username:<11} {password}   API token {token_for(user=users[username]).key}"
                )
        else:
            self.stdout.write(
                "Demo users exist already (lead, reviewer, annotator1, annotator2); "
                "their passwords were printed on the first run."
            )
