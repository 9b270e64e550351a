"""Filters of a project's items, shared by the items API and the lead's items browser:
ItemFilter (everything a lead or reviewer may filter by) and OwnItemFilter (what an annotator
may filter their own items by)."""

from typing import Any

import django_filters
from django.db.models import Exists, OuterRef, Q, QuerySet

from annotation import kinds
from annotation.models import Agreement, Assignment, Item, ItemStatus, Kind, Split


class ItemFilter(django_filters.FilterSet):
    """The items browser's filters, also usable by the items API: kind, status, split,
    category (given at import or final), agreement, gold, duplicates, and a search in the
    prompt text.

    The search is a case-insensitive substring match on the prompt (`data->>'prompt'`) and on
    the messages' JSON text, or an exact external_id. On PostgreSQL the trigram indexes of
    migration annotation 0005 answer a term of three or more characters; a shorter one, or
    SQLite, reads the project's items."""

    kind = django_filters.ChoiceFilter(choices=Kind.choices)
    status = django_filters.ChoiceFilter(choices=ItemStatus.choices)
    split = django_filters.ChoiceFilter(choices=Split.choices)
    external_id = django_filters.CharFilter()
    category = django_filters.CharFilter(method="filter_category", max_length=64)
    agreement = django_filters.ChoiceFilter(
        choices=[*Agreement.choices, ("none", "Not yet complete")], method="filter_agreement"
    )
    gold = django_filters.ChoiceFilter(
        choices=[("yes", "Gold items only"), ("no", "No gold items")], method="filter_gold"
    )
    duplicates = django_filters.BooleanFilter(method="filter_duplicates")
    flagged = django_filters.BooleanFilter(
        method="filter_flagged", label="Flagged by an annotator who skipped it"
    )
    q = django_filters.CharFilter(method="filter_search", max_length=200, label="Search")
    # Kept by the hygiene app's import check (its ItemCheck rows, read through the items'
    # reverse relation: this app does not import hygiene).
    near_duplicates = django_filters.BooleanFilter(
        method="filter_near_duplicates", label="In a near-duplicate group"
    )
    near_group = django_filters.NumberFilter(
        method="filter_near_group", label="The near-duplicate group (its first item's id)"
    )
    personal_data = django_filters.BooleanFilter(
        method="filter_personal_data", label="Personal data found in the item"
    )

    class Meta:
        model = Item
        fields = ["kind", "status", "split", "external_id"]

    def filter_flagged(self, queryset: QuerySet[Item], name: str, value: bool | None):
        if value is None:
            return queryset
        flagged = Exists(Assignment.objects.filter(item=OuterRef("pk"), flagged=True))
        return queryset.filter(flagged if value else ~flagged)

    def filter_category(self, queryset: QuerySet[Item], name: str, value: str) -> QuerySet[Item]:
        if not value:
            return queryset
        # The category given at import (each kind's coverage field in its data), or the one
        # of the current final record, read through the items' reverse relation (the model
        # belongs to review, which this app does not import).
        records = Item._meta.get_field("final_records").related_model.objects
        final = records.filter(item=OuterRef("pk"), is_current=True, category=value)
        given = Q(pk__in=[])
        for kind in kinds.registry:
            if kind.coverage_field:
                given |= Q(kind=kind.name, **{f"data__{kind.coverage_field}": value})
        return queryset.filter(given | Exists(final))

    def filter_agreement(self, queryset: QuerySet[Item], name: str, value: str):
        if value == "none":
            return queryset.filter(agreement="")
        return queryset.filter(agreement=value) if value else queryset

    def filter_gold(self, queryset: QuerySet[Item], name: str, value: str) -> QuerySet[Item]:
        if value == "yes":
            return queryset.filter(is_gold=True)
        if value == "no":
            return queryset.filter(is_gold=False)
        return queryset

    def filter_duplicates(self, queryset: QuerySet[Item], name: str, value: bool | None):
        return queryset.filter(has_duplicate=True) if value else queryset

    def filter_near_duplicates(self, queryset: QuerySet[Item], name: str, value: bool | None):
        if value is None:
            return queryset
        grouped = Q(hygiene_check__near_group__isnull=False)
        return queryset.filter(grouped) if value else queryset.exclude(grouped)

    def filter_near_group(self, queryset: QuerySet[Item], name: str, value: Any):
        if value is None:
            return queryset
        return queryset.filter(hygiene_check__near_group=int(value))

    def filter_personal_data(self, queryset: QuerySet[Item], name: str, value: bool | None):
        if value is None:
            return queryset
        found = Q(hygiene_check__has_personal_data=True)
        return queryset.filter(found) if value else queryset.exclude(found)

    def filter_search(self, queryset: QuerySet[Item], name: str, value: str) -> QuerySet[Item]:
        value = value.strip()
        if not value:
            return queryset
        return queryset.filter(
            Q(data__prompt__icontains=value)
            | Q(data__messages__icontains=value)
            | Q(external_id=value)
        )


class OwnItemFilter(ItemFilter):
    """What an annotator may filter their own items by: kind and the prompt text."""

    class Meta(ItemFilter.Meta):
        fields = ["kind"]

    def __init__(self, data=None, *args, **kwargs):
        super().__init__(data, *args, **kwargs)
        for name in list(self.filters):
            if name not in ("kind", "q"):
                del self.filters[name]
