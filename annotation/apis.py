"""REST API of projects, members and items: thin views over the services and selectors."""

from typing import Any

from drf_spectacular.utils import (
    OpenApiParameter,
    PolymorphicProxySerializer,
    extend_schema,
    extend_schema_serializer,
)
from rest_framework import serializers, status
from rest_framework.fields import empty
from rest_framework.pagination import CursorPagination
from rest_framework.response import Response
from rest_framework.views import APIView

from annotation import (
    importing,
    item_edit,
    kinds,
    parsing,
    project_settings,
    queue,
    selectors,
    services,
)
from annotation.access import item_get_for_member, membership_get, projects_for_member
from annotation.filters import ItemFilter, OwnItemFilter
from annotation.kinds.rubric import criterion_serializer
from annotation.kinds.schemas import GoldField, ItemDataField, PayloadField, by_kind
from annotation.models import (
    AssignmentStatus,
    Item,
    ItemStatus,
    Kind,
    Membership,
    Project,
    Role,
    Route,
    Source,
    Split,
)
from annotation.project_settings import Type as SettingType
from core.api_errors import error_responses
from core.errors import ApplicationError
from core.models import TokenScope
from core.serializers import BlankAsNullField, JSONObjectField

_DISPLAY_ORDER = (
    'Preference items: "AB" when A was shown on the left, "BA" when swapped; null otherwise.'
)
_LEADS = "Leads only."
_NOT_FOR_ANNOTATORS = "Ignored for annotators."


@extend_schema_serializer(component_name="RoutingRule")
class RoutingRuleSerializer(serializers.Serializer):
    """One rule of `always_review`: an object with exactly one of these keys."""

    signal = serializers.BooleanField(required=False, help_text="true: any production signal")
    tag = serializers.CharField(required=False, help_text="a tag in metadata.tags or data.tags")
    category = serializers.CharField(required=False, help_text="a category")
    decision_not = serializers.CharField(
        required=False, help_text="a predicted decision other than this one"
    )


def _setting_field(setting: project_settings.Setting, *, output: bool = False) -> serializers.Field:
    """A project setting as a field of an API body: its type, range, default and help text
    from annotation.project_settings."""
    kwargs: dict[str, Any] = {"help_text": setting.help}
    if setting.nullable:
        kwargs["allow_null"] = True
    if not output:
        if setting.required:
            kwargs["required"] = True
        else:
            kwargs["default"] = setting.initial
    labels = {"min_length": 1, "max_length": kinds.MAX_LIST_SETTING}
    match setting.type:
        case SettingType.NAME:
            return serializers.CharField(max_length=project_settings.MAX_NAME, **kwargs)
        case SettingType.KINDS:
            child = serializers.ChoiceField(Kind.choices)
            return serializers.ListField(child=child, **labels, **kwargs)
        case SettingType.INTEGER:
            return serializers.IntegerField(
                min_value=setting.minimum, max_value=setting.maximum, **kwargs
            )
        case SettingType.FRACTION:
            return serializers.FloatField(
                min_value=setting.minimum, max_value=setting.maximum, **kwargs
            )
        case SettingType.LABELS:
            child = serializers.CharField(max_length=project_settings.MAX_LABEL)
            return serializers.ListField(child=child, **labels, **kwargs)
        case SettingType.TEXT:
            return serializers.CharField(
                allow_blank=True,
                trim_whitespace=False,
                max_length=project_settings.MAX_GUIDELINES,
                **kwargs,
            )
        case SettingType.BOOLEAN:
            return serializers.BooleanField(**kwargs)
        case SettingType.CHOICE:
            return serializers.ChoiceField(setting.choices, **kwargs)
        case SettingType.SCORED_CRITERIA:
            child = criterion_serializer()()
            return serializers.ListField(child=child, **labels, **kwargs)
        case SettingType.ROUTING_RULES:
            return serializers.ListField(
                child=RoutingRuleSerializer(),
                max_length=project_settings.MAX_ROUTING_RULES,
                **kwargs,
            )
    raise ValueError(f"no API field for a {setting.type} setting")


def _settings_fields(*, output: bool) -> dict[str, serializers.Field]:
    return {s.name: _setting_field(s, output=output) for s in project_settings.SETTINGS}


_ProjectSettingsOutput = type(
    "_ProjectSettingsOutput", (serializers.Serializer,), _settings_fields(output=True)
)


