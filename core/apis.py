from django.contrib.auth import authenticate
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_GET
from drf_spectacular.utils import extend_schema, extend_schema_serializer
from rest_framework import serializers, status
from rest_framework.permissions import AllowAny, IsAdminUser
from rest_framework.response import Response
from rest_framework.throttling import ScopedRateThrottle
from rest_framework.views import APIView

from core.api_errors import error_responses
from core.errors import ApplicationError
from core.services import NewUser, token_for, user_create


class TokenApi(APIView):
    """Exchange a username and password for the account's API token."""

    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_classes = [ScopedRateThrottle]
    throttle_scope = "auth"

    @extend_schema_serializer(component_name="TokenInput")
    class InputSerializer(serializers.Serializer):
        username = serializers.CharField()
        password = serializers.CharField(trim_whitespace=False)

    @extend_schema_serializer(component_name="Token")
    class OutputSerializer(serializers.Serializer):
        token = serializers.CharField(source="key", help_text="Send as `Authorization: Token …`.")

    @extend_schema(
        request=InputSerializer,
        responses={200: OutputSerializer, **error_responses(400, 429)},
    )
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        user = authenticate(request, **data.validated_data)
        if user is None or not user.is_active:
            raise ApplicationError("Unable to log in with these credentials.")
        return Response(self.OutputSerializer(token_for(user=user)).data)


class UserCreateApi(APIView):
    permission_classes = [IsAdminUser]

    @extend_schema_serializer(component_name="UserCreateInput")
    class InputSerializer(serializers.Serializer):
        username = serializers.CharField()
        password = serializers.CharField(required=False, trim_whitespace=False)
        email = serializers.EmailField(required=False, allow_blank=True)

    @extend_schema_serializer(component_name="UserCreateOutput")
    class OutputSerializer(serializers.Serializer):
        id = serializers.IntegerField(source="user.pk")
        username = serializers.CharField(source="user.username")
        token = serializers.CharField(source="token.key")
        password = serializers.CharField(
            source="generated",
            required=False,
            help_text="Only when none was given: generated, shown this once.",
        )

        def to_representation(self, created: NewUser) -> dict:
            body = super().to_representation(created)
            if created.generated is None:
                del body["password"]
            return body

    @extend_schema(
        request=InputSerializer,
        responses={201: OutputSerializer, **error_responses(400, 403, 409)},
    )
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        created = user_create(actor=request.user, **data.validated_data)
        return Response(self.OutputSerializer(created).data, status=status.HTTP_201_CREATED)


def _broker_reachable() -> tuple[bool, str]:
    from django.conf import settings

    if not settings.REDIS_URL:
        return True, "none configured: tasks run in-process"
    import redis

    try:
        redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=2, socket_timeout=2).ping()
    except redis.RedisError as exc:
        return False, f"unreachable: {exc.__class__.__name__}"
    return True, "reachable"


@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        database_ok, database = True, f"reachable ({connection.vendor})"
    except Exception as exc:  # any driver error means "not reachable"
        database_ok, database = False, f"unreachable: {exc.__class__.__name__}"
    broker_ok, broker = _broker_reachable()
    ok = database_ok and broker_ok
    return JsonResponse(
        {"status": "ok" if ok else "degraded", "database": database, "broker": broker},
        status=200 if ok else 503,
    )
