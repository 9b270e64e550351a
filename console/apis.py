"""REST API of the lead's console: the dashboard's figures as JSON, and bulk item actions.

Everything else a lead does in the console already has its endpoint: projects (POST, and PATCH
for settings and guidelines), members, items (import, CSV included; list; detail), users
(staff), agreement reports and exports.
"""

from drf_spectacular.utils import extend_schema, extend_schema_serializer
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from annotation import kinds
from annotation.access import membership_get
from annotation.models import Role
from console import dashboard, item_actions
from core.api_errors import error_responses
from core.errors import Conflict
from core.models import TokenScope


@extend_schema_serializer(component_name="DashboardProgress")
class ProgressSerializer(serializers.Serializer):
    items = serializers.IntegerField(source="total", help_text="Non-gold items.")
    approved = serializers.IntegerField()
    in_review = serializers.IntegerField()
    rejected = serializers.IntegerField()
    open = serializers.IntegerField()
    stalled = serializers.IntegerField(help_text="open, but nobody left who may take them")
    dropped = serializers.IntegerField()
    gold_items = serializers.IntegerField()
    approved_share = serializers.FloatField()
    annotations_done = serializers.IntegerField()
    annotations_needed = serializers.IntegerField()
    by_kind = serializers.DictField(
        child=serializers.DictField(child=serializers.IntegerField()),
        help_text="kind -> status -> non-gold items",
    )


@extend_schema_serializer(component_name="DashboardDay")
class DaySerializer(serializers.Serializer):
    date = serializers.DateField()
    annotations = serializers.IntegerField()

    def to_representation(self, day: tuple) -> dict:
        date, annotations = day
        return super().to_representation({"date": date, "annotations": annotations})


@extend_schema_serializer(component_name="DashboardAgreement")
class AgreementSerializer(serializers.Serializer):
    computed_at = serializers.ListField(child=serializers.DateTimeField())
    alpha = serializers.DictField(
        source="series",
        child=serializers.ListField(child=serializers.FloatField(allow_null=True)),
        help_text="field -> its headline alpha in each report, oldest first",
    )


@extend_schema_serializer(component_name="DashboardAnnotator")
class AnnotatorSerializer(serializers.Serializer):
    user_id = serializers.IntegerField(allow_null=True, help_text="null for reviewers")
    username = serializers.CharField(help_text="a per-project pseudonym for reviewers")
    role = serializers.CharField(allow_null=True)
    annotations = serializers.IntegerField()
    active_days = serializers.IntegerField()
    per_day = serializers.FloatField(allow_null=True)
    last_day = serializers.DateField(allow_null=True)
    gold_answers = serializers.IntegerField()
    gold_accuracy = serializers.FloatField(allow_null=True)
    agreement_with_others = serializers.FloatField(allow_null=True)
    agreement_pairs = serializers.IntegerField()
    median_seconds = serializers.FloatField(allow_null=True)
    position_bias_left = serializers.FloatField(allow_null=True)
    position_choices = serializers.IntegerField()
    suggestions_shown = serializers.IntegerField(
        help_text="annotations where a model's suggested label was on the form"
    )
    suggestions_kept = serializers.IntegerField()
    suggestion_acceptance = serializers.FloatField(
        allow_null=True, help_text="kept / shown: near 1 beside low agreement is rubber-stamping"
    )
    flags = serializers.ListField(child=serializers.CharField())
    flag_kinds = serializers.ListField(
        child=serializers.ChoiceField(["gold", "position", "suggestions"]),
        help_text="what each flag is about",
    )


@extend_schema_serializer(component_name="DashboardShare")
class ShareSerializer(serializers.Serializer):
    value = serializers.FloatField(allow_null=True, help_text="k / n; null when n is 0")
    low = serializers.FloatField(allow_null=True, help_text="95 % Wilson interval")
    high = serializers.FloatField(allow_null=True)
    k = serializers.IntegerField()
    n = serializers.IntegerField()


