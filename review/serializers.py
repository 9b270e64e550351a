"""API bodies of review that more than the REST views write: a decision is also the body of the
409 a second reviewer gets (review.services)."""

from drf_spectacular.utils import extend_schema_serializer
from rest_framework import serializers

from annotation.kinds.schemas import PayloadField
from core.serializers import IsoDateTimeField
from review.models import ReviewDecision


@extend_schema_serializer(component_name="Review")
class ReviewSerializer(serializers.Serializer):
    """A reviewer's decision on an item (reviewers see each other's names)."""

    id = serializers.IntegerField()
    decision = serializers.ChoiceField(ReviewDecision.choices)
    reviewer = serializers.CharField(source="reviewer.username", allow_null=True)
    annotation = serializers.IntegerField(
        source="annotation_id", allow_null=True, help_text="The annotation approved as is."
    )
    final = PayloadField(allow_null=True, help_text="The final the reviewer wrote.")
    note = serializers.CharField(allow_blank=True)
    then = serializers.CharField(
        allow_blank=True, help_text='A rejection: `annotate_again` or `drop`; "" otherwise.'
    )
    round = serializers.IntegerField(help_text="The item's round it decided.")
    created_at = IsoDateTimeField()
