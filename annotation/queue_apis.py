"""REST API of the task queue: claim, submit, skip, heartbeat and drafts."""

from typing import Any

from drf_spectacular.utils import extend_schema, extend_schema_serializer, inline_serializer
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from annotation import queue
from annotation.access import assignment_get_for_annotator, membership_get
from annotation.models import Annotation, Assignment
from annotation.selectors import annotator_data


def assignment_body(assignment: Assignment) -> dict[str, Any]:
    item = assignment.item
    return {
        "assignment": {
            "id": assignment.pk,
            "status": assignment.status,
            "lease_expires_at": assignment.expires_at,
            "display_order": assignment.display_order or None,
            "draft": assignment.draft,
        },
        "item": {
            "id": item.pk,
            "kind": item.kind,
            "data": annotator_data(item, assignment.project),
        },
    }


def annotation_body(annotation: Annotation) -> dict[str, Any]:
    return {
        "id": annotation.pk,
        "item": annotation.item_id,
        "assignment": annotation.assignment_id,
        "payload": annotation.payload,
        "display_order": annotation.display_order or None,
        "seconds_spent": annotation.seconds_spent,
        "guidelines_version": annotation.guidelines_version,
        "created_at": annotation.created_at,
    }


_CLAIM = inline_serializer(
    "Claim",
    {"assignment": serializers.DictField(), "item": serializers.DictField()},
)


class ClaimApi(APIView):
    @extend_schema(request=None, responses={200: _CLAIM, 204: None})
    def post(self, request, project_id: int):
        membership = membership_get(user=request.user, project_id=project_id)
        assignment = queue.assignment_claim_next(membership=membership)
        if assignment is None:
            return Response(status=status.HTTP_204_NO_CONTENT)
        return Response(assignment_body(assignment))


class SubmitApi(APIView):
    @extend_schema_serializer(component_name="SubmitInput")
    class InputSerializer(serializers.Serializer):
        payload = serializers.JSONField(help_text="The annotation, in A/B terms for preferences.")
        seconds_spent = serializers.FloatField(required=False, allow_null=True, min_value=0)

    @extend_schema(
        request=InputSerializer,
        responses={201: inline_serializer("Annotation", {"id": serializers.IntegerField()})},
    )
    def post(self, request, assignment_id: int):
        assignment = assignment_get_for_annotator(user=request.user, assignment_id=assignment_id)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        result = queue.assignment_submit(
            assignment_id=assignment.pk, annotator=request.user, **data.validated_data
        )
        return Response(
            annotation_body(result.annotation),
            status=status.HTTP_201_CREATED if result.created else status.HTTP_200_OK,
        )


class SkipApi(APIView):
    @extend_schema(request=None, responses={200: _CLAIM})
    def post(self, request, assignment_id: int):
        assignment = assignment_get_for_annotator(user=request.user, assignment_id=assignment_id)
        assignment = queue.assignment_skip(assignment_id=assignment.pk, annotator=request.user)
        return Response({"id": assignment.pk, "status": assignment.status})


class HeartbeatApi(APIView):
    @extend_schema(request=None, responses={200: _CLAIM})
    def post(self, request, assignment_id: int):
        assignment = assignment_get_for_annotator(user=request.user, assignment_id=assignment_id)
        assignment = queue.assignment_heartbeat(assignment_id=assignment.pk, annotator=request.user)
        return Response(
            {
                "id": assignment.pk,
                "status": assignment.status,
                "lease_expires_at": assignment.expires_at,
            }
        )


class DraftApi(APIView):
    @extend_schema_serializer(component_name="DraftInput")
    class InputSerializer(serializers.Serializer):
        draft = serializers.JSONField()

    @extend_schema(request=InputSerializer, responses={200: _CLAIM})
    def put(self, request, assignment_id: int):
        assignment = assignment_get_for_annotator(user=request.user, assignment_id=assignment_id)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        assignment = queue.assignment_draft_save(
            assignment_id=assignment.pk, annotator=request.user, draft=data.validated_data["draft"]
        )
        return Response({"id": assignment.pk, "draft_saved_at": assignment.draft_saved_at})
