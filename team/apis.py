"""REST API of invitations: a lead makes, lists and revokes them; a user joins with a token."""

from drf_spectacular.utils import extend_schema, extend_schema_serializer
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from annotation.access import membership_get
from annotation.models import Role
from core.api_errors import error_responses
from core.models import TokenScope
from team import selectors, services
from team.models import InvitationState


@extend_schema_serializer(component_name="Invitation")
class InvitationSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    role = serializers.ChoiceField(Role.choices)
    email = serializers.CharField(help_text='The address it was sent to; "" for a link.')
    max_uses = serializers.IntegerField(allow_null=True, help_text="null: any number")
    uses = serializers.IntegerField()
    expires_at = serializers.DateTimeField()
    state = serializers.ChoiceField(InvitationState.choices)
    created_by = serializers.CharField(source="created_by.username", allow_null=True)
    created_at = serializers.DateTimeField()


@extend_schema_serializer(component_name="NewInvitation")
class NewInvitationSerializer(InvitationSerializer):
    url = serializers.CharField(
        help_text="The link to join, shown this once (only a hash of its token is kept)."
    )
    token = serializers.CharField(help_text="The token in the link, for POST .../accept/.")
    emailed = serializers.BooleanField(help_text="Whether it was handed to the email backend.")


def _link_for(request):
    return lambda token: request.build_absolute_uri(services.invitation_link_path(token))


class InvitationListApi(APIView):
    token_scope = TokenScope.ADMIN

    @extend_schema_serializer(component_name="InvitationInput")
    class InputSerializer(serializers.Serializer):
        role = serializers.ChoiceField(Role.choices)
        email = serializers.EmailField(
            required=False,
            allow_blank=True,
            default="",
            help_text="Send the link by email (single use); leave out for a link to hand out.",
        )
        expires_in_days = serializers.IntegerField(
            required=False, default=services.DEFAULT_DAYS, min_value=1, max_value=services.MAX_DAYS
        )
        max_uses = serializers.IntegerField(
            required=False,
            default=1,
            allow_null=True,
            min_value=1,
            max_value=services.MAX_USES,
            help_text="People who may join with a link: 1 (default), more, or null for any "
            "number until it expires. An emailed invitation is single use.",
        )

    @extend_schema(responses={200: InvitationSerializer(many=True), **error_responses(403, 404)})
    def get(self, request, project_id: int):
        """The project's pending invitations (not expired, revoked or used up), newest first."""
        membership = membership_get(user=request.user, project_id=project_id, role=Role.LEAD)
        pending = selectors.invitations_pending(project=membership.project)[: selectors.LIST_LIMIT]
        return Response(InvitationSerializer(pending, many=True).data)

    @extend_schema(
        request=InputSerializer,
        responses={201: NewInvitationSerializer, **error_responses(400, 403, 404)},
    )
    def post(self, request, project_id: int):
        """Invite by email (the link is mailed) or make a link; the link is in the answer once."""
        membership = membership_get(user=request.user, project_id=project_id, role=Role.LEAD)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        made = services.invitation_create(
            project=membership.project,
            actor=request.user,
            link_for=_link_for(request),
            **data.validated_data,
        )
        body = {
            **InvitationSerializer(made.invitation).data,
            "url": _link_for(request)(made.token),
            "token": made.token,
            "emailed": made.emailed,
        }
        return Response(NewInvitationSerializer(body).data, status=status.HTTP_201_CREATED)


class InvitationDetailApi(APIView):
    token_scope = TokenScope.ADMIN

    @extend_schema(responses={204: None, **error_responses(400, 403, 404)})
    def delete(self, request, project_id: int, invitation_id: int):
        """Revoke an invitation: its link then shows that it was revoked."""
        membership = membership_get(user=request.user, project_id=project_id, role=Role.LEAD)
        services.invitation_revoke(
            project=membership.project, invitation_id=invitation_id, actor=request.user
        )
        return Response(status=status.HTTP_204_NO_CONTENT)


class InvitationAcceptApi(APIView):
    token_scope = TokenScope.ADMIN

    @extend_schema_serializer(component_name="InvitationAcceptInput")
    class InputSerializer(serializers.Serializer):
        token = serializers.CharField(max_length=200)

    @extend_schema_serializer(component_name="InvitationJoined")
    class OutputSerializer(serializers.Serializer):
        project = serializers.IntegerField(source="membership.project_id")
        role = serializers.ChoiceField(Role.choices, source="membership.role")
        joined = serializers.BooleanField(
            source="created", help_text="false: a member already (the role is unchanged)"
        )

    @extend_schema(
        request=InputSerializer,
        responses={
            201: OutputSerializer,
            200: OutputSerializer,
            **error_responses(400, 410),
        },
        description="Join the invitation's project as the caller. 410 when the invitation "
        "is expired, revoked or used up (`detail` says which); 400 for an unknown token.",
    )
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        joined = services.invitation_accept(token=data.validated_data["token"], user=request.user)
        code = status.HTTP_201_CREATED if joined.created else status.HTTP_200_OK
        return Response(self.OutputSerializer(joined).data, status=code)
