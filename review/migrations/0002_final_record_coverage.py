"""FinalRecord carries its project, kind, category and decision (the dashboard's coverage)."""

import django.db.models.deletion
from django.db import migrations, models

from annotation import kinds


def backfill(apps, schema_editor):
    FinalRecord = apps.get_model("review", "FinalRecord")
    records = FinalRecord.objects.select_related("item").order_by("pk")
    batch = []
    for record in records.iterator(chunk_size=2_000):
        record.project_id, record.kind = record.item.project_id, record.item.kind
        record.category, record.decision = kinds.kind_get(record.kind).coverage_labels(
            record.payload
        )
        batch.append(record)
        if len(batch) == 2_000:
            FinalRecord.objects.bulk_update(batch, ["project", "kind", "category", "decision"])
            batch = []
    FinalRecord.objects.bulk_update(batch, ["project", "kind", "category", "decision"])


class Migration(migrations.Migration):
    dependencies = [
        ("annotation", "0004_dashboard_rollups"),
        ("review", "0001_initial"),
    ]

    operations = [
        migrations.AddField(
            model_name="finalrecord",
            name="project",
            field=models.ForeignKey(
                null=True,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="+",
                to="annotation.project",
            ),
        ),
        migrations.AddField(
            model_name="finalrecord",
            name="kind",
            field=models.CharField(default="", max_length=16),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name="finalrecord",
            name="category",
            field=models.CharField(blank=True, default="", max_length=64),
        ),
        migrations.AddField(
            model_name="finalrecord",
            name="decision",
            field=models.CharField(blank=True, default="", max_length=16),
        ),
        migrations.RunPython(backfill, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="finalrecord",
            name="project",
            field=models.ForeignKey(
                on_delete=django.db.models.deletion.CASCADE,
                related_name="+",
                to="annotation.project",
            ),
        ),
        migrations.AddIndex(
            model_name="finalrecord",
            index=models.Index(
                condition=models.Q(("is_current", True)),
                fields=["project", "kind", "category", "decision"],
                name="final_record_coverage",
            ),
        ),
    ]
