"""manage.py project_dump PROJECT FILE: a whole project as one file (console/backup.py)."""

import sys

from django.core.management.base import BaseCommand, CommandError

from annotation.models import Project
from console.backup import project_dump


class Command(BaseCommand):
    help = "Write a project (by id) to FILE ('-' for standard output) for project_load."

    def add_arguments(self, parser):
        parser.add_argument("project", type=int, help="the project's id")
        parser.add_argument("file", help="where to write the dump, or - for standard output")

    def handle(self, *args, project: int, file: str, **options):
        found = Project.objects.filter(pk=project).first()
        if found is None:
            raise CommandError(f"No project with id {project}.")
        if file == "-":
            dumped = project_dump(project=found, out=sys.stdout)
        else:
            with open(file, "w", encoding="utf-8", newline="\n") as out:
                dumped = project_dump(project=found, out=out)
        rows = sum(dumped.rows.values())
        self.stderr.write(
            f"Dumped project {found.name!r} (id {found.pk}): {rows} rows, {dumped.users} users."
        )
