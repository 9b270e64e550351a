"""REST API of the review queue: list items in review, decide one, send one back."""

from drf_spectacular.utils import extend_schema, extend_schema_serializer
from rest_framework import serializers, status
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.response import Response
from rest_framework.views import APIView

from annotation.access import item_get_for_member, membership_get
from annotation.kinds.schemas import ItemDataField, PayloadField, by_kind, nested_by_kind
from annotation.models import ItemStatus, Kind, ReviewReason, Role
from core.api_errors import ErrorSerializer, StatusConflictSerializer, error_responses
from core.models import TokenScope
from core.serializers import BlankAsNullField
from review import guards, selectors, services
from review.models import AfterReject, Provenance, ReviewDecision
from review.serializers import ReviewSerializer


class ReviewQueuePagination(LimitOffsetPagination):
    default_limit = 20
    max_limit = 100


@extend_schema_serializer(component_name="ReviewQueueAnnotation")
class QueueAnnotationSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    label = serializers.CharField(help_text='"Annotation 1", "Annotation 2", ... by id.')
    payload = PayloadField(help_text="In A/B terms for a preference.")
    display_order = BlankAsNullField(
        help_text='Preference items: the order its author saw, "AB" (A on the left) or "BA" '
        "(swapped): a rationale's left and right are in those terms. null for other kinds."
    )


class ReviewQueueEntrySerializer(serializers.Serializer):
    """An item waiting for review, blind: no annotator names, no model names."""

    id = serializers.IntegerField(source="item.pk")
    kind = serializers.ChoiceField(Kind.choices, source="item.kind")
    review_reason = serializers.ChoiceField(ReviewReason.choices, source="item.review_reason")
    agreement = BlankAsNullField(source="item.agreement", help_text="`agreed` or `disputed`.")
    data = ItemDataField(help_text="Without model names.")
    annotations = QueueAnnotationSerializer(many=True)
    disputed_fields = serializers.ListField(
        child=serializers.CharField(),
        help_text='The fields the annotations disagree on ("rating", "criteria.honesty", ...).',
    )


@extend_schema_serializer(component_name="ReviewedItem")
class ItemStateSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    status = serializers.ChoiceField(
        ItemStatus.choices,
        help_text="After a rejection: `open` (annotate again, next round), `stalled` (nobody "
        "left to annotate it) or `dropped`.",
    )
    review_reason = serializers.CharField(
        allow_blank=True, help_text='"" once decided; `reopened` when sent back.'
    )
    round = serializers.IntegerField(help_text="Rounds of annotation the item has had.")


@extend_schema_serializer(component_name="FinalRecord")
class FinalRecordSerializer(serializers.Serializer):
    """The payload exports use for an approved item."""

    id = serializers.IntegerField()
    payload = PayloadField()
    provenance = serializers.ChoiceField(Provenance.choices)
    source_annotation = serializers.IntegerField(
        source="source_annotation_id",
        allow_null=True,
        help_text="The annotation approved as is; null for a final a reviewer wrote.",
    )


@extend_schema_serializer(component_name="AlreadyDecided")
class AlreadyDecidedSerializer(ErrorSerializer):
    """The item is no longer in review: `decision` is the decision that settled it (another
    reviewer's, say), `status` the item's status now."""

    decision = ReviewSerializer(allow_null=True)
    status = serializers.ChoiceField(ItemStatus.choices)


class ReviewQueueApi(APIView):
    """Items in review that the caller may decide (never those they annotated), disputed
    first; blind: no annotator names, no model names."""

    pagination_class = ReviewQueuePagination

    @extend_schema(
        responses={
            200: by_kind(ReviewQueueEntrySerializer, "ReviewQueueEntry", many=True),
            **error_responses(403, 404),
        }
    )
    def get(self, request, project_id: int):
        membership = membership_get(user=request.user, project_id=project_id, role=Role.REVIEWER)
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(
            selectors.review_queue(membership=membership), request, view=self
        )
        entries = [selectors.review_queue_entry(item) for item in page]
        return paginator.get_paginated_response(ReviewQueueEntrySerializer(entries, many=True).data)


