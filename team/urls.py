from django.urls import path

from team import views

app_name = "team"
urlpatterns = [
    path("projects/<int:project_id>/invitations/", views.invitations, name="invitations"),
    path("projects/<int:project_id>/invitations/new/", views.invitation_new, name="new"),
    path(
        "projects/<int:project_id>/invitations/<int:invitation_id>/revoke/",
        views.invitation_revoke,
        name="revoke",
    ),
    path("invite/<str:token>/", views.accept, name="accept"),
]
