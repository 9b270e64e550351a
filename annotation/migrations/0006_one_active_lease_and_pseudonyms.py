"""One active lease per annotator and project, as a constraint; a pseudonym key per project.

Before the constraint, parallel claims by one annotator could leave several active leases: all
but the newest are expired (their slots freed, the items' lease counters recounted). Every
existing project gets its own random pseudonym key (AddField would give them all one value).
"""

import secrets

import annotation.models
from django.conf import settings
from django.db import migrations, models
from django.db.models import Count, Min
from django.utils import timezone


def expire_extra_leases(apps, schema_editor):
    Assignment = apps.get_model("annotation", "Assignment")
    Item = apps.get_model("annotation", "Item")
    doubled = (
        Assignment.objects.filter(status="active")
        .values("project_id", "annotator_id")
        .annotate(n=Count("*"))
        .filter(n__gt=1)
    )
    now = timezone.now()
    touched = set()
    for pair in doubled:
        leases = Assignment.objects.filter(
            status="active", project_id=pair["project_id"], annotator_id=pair["annotator_id"]
        ).order_by("-claimed_at", "-id")
        extra = list(leases.values_list("pk", "item_id")[1:])
        Assignment.objects.filter(pk__in=[pk for pk, _ in extra]).update(
            status="expired", finished_at=now
        )
        touched.update(item_id for _, item_id in extra)
    for item_id in touched:
        active = Assignment.objects.filter(item_id=item_id, status="active").aggregate(
            n=Count("*"), first=Min("expires_at")
        )
        Item.objects.filter(pk=item_id).update(
            active_count=active["n"], lease_expires_at=active["first"]
        )


def key_every_project(apps, schema_editor):
    Project = apps.get_model("annotation", "Project")
    for pk in Project.objects.values_list("pk", flat=True):
        Project.objects.filter(pk=pk).update(pseudonym_key=secrets.token_hex(16))


class Migration(migrations.Migration):
    dependencies = [
        ("annotation", "0005_item_search_trigram"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.RunPython(expire_extra_leases, migrations.RunPython.noop),
        migrations.RemoveIndex(model_name="assignment", name="assignment_active"),
        migrations.AddConstraint(
            model_name="assignment",
            constraint=models.UniqueConstraint(
                condition=models.Q(("status", "active")),
                fields=("project", "annotator"),
                name="assignment_one_active_lease",
            ),
        ),
        migrations.AddField(
            model_name="project",
            name="pseudonym_key",
            field=models.CharField(
                default=annotation.models.new_pseudonym_key, editable=False, max_length=64
            ),
        ),
        migrations.RunPython(key_every_project, migrations.RunPython.noop),
    ]
