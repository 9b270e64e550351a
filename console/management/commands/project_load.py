"""manage.py project_load FILE: load a project written by project_dump (console/backup.py)."""

import sys

from django.core.management.base import BaseCommand, CommandError

from console.backup import BackupError, project_load


class Command(BaseCommand):
    help = "Load a project from FILE ('-' for standard input), all or nothing."

    def add_arguments(self, parser):
        parser.add_argument("file", help="a file written by project_dump, or - for standard input")

    def handle(self, *args, file: str, **options):
        try:
            if file == "-":
                loaded = project_load(lines=sys.stdin)
            else:
                with open(file, encoding="utf-8") as lines:
                    loaded = project_load(lines=lines)
        except (BackupError, OSError) as exc:
            raise CommandError(getattr(exc, "message", None) or str(exc)) from exc
        rows = sum(loaded.rows.values())
        self.stdout.write(
            f"Loaded project {loaded.project.name!r} as id {loaded.project.pk}: {rows} rows, "
            f"{loaded.users_created} users created (without a usable password: "
            "manage.py changepassword gives one)."
        )
