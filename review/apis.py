"""REST API of the review queue: list items in review, decide one, send one back."""

from drf_spectacular.utils import extend_schema, extend_schema_serializer, inline_serializer
from rest_framework import serializers, status
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.response import Response
from rest_framework.views import APIView

from annotation.access import item_get_for_member, membership_get
from annotation.models import Item, Role
from review import selectors, services
from review.models import FinalRecord, ReviewDecision


class ReviewQueuePagination(LimitOffsetPagination):
    default_limit = 20
    max_limit = 100


@extend_schema_serializer(component_name="ReviewQueueAnnotation")
class _QueueAnnotationSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    label = serializers.CharField(help_text='"Annotation 1", "Annotation 2", ... by id.')
    payload = serializers.JSONField(help_text="In A/B terms for preferences.")


@extend_schema_serializer(component_name="ReviewQueueEntry")
class _QueueEntrySerializer(serializers.Serializer):
    id = serializers.IntegerField()
    kind = serializers.CharField()
    review_reason = serializers.CharField()
    agreement = serializers.CharField(allow_null=True)
    data = serializers.JSONField(help_text="The item's data without model names.")
    annotations = _QueueAnnotationSerializer(many=True)
    disputed_fields = serializers.ListField(child=serializers.CharField())


class ReviewQueueApi(APIView):
    """Items in review that the caller may decide (never those they annotated), disputed
    first; blind: no annotator names, no model names."""

    @extend_schema(responses={200: _QueueEntrySerializer(many=True)})
    def get(self, request, project_id: int):
        membership = membership_get(user=request.user, project_id=project_id, role=Role.REVIEWER)
        paginator = ReviewQueuePagination()
        page = paginator.paginate_queryset(
            selectors.review_queue(membership=membership), request, view=self
        )
        return paginator.get_paginated_response(
            [selectors.review_queue_entry_body(item) for item in page]
        )


def _decision_body(item: Item) -> dict:
    record = FinalRecord.objects.filter(item=item, is_current=True).first()
    return {
        "item": {"id": item.pk, "status": item.status, "review_reason": item.review_reason},
        "final_record": None
        if record is None
        else {
            "id": record.pk,
            "payload": record.payload,
            "provenance": record.provenance,
            "source_annotation": record.source_annotation_id,
        },
    }


_DECISION = inline_serializer(
    "ReviewDecisionResult",
    {
        "review": serializers.DictField(),
        "item": serializers.DictField(),
        "final_record": serializers.DictField(allow_null=True),
    },
)


class ReviewApi(APIView):
    @extend_schema_serializer(component_name="ReviewInput")
    class InputSerializer(serializers.Serializer):
        decision = serializers.ChoiceField(choices=ReviewDecision.values)
        annotation = serializers.IntegerField(
            required=False, allow_null=True, help_text="Approve this annotation as is."
        )
        final = serializers.JSONField(
            required=False, allow_null=True, help_text="Approve this reviewer-written payload."
        )
        note = serializers.CharField(
            required=False,
            allow_blank=True,
            max_length=services.MAX_NOTE,
            help_text="Optional when approving, required when rejecting.",
        )

    @extend_schema(request=InputSerializer, responses={201: _DECISION})
    def post(self, request, item_id: int):
        item, _ = item_get_for_member(user=request.user, item_id=item_id, role=Role.REVIEWER)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        review = services.review_decide(
            item_id=item.pk,
            reviewer=request.user,
            decision=values["decision"],
            annotation_id=values.get("annotation"),
            final=values.get("final"),
            note=values.get("note", ""),
        )
        return Response(
            {"review": services.review_as_dict(review), **_decision_body(review.item)},
            status=status.HTTP_201_CREATED,
        )


class ReopenApi(APIView):
    @extend_schema_serializer(component_name="ReopenInput")
    class InputSerializer(serializers.Serializer):
        note = serializers.CharField(required=False, allow_blank=True, max_length=services.MAX_NOTE)

    @extend_schema(
        request=InputSerializer,
        responses={
            200: inline_serializer(
                "ReopenResult",
                {"item": serializers.DictField(), "final_record": serializers.DictField()},
            )
        },
    )
    def post(self, request, item_id: int):
        """Send an approved or rejected item back to review (lead); its final record is kept
        as history."""
        item, _ = item_get_for_member(user=request.user, item_id=item_id, role=Role.LEAD)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        item = services.item_reopen(
            item_id=item.pk, actor=request.user, note=data.validated_data.get("note", "")
        )
        return Response(_decision_body(item))
