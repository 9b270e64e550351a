"""AgreementReport now belongs to the agreement app (agreement's 0001_initial).

Only review's migration state forgets the model: the table review_agreementreport and its rows
stay where they are, now read through agreement.models.AgreementReport.
"""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("review", "0002_final_record_coverage"),
        ("agreement", "0001_initial"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.DeleteModel(name="AgreementReport")],
            database_operations=[],
        ),
    ]