class ProjectOutputSerializer(serializers.ModelSerializer, _ProjectSettingsOutput):
    """A project: its settings, and the caller's role in it."""

    role = serializers.SerializerMethodField()

    class Meta:
        model = Project
        fields = [
            "id",
            "role",
            *project_settings.NAMES,
            "guidelines_version",
            "created_at",
            "updated_at",
        ]

    def get_role(self, project: Project) -> str | None:
        return self.context.get("roles", {}).get(project.pk)


class ReroutedSerializer(serializers.Serializer):
    items = serializers.IntegerField(
        help_text="Items nobody had touched yet (open, no annotation, no lease, with a "
        "prediction) routed again under the new policy; in the background, how many will be."
    )
    changed = serializers.IntegerField(
        allow_null=True, help_text="Of them, those whose route changed (null in the background)."
    )
    auto_accepted = serializers.IntegerField(
        allow_null=True,
        help_text="Of them, those approved by confidence now (null in the background).",
    )
    background = serializers.BooleanField(
        help_text="Too many for the request: a background job re-routes them (audited as "
        "`items.reroute` when done)."
    )


class ProjectUpdatedSerializer(ProjectOutputSerializer):
    """A project after a settings change, with what the change set off."""

    rerouted = ReroutedSerializer(
        read_only=True,
        allow_null=True,
        source="settings_effects.rerouted",
        default=None,
        help_text="Set when `auto_accept_above`, `audit_rate` or `always_review` changed: "
        "the untouched items routed again (auto-accepted items stay approved). Null otherwise.",
    )

    class Meta(ProjectOutputSerializer.Meta):
        fields = [*ProjectOutputSerializer.Meta.fields, "rerouted"]


class _ProjectSettingsInput(serializers.Serializer):
    def run_validation(self, data: Any = empty) -> dict[str, Any]:
        # The settings' own checks, with the messages the console shows too; PATCH
        # (`partial`) leaves out what does not change.
        return services.project_settings_clean(data, creating=not self.partial)


ProjectSettingsSerializer = extend_schema_serializer(component_name="ProjectSettings")(
    type(
        "ProjectSettingsSerializer",
        (_ProjectSettingsInput,),
        {
            "__doc__": "A project's settings; a new project takes the default of every one "
            "left out, a change (PATCH) only those given. Every problem is listed in "
            "`errors`, and nothing is changed.",
            **_settings_fields(output=False),
        },
    )
)


def _project_body(project: Project, role: str) -> dict:
    return ProjectOutputSerializer(project, context={"roles": {project.pk: role}}).data


class ProjectListCreateApi(APIView):
    @extend_schema(responses={200: ProjectOutputSerializer(many=True)})
    def get(self, request):
        projects = projects_for_member(user=request.user).order_by("-id")
        roles = dict(Membership.objects.filter(user=request.user).values_list("project_id", "role"))
        return Response(ProjectOutputSerializer(projects, many=True, context={"roles": roles}).data)

    @extend_schema(
        request=ProjectSettingsSerializer,
        responses={201: ProjectOutputSerializer, **error_responses(400, 403)},
        description="Staff create projects; every user does when the setting "
        "PROJECT_CREATORS is `everyone`. The creator becomes the project's lead.",
    )
    def post(self, request):
        services.project_create_check(request.user)
        data = ProjectSettingsSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        project = services.project_create(actor=request.user, values=data.validated_data)
        return Response(_project_body(project, Role.LEAD), status=status.HTTP_201_CREATED)


class ProjectDetailApi(APIView):
    @extend_schema(responses={200: ProjectOutputSerializer, **error_responses(404)})
    def get(self, request, project_id: int):
        membership = membership_get(user=request.user, project_id=project_id)
        return Response(_project_body(membership.project, membership.role))

    @extend_schema(
        request=ProjectSettingsSerializer,
        responses={200: ProjectUpdatedSerializer, **error_responses(400, 403, 404)},
    )
    def patch(self, request, project_id: int):
        membership = membership_get(user=request.user, project_id=project_id, role=Role.LEAD)
        data = ProjectSettingsSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        project = services.project_update(
            project=membership.project, actor=request.user, changes=data.validated_data
        )
        body = ProjectUpdatedSerializer(
            project, context={"roles": {project.pk: membership.role}}
        ).data
        return Response(body)


