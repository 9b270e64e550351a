import pytest
from django.urls import include, path

from annotation import views as annotation_views
from core.errors import Conflict, PermissionDenied


def forbidden(request):
    raise PermissionDenied("This needs the lead role in this project.")


def conflict(request):
    raise Conflict("Already decided by another reviewer: <b>approve</b>.")


urlpatterns = [
    path("forbidden/", forbidden),
    path("conflict/", conflict),
    path("", annotation_views.home, name="home"),
    path("", include("core.urls")),
]


@pytest.mark.urls("tests.core.test_error_pages")
def test_a_service_error_in_a_page_is_a_page_with_its_status(client, user):
    response = client.get("/forbidden/")
    assert response.status_code == 403
    assert "This needs the lead role in this project." in response.content.decode()


@pytest.mark.urls("tests.core.test_error_pages")
def test_an_htmx_request_gets_the_message_fragment_escaped(client, user):
    response = client.get("/conflict/", headers={"HX-Request": "true"})
    body = response.content.decode()
    assert response.status_code == 409
    assert "<html" not in body
    assert "&lt;b&gt;approve&lt;/b&gt;" in body
