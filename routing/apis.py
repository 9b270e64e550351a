"""REST API of calibration reports: a lead requests one and reads the latest."""

from drf_spectacular.utils import extend_schema, extend_schema_serializer
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from annotation.access import membership_get
from annotation.models import Role
from core.api_errors import error_responses
from core.models import JobStatus, TokenScope
from core.serializers import BlankAsNullField
from routing.selectors import calibration_report_read
from routing.services import calibration_report_request


@extend_schema_serializer(component_name="CalibrationJob")
class CalibrationJobSerializer(serializers.Serializer):
    """A calibration report as a job: queued, running, done or failed."""

    id = serializers.IntegerField()
    status = serializers.ChoiceField(JobStatus.choices)
    error = BlankAsNullField(help_text="Why it failed.")
    created_at = serializers.DateTimeField()
    computed_at = serializers.DateTimeField(allow_null=True)
    waiting = serializers.CharField(
        allow_null=True, help_text="Why a queued report has not started (the task queue is away)."
    )


@extend_schema_serializer(component_name="CalibrationBin")
class BinSerializer(serializers.Serializer):
    low = serializers.FloatField(help_text="confidence from (inclusive)")
    high = serializers.FloatField(help_text="confidence to (exclusive; the last bin includes 1)")
    n = serializers.IntegerField(help_text="judged items in the bin")
    accuracy = serializers.FloatField(allow_null=True, help_text="share of correct predictions")
    ci_low = serializers.FloatField(allow_null=True, help_text="95 % Wilson interval")
    ci_high = serializers.FloatField(allow_null=True)
    mean_confidence = serializers.FloatField(allow_null=True)


@extend_schema_serializer(component_name="CalibrationError")
class ErrorRateSerializer(serializers.Serializer):
    value = serializers.FloatField(allow_null=True, help_text="error rate of judged items")
    low = serializers.FloatField(allow_null=True, help_text="95 % Wilson interval")
    high = serializers.FloatField(allow_null=True)
    n = serializers.IntegerField(help_text="judged items (raw count)")
    n_effective = serializers.FloatField(
        allow_null=True,
        required=False,
        default=None,
        help_text="effective sample size of the audit-rate weights (Kish) the interval uses",
    )


@extend_schema_serializer(component_name="CalibrationRecommendedError")
class RecommendedErrorSerializer(ErrorRateSerializer):
    wrong = serializers.IntegerField(help_text="wrong predictions among the n (raw count)")


@extend_schema_serializer(component_name="CalibrationDrift")
class DriftSerializer(ErrorRateSerializer):
    drifting = serializers.BooleanField(
        help_text="the last audits' interval lies above the measured error or the target"
    )


class CalibrationApi(APIView):
    token_scope = TokenScope.ADMIN  # what a token needs for POST (core/tokens.py)

    @extend_schema_serializer(component_name="CalibrationReport")
    class OutputSerializer(serializers.Serializer):
        id = serializers.IntegerField(allow_null=True, help_text="null: no report finished yet")
        computed_at = serializers.DateTimeField(allow_null=True)
        code_version = serializers.CharField(allow_null=True)
        data_sha256 = serializers.CharField(
            allow_null=True, help_text="sha256 of the judged rows the figures come from"
        )
        empty = serializers.CharField(allow_null=True, default=None, help_text="why it is empty")
        n = serializers.IntegerField(
            default=0, help_text="judged items: a prediction and a human final"
        )
        predicted = serializers.IntegerField(default=0, help_text="items with a prediction")
        bins = BinSerializer(many=True, default=list)
        ece = serializers.FloatField(allow_null=True, default=None)
        brier = serializers.FloatField(allow_null=True, default=None)
        recommended_threshold = serializers.FloatField(allow_null=True, default=None)
        recommended_reason = serializers.CharField(
            allow_null=True, default=None, help_text="why there is no recommendation"
        )
        automated_share = serializers.FloatField(
            allow_null=True,
            default=None,
            help_text="share of predicted items the recommended threshold would auto-accept",
        )
        recommended_error = RecommendedErrorSerializer(
            allow_null=True,
            default=None,
            help_text="the weighted error of the judged items at or above the recommendation",
        )
        current_automated_share = serializers.FloatField(allow_null=True, default=None)
        target = serializers.FloatField(allow_null=True, default=None)
        threshold = serializers.FloatField(
            allow_null=True, default=None, help_text="the project's auto_accept_above then"
        )
        audit_rate = serializers.FloatField(allow_null=True, default=None)
        weighted = serializers.BooleanField(
            default=False,
            help_text="audited items weighted by 1 / audit_rate in the error rates",
        )
        current_threshold_error = ErrorRateSerializer(allow_null=True, default=None)
        drift = DriftSerializer(allow_null=True, default=None)
        warnings = serializers.ListField(child=serializers.CharField(), default=list)
        pending = CalibrationJobSerializer(allow_null=True)

    @extend_schema(
        responses={200: OutputSerializer, **error_responses(403, 404)},
        description="The latest finished calibration report (leads).",
    )
    def get(self, request, project_id: int):
        membership = membership_get(user=request.user, project_id=project_id, role=Role.LEAD)
        reading = calibration_report_read(project=membership.project)
        return Response(self.OutputSerializer(reading.as_data()).data)

    @extend_schema(
        request=None,
        responses={202: CalibrationJobSerializer, **error_responses(403, 404)},
        description="Queue a report (leads); while one is queued or running, that one is "
        "returned instead of a second.",
    )
    def post(self, request, project_id: int):
        membership = membership_get(user=request.user, project_id=project_id, role=Role.LEAD)
        report = calibration_report_request(project=membership.project, actor=request.user)
        return Response(CalibrationJobSerializer(report).data, status=status.HTTP_202_ACCEPTED)
