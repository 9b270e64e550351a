"""REST API of "My work": the caller's annotations and what became of them."""

from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_serializer
from rest_framework import serializers
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.views import APIView

from annotation.access import membership_get
from annotation.kinds.schemas import GoldField, PayloadField
from core.api_errors import error_responses
from core.errors import ApplicationError
from feedback import selectors, services


class MyWorkPagination(LimitOffsetPagination):
    default_limit = 50
    max_limit = 500


@extend_schema_serializer(component_name="MyWorkEntry")
class MyWorkEntrySerializer(serializers.Serializer):
    annotation_id = serializers.IntegerField(source="pk")
    item_id = serializers.IntegerField()
    kind = serializers.CharField(source="item.kind")
    round = serializers.IntegerField()
    payload = PayloadField(help_text="Your answer, in A/B terms for a preference.")
    status = serializers.ChoiceField(
        selectors.STATUSES,
        source="outcome",
        help_text="`waiting` (not decided yet), `approved` (as you answered), `edited` (approved "
        "with another answer or an edit), `rejected` (its round was sent back or dropped). "
        "Gold items: approved on a hit, rejected on a miss.",
    )
    final = PayloadField(
        source="final_payload", allow_null=True, help_text="The approved final, when approved."
    )
    review_note = serializers.CharField(allow_blank=True, help_text="The reviewer's note.")
    gold = serializers.SerializerMethodField(help_text='null, "hit" or "miss".')
    expected = GoldField(
        source="gold_expected", allow_null=True, help_text="A gold item's known answer."
    )
    editable = serializers.SerializerMethodField(
        help_text="Whether you may still change it (its item is open in its round)."
    )
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField(allow_null=True)

    def get_gold(self, annotation) -> str | None:
        if not annotation.item.is_gold:
            return None
        return "hit" if annotation.gold_correct else "miss"

    def get_editable(self, annotation) -> bool:
        return selectors.editable(annotation)

    def to_representation(self, annotation):
        annotation.gold_expected = annotation.item.gold if annotation.item.is_gold else None
        return super().to_representation(annotation)


class MyWorkApi(APIView):
    pagination_class = MyWorkPagination

    @extend_schema(
        parameters=[OpenApiParameter("status", str, enum=list(selectors.STATUSES))],
        responses={200: MyWorkEntrySerializer(many=True), **error_responses(400, 404)},
        description="Your annotations in the project, newest first, with what became of each: "
        "status, the final record, the reviewer's note, and on gold items whether you hit the "
        "known answer and what it is.",
    )
    def get(self, request, project_id: int):
        membership = membership_get(user=request.user, project_id=project_id)
        status = request.GET.get("status") or None
        if status is not None and status not in selectors.STATUSES:
            raise ApplicationError(
                f"status must be one of: {', '.join(selectors.STATUSES)}.",
                {"errors": [{"field": "status", "message": "Not a status."}]},
            )
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(
            selectors.my_work(membership=membership, status=status), request, view=self
        )
        services.work_seen(membership=membership)
        return paginator.get_paginated_response(MyWorkEntrySerializer(page, many=True).data)
