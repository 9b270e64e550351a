from django.contrib.auth import authenticate
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_GET
from drf_spectacular.utils import extend_schema, extend_schema_serializer
from rest_framework import serializers, status
from rest_framework.permissions import AllowAny, IsAdminUser
from rest_framework.response import Response
from rest_framework.views import APIView

from core import outbox, throttle, tokens
from core.api_errors import error_responses
from core.errors import ApplicationError
from core.models import TokenScope
from core.services import NewUser, user_create


class TokenApi(APIView):
    """Exchange a username and password for a new API token (the key is shown this once).

    Throttled per account and per client address (core/throttle.py), in the database: it
    answers while the cache is down."""

    authentication_classes: list = []
    permission_classes = [AllowAny]

    @extend_schema_serializer(component_name="TokenInput")
    class InputSerializer(serializers.Serializer):
        username = serializers.CharField(max_length=150)
        password = serializers.CharField(trim_whitespace=False, max_length=4096)
        name = serializers.CharField(
            max_length=100, required=False, default="api", help_text="Shown on the account page."
        )
        scope = serializers.ChoiceField(
            choices=TokenScope.choices,
            required=False,
            default=TokenScope.ADMIN,
            help_text="read: GET only; push: read and import items; annotate: read and claim, "
            "submit, skip, drafts and review; admin: everything the account may do.",
        )
        expires_in_days = serializers.IntegerField(
            required=False,
            allow_null=True,
            default=tokens.DEFAULT_DAYS,
            min_value=1,
            max_value=tokens.MAX_DAYS,
            help_text=f"Default {tokens.DEFAULT_DAYS}; null: never expires.",
        )

    @extend_schema_serializer(component_name="Token")
    class OutputSerializer(serializers.Serializer):
        token = serializers.CharField(source="key", help_text="Send as `Authorization: Token …`.")
        name = serializers.CharField()
        scope = serializers.ChoiceField(choices=TokenScope.choices)
        expires_at = serializers.DateTimeField(allow_null=True)

    @extend_schema(
        request=InputSerializer,
        responses={200: OutputSerializer, **error_responses(400, 409, 429)},
    )
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        address = throttle.client_address(request)
        try:
            throttle.check(values["username"], address)
        except throttle.Throttled as exc:
            response = Response({"detail": exc.message}, status=429)
            response["Retry-After"] = str(exc.wait)
            return response
        user = authenticate(request, username=values["username"], password=values["password"])
        ok = user is not None and user.is_active
        throttle.record(values["username"], address, succeeded=ok)
        if not ok:
            raise ApplicationError("Unable to log in with these credentials.")
        created = tokens.token_create(
            user=user,
            name=values["name"],
            scope=values["scope"],
            expires_in_days=values["expires_in_days"],
        )
        return Response(self.OutputSerializer(created).data)


class UserCreateApi(APIView):
    permission_classes = [IsAdminUser, tokens.TokenScopePermission]

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
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    try:
        redis.Redis.from_url(
            settings.REDIS_URL,
            socket_connect_timeout=2,
            socket_timeout=2,
            retry=Retry(NoBackoff(), 0),
        ).ping()
    except redis.RedisError as exc:
        return False, f"unreachable: {exc.__class__.__name__}"
    return True, "reachable"


@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """The database, the broker and the outbox's backlog.

    ``ok`` (200): everything answers. ``degraded`` (200): the broker (Redis) is unreachable:
    annotation, review and every page work, background jobs wait in the outbox and start when
    it is back; 200 so a load balancer keeps the web servers in rotation. ``unavailable``
    (503): the database does not answer, so nothing can be served."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        database_ok, database = True, f"reachable ({connection.vendor})"
    except Exception as exc:  # any driver error means "not reachable"
        database_ok, database = False, f"unreachable: {exc.__class__.__name__}"
    broker_ok, broker = _broker_reachable()
    body: dict = {"database": database, "broker": broker}
    reasons = []
    if database_ok:
        waiting, oldest = outbox.backlog()
        body["jobs"] = {
            "waiting": waiting,
            "oldest_waiting_seconds": round(oldest, 1) if oldest is not None else None,
        }
    else:
        reasons.append("the database is unreachable: nothing can be served")
    if not broker_ok:
        reasons.append(
            "the task queue (Redis) is unreachable: annotation and review work; background "
            "jobs (exports, agreement reports) wait in the outbox and start when it is back"
        )
    status = "ok" if not reasons else "degraded" if database_ok else "unavailable"
    return JsonResponse(
        {"status": status, "reasons": reasons, **body}, status=200 if database_ok else 503
    )