class MemberApi(APIView):
    @extend_schema_serializer(component_name="MemberInput")
    class InputSerializer(serializers.Serializer):
        username = serializers.CharField()
        role = serializers.ChoiceField(Role.choices)

    @extend_schema_serializer(component_name="MemberOutput")
    class OutputSerializer(serializers.Serializer):
        user_id = serializers.IntegerField(source="user.id")
        username = serializers.CharField(source="user.username")
        role = serializers.CharField()

    @extend_schema(responses={200: OutputSerializer(many=True), **error_responses(403, 404)})
    def get(self, request, project_id: int):
        membership = membership_get(user=request.user, project_id=project_id, role=Role.LEAD)
        members = membership.project.memberships.select_related("user").order_by("user__username")
        return Response(self.OutputSerializer(members, many=True).data)

    @extend_schema(
        request=InputSerializer,
        responses={
            201: OutputSerializer,
            200: OutputSerializer,
            **error_responses(400, 403, 404, 409),
        },
        description="Add a member (201) or change a member's role (200). 409: the project "
        "would be left without a lead.",
    )
    def post(self, request, project_id: int):
        membership = membership_get(user=request.user, project_id=project_id, role=Role.LEAD)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        member, created = services.membership_set(
            project=membership.project, actor=request.user, **data.validated_data
        )
        return Response(
            self.OutputSerializer(member).data,
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )


class MemberDetailApi(APIView):
    @extend_schema(
        responses={204: None, **error_responses(400, 403, 404, 409)},
        description="Remove a member; their active leases end at once. 409: the project would "
        "be left without a lead.",
    )
    def delete(self, request, project_id: int, user_id: int):
        membership = membership_get(user=request.user, project_id=project_id, role=Role.LEAD)
        member = (
            membership.project.memberships.filter(user_id=user_id).select_related("user").first()
        )
        if member is None:
            raise ApplicationError("That user is not a member of this project.")
        services.membership_remove(
            project=membership.project, actor=request.user, membership=member
        )
        return Response(status=status.HTTP_204_NO_CONTENT)


_ROUTE_HELP = (
    "Where routing sent the item: `auto` (approved as the model answered, its confidence at or "
    "above the project's `auto_accept_above`), `audit` (would have been, drawn into the audit "
    "sample) or `human`."
)
_ROUTE_RULE_HELP = (
    "The rule that decided: `above_threshold`, `audit_sample`, `below_threshold`, "
    "`auto_accept_off`, `signal`, `tag:<t>`, `category:<c>`, `decision_not:<d>`, `gold`, "
    "`reopened` or `no_prediction`."
)


def route_of(item: Item) -> tuple[str, str]:
    """An item's route and rule as the API shows them: an item routing never saw (no
    prediction) is people's."""
    return (item.route or "human", item.route_rule or "no_prediction")


class ItemCursorPagination(CursorPagination):
    ordering = "id"
    page_size = 100
    page_size_query_param = "page_size"
    max_page_size = 1000


class ItemOutputSerializer(serializers.ModelSerializer):
    """An item in a list, as a lead reads it; blind for reviewers: no model names in `data`,
    no `metadata`."""

    # Blind with `context={"blind": True}`.

    data = ItemDataField()
    metadata = JSONObjectField(allow_null=True, help_text="Leads only; null for reviewers.")

    class Meta:
        model = Item
        fields = [
            "id",
            "external_id",
            "kind",
            "data",
            "metadata",
            "priority",
            "split",
            "status",
            "agreement",
            "review_reason",
            "round",
            "submitted_count",
            "source",
            "route",
            "route_rule",
            "created_at",
            "updated_at",
        ]

    route = serializers.SerializerMethodField(help_text=_ROUTE_HELP)
    route_rule = serializers.SerializerMethodField(help_text=_ROUTE_RULE_HELP)

    def get_route(self, item: Item) -> str:
        return route_of(item)[0]

    def get_route_rule(self, item: Item) -> str:
        return route_of(item)[1]

    def to_representation(self, item: Item) -> dict:
        body = super().to_representation(item)
        if self.context.get("blind"):
            body["data"], body["metadata"] = selectors.blind_data(item), None
        return body


@extend_schema_serializer(component_name="OwnAssignment")
class OwnAssignmentSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    status = serializers.ChoiceField(AssignmentStatus.choices)
    display_order = BlankAsNullField(help_text=_DISPLAY_ORDER)


