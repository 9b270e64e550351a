"""Filters of a project's items, shared by the items API and the lead's items browser:
ItemFilter (everything a lead or reviewer may filter by) and OwnItemFilter (what an annotator
may filter their own items by)."""

from typing import Any

import django_filters
from django import forms
from django.db.models import Exists, OuterRef, Q, QuerySet

from annotation import kinds, search
from annotation.models import Agreement, Assignment, Item, ItemStatus, Kind, Route, Split

TRUE_VALUES = ("true", "yes", "1", "on")
FALSE_VALUES = ("false", "no", "0", "off")


class YesNoField(forms.ChoiceField):
    """A boolean filter's field: `true` / `false`, and for links and scripts written before,
    `yes` / `no`, `1` / `0` and `on` / `off` (any case); empty is no filter (None), anything
    else an error naming the spellings."""

    def __init__(self, *, yes: str = "Yes", no: str = "No", **kwargs):
        kwargs.pop("choices", None)
        kwargs["required"] = False
        super().__init__(choices=[("true", yes), ("false", no)], **kwargs)

    def to_python(self, value) -> bool | None:
        if value in (None, ""):
            return None
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in TRUE_VALUES:
            return True
        if text in FALSE_VALUES:
            return False
        raise forms.ValidationError("Use true or false.", code="invalid")

    def validate(self, value) -> None:
        pass


class YesNoFilter(django_filters.Filter):
    field_class = YesNoField


class ItemFilter(django_filters.FilterSet):
    """The items browser's filters, also usable by the items API: kind, status, split,
    category (given at import or final), agreement, route (where confidence routing sent the
    item: `human` includes the items routing never saw), gold, duplicates, flagged,
    near_duplicates, personal_data (each boolean `true` / `false`, old spellings accepted),
    near_group, and a search (annotation.search: the prompt, the conversation, the response
    texts, an external_id prefix). On PostgreSQL the indexes of
    migrations annotation 0005 and 0009 answer a term of three or more characters; a shorter
    one, or SQLite, reads the project's items."""

    kind = django_filters.ChoiceFilter(choices=Kind.choices)
    status = django_filters.ChoiceFilter(choices=ItemStatus.choices)
    split = django_filters.ChoiceFilter(choices=Split.choices)
    external_id = django_filters.CharFilter()
    category = django_filters.CharFilter(method="filter_category", max_length=64)
    agreement = django_filters.ChoiceFilter(
        choices=[*Agreement.choices, ("none", "Not yet complete")], method="filter_agreement"
    )
    route = django_filters.ChoiceFilter(
        choices=Route.choices,
        method="filter_route",
        error_messages={
            "invalid_choice": "%(value)s is not a route: use "
            + ", ".join(Route.values[:-1])
            + f" or {Route.values[-1]}."
        },
    )
    gold = YesNoFilter(method="filter_gold", yes="Gold items only", no="No gold items")
    duplicates = YesNoFilter(method="filter_duplicates")
    flagged = YesNoFilter(method="filter_flagged", label="Flagged by an annotator who skipped it")
    q = django_filters.CharFilter(method="filter_search", max_length=200, label="Search")
    # Kept by the hygiene app's import check (its ItemCheck rows, read through the items'
    # reverse relation: this app does not import hygiene).
    near_duplicates = YesNoFilter(
        method="filter_near_duplicates", label="In a near-duplicate group"
    )
    near_group = django_filters.NumberFilter(
        method="filter_near_group", label="The near-duplicate group (its first item's id)"
    )
    personal_data = YesNoFilter(
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

    def filter_route(self, queryset: QuerySet[Item], name: str, value: str) -> QuerySet[Item]:
        if not value:
            return queryset
        if value == Route.HUMAN:
            # An item routing never saw (no prediction) is people's, as its detail says.
            return queryset.filter(route__in=[Route.HUMAN, ""])
        return queryset.filter(route=value)

    def filter_gold(self, queryset: QuerySet[Item], name: str, value: bool | None):
        return queryset if value is None else queryset.filter(is_gold=value)

    def filter_duplicates(self, queryset: QuerySet[Item], name: str, value: bool | None):
        return queryset if value is None else queryset.filter(has_duplicate=value)

    # Whether the search also matches a prefix of the external_id (annotators do not read it).
    search_external_id = True

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
        return search.search(queryset, value, external_id=self.search_external_id)


class OwnItemFilter(ItemFilter):
    """What an annotator may filter their own items by: kind and the text (not the
    external_id, which annotators are not shown)."""

    search_external_id = False

    class Meta(ItemFilter.Meta):
        fields = ["kind"]

    def __init__(self, data=None, *args, **kwargs):
        super().__init__(data, *args, **kwargs)
        for name in list(self.filters):
            if name not in ("kind", "q"):
                del self.filters[name]
