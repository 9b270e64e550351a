from django.core.management.base import BaseCommand, CommandError

from annotation.importing import duplicates_refresh
from annotation.models import Project
from annotation.rollups import activity_rebuild, tally_rebuild


class Command(BaseCommand):
    help = (
        "Recount the dashboard's rollups from the rows they count: annotations per annotator "
        "and day, items per kind/status/gold, and the duplicate flags. The app keeps them as it "
        "writes; run this after changing items or annotations by hand. Safe to rerun."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--project", type=int, action="append", help="a project id (repeatable; default all)"
        )

    def handle(self, *args, project: list[int] | None, **options):
        projects = Project.objects.order_by("pk")
        if project:
            projects = projects.filter(pk__in=project)
            missing = set(project) - set(projects.values_list("pk", flat=True))
            if missing:
                raise CommandError(f"No project with id {', '.join(map(str, sorted(missing)))}.")
        for target in projects:
            days = activity_rebuild(project_id=target.pk)
            tallies = tally_rebuild(project_id=target.pk)
            duplicates_refresh(project_id=target.pk)
            self.stdout.write(
                f"project {target.pk} ({target.name}): {days} annotator-day rows, "
                f"{tallies} item tallies, duplicate flags refreshed"
            )
