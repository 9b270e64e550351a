"""Recompute the near-duplicate groups and personal data flags of a project's items."""

from django.core.management.base import BaseCommand, CommandError

from annotation.models import Project
from hygiene.services import project_scan


class Command(BaseCommand):
    help = (
        "Recompute near-duplicate groups (MinHash/LSH, the project's threshold) and personal "
        "data flags of every item of the project(s)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--project", type=int, help="a project id (default: every project)")

    def handle(self, *args, project=None, **options):
        projects = Project.objects.order_by("id")
        if project is not None:
            projects = projects.filter(pk=project)
            if not projects.exists():
                raise CommandError(f"No project {project}.")
        for found in projects:
            figures = project_scan(project=found)
            summary = ", ".join(f"{name.replace('_', ' ')} {n}" for name, n in figures.items())
            self.stdout.write(f"project {found.pk} ({found.name}): {summary}")
