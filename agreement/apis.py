"""REST API of agreement reports: leads and reviewers request one and read the latest."""

from drf_spectacular.utils import extend_schema, extend_schema_serializer
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from agreement.selectors import agreement_report_read
from agreement.services import agreement_report_request
from annotation.access import membership_get
from annotation.models import Role
from core.api_errors import error_responses
from core.serializers import ReportJobSerializer


@extend_schema_serializer(component_name="AgreementJob")
class AgreementJobSerializer(ReportJobSerializer):
    """An agreement report as a job: queued, running, done or failed."""


class AgreementApi(APIView):
    @extend_schema_serializer(component_name="AgreementReport")
    class OutputSerializer(serializers.Serializer):
        id = serializers.IntegerField(
            source="report.pk", allow_null=True, help_text="null: no report finished yet"
        )
        computed_at = serializers.DateTimeField(source="report.computed_at", allow_null=True)
        annotation_count = serializers.IntegerField(help_text="non-gold annotations read")
        fields = serializers.DictField(
            child=serializers.DictField(),
            help_text='Per field ("preference.rating", "refusal.decision", ...): alphas, '
            "percent agreement, AC1, units, notes (why a figure is null).",
        )
        annotators = serializers.ListField(
            child=serializers.DictField(),
            help_text="Per annotator; for reviewers `annotator` is a per-project pseudonym and "
            "`user_id` is null.",
        )
        kappa = serializers.DictField(
            child=serializers.ListField(child=serializers.DictField()),
            help_text="Cohen's kappa per pair of annotators on their shared items, per field.",
        )
        pending = AgreementJobSerializer(
            allow_null=True, help_text="a newer report that is queued, running or failed"
        )

    @extend_schema(request=None, responses={200: OutputSerializer, **error_responses(403, 404)})
    def get(self, request, project_id: int):
        membership = membership_get(user=request.user, project_id=project_id, role=Role.REVIEWER)
        return Response(self.OutputSerializer(agreement_report_read(membership=membership)).data)

    @extend_schema(
        request=None,
        responses={202: AgreementJobSerializer, **error_responses(403, 404)},
        description="Queue a report (reviewers and leads); while one is queued or running, that "
        "one is returned instead of a second.",
    )
    def post(self, request, project_id: int):
        membership = membership_get(user=request.user, project_id=project_id, role=Role.REVIEWER)
        report = agreement_report_request(project=membership.project, actor=request.user)
        return Response(AgreementJobSerializer(report).data, status=status.HTTP_202_ACCEPTED)
