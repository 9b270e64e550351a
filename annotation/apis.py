"""REST API of projects, members and items: thin views over the services and selectors."""

from drf_spectacular.utils import (
    OpenApiParameter,
    extend_schema,
    extend_schema_serializer,
    inline_serializer,
)
from rest_framework import serializers, status
from rest_framework.pagination import CursorPagination
from rest_framework.response import Response
from rest_framework.views import APIView

from annotation import importing, parsing, selectors, services
from annotation.access import item_get_for_member, membership_get, projects_for_member
from annotation.filters import ItemFilter, OwnItemFilter
from annotation.models import Item, ItemStatus, Kind, Membership, Project, Role, Split
from core.errors import ApplicationError


class ProjectOutputSerializer(serializers.ModelSerializer):
    role = serializers.SerializerMethodField()

    class Meta:
        model = Project
        fields = [
            "id",
            "role",
            *services.SETTINGS,
            "guidelines_version",
            "created_at",
            "updated_at",
        ]

    def get_role(self, project: Project) -> str | None:
        return self.context.get("roles", {}).get(project.pk)


_SETTINGS_BODY = inline_serializer(
    "ProjectSettings",
    {
        "name": serializers.CharField(),
        "kinds": serializers.ListField(child=serializers.ChoiceField(Kind.values), required=False),
        "annotations_per_item": serializers.IntegerField(required=False, min_value=1, max_value=10),
        "review_sample_rate": serializers.FloatField(required=False),
        "gold_rate": serializers.FloatField(required=False),
        "lease_seconds": serializers.IntegerField(required=False),
        "eval_fraction": serializers.FloatField(required=False),
        "categories": serializers.ListField(child=serializers.CharField(), required=False),
        "criteria": serializers.ListField(child=serializers.CharField(), required=False),
        "harm_categories": serializers.ListField(child=serializers.CharField(), required=False),
        "guidelines": serializers.CharField(required=False),
        "system_prompt": serializers.CharField(required=False),
        "auto_approve_text": serializers.BooleanField(required=False),
        "agreement_every": serializers.IntegerField(required=False),
        "gold_threshold": serializers.FloatField(required=False),
    },
)


def _project_body(project: Project, role: str) -> dict:
    return ProjectOutputSerializer(project, context={"roles": {project.pk: role}}).data


class ProjectListCreateApi(APIView):
    @extend_schema(responses={200: ProjectOutputSerializer(many=True)})
    def get(self, request):
        projects = projects_for_member(user=request.user).order_by("-id")
        roles = dict(Membership.objects.filter(user=request.user).values_list("project_id", "role"))
        return Response(ProjectOutputSerializer(projects, many=True, context={"roles": roles}).data)

    @extend_schema(request=_SETTINGS_BODY, responses={201: ProjectOutputSerializer})
    def post(self, request):
        project = services.project_create(actor=request.user, values=request.data)
        return Response(_project_body(project, Role.LEAD), status=status.HTTP_201_CREATED)


class ProjectDetailApi(APIView):
    @extend_schema(responses={200: ProjectOutputSerializer})
    def get(self, request, project_id: int):
        membership = membership_get(user=request.user, project_id=project_id)
        return Response(_project_body(membership.project, membership.role))

    @extend_schema(request=_SETTINGS_BODY, responses={200: ProjectOutputSerializer})
    def patch(self, request, project_id: int):
        membership = membership_get(user=request.user, project_id=project_id, role=Role.LEAD)
        project = services.project_update(
            project=membership.project, actor=request.user, changes=request.data
        )
        return Response(_project_body(project, membership.role))


class MemberApi(APIView):
    @extend_schema_serializer(component_name="MemberInput")
    class InputSerializer(serializers.Serializer):
        username = serializers.CharField()
        role = serializers.ChoiceField(Role.choices)

    @extend_schema_serializer(component_name="MemberOutput")
    class OutputSerializer(serializers.Serializer):
        user_id = serializers.IntegerField(source="user.id")
        username = serializers.CharField(source="user.username")
        role = serializers.CharField()

    @extend_schema(responses={200: OutputSerializer(many=True)})
    def get(self, request, project_id: int):
        membership = membership_get(user=request.user, project_id=project_id, role=Role.LEAD)
        members = membership.project.memberships.select_related("user").order_by("user__username")
        return Response(self.OutputSerializer(members, many=True).data)

    @extend_schema(
        request=InputSerializer, responses={201: OutputSerializer, 200: OutputSerializer}
    )
    def post(self, request, project_id: int):
        membership = membership_get(user=request.user, project_id=project_id, role=Role.LEAD)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        member, created = services.membership_set(
            project=membership.project, actor=request.user, **data.validated_data
        )
        return Response(
            self.OutputSerializer(member).data,
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )


