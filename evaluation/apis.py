"""REST API of evaluation reports: a lead requests one, leads and reviewers read the latest."""

from django.http import Http404, HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_serializer,
)
from rest_framework import renderers, serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from annotation.access import membership_get
from annotation.models import Role
from core.api_errors import error_responses
from core.serializers import ReportJobSerializer
from evaluation import reader
from evaluation.selectors import (
    evaluation_report_csv,
    evaluation_report_read,
)
from evaluation.services import evaluation_filters_clean, evaluation_report_request


class CSVRenderer(renderers.BaseRenderer):
    """`?format=csv`: the view answers the CSV itself; this only lets DRF accept the format."""

    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        return data if isinstance(data, bytes | str) else b""


@extend_schema_serializer(component_name="EvaluationJob")
class EvaluationJobSerializer(ReportJobSerializer):
    """An evaluation report as a job: queued, running, done or failed."""

    filters = serializers.DictField()


class IntervalSerializer(serializers.Serializer):
    low = serializers.FloatField(allow_null=True, help_text="95 % interval, lower end")
    high = serializers.FloatField(allow_null=True, help_text="95 % interval, upper end")
    n = serializers.IntegerField(help_text="items")


@extend_schema_serializer(component_name="EvaluationMean")
class MeanSerializer(IntervalSerializer):
    """A criterion's mean over a model's items with a bootstrap interval (a pass/fail
    criterion: its pass rate with a Wilson interval)."""

    mean = serializers.FloatField(allow_null=True)


@extend_schema_serializer(component_name="EvaluationRate")
class RateSerializer(IntervalSerializer):
    """The share of a model's items that passed every pass/fail criterion, Wilson interval."""

    value = serializers.FloatField(allow_null=True)


@extend_schema_serializer(component_name="EvaluationModel")
class ModelRowSerializer(serializers.Serializer):
    model = serializers.CharField()
    n = serializers.IntegerField(help_text="approved items of the model")
    criteria = serializers.DictField(child=MeanSerializer(), help_text="by criterion key")
    pass_rate = RateSerializer()


@extend_schema_serializer(component_name="EvaluationPair")
class PairSerializer(serializers.Serializer):
    a = serializers.CharField()
    b = serializers.CharField()
    wins = serializers.IntegerField(help_text="comparisons a won")
    ties = serializers.IntegerField()
    losses = serializers.IntegerField(help_text="comparisons b won")


@extend_schema_serializer(component_name="EvaluationStrength")
class StrengthSerializer(serializers.Serializer):
    model = serializers.CharField()
    strength = serializers.FloatField(help_text="Bradley-Terry strength; all sum to 1")
    low = serializers.FloatField(allow_null=True)
    high = serializers.FloatField(allow_null=True)
    wins = serializers.FloatField(help_text="wins, ties counted half")
    games = serializers.IntegerField()


@extend_schema_serializer(component_name="EvaluationConsistency")
class ConsistencySerializer(serializers.Serializer):
    model = serializers.CharField()
    group = serializers.CharField()
    items = serializers.IntegerField()
    spread = serializers.DictField(
        child=serializers.FloatField(), help_text="max - min of each scale criterion"
    )
    max_spread = serializers.FloatField()
    pass_fail_changed = serializers.BooleanField()


@extend_schema_serializer(component_name="EvaluationConsistencySummary")
class ConsistencySummarySerializer(serializers.Serializer):
    model = serializers.CharField()
    groups = serializers.IntegerField(help_text="groups with two or more of its items")
    changed = serializers.IntegerField(help_text="groups where its pass/fail changed")
    changed_groups = serializers.ListField(child=serializers.CharField())
    mean_max_spread = serializers.FloatField(allow_null=True)


@extend_schema_serializer(component_name="EvaluationCriterion")
class CriterionSerializer(serializers.Serializer):
    key = serializers.CharField(help_text="the key of the figures (name, or `name (vN)`)")
    name = serializers.CharField()
    description = serializers.CharField(allow_blank=True)
    scale = serializers.JSONField(help_text='{"min", "max"} or "pass_fail"')
    versions = serializers.ListField(child=serializers.IntegerField())


@extend_schema_serializer(component_name="EvaluationRubricVersion")
class RubricVersionSerializer(serializers.Serializer):
    version = serializers.IntegerField()
    criteria = serializers.ListField(child=serializers.DictField())
    items = serializers.IntegerField(help_text="approved items scored under it")
    current = serializers.BooleanField()