@extend_schema_serializer(component_name="OwnAnnotation")
class OwnAnnotationSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    payload = PayloadField()
    display_order = BlankAsNullField(help_text=_DISPLAY_ORDER)
    seconds_spent = serializers.FloatField(allow_null=True)
    guidelines_version = serializers.IntegerField()
    created_at = serializers.DateTimeField()


class OwnItemSerializer(serializers.Serializer):
    """An item as its annotator reads it: blind, and alike whether gold or not (no status,
    split or external_id), with their own assignment and annotation."""

    id = serializers.IntegerField(source="item.pk")
    project = serializers.IntegerField(source="item.project_id")
    kind = serializers.ChoiceField(Kind.choices, source="item.kind")
    data = ItemDataField(help_text="Without model names.")
    assignment = OwnAssignmentSerializer(allow_null=True)
    annotation = OwnAnnotationSerializer(allow_null=True)


@extend_schema_serializer(component_name="ItemDetailAnnotation")
class AnnotationOnItemSerializer(serializers.Serializer):
    id = serializers.IntegerField(source="annotation.pk")
    label = serializers.CharField(help_text='"Annotation 1", "Annotation 2", ... by id.')
    annotator = serializers.CharField(allow_null=True, help_text="Leads only; null for others.")
    mine = serializers.BooleanField(help_text="Whether the caller wrote it.")
    payload = PayloadField(source="annotation.payload")
    display_order = BlankAsNullField(source="annotation.display_order", help_text=_DISPLAY_ORDER)
    seconds_spent = serializers.FloatField(source="annotation.seconds_spent", allow_null=True)
    guidelines_version = serializers.IntegerField(source="annotation.guidelines_version")
    round = serializers.IntegerField(
        source="annotation.round", help_text="The item's round it was written in."
    )
    created_at = serializers.DateTimeField(source="annotation.created_at")
    gold_correct = serializers.BooleanField(
        source="annotation.gold_correct",
        allow_null=True,
        required=False,
        help_text="Leads only: on a gold item, whether the answer matched the gold one.",
    )

    def get_fields(self):
        return _leads_only(self, super().get_fields(), ("gold_correct",))


@extend_schema_serializer(component_name="ItemDetailReview")
class ReviewOnItemSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    reviewer = serializers.CharField(source="reviewer.username")
    decision = serializers.CharField()
    annotation = serializers.IntegerField(
        source="annotation_id", allow_null=True, help_text="The annotation approved as is."
    )
    final = PayloadField(allow_null=True, help_text="The final the reviewer wrote.")
    note = serializers.CharField()
    then = BlankAsNullField(help_text="A rejection: `annotate_again` or `drop`.")
    round = serializers.IntegerField(help_text="The item's round it decided.")
    created_at = serializers.DateTimeField()


@extend_schema_serializer(component_name="ItemDetailFinalRecord")
class FinalRecordOnItemSerializer(serializers.Serializer):
    payload = PayloadField()
    provenance = serializers.CharField(
        help_text="`unanimous`, `adjudicated` or `edited` (a final a reviewer wrote)."
    )
    approved_by = serializers.CharField(source="approved_by.username", allow_null=True)
    created_at = serializers.DateTimeField()


@extend_schema_serializer(component_name="Prediction")
class PredictionSerializer(serializers.Serializer):
    """A model's answer to the item and how sure it was."""

    payload = PayloadField(help_text="The model's answer, a payload of the item's kind.")
    confidence = serializers.FloatField(
        min_value=0,
        max_value=1,
        required=False,
        help_text="How sure the model was, 0 to 1 (required at import; leads only on reads).",
    )
    model = serializers.CharField(
        required=False, max_length=kinds.MAX_MODEL, help_text="The model's name (leads only)."
    )


def _leads_only(serializer: serializers.Serializer, fields: dict, names: tuple) -> dict:
    """Fields only leads read: left out when the context says the reader is not one (the
    schema, built without that context, shows them as optional)."""
    if serializer.context.get("privileged") is False:
        for name in names:
            fields.pop(name)
    return fields


