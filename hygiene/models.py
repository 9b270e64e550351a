"""What the hygiene checks remember about each item: its near-duplicate group and the
personal data its data holds, and the LSH band keys that find its near-duplicates.

Kept by the import (annotation.importing's import check, in the import's transaction) and
recomputed for a whole project by ``manage.py hygiene_scan``."""

from django.db import models
from django.db.models import Q

from annotation.models import Item, Project


class ItemCheck(models.Model):
    item = models.OneToOneField(
        Item, primary_key=True, on_delete=models.CASCADE, related_name="hygiene_check"
    )
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+")
    # The smallest item id of the item's near-duplicate group; null when it has none.
    near_group = models.BigIntegerField(null=True, blank=True)
    # The personal data types found in the item's data (hygiene.pii: EMAIL, PHONE, ...).
    personal_data = models.JSONField(default=list, blank=True)
    has_personal_data = models.BooleanField(default=False)

    class Meta:
        indexes = [
            models.Index(
                fields=["project", "near_group"],
                name="hygiene_near_group",
                condition=Q(near_group__isnull=False),
            ),
            models.Index(
                fields=["project", "item"],
                name="hygiene_personal_data",
                condition=Q(has_personal_data=True),
            ),
        ]

    def __str__(self) -> str:
        return f"checks of item {self.item_id}"


class PromptBand(models.Model):
    """One LSH band key of an item's prompt (hygiene.neardup: BANDS rows per item)."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+")
    item = models.ForeignKey(Item, on_delete=models.CASCADE, related_name="+")
    key = models.BigIntegerField()

    class Meta:
        indexes = [models.Index(fields=["project", "key"], name="hygiene_band_key")]

    def __str__(self) -> str:
        return f"band {self.key} of item {self.item_id}"
