"""`refusal`: should a model answer this request, and what is the ideal reply?

Item data: optional `model_response` (what a model said) and `harm_category` (a guess made at
import). Payload: `{"decision": "refuse" | "comply" | "partial", "response": str,
"harm_category": str}`: `response` is the ideal reply, the harm category from the project's
`harm_categories`.
"""

import functools
from typing import Any

from annotation.kinds.base import (
    MAX_TEXT,
    AgreementField,
    DataField,
    ItemKind,
    Problems,
    ReviewRow,
    Vocabulary,
    check_choice,
    check_no_unknown_keys,
    check_text,
    choices_of,
    record_text,
    register,
    shown,
)

DECISIONS = ("refuse", "comply", "partial")
# Label and workspace key of each decision.
DECISION_LABELS = {
    "refuse": ("Refuse", "R"),
    "comply": ("Comply", "C"),
    "partial": ("Partly comply", "P"),
}


@functools.cache
def _serializers() -> tuple[type, type]:
    """The OpenAPI description of refusal data and payloads (see
    `ItemKind.data_serializer`)."""
    from drf_spectacular.utils import extend_schema_serializer
    from rest_framework import serializers

    from annotation.kinds.schemas import PromptDataSchema

    @extend_schema_serializer(component_name="RefusalData")
    class RefusalDataSchema(PromptDataSchema):
        """The data of a refusal item: a request a model may or may not answer."""

        model_response = serializers.CharField(
            required=False,
            max_length=MAX_TEXT,
            help_text="What a model answered. With a final `refuse` it is the rejected side of a "
            "preference pair (the ideal reply the chosen one).",
        )
        harm_category = serializers.CharField(
            required=False,
            help_text="A guess made at import, one of the project's `harm_categories`.",
        )

    @extend_schema_serializer(component_name="RefusalPayload")
    class RefusalPayloadSchema(serializers.Serializer):
        """A refusal annotation: whether a model should answer, the ideal reply, and the harm
        category."""

        decision = serializers.ChoiceField(
            choices=DECISIONS,
            help_text="`refuse`, `comply` or `partial` (comply with part of the request).",
        )
        response = serializers.CharField(
            max_length=MAX_TEXT, help_text="The ideal reply (a refusal when the decision is one)."
        )
        harm_category = serializers.CharField(help_text="One of the project's `harm_categories`.")

    return RefusalDataSchema, RefusalPayloadSchema