@extend_schema_serializer(component_name="ItemDetailSkip")
class SkipOnItemSerializer(serializers.Serializer):
    annotator = serializers.SerializerMethodField(help_text="Leads only; null for others.")
    reason = BlankAsNullField(source="skip_reason")
    note = serializers.CharField(source="skip_note", allow_blank=True)
    flagged = serializers.BooleanField()
    at = serializers.DateTimeField(source="finished_at", allow_null=True)

    def get_annotator(self, assignment) -> str | None:
        return assignment.annotator.username if self.context.get("privileged") else None


class ItemDetailSerializer(serializers.Serializer):
    """An item as a lead or reviewer reads it, with its annotations, reviews and final
    records: everything for leads; blind for reviewers (no model names, no metadata, no
    annotator names, no gold answers)."""

    # Rendered with `context={"privileged": detail.privileged}`: leads-only fields are left
    # out for others.

    id = serializers.IntegerField(source="item.pk")
    project = serializers.IntegerField(source="item.project_id")
    external_id = serializers.CharField(source="item.external_id")
    kind = serializers.ChoiceField(Kind.choices, source="item.kind")
    data = ItemDataField()
    metadata = JSONObjectField(allow_null=True, help_text="Leads only; null for others.")
    priority = serializers.FloatField(source="item.priority")
    split = serializers.ChoiceField(Split.choices, source="item.split")
    status = serializers.ChoiceField(ItemStatus.choices, source="item.status")
    round = serializers.IntegerField(
        source="item.round", help_text="Rounds of annotation: a rejection starts the next."
    )
    agreement = BlankAsNullField(source="item.agreement", help_text="`agreed` or `disputed`.")
    review_reason = BlankAsNullField(
        source="item.review_reason",
        help_text="Why it is in review: `disputed`, `sampled`, `text` or `reopened`.",
    )
    created_at = serializers.DateTimeField(source="item.created_at")
    updated_at = serializers.DateTimeField(source="item.updated_at")
    annotations = AnnotationOnItemSerializer(many=True)
    reviews = ReviewOnItemSerializer(many=True)
    final_record = FinalRecordOnItemSerializer(
        allow_null=True, help_text="The current one: what exports use."
    )
    final_history = FinalRecordOnItemSerializer(many=True, help_text="Earlier final records.")
    skips = SkipOnItemSerializer(many=True, help_text="Who skipped it and why.")
    is_gold = serializers.BooleanField(source="item.is_gold", required=False, help_text=_LEADS)
    gold = GoldField(source="item.gold", allow_null=True, required=False, help_text=_LEADS)
    source = serializers.ChoiceField(Source.choices, source="item.source")
    signal = BlankAsNullField(source="item.signal", help_text="A production monitor's flag.")
    prediction = PredictionSerializer(
        source="item.prediction",
        allow_null=True,
        help_text="A model's answer with its confidence and model name: leads only (null for "
        "others; reviewers see the answer, never the confidence, where they review the item).",
    )
    route = serializers.SerializerMethodField(help_text=_ROUTE_HELP)
    route_rule = serializers.SerializerMethodField(help_text=_ROUTE_RULE_HELP)

    def get_fields(self):
        return _leads_only(self, super().get_fields(), ("is_gold", "gold"))

    def get_route(self, detail) -> str:
        return route_of(detail.item)[0]

    def get_route_rule(self, detail) -> str:
        return route_of(detail.item)[1]

    def to_representation(self, detail) -> dict:
        body = super().to_representation(detail)
        if self.context.get("privileged") is False:
            # A reviewer reads a prediction only where the review guards decide what they see
            # (the review page and claim): never its confidence, possibly not before their
            # own judgement, possibly a seeded wrong one (review.guards).
            body["prediction"] = None
        return body


@extend_schema_serializer(component_name="ItemDuplicate")
class DuplicateSerializer(serializers.Serializer):
    index = serializers.IntegerField(help_text="The item's position in the body.")
    external_id = serializers.CharField()
    duplicate_of = serializers.CharField(help_text="The external_id of the item it repeats.")
    duplicate_index = serializers.IntegerField(
        allow_null=True, help_text="That item's position in the body; null: an item stored before."
    )