@extend_schema_serializer(component_name="DashboardReviewer")
class ReviewerSerializer(serializers.Serializer):
    user_id = serializers.IntegerField(allow_null=True, help_text="null for reviewers")
    username = serializers.CharField(help_text="a per-project pseudonym for reviewers")
    role = serializers.CharField(allow_null=True)
    decided = serializers.IntegerField(help_text="decisions on items with a model's answer")
    accepted = ShareSerializer(
        help_text="real predictions their answer (the blind judgement when recorded, else "
        "the approved final) agreed with, by the kind's agreement rule"
    )
    caught = ShareSerializer(
        help_text="seeded wrong predictions (review gold) their answer disagreed with"
    )
    switched = ShareSerializer(
        help_text="blind judgements that disagreed with the model's answer, followed by an "
        "approved final that agrees with it once it was shown"
    )
    median_seconds = serializers.FloatField(
        allow_null=True, help_text="from the review claim to the decision"
    )
    flags = serializers.ListField(child=serializers.CharField(), help_text="why each fired")
    flag_kinds = serializers.ListField(
        child=serializers.ChoiceField(["rubber_stamp", "misses_seeded"])
    )


@extend_schema_serializer(component_name="DashboardSuggestions")
class SuggestionsSerializer(serializers.Serializer):
    mode = serializers.CharField(help_text="the project's `suggestions` setting now")
    shown = serializers.IntegerField(
        help_text="annotations where a model's suggested label was on the form"
    )
    kept = serializers.IntegerField(help_text="of them, answers that kept every suggestion")
    acceptance = serializers.FloatField(
        allow_null=True, help_text="kept / shown; null when none was shown"
    )


@extend_schema_serializer(component_name="DashboardAttention")
class AttentionSerializer(serializers.Serializer):
    stalled = serializers.IntegerField(help_text="items nobody left may take: re-queue them")
    flagged = serializers.IntegerField(help_text="items an annotator flagged when skipping")


@extend_schema_serializer(component_name="DashboardCoverageRow")
class CoverageRowSerializer(serializers.Serializer):
    label = serializers.CharField()
    count = serializers.IntegerField()
    share = serializers.FloatField(allow_null=True)
    warn = serializers.CharField(help_text='"low" (under 5%), "high" (over 50%) or ""')


@extend_schema_serializer(component_name="DashboardCoverage")
class CoverageSerializer(serializers.Serializer):
    kind = serializers.CharField()
    field = serializers.CharField()
    basis = serializers.CharField(
        help_text='"approved" (final records), "imported" (categories given at import) or ""'
    )
    total = serializers.IntegerField()
    rows = CoverageRowSerializer(many=True)
    not_given = serializers.IntegerField()
    warnings = serializers.ListField(child=serializers.CharField())


def _mix_fields() -> dict[str, serializers.Field]:
    """The coverage figures (dashboard.Mix) under keys named after the kinds, one set per kind
    (from the registry): for instruction items `instruction_categories` and
    `sft_instruction`; for refusal items `refusal_harm_categories`, `refusal_decisions`,
    `sft_refusal`, `refusal_share_of_sft`."""
    fields: dict[str, serializers.Field] = {}
    for kind in kinds.registry:
        if kind.coverage_field:
            fields[f"{kind.name}_{kind.coverage_list}"] = CoverageSerializer(
                source=f"coverage.{kind.name}",
                help_text=f"{kind.label} items by {kind.coverage_label.lower()}",
            )
        if kind.decision_field:
            fields[f"{kind.name}_{kind.decision_field}s"] = serializers.DictField(
                source="decisions",
                child=serializers.IntegerField(),
                help_text=f"approved {kind.name} items",
            )
    for kind in kinds.registry:
        if kind.gives_reply:
            fields[f"sft_{kind.name}"] = serializers.IntegerField(
                help_text=f"approved {kind.name} items (SFT rows)"
            )
    for kind in kinds.registry:
        if kind.reply_share_note:
            fields[f"{kind.name}_share_of_sft"] = serializers.FloatField(
                source=f"{kind.name}_share", allow_null=True
            )
    return fields


MixSerializer = extend_schema_serializer(component_name="DashboardMix")(
    type("MixSerializer", (serializers.Serializer,), _mix_fields())
)


@extend_schema_serializer(component_name="DashboardDuplicates")
class DuplicatesSerializer(serializers.Serializer):
    groups = serializers.IntegerField()
    items = serializers.IntegerField()