@register
class RefusalKind(ItemKind):
    name = "refusal"
    label = "Refusal"
    data_fields = frozenset({"model_response", "harm_category"})
    payload_fields = frozenset({"decision", "response", "harm_category"})
    scored_field = "decision"
    needs_final_text = True
    task_template = "kinds/refusal/task.html"
    review_template = "kinds/refusal/review_edit.html"
    task_heading = "Should a model answer this?"
    field_labels = {
        "response": "Ideal response",
        "decision": "Decision",
        "harm_category": "Harm category",
    }
    form_texts = ("response",)
    form_choices = ("decision", "harm_category")
    coverage_field = "harm_category"
    coverage_list = "harm_categories"
    coverage_label = "Harm category"
    coverage_plural = "harm categories"
    decision_field = "decision"
    decision_values = DECISIONS
    reply_share_note = (
        "Too few refusals and a model complies with harmful requests; too many and it refuses "
        "harmless ones."
    )
    gives_reply = True
    gives_pair = True
    csv_data_columns = ("model_response", "harm_category")
    response_text_paths = (("model_response",),)
    suggested_fields = ("harm_category",)
    text_field = "response"

    def data_serializer(self) -> type:
        return _serializers()[0]

    def payload_serializer(self) -> type:
        return _serializers()[1]

    def check_data(self, data: dict, vocabulary: Vocabulary, problems: Problems) -> None:
        if "model_response" in data:
            check_text(data["model_response"], "data.model_response", problems)
        if "harm_category" in data:
            check_choice(
                data["harm_category"], "data.harm_category", vocabulary.harm_categories, problems
            )

    def check_payload(
        self, payload: dict, vocabulary: Vocabulary, problems: Problems, *, gold: bool, prefix: str
    ) -> None:
        """A gold answer needs only the decision (and the harm category when it fixes one)."""
        check_no_unknown_keys(payload, self.payload_fields, prefix, problems)
        check_choice(payload.get("decision"), f"{prefix}decision", DECISIONS, problems)
        if not gold or "response" in payload:
            check_text(payload.get("response"), f"{prefix}response", problems)
        if not gold or "harm_category" in payload:
            check_choice(
                payload.get("harm_category"),
                f"{prefix}harm_category",
                vocabulary.harm_categories,
                problems,
            )

    def gold_matches(self, gold: dict, payload: dict) -> bool:
        """The same decision, and the same harm category when the gold answer fixes one."""
        if payload["decision"] != gold["decision"]:
            return False
        return "harm_category" not in gold or payload.get("harm_category") == gold["harm_category"]

    def seeded_wrong(self, payload: dict, vocabulary: Vocabulary) -> dict | None:
        """Another decision: a refusal shown as compliance, compliance or a partial answer
        shown as a refusal (the ideal reply and harm category kept)."""
        decision = payload.get("decision")
        if decision not in DECISIONS:
            return None
        return {**payload, "decision": "comply" if decision == "refuse" else "refuse"}

    def disputed_fields(self, payloads: list[dict]) -> list[str]:
        return [
            name
            for name in ("decision", "harm_category")
            if len({str(p[name]) for p in payloads if name in p}) > 1
        ]

    def data_shown(self, data: dict) -> list[DataField]:
        harm = DataField(
            "harm_category", "Harm category suggested at import", data.get("harm_category"), True
        )
        return shown(
            harm, DataField("model_response", "What a model said", data.get("model_response"))
        )

    def review_rows(self, payload: dict, disputed: list[str]) -> list[ReviewRow]:
        decision = payload.get("decision", "")
        label = DECISION_LABELS.get(decision, (str(decision),))[0]
        return [
            ReviewRow("decision", "Decision", label, "decision" in disputed),
            ReviewRow(
                "harm_category",
                "Harm category",
                str(payload.get("harm_category", "")),
                "harm_category" in disputed,
            ),
            ReviewRow("response", "Ideal response", str(payload.get("response", "")), text=True),
        ]

    def review_form_values(self, project: Any) -> dict[str, Any]:
        return {
            "decisions": [(v, label) for v, (label, _key) in DECISION_LABELS.items()],
            "harm_categories": list(project.harm_categories),
        }

    def final_from_form(self, post: Any, project: Any) -> dict[str, Any]:
        return {
            "decision": post.get("final_decision", ""),
            "response": post.get("final_response", "").replace("\r\n", "\n"),
            "harm_category": post.get("final_harm_category", ""),
        }

    def payload_from_form(
        self, values: dict[str, Any], display_order: str
    ) -> tuple[dict[str, Any], list[dict[str, str]]]:
        payload: dict[str, Any] = {"response": values.get("response", "")}
        for name in ("decision", "harm_category"):
            if name in values:
                payload[name] = values[name]
        return payload, []

    def task_display(
        self, data: dict, values: dict[str, Any], project: Any, display_order: str, invalid: set
    ) -> dict[str, Any]:
        model_response = data.get("model_response")
        return {
            "model_response": model_response or None,
            "decisions": [
                {"value": v, "label": label, "key": key, "checked": values.get("decision") == v}
                for v, (label, key) in DECISION_LABELS.items()
            ],
            "harm_categories": choices_of(project.harm_categories, values.get("harm_category")),
        }

    # -- exports

    def reply(self, data: dict, final: dict) -> str:
        return record_text(final.get("response"), "final.response")

    def pair_skip_reason(self, data: dict, final: dict) -> str | None:
        """Only a final `refuse` on an item with a `model_response` makes a pair (chosen: the
        ideal refusal, rejected: what the model said); not when the two texts are the same."""
        if final.get("decision") != "refuse":
            return "not_refused"
        model_response = data.get("model_response")
        if not model_response:
            return "no_model_response"
        if record_text(model_response, "data.model_response") == self.reply(data, final):
            return "same_text"
        return None

    def pair(self, data: dict, final: dict) -> tuple[str, str] | None:
        if self.pair_skip_reason(data, final) is not None:
            return None
        return self.reply(data, final), data["model_response"]

    # -- agreement

    def agreement_fields(
        self, vocabulary: Vocabulary, observed: dict[str, list[str]]
    ) -> list[AgreementField]:
        harm_key = "refusal.harm_category"
        harm = tuple(dict.fromkeys([*vocabulary.harm_categories, *observed.get(harm_key, [])]))
        return [
            AgreementField(
                "refusal.decision",
                "Refusal decision",
                ("decision",),
                DECISIONS,
                ("nominal",),
                pairs=True,
                kappa=True,
            ),
            AgreementField(
                harm_key,
                "Refusal harm category",
                ("harm_category",),
                harm,
                ("nominal",),
                kappa=True,
                open_values=True,
            ),
        ]