class ImportItemSerializer(serializers.Serializer):
    """One item to import. Validation is the kind's: every problem of every item is listed,
    and nothing is written."""

    external_id = serializers.CharField(
        max_length=kinds.MAX_EXTERNAL_ID,
        help_text="Names the item in the project (a number is read as its text): pushing the "
        "same id again leaves the item as it is, or updates it while it has no annotation and "
        "no active lease (metadata and priority may always change).",
    )
    kind = serializers.ChoiceField(Kind.choices, help_text="One of the project's `kinds`.")
    data = ItemDataField()
    metadata = serializers.DictField(
        required=False,
        allow_null=True,
        help_text="Free-form JSON, at most 64 KB; leads read it, annotators and reviewers do not.",
    )
    priority = serializers.FloatField(
        required=False, allow_null=True, help_text="Higher is served first (default 0)."
    )
    split = serializers.ChoiceField(
        Split.choices,
        required=False,
        allow_null=True,
        help_text="Default: drawn from the project's `eval_fraction` by a stable hash of the "
        "external_id.",
    )
    gold = GoldField(
        required=False,
        allow_null=True,
        help_text="A known answer: makes it a gold item, served to annotators to score them "
        "and never exported.",
    )
    prediction = PredictionSerializer(
        required=False,
        allow_null=True,
        help_text="A model's answer (validated like an annotation of the kind) and its "
        "confidence (0 to 1): the project's routing policy decides from it whether the item "
        "is auto-accepted, audited or sent to people.",
    )
    source = serializers.ChoiceField(
        Source.choices, required=False, allow_null=True, help_text="Default `curated`."
    )
    signal = serializers.CharField(
        required=False,
        allow_null=True,
        max_length=kinds.MAX_SIGNAL,
        help_text="Why a production monitor flagged it: `user_thumbs_down`, `policy_flag`, "
        "`novel_topic`, or free text.",
    )


@extend_schema_serializer(component_name="ImportItems")
class ImportItemsSerializer(serializers.Serializer):
    items = by_kind(ImportItemSerializer, "ImportItem", many=True)


@extend_schema_serializer(component_name="NearDuplicateGroup")
class NearDuplicateGroupSerializer(serializers.Serializer):
    group = serializers.IntegerField(
        help_text="Names the group: the id of its first item (`?near_group=` lists them)."
    )
    size = serializers.IntegerField(help_text="Items in the group, this import's and earlier.")
    external_ids = serializers.ListField(
        child=serializers.CharField(), help_text="The first ten items' external_ids."
    )


class ImportResultSerializer(serializers.Serializer):
    created = serializers.IntegerField()
    updated = serializers.IntegerField()
    unchanged = serializers.IntegerField(help_text="Pushed again as they are.")
    duplicates = DuplicateSerializer(
        many=True,
        help_text="Items with the same content (kind, system prompt, prompt or conversation, "
        "and a preference's two responses) as another: reported, not dropped.",
    )
    near_duplicates = NearDuplicateGroupSerializer(
        many=True,
        help_text="Groups of near-duplicate prompts (Jaccard of their word sets at least the "
        "project's `near_duplicate_threshold`) holding an item of this import (first 100).",
    )
    personal_data = serializers.DictField(
        child=serializers.IntegerField(),
        help_text="Items of this import whose data holds personal data, by type (EMAIL, "
        "PHONE, CARD, IBAN, SSN, API_KEY).",
    )


_IMPORT_BODY = {
    "application/json": PolymorphicProxySerializer(
        component_name="ImportBody",
        serializers=[by_kind(ImportItemSerializer, "ImportItem", many=True), ImportItemsSerializer],
        resource_type_field_name=None,
        many=False,
    ),
    "application/x-ndjson": {
        "type": "string",
        "description": "One item (an `ImportItem`) per line; blank lines are skipped. Also as "
        "application/jsonl or application/x-jsonlines.",
    },
    "text/csv": {
        "type": "string",
        "description": "A header row, then one item per row; an empty cell is an absent value. "
        f"Columns: {', '.join(parsing.CSV_COLUMNS)}. `messages`, `metadata` and `gold` "
        "hold JSON. Also as application/csv.",
    },
}

