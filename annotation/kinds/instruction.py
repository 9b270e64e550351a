"""`instruction`: write the response to a prompt, and say what kind of task it is.

Item data: optional `context` (shown with the prompt, appended to it in exports), `category`
(a model's or the importer's guess) and `draft` (a model answer to edit). Payload:
`{"response": str, "category": str}`, the category from the project's `categories`.
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


@functools.cache
def _serializers() -> tuple[type, type]:
    """The OpenAPI description of instruction data and payloads (see
    `ItemKind.data_serializer`)."""
    from drf_spectacular.utils import extend_schema_serializer
    from rest_framework import serializers

    from annotation.kinds.schemas import PromptDataSchema

    @extend_schema_serializer(component_name="InstructionData")
    class InstructionDataSchema(PromptDataSchema):
        """The data of an instruction item: a prompt to write the response to."""

        context = serializers.CharField(
            required=False,
            max_length=MAX_TEXT,
            help_text="Shown with the prompt; exports append it to the prompt.",
        )
        category = serializers.CharField(
            required=False,
            help_text="A guess at the task's category (one of the project's `categories`); the "
            "annotator's choice starts from it.",
        )
        draft = serializers.CharField(
            required=False,
            max_length=MAX_TEXT,
            help_text="A model's answer, which the annotator edits into the response.",
        )

    @extend_schema_serializer(component_name="InstructionPayload")
    class InstructionPayloadSchema(serializers.Serializer):
        """An instruction annotation: the response written for the prompt, and the task's
        category."""

        response = serializers.CharField(max_length=MAX_TEXT, help_text="The response.")
        category = serializers.CharField(help_text="One of the project's `categories`.")

    return InstructionDataSchema, InstructionPayloadSchema


@register
class InstructionKind(ItemKind):
    name = "instruction"
    label = "Instruction"
    data_fields = frozenset({"context", "category", "draft"})
    payload_fields = frozenset({"response", "category"})
    scored_field = "category"
    needs_final_text = True
    task_template = "kinds/instruction/task.html"
    review_template = "kinds/instruction/review_edit.html"
    task_heading = "Write the response"
    autofocus_field = "response"
    field_labels = {"response": "Response", "category": "Category"}
    form_texts = ("response",)
    form_choices = ("category",)
    coverage_field = "category"
    coverage_list = "categories"
    coverage_label = "Category"
    coverage_plural = "categories"
    gives_reply = True
    csv_data_columns = ("context", "category", "draft")
    response_text_paths = (("draft",),)
    suggested_fields = ("category",)
    text_field = "response"

    def data_serializer(self) -> type:
        return _serializers()[0]

    def payload_serializer(self) -> type:
        return _serializers()[1]

    def check_data(self, data: dict, vocabulary: Vocabulary, problems: Problems) -> None:
        for name in ("context", "draft"):
            if name in data:
                check_text(data[name], f"data.{name}", problems)
        if "category" in data:
            check_choice(data["category"], "data.category", vocabulary.categories, problems)

    def check_payload(
        self, payload: dict, vocabulary: Vocabulary, problems: Problems, *, gold: bool, prefix: str
    ) -> None:
        """A gold answer needs only the category; its response is optional."""
        check_no_unknown_keys(payload, self.payload_fields, prefix, problems)
        if not gold or "response" in payload:
            check_text(payload.get("response"), f"{prefix}response", problems)
        check_choice(payload.get("category"), f"{prefix}category", vocabulary.categories, problems)

    def seeded_wrong(self, payload: dict, vocabulary: Vocabulary) -> dict | None:
        """The next category of the project's list (the response kept); None when the
        project has one category only."""
        category = payload.get("category")
        others = [c for c in vocabulary.categories if c != category]
        if not others:
            return None
        names = list(vocabulary.categories)
        after = names[(names.index(category) + 1) % len(names)] if category in names else others[0]
        return {**payload, "category": after if after != category else others[0]}

    def data_shown(self, data: dict) -> list[DataField]:
        return shown(
            DataField("context", "Context", data.get("context")),
            DataField("draft", "Draft answer", data.get("draft")),
            DataField("category", "Category suggested at import", data.get("category"), note=True),
        )

    def review_rows(self, payload: dict, disputed: list[str]) -> list[ReviewRow]:
        return [
            ReviewRow(
                "category", "Category", str(payload.get("category", "")), "category" in disputed
            ),
            ReviewRow("response", "Response", str(payload.get("response", "")), text=True),
        ]

    def review_form_values(self, project: Any) -> dict[str, Any]:
        return {"categories": list(project.categories)}

    def final_from_form(self, post: Any, project: Any) -> dict[str, Any]:
        return {
            "response": post.get("final_response", "").replace("\r\n", "\n"),
            "category": post.get("final_category", ""),
        }

    def initial_values(self, data: dict) -> dict[str, Any]:
        """The model's draft is the text to edit (the task itself, not a suggestion)."""
        return {"response": data.get("draft", "")}

    def payload_from_form(
        self, values: dict[str, Any], display_order: str
    ) -> tuple[dict[str, Any], list[dict[str, str]]]:
        payload: dict[str, Any] = {"response": values.get("response", "")}
        if "category" in values:
            payload["category"] = values["category"]
        return payload, []

    def task_display(
        self, data: dict, values: dict[str, Any], project: Any, display_order: str, invalid: set
    ) -> dict[str, Any]:
        return {
            "context": data.get("context") or None,
            "has_model_draft": bool(data.get("draft")),
            "categories": choices_of(project.categories, values.get("category")),
        }

    def reply(self, data: dict, final: dict) -> str:
        return record_text(final.get("response"), "final.response")

    def agreement_fields(
        self, vocabulary: Vocabulary, observed: dict[str, list[str]]
    ) -> list[AgreementField]:
        key = "instruction.category"
        values = tuple(dict.fromkeys([*vocabulary.categories, *observed.get(key, [])]))
        return [
            AgreementField(
                key,
                "Instruction category",
                ("category",),
                values,
                ("nominal",),
                pairs=True,
                kappa=True,
                open_values=True,
            )
        ]
