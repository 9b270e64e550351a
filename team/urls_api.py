from django.urls import path

from team import apis

urlpatterns = [
    path(
        "projects/<int:project_id>/invitations/",
        apis.InvitationListApi.as_view(),
        name="api-invitations",
    ),
    path(
        "projects/<int:project_id>/invitations/<int:invitation_id>/",
        apis.InvitationDetailApi.as_view(),
        name="api-invitation",
    ),
    path("invitations/accept/", apis.InvitationAcceptApi.as_view(), name="api-invitation-accept"),
]