_ITEM_FILTERS = [
    OpenApiParameter("kind", str, enum=Kind.values),
    OpenApiParameter("status", str, enum=ItemStatus.values, description=_NOT_FOR_ANNOTATORS),
    OpenApiParameter("split", str, enum=Split.values, description=_NOT_FOR_ANNOTATORS),
    OpenApiParameter("external_id", str, description=_NOT_FOR_ANNOTATORS),
    OpenApiParameter(
        "category", str, description=f"given at import or final. {_NOT_FOR_ANNOTATORS}"
    ),
    OpenApiParameter(
        "agreement", str, enum=["agreed", "disputed", "none"], description=_NOT_FOR_ANNOTATORS
    ),
    OpenApiParameter(
        "route",
        str,
        enum=Route.values,
        description="where confidence routing sent the item (`human` includes items without "
        f"a prediction, which routing never saw); another value is a 400. {_NOT_FOR_ANNOTATORS}",
    ),
    OpenApiParameter(
        "gold",
        bool,
        description=f"gold items only (true) or none (false); `yes` / `no` also read. "
        f"{_NOT_FOR_ANNOTATORS}",
    ),
    OpenApiParameter(
        "duplicates",
        bool,
        description=f"items sharing their content (true) or not (false). {_NOT_FOR_ANNOTATORS}",
    ),
    OpenApiParameter(
        "flagged",
        bool,
        description=f"items an annotator flagged when skipping (true) or not (false). "
        f"{_NOT_FOR_ANNOTATORS}",
    ),
    OpenApiParameter(
        "near_duplicates",
        bool,
        description=f"items in a near-duplicate group (true) or in none (false). "
        f"{_NOT_FOR_ANNOTATORS}",
    ),
    OpenApiParameter(
        "near_group",
        int,
        description=f"the items of one near-duplicate group (its first item's id). "
        f"{_NOT_FOR_ANNOTATORS}",
    ),
    OpenApiParameter(
        "personal_data",
        bool,
        description=f"items whose data holds personal data (true) or none (false). "
        f"{_NOT_FOR_ANNOTATORS}",
    ),
    OpenApiParameter(
        "q",
        str,
        description="case-insensitive text in the prompt, the conversation or a model "
        "response, or (not for annotators) the start of an external_id",
    ),
]


class ItemsApi(APIView):
    """`GET`: the project's items, filtered and cursor-paginated: leads and reviewers read
    `Item`s (reviewers blind, without gold items), annotators `OwnItem`s (the items they were
    assigned). `POST`: bulk import (leads)."""

    token_scope = TokenScope.PUSH  # what a token needs for POST/PUT (core/tokens.py)

    pagination_class = ItemCursorPagination

    @extend_schema(
        parameters=_ITEM_FILTERS,
        responses={
            200: PolymorphicProxySerializer(
                component_name="ListedItem",
                serializers=[
                    by_kind(ItemOutputSerializer, "Item"),
                    by_kind(OwnItemSerializer, "OwnItem"),
                ],
                resource_type_field_name=None,
                many=True,
            ),
            **error_responses(400, 404),
        },
    )
    def get(self, request, project_id: int):
        membership = membership_get(user=request.user, project_id=project_id)
        own = selectors.sees_only_own_items(membership)
        # An annotator's filters are the ones that cannot tell a gold item from another.
        filters = OwnItemFilter if own else ItemFilter
        filterset = filters(request.GET, queryset=selectors.item_list(membership=membership))
        if not filterset.is_valid():
            raise ApplicationError(
                "Invalid filter.",
                {
                    "errors": [
                        {"field": k, "message": " ".join(v)} for k, v in filterset.errors.items()
                    ]
                },
            )
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(filterset.qs, request, view=self)
        if own:
            own_items = selectors.own_items(items=page, membership=membership)
            return paginator.get_paginated_response(OwnItemSerializer(own_items, many=True).data)
        serializer = ItemOutputSerializer(
            page, many=True, context={"blind": not selectors.can_see_identities(membership)}
        )
        return paginator.get_paginated_response(serializer.data)

    @extend_schema(
        request=_IMPORT_BODY,
        responses={
            201: ImportResultSerializer,
            200: ImportResultSerializer,
            **error_responses(400, 403, 404, 409, 413),
        },
        description="201 when the push created an item, 200 when it only updated items or "
        "left them as they were (an unchanged re-push).",
    )
    def post(self, request, project_id: int):
        membership = membership_get(user=request.user, project_id=project_id, role=Role.LEAD)
        declared = request.META.get("CONTENT_LENGTH")
        if declared and declared.isdigit():
            parsing.check_size(int(declared))
        rows = parsing.rows_from_body(request.body, request.content_type or "")
        result = importing.item_import(project=membership.project, rows=rows, actor=request.user)
        code = status.HTTP_201_CREATED if result.created else status.HTTP_200_OK
        return Response(ImportResultSerializer(result).data, status=code)


