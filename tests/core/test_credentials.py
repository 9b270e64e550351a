"""Credentials: hashed, named, scoped, expiring, revocable API tokens; the login page and the
token endpoint throttled per account and per client address (behind trusted proxies only);
a lockout that ends; the session rotated at login; password validators."""

from datetime import timedelta

import pytest
from django.conf import settings as django_settings
from django.db import connection
from django.utils import timezone
from rest_framework.test import APIClient

from annotation.models import Role
from core import throttle
from core.models import ApiToken, AuditEvent, AuthAttempt
from core.tokens import digest_of, token_create, token_for
from tests.factories import ItemFactory, MembershipFactory, UserFactory

PASSWORD = "correct-horse-battery"  # the factory's


def api(key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


def get_token(client, username, password=PASSWORD, **extra):
    """POST the token endpoint; upper-case `extra` are request META (REMOTE_ADDR, HTTP_...),
    the others go in the body."""
    meta = {k: v for k, v in extra.items() if k.isupper()}
    body = {k: v for k, v in extra.items() if not k.isupper()}
    return client.post(
        "/api/v1/auth/token/",
        {"username": username, "password": password, **body},
        format="json",
        **meta,
    )


# --- tokens --------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_database_never_holds_a_usable_token(user):
    key = token_for(user=user).key
    assert api(key).get("/api/v1/projects/").status_code == 200
    stored = ApiToken.objects.get(user=user)
    assert stored.digest == digest_of(key) and stored.prefix == key[:16]
    with connection.cursor() as cursor:  # no column of any token table holds the key
        cursor.execute("SELECT * FROM core_apitoken")
        rows = cursor.fetchall()
        cursor.execute("SELECT count(*) FROM authtoken_token")
        assert cursor.fetchone()[0] == 0
    assert key not in repr(rows)
    # what the database holds, sent as a token, is refused
    for forged in (stored.digest, stored.prefix, stored.prefix + stored.digest):
        assert api(forged).get("/api/v1/projects/").status_code == 401


@pytest.mark.django_db
def test_the_token_endpoint_makes_a_named_scoped_expiring_token(user):
    response = get_token(APIClient(), user.username, name="pipeline", scope="push")
    assert response.status_code == 200
    body = response.json()
    assert body["name"] == "pipeline" and body["scope"] == "push"
    expires = timezone.datetime.fromisoformat(body["expires_at"])
    assert timedelta(days=89) < expires - timezone.now() <= timedelta(days=90)
    assert api(body["token"]).get("/api/v1/projects/").status_code == 200
    # several tokens per user
    assert get_token(APIClient(), user.username, name="laptop").status_code == 200
    assert ApiToken.objects.filter(user=user).count() == 2


@pytest.mark.django_db
def test_an_expired_or_revoked_token_is_refused(user, client):
    expiring = token_create(user=user, name="short", expires_in_days=1)
    revoked = token_for(user=user)
    ApiToken.objects.filter(pk=expiring.token.pk).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    client.force_login(user)
    response = client.post(f"/account/tokens/{revoked.token.pk}/revoke/")
    assert response.status_code == 302
    for key in (expiring.key, revoked.key):
        assert api(key).get("/api/v1/projects/").status_code == 401
    assert AuditEvent.objects.filter(action="token.revoke").count() == 1


@pytest.mark.django_db
def test_one_user_cannot_revoke_anothers_token(user, client):
    other = token_for(user=UserFactory())
    client.force_login(user)
    assert client.post(f"/account/tokens/{other.token.pk}/revoke/").status_code == 400
    assert api(other.key).get("/api/v1/projects/").status_code == 200


@pytest.mark.django_db
def test_scopes_limit_what_a_token_may_do(project):
    lead = MembershipFactory(project=project, role=Role.LEAD).user
    ItemFactory(project=project)
    items = f"/api/v1/projects/{project.pk}/items/"
    row = {"external_id": "x-1", "kind": "instruction", "data": {"prompt": "Say hi."}}
    read, push, annotate, admin = (
        token_for(user=lead, scope=s).key for s in ("read", "push", "annotate", "admin")
    )

    assert api(read).get(items).status_code == 200
    refused = api(read).post(items, [row], format="json")
    assert refused.status_code == 403 and "scope (read)" in refused.json()["detail"]
    assert api(annotate).post(items, [row], format="json").status_code == 403
    assert api(push).post(items, [row], format="json").status_code == 201
    # settings need admin
    patch = {"review_sample_rate": 0.2}
    assert (
        api(push).patch(f"/api/v1/projects/{project.pk}/", patch, format="json").status_code == 403
    )
    assert (
        api(admin).patch(f"/api/v1/projects/{project.pk}/", patch, format="json").status_code == 200
    )
    # claims need annotate (the lead is no annotator here: a 4xx from the view, not the scope)
    claim = f"/api/v1/projects/{project.pk}/claim/"
    assert api(push).post(claim).status_code == 403
    assert "scope" not in str(api(annotate).post(claim).content)


@pytest.mark.django_db
def test_the_account_page_lists_tokens_by_prefix_and_shows_a_new_key_once(user, client):
    old = token_for(user=user)
    client.force_login(user)
    page = client.get("/account/").content.decode()
    assert old.token.prefix in page and old.key not in page
    made = client.post(
        "/account/tokens/", {"name": "ci", "scope": "annotate", "expires_in_days": "30"}
    )
    new = ApiToken.objects.get(user=user, name="ci")
    assert new.scope == "annotate"
    assert (new.expires_at - timezone.now()).days in (29, 30)
    body = made.content.decode()
    key = body.split('data-testid="token">')[1].split("<")[0]
    assert digest_of(key) == new.digest
    assert key not in client.get("/account/").content.decode()


def test_the_migration_hashes_plain_tokens(transactional_db, require_postgres):
    from django.core.management import call_command
    from django.db.migrations.executor import MigrationExecutor

    user = UserFactory()
    executor = MigrationExecutor(connection)
    executor.migrate([("core", "0002_outbox")])
    try:
        apps = executor.loader.project_state(
            [("core", "0002_outbox"), ("authtoken", "0004_alter_tokenproxy_options")]
        ).apps
        Token = apps.get_model("authtoken", "Token")
        Token.objects.create(user_id=user.pk, key="0123456789abcdef0123456789abcdef01234567")
    finally:
        call_command("migrate", "core", verbosity=0)
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM authtoken_token")
        assert cursor.fetchone()[0] == 0
    key = "0123456789abcdef0123456789abcdef01234567"
    assert api(key).get("/api/v1/projects/").status_code == 200


# --- the throttle ---------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_token_endpoint_locks_an_account_from_an_address_then_lets_it_in_again(user):
    client = APIClient()
    for _ in range(throttle.PER_ACCOUNT_ADDRESS):
        assert get_token(client, user.username, "wrong").status_code == 400
    locked = get_token(client, user.username)  # even the right password waits
    assert locked.status_code == 429
    assert 0 < int(locked["Retry-After"]) <= 15 * 60
    assert "Too many failed attempts" in locked.json()["detail"]
    # knocking while locked does not extend the lock
    get_token(client, user.username, "wrong")
    assert AuthAttempt.objects.filter(succeeded=False).count() == throttle.PER_ACCOUNT_ADDRESS
    # another address is not locked out by these failures
    assert get_token(client, user.username, REMOTE_ADDR="10.9.9.9").status_code == 200
    # the window slides: fifteen minutes later, the owner gets in
    AuthAttempt.objects.update(created_at=timezone.now() - throttle.WINDOW - timedelta(seconds=1))
    assert get_token(client, user.username).status_code == 200


@pytest.mark.django_db
def test_an_address_guessing_across_accounts_is_throttled():
    users = [UserFactory() for _ in range(throttle.PER_ADDRESS + 1)]
    client = APIClient()
    for user in users[: throttle.PER_ADDRESS]:
        assert get_token(client, user.username, "wrong").status_code == 400
    assert get_token(client, users[-1].username).status_code == 429


@pytest.mark.django_db
def test_a_distributed_guess_cannot_lock_the_owner_out_of_a_known_address(user):
    owner = APIClient(REMOTE_ADDR="192.0.2.10")
    assert get_token(owner, user.username).status_code == 200  # the owner's usual address
    for n in range(throttle.PER_ACCOUNT):
        get_token(APIClient(REMOTE_ADDR=f"198.51.100.{n + 1}"), user.username, "wrong")
    assert get_token(APIClient(REMOTE_ADDR="203.0.113.7"), user.username).status_code == 429
    assert get_token(owner, user.username).status_code == 200


@pytest.mark.django_db
def test_x_forwarded_for_is_ignored_without_trusted_proxies(user, settings):
    settings.RUBRIC_TRUSTED_PROXIES = 0
    client = APIClient()
    for n in range(throttle.PER_ACCOUNT_ADDRESS):
        get_token(client, user.username, "wrong", HTTP_X_FORWARDED_FOR=f"10.0.0.{n}")
    assert get_token(client, user.username, HTTP_X_FORWARDED_FOR="10.0.0.99").status_code == 429


@pytest.mark.django_db
def test_behind_one_trusted_proxy_the_address_it_saw_counts_not_what_the_client_wrote(
    user, settings
):
    settings.RUBRIC_TRUSTED_PROXIES = 1
    client = APIClient(REMOTE_ADDR="127.0.0.1")  # the proxy
    for n in range(throttle.PER_ACCOUNT_ADDRESS):
        # the client prepends made-up entries; the proxy appends the address it saw
        forged = f"10.0.0.{n}, 203.0.113.5"
        assert (
            get_token(client, user.username, "wrong", HTTP_X_FORWARDED_FOR=forged).status_code
            == 400
        )
    assert AuthAttempt.objects.filter(address="203.0.113.5").count() == throttle.PER_ACCOUNT_ADDRESS
    assert (
        get_token(client, user.username, HTTP_X_FORWARDED_FOR="1.2.3.4, 203.0.113.5").status_code
        == 429
    )
    assert get_token(client, user.username, HTTP_X_FORWARDED_FOR="203.0.113.6").status_code == 200


@pytest.fixture
def cache_down(settings):
    """The cache on a Redis port nobody listens on: really down."""
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",
        }
    }
    from django.core.cache import cache

    with pytest.raises(Exception):  # noqa: B017 (the cache is really down)
        cache.get("x")


