"""REST API of the task queue: claim, submit, skip, heartbeat and drafts."""

from typing import Any

from django.http import Http404
from drf_spectacular.utils import extend_schema, extend_schema_serializer
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from annotation import queue
from annotation.access import assignment_get_for_annotator, membership_get
from annotation.kinds.schemas import BlindItemDataField, PayloadField, nested_by_kind
from annotation.models import AssignmentStatus, Kind, SkipReason
from annotation.selectors import annotator_data
from core.api_errors import ErrorSerializer, error_responses
from core.models import TokenScope
from core.serializers import BlankAsNullField, JSONObjectField

_DISPLAY_ORDER = (
    'Preference items: "AB" when A is shown on the left, "BA" when swapped; null otherwise.'
)
_DRAFT = "The form's fields as last saved (`PUT .../draft/`), to fill the form again; or null."


@extend_schema_serializer(component_name="ClaimAssignment")
class ClaimAssignmentSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    status = serializers.ChoiceField(AssignmentStatus.choices)
    lease_expires_at = serializers.DateTimeField(
        source="expires_at", help_text="Submit before then, or keep the lease alive (heartbeat)."
    )
    display_order = BlankAsNullField(help_text=_DISPLAY_ORDER)
    draft = JSONObjectField(allow_null=True, help_text=_DRAFT)


class AnnotatorItemDataField(BlindItemDataField):
    """The item's data as its annotator reads it: blind, and without a model's suggested
    labels while the project hides them."""

    def to_representation(self, item: Any) -> Any:
        return annotator_data(item, item.project)


class ClaimItemSerializer(serializers.Serializer):
    """The claimed item as its annotator reads it: no model names, no hidden suggestions."""

    id = serializers.IntegerField()
    kind = serializers.ChoiceField(Kind.choices)
    data = AnnotatorItemDataField()


class ClaimSerializer(serializers.Serializer):
    """The caller's lease (their active one if they hold one) and its item."""

    assignment = ClaimAssignmentSerializer(source="*")
    item = nested_by_kind(ClaimItemSerializer, "ClaimItem")


class AnnotationSerializer(serializers.Serializer):
    """A submitted annotation."""

    id = serializers.IntegerField()
    item = serializers.IntegerField(source="item_id")
    assignment = serializers.IntegerField(source="assignment_id")
    payload = PayloadField(help_text="In A/B terms for a preference.")
    display_order = BlankAsNullField(help_text=_DISPLAY_ORDER)
    seconds_spent = serializers.FloatField(allow_null=True)
    guidelines_version = serializers.IntegerField(
        help_text="The version of the guidelines it was written under."
    )
    round = serializers.IntegerField(help_text="The item's round it belongs to.")
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField(
        allow_null=True, help_text="When its annotator last changed it."
    )


@extend_schema_serializer(component_name="LeaseLost")
class LeaseLostSerializer(ErrorSerializer):
    """The lease is no longer the caller's (`lease_lost`: skipped or expired), or the item was
    already submitted with another answer (`already_submitted`): the payload is echoed back so
    the text is not lost."""

    status = serializers.ChoiceField(["lease_lost", "already_submitted"])
    payload = serializers.JSONField(allow_null=True, help_text="What was sent (null: heartbeat).")
    annotation = serializers.IntegerField(
        required=False, help_text="already_submitted: the annotation that stands."
    )


class ClaimApi(APIView):
    token_scope = TokenScope.ANNOTATE  # what a token needs for POST/PUT (core/tokens.py)

    @extend_schema(
        request=None,
        responses={
            200: ClaimSerializer,
            204: None,
            **error_responses(404, 409),
        },
        description="The next task: the caller's active lease if they hold one, then a gold "
        "item when one is due, then partly annotated items, higher priority, older. 204 when "
        "nothing is left for the caller.",
    )
    def post(self, request, project_id: int):
        membership = membership_get(user=request.user, project_id=project_id)
        assignment = queue.assignment_claim_next(membership=membership)
        if assignment is None:
            return Response(status=status.HTTP_204_NO_CONTENT)
        return Response(ClaimSerializer(assignment).data)


class SubmitApi(APIView):
    token_scope = TokenScope.ANNOTATE  # what a token needs for POST/PUT (core/tokens.py)

    @extend_schema_serializer(component_name="SubmitInput")
    class InputSerializer(serializers.Serializer):
        payload = PayloadField(
            help_text="The annotation: a payload of the item's kind, in A/B terms for a preference."
        )
        seconds_spent = serializers.FloatField(required=False, allow_null=True, min_value=0)

    @extend_schema(
        request=InputSerializer,
        responses={
            201: AnnotationSerializer,
            200: AnnotationSerializer,
            **error_responses(400, 404, 409, conflict=LeaseLostSerializer),
        },
        description="201 with the new annotation; 200 with the stored one when this repeats a "
        "submit that succeeded (same payload).",
    )
    def post(self, request, assignment_id: int):
        try:
            pk = int(assignment_id)
        except (TypeError, ValueError):
            raise Http404("No such assignment.") from None
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        # The service reads the assignment with the caller's membership in one statement.
        result = queue.assignment_submit(
            assignment_id=pk,
            annotator=request.user,
            membership_required=True,
            **data.validated_data,
        )
        return Response(
            AnnotationSerializer(result.annotation).data,
            status=status.HTTP_201_CREATED if result.created else status.HTTP_200_OK,
        )


