from django.contrib.auth import authenticate
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_GET
from drf_spectacular.utils import extend_schema, extend_schema_serializer, inline_serializer
from rest_framework import serializers, status
from rest_framework.permissions import AllowAny, IsAdminUser
from rest_framework.response import Response
from rest_framework.throttling import ScopedRateThrottle
from rest_framework.views import APIView

from core.errors import ApplicationError
from core.services import token_for, user_create


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

    @extend_schema(
        request=InputSerializer,
        responses={200: inline_serializer("Token", {"token": serializers.CharField()})},
    )
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        user = authenticate(request, **data.validated_data)
        if user is None or not user.is_active:
            raise ApplicationError("Unable to log in with these credentials.")
        return Response({"token": token_for(user=user).key})


class UserCreateApi(APIView):
    permission_classes = [IsAdminUser]

    @extend_schema_serializer(component_name="UserCreateInput")
    class InputSerializer(serializers.Serializer):
        username = serializers.CharField()
        password = serializers.CharField(required=False, trim_whitespace=False)
        email = serializers.EmailField(required=False, allow_blank=True)

    @extend_schema_serializer(component_name="UserCreateOutput")
    class OutputSerializer(serializers.Serializer):
        id = serializers.IntegerField()
        username = serializers.CharField()
        token = serializers.CharField()
        password = serializers.CharField(required=False, help_text="Only when generated.")

    @extend_schema(request=InputSerializer, responses={201: OutputSerializer})
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        user, token, generated = user_create(actor=request.user, **data.validated_data)
        body = {"id": user.pk, "username": user.username, "token": token.key}
        if generated:
            body["password"] = generated
        return Response(body, status=status.HTTP_201_CREATED)


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