class ReviewApi(APIView):
    token_scope = TokenScope.ANNOTATE  # what a token needs for POST/PUT (core/tokens.py)

    @extend_schema_serializer(component_name="ReviewInput")
    class InputSerializer(serializers.Serializer):
        decision = serializers.ChoiceField(choices=ReviewDecision.values)
        annotation = serializers.IntegerField(
            required=False, allow_null=True, help_text="Approve this annotation as is."
        )
        final = PayloadField(
            required=False,
            allow_null=True,
            help_text="Approve this reviewer-written payload of the item's kind (A/B terms for a "
            "preference).",
        )
        note = serializers.CharField(
            required=False,
            allow_blank=True,
            max_length=services.MAX_NOTE,
            help_text="Optional when approving, required when rejecting.",
        )
        then = serializers.ChoiceField(
            AfterReject.choices,
            required=False,
            help_text="A rejection: `annotate_again` (default: fresh annotations in the next "
            "round, by members who have not annotated it) or `drop` (out of the data).",
        )

    @extend_schema_serializer(component_name="ReviewDecisionResult")
    class OutputSerializer(serializers.Serializer):
        review = ReviewSerializer()
        item = ItemStateSerializer()
        final_record = FinalRecordSerializer(
            allow_null=True, help_text="The item's current one; null unless it is approved."
        )

    @extend_schema(
        request=InputSerializer,
        responses={
            201: OutputSerializer,
            **error_responses(400, 403, 404, 409, conflict=AlreadyDecidedSerializer),
        },
    )
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
            then=values.get("then"),
        )
        outcome = selectors.item_outcome(item=review.item, review=review)
        return Response(self.OutputSerializer(outcome).data, status=status.HTTP_201_CREATED)


