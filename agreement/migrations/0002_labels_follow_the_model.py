"""What names AgreementReport by its app follows it from review to agreement.

* The content type (review, agreementreport) becomes (agreement, agreementreport), so the
  permissions granted on it and the admin's log entries stay attached to the model. Where the
  new content type already exists the old one is left alone.
* Audit events of reports (object_type "review.agreementreport") take the model's new label,
  which new events are written with, so an object's history stays under one name.
"""

from django.db import migrations

OLD_APP, NEW_APP, MODEL = "review", "agreement", "agreementreport"


def _relabel(apps, schema_editor, old: str, new: str) -> None:
    ContentType = apps.get_model("contenttypes", "ContentType")
    AuditEvent = apps.get_model("core", "AuditEvent")
    db = schema_editor.connection.alias
    types = ContentType.objects.using(db)
    if not types.filter(app_label=new, model=MODEL).exists():
        types.filter(app_label=old, model=MODEL).update(app_label=new)
    AuditEvent.objects.using(db).filter(object_type=f"{old}.{MODEL}").update(
        object_type=f"{new}.{MODEL}"
    )


def forwards(apps, schema_editor):
    _relabel(apps, schema_editor, OLD_APP, NEW_APP)


def backwards(apps, schema_editor):
    _relabel(apps, schema_editor, NEW_APP, OLD_APP)


class Migration(migrations.Migration):
    dependencies = [
        ("agreement", "0001_initial"),
        ("review", "0003_agreementreport_moves_to_agreement"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("core", "0001_initial"),
    ]

    operations = [migrations.RunPython(forwards, backwards)]
