"""REST API of agreement reports: a lead requests one, leads and reviewers read the latest."""

from typing import Any

from drf_spectacular.utils import extend_schema, extend_schema_serializer
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from agreement.models import AgreementReport
from agreement.selectors import (
    agreement_report_latest,
    agreement_report_pending,
    agreement_report_people,
)
from agreement.services import agreement_report_request
from annotation.access import membership_get
from annotation.models import Role


def job_body(report: AgreementReport) -> dict[str, Any]:
    return {
        "id": report.pk,
        "status": report.status,
        "error": report.error or None,
        "created_at": report.created_at,
        "computed_at": report.computed_at,
    }


@extend_schema_serializer(component_name="AgreementJob")
class AgreementJobSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    status = serializers.ChoiceField(["queued", "running", "done", "failed"])
    error = serializers.CharField(allow_null=True)
    created_at = serializers.DateTimeField()
    computed_at = serializers.DateTimeField(allow_null=True)


class AgreementApi(APIView):
    @extend_schema_serializer(component_name="AgreementReport")
    class OutputSerializer(serializers.Serializer):
        id = serializers.IntegerField(allow_null=True, help_text="null: no report finished yet")
        computed_at = serializers.DateTimeField(allow_null=True)
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

    @extend_schema(request=None, responses={200: OutputSerializer})
    def get(self, request, project_id: int):
        membership = membership_get(user=request.user, project_id=project_id, role=Role.REVIEWER)
        latest = agreement_report_latest(project=membership.project)
        pending = agreement_report_pending(project=membership.project, after=latest)
        annotators, kappa = agreement_report_people(report=latest, membership=membership)
        body = {
            "id": latest.pk if latest else None,
            "computed_at": latest.computed_at if latest else None,
            "annotation_count": latest.annotation_count if latest else 0,
            "fields": latest.fields if latest else {},
            "annotators": annotators,
            "kappa": kappa,
            "pending": job_body(pending) if pending else None,
        }
        return Response(self.OutputSerializer(body).data)

    @extend_schema(request=None, responses={202: AgreementJobSerializer})
    def post(self, request, project_id: int):
        membership = membership_get(user=request.user, project_id=project_id, role=Role.LEAD)
        report = agreement_report_request(project=membership.project, actor=request.user)
        return Response(
            AgreementJobSerializer(job_body(report)).data, status=status.HTTP_202_ACCEPTED
        )
