from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from annotation import parsing
from annotation.importing import item_import
from annotation.models import Project
from core.errors import ApplicationError


class Command(BaseCommand):
    help = "Import items from a JSON or JSONL file into a project (all or nothing, like the API)."

    def add_arguments(self, parser):
        parser.add_argument("project", help="project id or exact name")
        parser.add_argument("file", type=Path, help=".json (array) or .jsonl / .ndjson file")

    def handle(self, *args, project: str, file: Path, **options):
        target = self._project(project)
        if not file.is_file():
            raise CommandError(f"No such file: {file}")
        try:
            rows = parsing.rows_from_file(file.name, file.read_bytes())
        except ApplicationError as exc:
            raise CommandError(exc.message) from None
        with tqdm(
            total=len(rows), unit="item", desc="writing", disable=options["verbosity"] < 1
        ) as bar:

            def advance(done: int) -> None:
                bar.update(done - bar.n)

            try:
                result = item_import(project=target, rows=rows, actor=None, on_progress=advance)
            except ApplicationError as exc:
                for error in exc.extra.get("errors", [])[:50]:
                    self.stderr.write(
                        f"item {error.get('index')} ({error.get('external_id')}): "
                        f"{error.get('field')}: {error.get('message')}"
                    )
                raise CommandError(exc.message) from None
            bar.update(len(rows) - bar.n)
        self.stdout.write(
            f"created {result.created}, updated {result.updated}, unchanged {result.unchanged}, "
            f"duplicates reported {len(result.duplicates)}"
        )

    def _project(self, ref: str) -> Project:
        project = Project.objects.filter(pk=int(ref)).first() if ref.isdigit() else None
        if project is None:
            matches = list(Project.objects.filter(name=ref)[:2])
            if len(matches) > 1:
                raise CommandError(f"Several projects are named {ref!r}; give the id.")
            project = matches[0] if matches else None
        if project is None:
            raise CommandError(f"No project {ref!r}.")
        return project
