"""AgreementReport, moved here from the review app: only the migration state changes.

Its table, review_agreementreport, was created by review's 0001_initial and keeps its name,
rows, constraints and indexes (the model sets db_table); review's 0003 drops the model from
review's state once this migration has added it here.
"""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True

    dependencies = [
        ("annotation", "0006_one_active_lease_and_pseudonyms"),
        ("review", "0002_final_record_coverage"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="AgreementReport",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True,
                                primary_key=True,
                                serialize=False,
                                verbose_name="ID",
                            ),
                        ),
                        (
                            "status",
                            models.CharField(
                                choices=[
                                    ("queued", "Queued"),
                                    ("running", "Running"),
                                    ("done", "Done"),
                                    ("failed", "Failed"),
                                ],
                                default="queued",
                                max_length=16,
                            ),
                        ),
                        ("error", models.TextField(blank=True, default="")),
                        ("annotation_count", models.PositiveIntegerField(default=0)),
                        ("fields", models.JSONField(blank=True, default=dict)),
                        ("annotators", models.JSONField(blank=True, default=list)),
                        ("kappa", models.JSONField(blank=True, default=dict)),
                        ("created_at", models.DateTimeField(auto_now_add=True)),
                        ("computed_at", models.DateTimeField(blank=True, null=True)),
                        (
                            "project",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.CASCADE,
                                related_name="agreement_reports",
                                to="annotation.project",
                            ),
                        ),
                        (
                            "requested_by",
                            models.ForeignKey(
                                blank=True,
                                null=True,
                                on_delete=django.db.models.deletion.SET_NULL,
                                related_name="+",
                                to=settings.AUTH_USER_MODEL,
                            ),
                        ),
                    ],
                    options={
                        "db_table": "review_agreementreport",
                        "ordering": ["-id"],
                        "indexes": [
                            models.Index(
                                fields=["project", "status", "-id"], name="agreement_latest"
                            )
                        ],
                        "constraints": [
                            models.CheckConstraint(
                                condition=models.Q(
                                    ("status__in", ["queued", "running", "done", "failed"])
                                ),
                                name="agreement_status_valid",
                            )
                        ],
                    },
                ),
            ],
            database_operations=[],
        ),
    ]