class MemberDetailApi(APIView):
    @extend_schema(responses={204: None})
    def delete(self, request, project_id: int, user_id: int):
        membership = membership_get(user=request.user, project_id=project_id, role=Role.LEAD)
        member = (
            membership.project.memberships.filter(user_id=user_id).select_related("user").first()
        )
        if member is None:
            raise ApplicationError("That user is not a member of this project.")
        services.membership_remove(
            project=membership.project, actor=request.user, membership=member
        )
        return Response(status=status.HTTP_204_NO_CONTENT)


class ItemCursorPagination(CursorPagination):
    ordering = "id"
    page_size = 100
    page_size_query_param = "page_size"
    max_page_size = 1000


class ItemOutputSerializer(serializers.ModelSerializer):
    """An item as a lead sees it; blind for reviewers (`context["blind"]`): no model names in
    `data`, no `metadata`."""

    data = serializers.SerializerMethodField()
    metadata = serializers.SerializerMethodField()

    class Meta:
        model = Item
        fields = [
            "id",
            "external_id",
            "kind",
            "data",
            "metadata",
            "priority",
            "split",
            "status",
            "agreement",
            "review_reason",
            "submitted_count",
            "created_at",
            "updated_at",
        ]

    def get_data(self, item: Item) -> dict:
        return selectors.blind_data(item) if self.context.get("blind") else item.data

    def get_metadata(self, item: Item) -> dict | None:
        return None if self.context.get("blind") else item.metadata


@extend_schema_serializer(component_name="OwnItem")
class OwnItemSerializer(serializers.Serializer):
    """An item as its annotator sees it: blind, with their own assignment and annotation."""

    id = serializers.IntegerField()
    project = serializers.IntegerField()
    kind = serializers.CharField()
    data = serializers.JSONField(help_text="The item's data without model names.")
    assignment = serializers.DictField(allow_null=True)
    annotation = serializers.DictField(allow_null=True)


class ItemsApi(APIView):
    """`GET`: the project's items, filtered and cursor-paginated. `POST`: bulk import."""

    @extend_schema(
        parameters=[
            OpenApiParameter("kind", str, enum=Kind.values),
            OpenApiParameter("status", str, enum=ItemStatus.values),
            OpenApiParameter("split", str, enum=Split.values),
            OpenApiParameter("external_id", str),
            OpenApiParameter("category", str, description="given at import or final"),
            OpenApiParameter("agreement", str, enum=["agreed", "disputed", "none"]),
            OpenApiParameter("gold", str, enum=["yes", "no"]),
            OpenApiParameter("duplicates", bool, description="items sharing their content"),
            OpenApiParameter("q", str, description="case-insensitive text in the prompt"),
            OpenApiParameter("cursor", str),
            OpenApiParameter("page_size", int),
        ],
        responses={200: ItemOutputSerializer(many=True)},
    )
    def get(self, request, project_id: int):
        membership = membership_get(user=request.user, project_id=project_id)
        own = selectors.sees_only_own_items(membership)
        # An annotator's filters are the ones that cannot tell a gold item from another.
        filters = OwnItemFilter if own else ItemFilter
        filterset = filters(request.GET, queryset=selectors.item_list(membership=membership))
        if not filterset.is_valid():
            raise ApplicationError(
                "Invalid filter.",
                {
                    "errors": [
                        {"field": k, "message": " ".join(v)} for k, v in filterset.errors.items()
                    ]
                },
            )
        paginator = ItemCursorPagination()
        page = paginator.paginate_queryset(filterset.qs, request, view=self)
        if own:
            body = selectors.own_items_body(items=page, membership=membership)
            return paginator.get_paginated_response(OwnItemSerializer(body, many=True).data)
        serializer = ItemOutputSerializer(
            page, many=True, context={"blind": not selectors.can_see_identities(membership)}
        )
        return paginator.get_paginated_response(serializer.data)

    @extend_schema(
        request={
            "application/json": {"type": "array", "items": {"type": "object"}},
            "application/x-ndjson": {"type": "string"},
            "text/csv": {"type": "string"},
        },
        responses={
            201: inline_serializer(
                "ImportResult",
                {
                    "created": serializers.IntegerField(),
                    "updated": serializers.IntegerField(),
                    "unchanged": serializers.IntegerField(),
                    "duplicates": serializers.ListField(child=serializers.DictField()),
                },
            )
        },
    )
    def post(self, request, project_id: int):
        membership = membership_get(user=request.user, project_id=project_id, role=Role.LEAD)
        declared = request.META.get("CONTENT_LENGTH")
        if declared and declared.isdigit():
            parsing.check_size(int(declared))
        rows = parsing.rows_from_body(request.body, request.content_type or "")
        result = importing.item_import(project=membership.project, rows=rows, actor=request.user)
        return Response(result.as_dict(), status=status.HTTP_201_CREATED)


class ItemDetailApi(APIView):
    @extend_schema(
        responses={200: inline_serializer("ItemDetail", {"id": serializers.IntegerField()})}
    )
    def get(self, request, item_id: int):
        item, membership = item_get_for_member(user=request.user, item_id=item_id)
        selectors.item_visible(item=item, membership=membership)
        return Response(selectors.item_detail(item=item, membership=membership))