class EvaluationApi(APIView):
    renderer_classes = [renderers.JSONRenderer, renderers.BrowsableAPIRenderer, CSVRenderer]

    @extend_schema_serializer(component_name="EvaluationReport")
    class OutputSerializer(serializers.Serializer):
        id = serializers.IntegerField(allow_null=True, help_text="null: no report finished yet")
        computed_at = serializers.DateTimeField(allow_null=True)
        code_version = serializers.CharField(allow_null=True)
        data_sha256 = serializers.CharField(allow_null=True)
        filters = serializers.DictField(allow_null=True)
        items = serializers.IntegerField(default=0, help_text="approved scored items read")
        comparisons = serializers.IntegerField(default=0)
        empty = serializers.CharField(allow_null=True, default=None, help_text="why it is empty")
        seed = serializers.IntegerField(required=False)
        resamples = serializers.IntegerField(required=False)
        criteria = CriterionSerializer(many=True, default=list)
        rubric_versions = RubricVersionSerializer(many=True, default=list)
        models = ModelRowSerializer(many=True, default=list)
        pairwise = PairSerializer(many=True, default=list)
        bradley_terry = StrengthSerializer(many=True, default=list)
        bradley_terry_note = serializers.CharField(allow_null=True, default=None)
        consistency = ConsistencySerializer(many=True, default=list)
        consistency_summary = ConsistencySummarySerializer(many=True, default=list)
        by_tag = serializers.DictField(child=ModelRowSerializer(many=True), default=dict)
        reliability = serializers.DictField(
            child=serializers.FloatField(allow_null=True),
            default=dict,
            help_text="Krippendorff's alpha per criterion (ordinal on a scale, nominal for "
            "pass/fail)",
        )
        reliability_detail = serializers.DictField(child=serializers.DictField(), default=dict)
        reliability_threshold = serializers.FloatField(default=0.667)
        warnings = serializers.ListField(child=serializers.CharField(), default=list)
        pending = EvaluationJobSerializer(allow_null=True)

    def perform_content_negotiation(self, request, force=False):
        """CSV is a GET of a report; anything else answers JSON."""
        renderer, media_type = super().perform_content_negotiation(request, force)
        if request.method != "GET" and renderer.format == "csv":
            return renderers.JSONRenderer(), "application/json"
        return renderer, media_type

    def handle_exception(self, exc):
        """Errors are JSON whatever format was asked for (a CSV holds only a report)."""
        if getattr(self.request, "accepted_renderer", None) is not None:
            self.request.accepted_renderer = renderers.JSONRenderer()
            self.request.accepted_media_type = "application/json"
        return super().handle_exception(exc)

    class FilterSerializer(serializers.Serializer):
        split = serializers.ChoiceField(reader.SPLITS, required=False, default="all")
        tag = serializers.CharField(required=False, allow_blank=True, max_length=64)
        category = serializers.CharField(required=False, allow_blank=True, max_length=64)

    @extend_schema(
        request=None,
        parameters=[
            OpenApiParameter("split", str, enum=list(reader.SPLITS)),
            OpenApiParameter("tag", str),
            OpenApiParameter("category", str, description="an item's metadata.category"),
            OpenApiParameter(
                "format", str, enum=["json", "csv"], description="csv: the per-model table"
            ),
        ],
        responses={
            (200, "application/json"): OutputSerializer,
            (200, "text/csv"): OpenApiResponse(OpenApiTypes.STR, "the per-model table"),
            **error_responses(400, 403, 404),
        },
        description="The latest finished report for the filters (reviewers and leads).",
    )
    def get(self, request, project_id: int):
        membership = membership_get(user=request.user, project_id=project_id, role=Role.REVIEWER)
        filters = evaluation_filters_clean(
            split=request.query_params.get("split"),
            tag=request.query_params.get("tag"),
            category=request.query_params.get("category"),
        )
        reading = evaluation_report_read(project=membership.project, filters=filters.as_dict())
        if request.accepted_renderer.format == "csv":
            if reading.report is None:
                raise Http404("No evaluation report for these filters yet: request one.")
            response = HttpResponse(evaluation_report_csv(reading.report), content_type="text/csv")
            name = f"evaluation-{membership.project_id}-{reading.report.pk}.csv"
            response["Content-Disposition"] = f'attachment; filename="{name}"'
            return response
        return Response(self.OutputSerializer(reading.as_data()).data)

    @extend_schema(
        request=FilterSerializer,
        responses={202: EvaluationJobSerializer, **error_responses(400, 403, 404)},
        description="Queue a report (leads); while one with the same filters is queued or "
        "running, that one is returned instead of a second.",
    )
    def post(self, request, project_id: int):
        membership = membership_get(user=request.user, project_id=project_id, role=Role.LEAD)
        body = request.data if isinstance(request.data, dict) else {}
        filters = evaluation_filters_clean(
            split=body.get("split"), tag=body.get("tag"), category=body.get("category")
        )
        report = evaluation_report_request(
            project=membership.project, actor=request.user, filters=filters
        )
        return Response(EvaluationJobSerializer(report).data, status=status.HTTP_202_ACCEPTED)