class SkipApi(APIView):
    token_scope = TokenScope.ANNOTATE  # what a token needs for POST/PUT (core/tokens.py)

    @extend_schema_serializer(component_name="SkipInput")
    class InputSerializer(serializers.Serializer):
        reason = serializers.ChoiceField(
            SkipReason.choices, required=False, allow_blank=True, help_text="Why, optional."
        )
        note = serializers.CharField(
            required=False,
            allow_blank=True,
            max_length=queue.MAX_SKIP_NOTE,
            help_text="Say what is wrong (required when the reason is `other`).",
        )
        flag = serializers.BooleanField(
            required=False, default=False, help_text="Flag the item for the lead."
        )

    @extend_schema_serializer(component_name="SkippedAssignment")
    class OutputSerializer(serializers.Serializer):
        id = serializers.IntegerField()
        status = serializers.ChoiceField(
            AssignmentStatus.choices, help_text="`skipped`: not offered to the caller again."
        )
        reason = BlankAsNullField(source="skip_reason")
        flagged = serializers.BooleanField()

    @extend_schema(
        request=InputSerializer,
        responses={200: OutputSerializer, **error_responses(400, 404, 409)},
        description="Give the item back, with an optional reason and note and a flag for the "
        "lead; it is not offered to the caller again. An item nobody can take any more "
        "becomes `stalled`.",
    )
    def post(self, request, assignment_id: int):
        assignment = assignment_get_for_annotator(user=request.user, assignment_id=assignment_id)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        assignment = queue.assignment_skip(
            assignment_id=assignment.pk, annotator=request.user, **data.validated_data
        )
        return Response(self.OutputSerializer(assignment).data)


class AnnotationApi(APIView):
    token_scope = TokenScope.ANNOTATE  # what a token needs for POST/PUT (core/tokens.py)

    @extend_schema_serializer(component_name="AnnotationChange")
    class InputSerializer(serializers.Serializer):
        payload = PayloadField(help_text="The new answer, in A/B terms for a preference.")

    @extend_schema(
        request=InputSerializer,
        responses={
            200: AnnotationSerializer,
            **error_responses(400, 404, 409),
        },
        description="Change an annotation you submitted while its item is open (its round); "
        "409 once the item completed, and for gold answers. Another member's annotation is a "
        "404.",
    )
    def patch(self, request, annotation_id: int):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        annotation = queue.annotation_update(
            annotation_id=annotation_id, annotator=request.user, **data.validated_data
        )
        return Response(AnnotationSerializer(annotation).data)


class HeartbeatApi(APIView):
    token_scope = TokenScope.ANNOTATE  # what a token needs for POST/PUT (core/tokens.py)

    @extend_schema_serializer(component_name="Lease")
    class OutputSerializer(serializers.Serializer):
        id = serializers.IntegerField()
        status = serializers.ChoiceField(AssignmentStatus.choices)
        lease_expires_at = serializers.DateTimeField(source="expires_at")

    @extend_schema(
        request=None,
        responses={
            200: OutputSerializer,
            **error_responses(404, 409, conflict=LeaseLostSerializer),
        },
        description="Extend the lease by the project's `lease_seconds`; 409 once it is lost.",
    )
    def post(self, request, assignment_id: int):
        assignment = assignment_get_for_annotator(user=request.user, assignment_id=assignment_id)
        assignment = queue.assignment_heartbeat(assignment_id=assignment.pk, annotator=request.user)
        return Response(self.OutputSerializer(assignment).data)


class DraftApi(APIView):
    token_scope = TokenScope.ANNOTATE  # what a token needs for POST/PUT (core/tokens.py)

    @extend_schema_serializer(component_name="DraftInput")
    class InputSerializer(serializers.Serializer):
        draft = JSONObjectField(help_text="The form's fields, at most 1 MB as JSON.")

    @extend_schema_serializer(component_name="DraftSaved")
    class OutputSerializer(serializers.Serializer):
        id = serializers.IntegerField()
        draft_saved_at = serializers.DateTimeField()

    @extend_schema(
        request=InputSerializer,
        responses={200: OutputSerializer, **error_responses(400, 404, 409)},
        description="Keep the typed, unsubmitted answer on the server; allowed on a lost lease "
        "too, so the text survives until the annotator has copied it.",
    )
    def put(self, request, assignment_id: int):
        assignment = assignment_get_for_annotator(user=request.user, assignment_id=assignment_id)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        assignment = queue.assignment_draft_save(
            assignment_id=assignment.pk, annotator=request.user, draft=data.validated_data["draft"]
        )
        return Response(self.OutputSerializer(assignment).data)