class ReopenApi(APIView):
    @extend_schema_serializer(component_name="ReopenInput")
    class InputSerializer(serializers.Serializer):
        note = serializers.CharField(required=False, allow_blank=True, max_length=services.MAX_NOTE)

    @extend_schema_serializer(component_name="ReopenResult")
    class OutputSerializer(serializers.Serializer):
        item = ItemStateSerializer()
        final_record = FinalRecordSerializer(
            allow_null=True, help_text="null: the one it had is kept as history."
        )

    @extend_schema(
        request=InputSerializer,
        responses={
            200: OutputSerializer,
            **error_responses(400, 403, 404, 409, conflict=StatusConflictSerializer),
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
        return Response(self.OutputSerializer(selectors.item_outcome(item=item)).data)


class ReviewLeaseSerializer(serializers.Serializer):
    lease_id = serializers.IntegerField(source="pk")
    lease_expires = serializers.DateTimeField(source="expires_at")


@extend_schema_serializer(component_name="ReviewerPrediction")
class ReviewerPredictionSerializer(serializers.Serializer):
    """A model's answer as a reviewer reads it: its payload only, never its confidence or
    model name."""

    payload = PayloadField(help_text="In A/B terms for a preference.")


class ReviewClaimEntrySerializer(ReviewQueueEntrySerializer):
    """An item in review as the reviewer who holds it reads it: blind, with the model's
    answer (no confidence, no model name) unless the project hides it until their judgement."""

    prediction = ReviewerPredictionSerializer(
        allow_null=True,
        help_text="The model's answer; null when the item has none or while it is hidden "
        "(`prediction_hidden`).",
    )
    prediction_hidden = serializers.BooleanField(
        help_text="The project shows the model's answer after the reviewer's own judgement "
        "(`review_prediction: after_judgement`): POST it to /items/{id}/review-judgement/ "
        "first."
    )


def _claim_entry(lease, item) -> dict:
    """The held item for the claim API, with its prediction as the guards let this reviewer
    read it."""
    entry = selectors.review_queue_entry(item)
    check = guards.prediction_check_open(lease=lease, item=item)
    view = guards.prediction_view(check, project=item.project)
    return {
        **vars(entry),
        "prediction": {"payload": view.payload} if view and not view.hidden else None,
        "prediction_hidden": bool(view and view.hidden),
    }


class ReviewClaimApi(APIView):
    token_scope = TokenScope.ANNOTATE  # what a token needs for POST/PUT (core/tokens.py)

    @extend_schema_serializer(component_name="ReviewClaim")
    class OutputSerializer(serializers.Serializer):
        lease_id = serializers.IntegerField(source="lease.pk")
        lease_expires = serializers.DateTimeField(
            source="lease.expires_at", help_text="Decide before then, or keep it (heartbeat)."
        )
        item = nested_by_kind(ReviewClaimEntrySerializer, "ReviewClaimEntry")

    @extend_schema(
        request=None,
        responses={200: OutputSerializer, 204: None, **error_responses(403, 404, 409)},
        description="Hold the next item in review for the caller (a review lease): their held "
        "item first, then the queue's order, leaving out items other reviewers hold, items "
        "they annotated and items they skipped. 204 when none is free. Two reviewers never "
        "hold one item.",
    )
    def post(self, request, project_id: int):
        membership = membership_get(user=request.user, project_id=project_id, role=Role.REVIEWER)
        lease = services.review_claim_next(membership=membership)
        if lease is None:
            return Response(status=status.HTTP_204_NO_CONTENT)
        item = selectors.review_item(lease.item_id)
        entry = _claim_entry(lease, item)
        return Response(self.OutputSerializer({"lease": lease, "item": entry}).data)


class ReviewJudgementApi(APIView):
    token_scope = TokenScope.ANNOTATE  # what a token needs for POST/PUT (core/tokens.py)

    @extend_schema_serializer(component_name="ReviewJudgementInput")
    class InputSerializer(serializers.Serializer):
        annotation = serializers.IntegerField(
            required=False, allow_null=True, help_text="The annotation you would approve as is."
        )
        final = PayloadField(
            required=False,
            allow_null=True,
            help_text="Or the final you would write (A/B terms for a preference).",
        )

    @extend_schema_serializer(component_name="ReviewJudgement")
    class OutputSerializer(serializers.Serializer):
        judgement = PayloadField(help_text="Your answer as recorded (A/B terms).")
        prediction = ReviewerPredictionSerializer(help_text="The model's answer, revealed now.")

    @extend_schema(
        request=InputSerializer,
        responses={201: OutputSerializer, **error_responses(400, 403, 404, 409)},
        description="Record your own judgement of an item you hold (a review claim) before "
        "its model answer is shown (the project's `review_prediction: after_judgement`): "
        "one annotation you would approve as is, or a final. The answer is revealed in the "
        "response; then decide the item as usual. The judgement is kept: the dashboard grades "
        "reviewers on it. 409 when you do not hold the item or already recorded one.",
    )
    def post(self, request, item_id: int):
        item, _ = item_get_for_member(user=request.user, item_id=item_id, role=Role.REVIEWER)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        check = guards.review_judgement_record(
            item_id=item.pk,
            reviewer=request.user,
            annotation_id=data.validated_data.get("annotation"),
            final=data.validated_data.get("final"),
        )
        body = {"judgement": check.judgement, "prediction": {"payload": check.shown}}
        return Response(self.OutputSerializer(body).data, status=status.HTTP_201_CREATED)


class ReviewLeaseHeartbeatApi(APIView):
    token_scope = TokenScope.ANNOTATE  # what a token needs for POST/PUT (core/tokens.py)

    @extend_schema(
        request=None,
        responses={200: ReviewLeaseSerializer, **error_responses(404, 409)},
        description="Keep holding the item; 409 once the lease ended.",
    )
    def post(self, request, lease_id: int):
        lease = services.review_lease_heartbeat(lease_id=lease_id, reviewer=request.user)
        return Response(ReviewLeaseSerializer(lease).data)


class ReviewLeaseReleaseApi(APIView):
    token_scope = TokenScope.ANNOTATE  # what a token needs for POST/PUT (core/tokens.py)

    @extend_schema(
        request=None,
        responses={200: ReviewLeaseSerializer, **error_responses(404)},
        description="Let go of a held item: another reviewer may take it at once.",
    )
    def post(self, request, lease_id: int):
        lease = services.review_lease_release(lease_id=lease_id, reviewer=request.user)
        return Response(ReviewLeaseSerializer(lease).data)