class ItemDetailApi(APIView):
    @extend_schema(
        responses={
            200: PolymorphicProxySerializer(
                component_name="ItemDetailResponse",
                serializers=[
                    by_kind(ItemDetailSerializer, "ItemDetail"),
                    by_kind(OwnItemSerializer, "OwnItem"),
                ],
                resource_type_field_name=None,
            ),
            **error_responses(404),
        },
        description="An item as the caller may read it: an `ItemDetail` for leads and "
        "reviewers, an `OwnItem` for annotators (only items they were assigned).",
    )
    def get(self, request, item_id: int):
        item, membership = item_get_for_member(user=request.user, item_id=item_id)
        selectors.item_visible(item=item, membership=membership)
        detail = selectors.item_detail(item=item, membership=membership)
        if isinstance(detail, selectors.OwnItem):
            return Response(OwnItemSerializer(detail).data)
        context = {"privileged": detail.privileged}
        return Response(ItemDetailSerializer(detail, context=context).data)


class ItemEditSerializer(serializers.Serializer):
    """What a lead may change on an item; leave out what stays. Checked by the item's kind as
    at import."""

    data = ItemDataField(
        required=False,
        help_text="Only while the item has no annotation and no active lease (409 otherwise).",
    )
    priority = serializers.FloatField(required=False, help_text="Higher is served first.")
    split = serializers.ChoiceField(Split.choices, required=False)
    metadata = serializers.DictField(
        required=False, help_text="Replaces the metadata (free-form JSON, at most 64 KB)."
    )

    def run_validation(self, data: Any = empty) -> dict[str, Any]:
        # The item's kind checks the values (annotation.item_edit); here only the shape.
        if not isinstance(data, dict):
            raise ApplicationError("Send a JSON object of the fields to change.")
        return data


def _item_body(item: Item) -> dict:
    return ItemOutputSerializer(item, context={"blind": False}).data


class ItemEditApi(ItemDetailApi):
    """The item: GET as ItemDetailApi, PATCH to edit (leads)."""

    @extend_schema(
        request=ItemEditSerializer,
        responses={
            200: by_kind(ItemOutputSerializer, "Item"),
            **error_responses(400, 403, 404, 409),
        },
        description="Lead: change an item's data (only while nobody has annotated it or "
        "holds a lease: 409 otherwise), priority, split or metadata. One audit event.",
    )
    def patch(self, request, item_id: int):
        item, membership = item_get_for_member(user=request.user, item_id=item_id, role=Role.LEAD)
        changes = ItemEditSerializer(data=request.data).run_validation(request.data)
        item, _changed = item_edit.item_update(
            project=membership.project, item_id=item.pk, actor=request.user, changes=changes
        )
        return Response(_item_body(item))


class ItemDropApi(APIView):
    @extend_schema_serializer(component_name="ItemDropInput")
    class InputSerializer(serializers.Serializer):
        note = serializers.CharField(required=False, allow_blank=True, max_length=2000)

    @extend_schema(
        request=InputSerializer,
        responses={
            200: by_kind(ItemOutputSerializer, "Item"),
            **error_responses(400, 403, 404, 409),
        },
        description="Lead: take an open or stalled item out of the data (its leases end; "
        "kept in the audit). Restore it with `.../requeue/`. 409 for an item in another state.",
    )
    def post(self, request, item_id: int):
        item, membership = item_get_for_member(user=request.user, item_id=item_id, role=Role.LEAD)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        item = queue.item_drop(
            item_id=item.pk,
            actor=request.user,
            project=membership.project,
            note=data.validated_data.get("note", ""),
        )
        return Response(_item_body(item))


class ItemRequeueApi(APIView):
    @extend_schema(
        request=None,
        responses={200: by_kind(ItemOutputSerializer, "Item"), **error_responses(403, 404, 409)},
        description="Lead: open a stalled, dropped or rejected item again for everyone (those "
        "who skipped it may be served it again; an item whose round was complete starts the "
        "next round). 409 for an item in any other state.",
    )
    def post(self, request, item_id: int):
        item, membership = item_get_for_member(user=request.user, item_id=item_id, role=Role.LEAD)
        item = queue.item_requeue(item_id=item.pk, actor=request.user, project=membership.project)
        return Response(ItemOutputSerializer(item, context={"blind": False}).data)