class DashboardApi(APIView):
    """The dashboard's figures (leads; reviewers read it with annotators under pseudonyms),
    from the same selector as the page."""

    @extend_schema_serializer(component_name="Dashboard")
    class OutputSerializer(serializers.Serializer):
        project = serializers.IntegerField(source="project.pk")
        date = serializers.DateField(source="today")
        progress = ProgressSerializer()
        annotations_per_day = DaySerializer(source="per_day", many=True)
        agreement_over_time = AgreementSerializer(source="agreement")
        annotators = AnnotatorSerializer(many=True)
        annotators_as_of = serializers.DateTimeField(source="agreement.latest_at", allow_null=True)
        coverage = MixSerializer(source="mix")
        duplicates = DuplicatesSerializer()
        attention = AttentionSerializer()
        reviewers = ReviewerSerializer(
            many=True, help_text="reviewers and the model's answers (review guards)"
        )
        suggestions = SuggestionsSerializer(
            help_text="model suggestions shown and kept across the project (per annotator in "
            "`annotators`)"
        )

    @extend_schema(responses={200: OutputSerializer, **error_responses(403, 404)})
    def get(self, request, project_id: int):
        membership = membership_get(user=request.user, project_id=project_id, role=Role.REVIEWER)
        board = dashboard.dashboard_as_seen(membership=membership)
        return Response(self.OutputSerializer(board).data)


class ItemsBulkApi(APIView):
    """A lead's action over the items a filter selects, in one transaction."""

    token_scope = TokenScope.ADMIN

    @extend_schema_serializer(component_name="ItemsBulkInput")
    class InputSerializer(serializers.Serializer):
        action = serializers.ChoiceField(
            list(item_actions.ACTIONS),
            help_text="drop, restore (dropped items back to annotation), requeue, reopen "
            "(back to review), priority, split, metadata (keys merged; null removes one).",
        )
        value = serializers.JSONField(
            required=False,
            allow_null=True,
            help_text="priority: a number; split: train or eval; metadata: an object.",
        )
        note = serializers.CharField(required=False, allow_blank=True, max_length=2000)
        filters = serializers.DictField(
            required=False,
            help_text="The items browser's filters (as `GET .../items/` takes them: kind, "
            "status, split, category, agreement, route, gold, duplicates, flagged, q); none: every "
            "item of the project.",
        )
        confirm_count = serializers.IntegerField(
            required=False,
            allow_null=True,
            help_text="The number of items the filters select: the action runs only when it "
            "matches (otherwise 409 with `count`).",
        )

    @extend_schema_serializer(component_name="ItemsBulkResult")
    class OutputSerializer(serializers.Serializer):
        action = serializers.CharField()
        count = serializers.IntegerField(help_text="Items selected.")
        changed = serializers.IntegerField(help_text="Items changed (one audit event each).")
        message = serializers.CharField()

    @extend_schema(
        request=InputSerializer,
        responses={200: OutputSerializer, **error_responses(400, 403, 404, 409, 413)},
        description="Lead: apply an action to every item the filters select, all or nothing, "
        "in one transaction. Send `confirm_count` with the number selected (a 409 without it "
        "says the number). A selection of no items answers 200 with a message and does "
        "nothing. 409 also lists the items the action does not fit (nothing is changed); "
        f"413 beyond {item_actions.BULK_MAX:,} items.",
    )
    def post(self, request, project_id: int):
        membership = membership_get(user=request.user, project_id=project_id, role=Role.LEAD)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        body = data.validated_data
        ids = item_actions.items_selected(
            project=membership.project, params=body.get("filters") or {}
        )
        if ids and body.get("confirm_count") != len(ids):
            count = (
                len(ids) if len(ids) <= item_actions.BULK_MAX else f"over {item_actions.BULK_MAX:,}"
            )
            raise Conflict(
                f"The filters select {count} items: send confirm_count {len(ids)} to apply "
                f"{body['action']} to them.",
                {"count": len(ids)},
            )
        result = item_actions.items_bulk(
            project=membership.project,
            actor=request.user,
            item_ids=ids,
            action=body["action"],
            value=body.get("value"),
            note=body.get("note", ""),
        )
        return Response(self.OutputSerializer(result).data)
