"""REST API of webhook endpoints and their delivery log. Leads only."""

from drf_spectacular.utils import extend_schema, extend_schema_serializer
from rest_framework import serializers, status
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.response import Response
from rest_framework.views import APIView

from annotation.access import membership_get
from annotation.models import Role
from core.api_errors import error_responses
from core.tokens import TokenScope
from webhooks import selectors, services
from webhooks.events import EVENT_NAMES
from webhooks.models import Attempt, Delivery, DeliveryState, Endpoint


@extend_schema_serializer(component_name="WebhookEndpoint")
class EndpointSerializer(serializers.ModelSerializer):
    project = serializers.IntegerField(source="project_id")
    events = serializers.ListField(child=serializers.ChoiceField(choices=list(EVENT_NAMES)))
    disabled_reason = serializers.CharField(
        help_text='Why it was disabled (24 h of failed deliveries, or a lead); "" while active.'
    )
    failing_since = serializers.DateTimeField(
        allow_null=True, help_text="The first failed attempt since the last delivered one."
    )

    class Meta:
        model = Endpoint
        fields = [
            "id",
            "project",
            "url",
            "events",
            "description",
            "active",
            "disabled_at",
            "disabled_reason",
            "failing_since",
            "created_at",
        ]


@extend_schema_serializer(component_name="WebhookEndpointCreated")
class EndpointCreatedSerializer(EndpointSerializer):
    secret = serializers.CharField(
        help_text="Signs every delivery (Rubric-Signature). Shown this once: keep it."
    )

    class Meta(EndpointSerializer.Meta):
        fields = [*EndpointSerializer.Meta.fields, "secret"]


@extend_schema_serializer(component_name="WebhookAttempt")
class AttemptSerializer(serializers.ModelSerializer):
    class Meta:
        model = Attempt
        fields = [
            "number",
            "started_at",
            "duration_ms",
            "response_code",
            "response_excerpt",
            "error",
            "outcome",
            "retry_at",
        ]


@extend_schema_serializer(component_name="WebhookDelivery")
class DeliverySerializer(serializers.ModelSerializer):
    endpoint = serializers.IntegerField(source="endpoint_id")
    event_id = serializers.UUIDField(
        help_text="The event's id (Rubric-Delivery): deduplicate by it."
    )
    state = serializers.ChoiceField(DeliveryState.choices)
    redelivery_of = serializers.IntegerField(source="redelivery_of_id", allow_null=True)
    attempt_log = AttemptSerializer(many=True, read_only=True)

    class Meta:
        model = Delivery
        fields = [
            "id",
            "endpoint",
            "event_id",
            "event_type",
            "state",
            "attempts",
            "response_code",
            "duration_ms",
            "error",
            "next_attempt_at",
            "created_at",
            "finished_at",
            "redelivery_of",
            "attempt_log",
        ]


class _EndpointInput(serializers.Serializer):
    url = serializers.CharField(max_length=2000)
    events = serializers.ListField(
        child=serializers.ChoiceField(choices=list(EVENT_NAMES)), min_length=1, max_length=20
    )
    description = serializers.CharField(max_length=200, required=False, allow_blank=True)


class ProjectWebhooksApi(APIView):
    """`GET`: the project's endpoints. `POST`: register one (201, with its secret, shown once)."""

    token_scope = TokenScope.ADMIN  # what a token needs for a write (core/tokens.py)

    @extend_schema_serializer(component_name="WebhookEndpointInput")
    class InputSerializer(_EndpointInput):
        pass

    @extend_schema(responses={200: EndpointSerializer(many=True), **error_responses(403, 404)})
    def get(self, request, project_id: int):
        membership = membership_get(user=request.user, project_id=project_id, role=Role.LEAD)
        endpoints = selectors.endpoint_list(project=membership.project)
        return Response(EndpointSerializer(endpoints, many=True).data)

    @extend_schema(
        request=InputSerializer,
        responses={201: EndpointCreatedSerializer, **error_responses(400, 403, 404)},
    )
    def post(self, request, project_id: int):
        membership = membership_get(user=request.user, project_id=project_id, role=Role.LEAD)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        endpoint = services.endpoint_create(
            project=membership.project, actor=request.user, **data.validated_data
        )
        return Response(EndpointCreatedSerializer(endpoint).data, status=status.HTTP_201_CREATED)


class WebhookDetailApi(APIView):
    """One endpoint: read, change (URL, events, description, `active` to turn it on again
    after it was disabled), delete."""

    token_scope = TokenScope.ADMIN  # what a token needs for a write (core/tokens.py)

    @extend_schema_serializer(component_name="WebhookEndpointPatch")
    class PatchSerializer(serializers.Serializer):
        url = serializers.CharField(max_length=2000, required=False)
        events = serializers.ListField(
            child=serializers.ChoiceField(choices=list(EVENT_NAMES)),
            min_length=1,
            max_length=20,
            required=False,
        )
        description = serializers.CharField(max_length=200, required=False, allow_blank=True)
        active = serializers.BooleanField(required=False)

    @extend_schema(responses={200: EndpointSerializer, **error_responses(403, 404)})
    def get(self, request, webhook_id: int):
        endpoint = selectors.endpoint_get_for_lead(user=request.user, endpoint_id=webhook_id)
        return Response(EndpointSerializer(endpoint).data)

    @extend_schema(
        request=PatchSerializer,
        responses={200: EndpointSerializer, **error_responses(400, 403, 404)},
    )
    def patch(self, request, webhook_id: int):
        endpoint = selectors.endpoint_get_for_lead(user=request.user, endpoint_id=webhook_id)
        data = self.PatchSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        endpoint = services.endpoint_update(
            endpoint=endpoint, actor=request.user, **data.validated_data
        )
        return Response(EndpointSerializer(endpoint).data)

    @extend_schema(responses={204: None, **error_responses(403, 404)})
    def delete(self, request, webhook_id: int):
        endpoint = selectors.endpoint_get_for_lead(user=request.user, endpoint_id=webhook_id)
        services.endpoint_delete(endpoint=endpoint, actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class DeliveryPagination(LimitOffsetPagination):
    default_limit = 50
    max_limit = 200


class WebhookDeliveriesApi(APIView):
    """The endpoint's delivery log, newest first: state, response code, duration, attempts."""

    token_scope = TokenScope.ADMIN  # what a token needs for a write (core/tokens.py)

    pagination_class = DeliveryPagination

    @extend_schema(responses={200: DeliverySerializer(many=True), **error_responses(403, 404)})
    def get(self, request, webhook_id: int):
        endpoint = selectors.endpoint_get_for_lead(user=request.user, endpoint_id=webhook_id)
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(
            selectors.delivery_list(endpoint=endpoint), request, view=self
        )
        return paginator.get_paginated_response(DeliverySerializer(page, many=True).data)


class RedeliverApi(APIView):
    """Send a delivery's event again (same event id and body) as a new delivery: 202."""

    token_scope = TokenScope.ADMIN

    @extend_schema(
        request=None, responses={202: DeliverySerializer, **error_responses(403, 404, 409)}
    )
    def post(self, request, delivery_id: int):
        delivery = selectors.delivery_get_for_lead(user=request.user, delivery_id=delivery_id)
        again = services.delivery_redeliver(delivery=delivery, actor=request.user)
        again = Delivery.objects.prefetch_related("attempt_log").get(pk=again.pk)
        return Response(DeliverySerializer(again).data, status=status.HTTP_202_ACCEPTED)
