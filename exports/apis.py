"""REST API of export jobs: request, list, status, download. Leads only."""

from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_serializer,
)
from rest_framework import exceptions, serializers, status
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.response import Response
from rest_framework.views import APIView

from annotation.access import membership_get
from annotation.models import Kind, Role
from core.api_errors import StatusConflictSerializer, error_responses
from core.errors import Conflict
from core.models import JobStatus
from core.serializers import waiting_field
from exports import selectors, services
from exports.formats import FORMATS, SHAPES
from exports.models import ExportJob, ExportSplit


@extend_schema_serializer(component_name="ExportOutput")
class ExportOutputSerializer(serializers.ModelSerializer):
    project = serializers.IntegerField(source="project_id")
    created_by = serializers.CharField(source="created_by.username", default=None)
    download_url = serializers.SerializerMethodField()
    manifest_url = serializers.SerializerMethodField()
    waiting = waiting_field()

    class Meta:
        model = ExportJob
        fields = [
            "id",
            "project",
            "format",
            "split",
            "options",
            "status",
            "progress",
            "records",
            "size_bytes",
            "sha256",
            "manifest",
            "error",
            "created_by",
            "created_at",
            "started_at",
            "finished_at",
            "download_url",
            "manifest_url",
            "waiting",
        ]

    def get_download_url(self, job: ExportJob) -> str | None:
        if job.status != JobStatus.DONE:
            return None
        return reverse("api-export-download", args=[job.pk])

    def get_manifest_url(self, job: ExportJob) -> str | None:
        if job.status != JobStatus.DONE:
            return None
        return reverse("api-export-download", args=[job.pk]) + "?part=manifest"


class ProjectExportsApi(APIView):
    """`GET`: the project's exports, newest first. `POST`: queue a new export (202)."""

    @extend_schema_serializer(component_name="ExportRequestInput")
    class InputSerializer(serializers.Serializer):
        format = serializers.ChoiceField(choices=list(FORMATS))
        split = serializers.ChoiceField(choices=ExportSplit.values, default=ExportSplit.TRAIN)
        kinds = serializers.ListField(
            child=serializers.ChoiceField(choices=Kind.choices), required=False, allow_null=True
        )
        categories = serializers.ListField(
            child=serializers.CharField(max_length=200), required=False, allow_null=True
        )
        approved_since = serializers.DateTimeField(required=False, allow_null=True)
        shape = serializers.ChoiceField(
            choices=list(SHAPES),
            required=False,
            allow_null=True,
            help_text="parquet only: the row shape written (default trl-sft)",
        )
        pass_fail = serializers.BooleanField(
            required=False,
            default=False,
            help_text="trl-kto only: also a row per approved item that scores one response "
            "with pass/fail criteria (a rubric item), labelled true when it passed",
        )
        exclude_auto = serializers.BooleanField(
            required=False,
            default=False,
            help_text="leave out records auto-accepted by confidence (provenance auto)",
        )
        since_last = serializers.BooleanField(
            required=False,
            default=False,
            help_text="only records approved since the previous export of the same format "
            "and split (everything when there was none): increments for a training pipeline",
        )
        extra_columns = serializers.BooleanField(
            required=False,
            default=False,
            help_text="add the item's external_id and metadata to every row (an object in JSON, "
            "JSON text in Parquet); training libraries ignore extra columns",
        )
        redact_personal_data = serializers.BooleanField(
            required=False,
            default=False,
            help_text="replace personal data found in the rows ([EMAIL], [PHONE], [CARD], "
            "[IBAN], [SSN], [API_KEY]); the manifest counts findings either way",
        )
        exclude_near_duplicates = serializers.BooleanField(
            required=False,
            default=False,
            help_text="leave out train items whose prompt near-duplicates an eval item's "
            "(the manifest lists the pairs either way)",
        )
        annotator_names = serializers.ChoiceField(
            choices=list(services.ANNOTATOR_NAMES),
            required=False,
            allow_null=True,
            help_text="annotations format only: annotators by their per-project pseudonym "
            "(default) or by username",
        )

    @extend_schema(responses={200: ExportOutputSerializer(many=True), **error_responses(403, 404)})
    def get(self, request, project_id: int):
        membership = membership_get(user=request.user, project_id=project_id, role=Role.LEAD)
        jobs = selectors.export_list(project=membership.project)
        return Response(ExportOutputSerializer(jobs, many=True).data)

    @extend_schema(
        request=InputSerializer,
        responses={202: ExportOutputSerializer, **error_responses(400, 403, 404)},
    )
    def post(self, request, project_id: int):
        membership = membership_get(user=request.user, project_id=project_id, role=Role.LEAD)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        job = services.export_request(
            project=membership.project, actor=request.user, **data.validated_data
        )
        job.refresh_from_db()  # built in-process already when no broker is configured
        return Response(ExportOutputSerializer(job).data, status=status.HTTP_202_ACCEPTED)


class ExportDetailApi(APIView):
    @extend_schema(responses={200: ExportOutputSerializer, **error_responses(403, 404)})
    def get(self, request, export_id: int):
        job = selectors.export_get_for_lead(user=request.user, export_id=export_id)
        return Response(ExportOutputSerializer(job).data)


class _AnyAccept(DefaultContentNegotiation):
    """A download answers with the file whatever the client accepts (JSON for errors)."""

    def select_renderer(self, request, renderers, format_suffix=None):
        try:
            return super().select_renderer(request, renderers, format_suffix)
        except exceptions.NotAcceptable:
            return renderers[0], renderers[0].media_type


class ExportDownloadApi(APIView):
    content_negotiation_class = _AnyAccept

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "part",
                str,
                enum=["file", "manifest"],
                description="the file (default) or its manifest",
            )
        ],
        responses={
            (200, "application/octet-stream"): OpenApiTypes.BINARY,
            (200, "application/json"): OpenApiTypes.OBJECT,
            302: OpenApiResponse(
                description="Exports kept in object storage (EXPORT_STORAGE_URL): a redirect to "
                "a pre-signed URL of the file that expires (EXPORT_URL_EXPIRES_SECONDS)."
            ),
            **error_responses(400, 403, 404, 409, conflict=StatusConflictSerializer),
        },
        description="The file, as its format's content type (JSONL, CSV, Parquet), or with "
        "`part=manifest` its manifest (JSON: counts, versions, sha256, warnings); 409 until the "
        "export is done.",
    )
    def get(self, request, export_id: int):
        job = selectors.export_get_for_lead(user=request.user, export_id=export_id)
        part = request.query_params.get("part", "file")
        if part not in ("file", "manifest"):
            raise exceptions.ValidationError({"part": ["One of file, manifest."]})
        if job.status != JobStatus.DONE:
            raise Conflict(
                f"The export is {job.status}; its file can be downloaded once it is done.",
                {"status": job.status},
            )
        return selectors.export_download_response(job=job, part=part)