@pytest.mark.django_db
def test_the_token_endpoint_answers_while_the_cache_is_down(user, cache_down):
    assert get_token(APIClient(), user.username, "wrong").status_code == 400
    assert get_token(APIClient(), user.username).status_code == 200


@pytest.mark.django_db
def test_the_login_page_answers_and_throttles_while_the_cache_is_down(user, client, cache_down):
    assert client.get("/login/").status_code == 200
    for _ in range(throttle.PER_ACCOUNT_ADDRESS):
        assert (
            client.post("/login/", {"username": user.username, "password": "x"}).status_code == 200
        )
    locked = client.post("/login/", {"username": user.username, "password": PASSWORD})
    assert locked.status_code == 429 and "Retry-After" in locked
    AuthAttempt.objects.update(created_at=timezone.now() - throttle.WINDOW - timedelta(seconds=1))
    assert (
        client.post("/login/", {"username": user.username, "password": PASSWORD}).status_code == 302
    )
    assert client.get("/account/").status_code == 200


@pytest.mark.django_db
def test_the_login_page_is_throttled_and_rotates_the_session(user, client):
    client.get("/login/")
    for _ in range(throttle.PER_ACCOUNT_ADDRESS):
        response = client.post("/login/", {"username": user.username, "password": "wrong"})
        assert response.status_code == 200
    locked = client.post("/login/", {"username": user.username, "password": PASSWORD})
    assert locked.status_code == 429 and "Retry-After" in locked
    assert "Too many failed attempts" in locked.content.decode()
    assert "_auth_user_id" not in client.session

    AuthAttempt.objects.update(created_at=timezone.now() - throttle.WINDOW - timedelta(seconds=1))
    client.session["marker"] = 1
    before = client.session.session_key
    response = client.post("/login/", {"username": user.username, "password": PASSWORD})
    assert response.status_code == 302
    assert client.session.session_key != before  # rotated at login
    assert AuthAttempt.objects.filter(succeeded=True).count() == 1


def test_password_validators_are_on():
    names = [v["NAME"].rsplit(".", 1)[-1] for v in django_settings.AUTH_PASSWORD_VALIDATORS]
    assert {"MinimumLengthValidator", "CommonPasswordValidator"} <= set(names)


@pytest.mark.django_db
def test_a_weak_password_is_refused_when_making_a_user(make_api):
    staff = UserFactory(is_staff=True)
    response = make_api(staff).post(
        "/api/v1/users/", {"username": "weak", "password": "password"}, format="json"
    )
    assert response.status_code == 400
    assert any("common" in e["message"] for e in response.json()["errors"])
