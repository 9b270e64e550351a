"""`preference`: two responses to one prompt, compared on a 7-point scale.

Item data: `responses`, exactly two `{"text", "model"?}` with different texts; A is the first,
B the second. Payload: `{"rating": -3..3, "criteria"?: {name: -3..3}, "rationale"?: str}`, in
A/B terms: negative prefers A, positive B, 0 is a tie.

Pages show the two responses left and right in an order drawn per assignment (or per reviewer)
and work on the same -3..3 scale in left/right terms; `to_display` maps between the two, the
same mapping both ways. The workspace's keys 1..7 are positions on that scale (key - 4).
"""

import functools
from typing import Any

from annotation.kinds.base import (
    MAX_TEXT,
    AgreementField,
    AgreementView,
    ItemKind,
    ModelComparison,
    Problems,
    RecordError,
    ReviewRow,
    Vocabulary,
    check_no_unknown_keys,
    check_object,
    check_text,
    label_of,
    record_text,
    register,
)

RATING_MIN, RATING_MAX = -3, 3
RATINGS = tuple(range(RATING_MIN, RATING_MAX + 1))
# The scale in a page's terms: negative means the response shown on the left is better.
SCALE_LABELS = {
    -3: "Left much better",
    -2: "Left better",
    -1: "Left slightly better",
    0: "Tie",
    1: "Right slightly better",
    2: "Right better",
    3: "Right much better",
}
SIDE_NAMES = {-1: "left", 0: "tie", 1: "right"}
SIDES = (-1, 0, 1)  # A (or left) preferred, tie, B (or right) preferred


def preferred_side(rating: int) -> int:
    """-1 when A is preferred, +1 when B is, 0 for a tie."""
    return (rating > 0) - (rating < 0)


def _is_rating(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_rating(value: Any, path: str, problems: Problems) -> None:
    if value is None:
        problems.add(path, "This field is required.")
    elif not _is_rating(value):
        problems.add(path, f"Must be an integer from {RATING_MIN} to {RATING_MAX}.")
    elif not RATING_MIN <= value <= RATING_MAX:
        problems.add(path, f"Must be from {RATING_MIN} to {RATING_MAX} (got {value}).")


def _side(value: Any) -> int | None:
    return preferred_side(value) if _is_rating(value) else None


def _flip(value: Any) -> Any:
    return -value if _is_rating(value) else value  # an invalid value stays as is


def _scale_key(value: str | None) -> int | None:
    """A workspace scale key "1".."7" as a displayed rating, None for anything else."""
    if value in {"1", "2", "3", "4", "5", "6", "7"}:
        return int(value) - 4
    return None


def rating_from_display(key: int, display_order: str) -> int:
    """The stored A/B rating for workspace scale key `key` (1 = left much better ... 7 = right
    much better) when the responses were shown in `display_order`."""
    if not 1 <= key <= 7:
        raise ValueError(f"scale key must be 1..7, not {key}")
    return as_displayed({"rating": key - 4}, display_order)["rating"]


def as_displayed(payload: dict, display_order: str) -> dict:
    """A payload between A/B terms and the terms of a page that shows the responses in
    `display_order`; the same mapping both ways. With "BA" (B shown on the left) the rating and
    every criterion change sign."""
    if display_order != "BA":
        return payload
    flipped = dict(payload)
    if "rating" in flipped:
        flipped["rating"] = _flip(flipped["rating"])
    if isinstance(flipped.get("criteria"), dict):
        flipped["criteria"] = {name: _flip(v) for name, v in flipped["criteria"].items()}
    return flipped


def _scale_options(chosen: Any, *, optional: bool = False) -> list[dict[str, Any]]:
    options = [
        {"value": str(v + 4), "key": v + 4, "label": label, "checked": chosen == str(v + 4)}
        for v, label in SCALE_LABELS.items()
    ]
    if optional:
        options.append(
            {"value": "", "key": "", "label": "Not rated", "checked": chosen in (None, "")}
        )
    return options


# --- the OpenAPI description ----------------------------------------------------------------------

RATING_HELP = (
    f"An integer from {RATING_MIN} to {RATING_MAX} in A/B terms, whatever order a page showed "
    "the responses in: negative prefers A (the first response), positive prefers B (the "
    "second), 0 is a tie; 1, 2 and 3 are slightly better, better and much better."
)


@functools.cache
def _serializers() -> tuple[type, type]:
    """The OpenAPI description of preference data and payloads (see
    `ItemKind.data_serializer`)."""
    from drf_spectacular.utils import extend_schema_serializer
    from rest_framework import serializers

    from annotation.kinds.schemas import PromptDataSchema

    @extend_schema_serializer(component_name="PreferenceResponse")
    class ResponseSchema(serializers.Serializer):
        """One of the two responses compared."""

        text = serializers.CharField(max_length=MAX_TEXT)
        model = serializers.CharField(
            required=False,
            max_length=MAX_TEXT,
            help_text="The model that wrote it. Only leads read it: annotators and reviewers "
            "read items without model names.",
        )

    @extend_schema_serializer(component_name="PreferenceData")
    class PreferenceDataSchema(PromptDataSchema):
        """The data of a preference item: two responses to one prompt."""

        responses = ResponseSchema(
            many=True,
            min_length=2,
            max_length=2,
            help_text="Exactly two responses with different texts: A (the first) and B (the "
            "second).",
        )

    @extend_schema_serializer(component_name="PreferencePayload")
    class PreferencePayloadSchema(serializers.Serializer):
        """A preference annotation, in A/B terms: negative ratings prefer A (the first response),
        positive ones B (the second), 0 is a tie."""

        rating = serializers.IntegerField(
            min_value=RATING_MIN,
            max_value=RATING_MAX,
            help_text=f"The overall rating. {RATING_HELP}",
        )
        criteria = serializers.DictField(
            child=serializers.IntegerField(min_value=RATING_MIN, max_value=RATING_MAX),
            required=False,
            help_text="A rating per criterion, keyed by the project's `criteria`, on the same "
            "scale as `rating`.",
        )
        rationale = serializers.CharField(
            required=False, allow_blank=True, max_length=MAX_TEXT, help_text="Why, in words."
        )

    return PreferenceDataSchema, PreferencePayloadSchema


def _int_or_text(value: str) -> Any:
    try:
        return int(value)
    except ValueError:
        return value  # validation reports it


@register
class PreferenceKind(ItemKind):
    name = "preference"
    label = "Preference"
    data_fields = frozenset({"responses"})
    payload_fields = frozenset({"rating", "criteria", "rationale"})
    scored_field = "rating"
    shows_sides = True
    task_template = "kinds/preference/task.html"
    review_template = "kinds/preference/review_edit.html"
    task_heading = "Which response is better?"
    field_labels = {"rating": "Overall rating", "rationale": "Rationale"}
    form_texts = ("rationale",)
    form_choices = ("rating",)
    gives_pair = True
    csv_data_columns = ("response_a", "response_b", "model_a", "model_b")
    response_text_paths = (("responses", 0, "text"), ("responses", 1, "text"))
    # Evaluation reports count wins, ties and losses between the two responses' models.
    model_comparison = ModelComparison(
        first=("responses", 0, "model"), second=("responses", 1, "model"), outcome=("rating",)
    )

    # -- item data

    def data_serializer(self) -> type:
        return _serializers()[0]

    def payload_serializer(self) -> type:
        return _serializers()[1]

    def check_data(self, data: dict, vocabulary: Vocabulary, problems: Problems) -> None:
        responses = data.get("responses")
        if not isinstance(responses, list) or len(responses) != 2:
            problems.add("data.responses", "Must be exactly two responses: [A, B].")
            return
        texts = []
        for i, response in enumerate(responses):
            path = f"data.responses[{i}]"
            if check_object(response, path, problems) is None:
                continue
            check_no_unknown_keys(response, {"text", "model"}, f"{path}.", problems)
            texts.append(check_text(response.get("text"), f"{path}.text", problems))
            if "model" in response:
                check_text(response["model"], f"{path}.model", problems)
        if len(texts) == 2 and texts[0] is not None and texts[0] == texts[1]:
            problems.add("data.responses", "The two responses must differ.")

    def content_key(self, data: dict) -> dict[str, Any]:
        # One prompt compared across several pairs of responses is not a duplicate.
        return {"responses": [r.get("text") for r in data.get("responses", [])]}

    def blind(self, data: dict) -> dict:
        blinded = dict(data)
        if "responses" in blinded:
            blinded["responses"] = [{"text": r["text"]} for r in blinded["responses"]]
        return blinded

    def data_from_csv(self, cells: dict[str, str]) -> dict[str, Any]:
        if not any(name in cells for name in self.csv_data_columns):
            return {}
        responses = []
        for side in ("a", "b"):
            response: dict[str, Any] = {"text": cells.get(f"response_{side}", "")}
            if f"model_{side}" in cells:
                response["model"] = cells[f"model_{side}"]
            responses.append(response)
        return {"responses": responses}

    # -- payloads

    def check_payload(
        self, payload: dict, vocabulary: Vocabulary, problems: Problems, *, gold: bool, prefix: str
    ) -> None:
        check_no_unknown_keys(payload, self.payload_fields, prefix, problems)
        _check_rating(payload.get("rating"), f"{prefix}rating", problems)
        criteria = payload.get("criteria")
        if criteria is not None and check_object(criteria, f"{prefix}criteria", problems):
            for name, value in criteria.items():
                if name not in vocabulary.criteria:
                    problems.add(
                        f"{prefix}criteria.{name}",
                        f"Not a criterion of this project ({', '.join(vocabulary.criteria)}).",
                    )
                else:
                    _check_rating(value, f"{prefix}criteria.{name}", problems)
        if "rationale" in payload:
            check_text(payload["rationale"], f"{prefix}rationale", problems, required=False)

    def prediction_certainty(self, payload: dict, confidence: float) -> float:
        """The margin between the two responses: a predicted tie (0) is the least sure, a
        strong preference (-3 or 3) held with full confidence the surest."""
        rating = payload.get("rating")
        if isinstance(rating, bool) or not isinstance(rating, int):
            return 0.0
        return abs(rating) / 3 * confidence

    def agreement_key(self, payload: dict) -> Any:
        return preferred_side(payload["rating"])

    def seeded_wrong(self, payload: dict, vocabulary: Vocabulary) -> dict | None:
        """The other side (a tie becomes a clear preference for B), criteria mirrored too;
        the rationale is left out (it would argue for the real side)."""
        rating = payload.get("rating")
        if not _is_rating(rating):
            return None
        wrong: dict[str, Any] = {"rating": -rating if rating else 2}
        criteria = payload.get("criteria")
        if isinstance(criteria, dict):
            wrong["criteria"] = {
                name: (-value if value else 2) if _is_rating(value) else value
                for name, value in criteria.items()
            }
        return wrong

    def representative(self, annotations: list[Any]) -> Any:
        """The rating closest to the mean (the earliest on a tie)."""
        mean = sum(a.payload["rating"] for a in annotations) / len(annotations)
        return min(annotations, key=lambda a: (abs(a.payload["rating"] - mean), a.pk))

    # -- display

    def to_display(self, payload: dict, display_order: str) -> dict:
        return as_displayed(payload, display_order)

    def order_note(self, author_order: str, reader_order: str) -> str:
        """Ratings are shown in the reader's terms already; the rationale is the author's
        free text, written about the sides as the author saw them."""
        if not author_order or not reader_order:
            return ""
        if author_order == reader_order:
            return "Its author saw the responses as you do: its rationale's left is your left."
        return (
            "Its author saw the responses the other way round: in its rationale, left means "
            "your right and right means your left."
        )

    def responses(self, data: dict) -> list[dict[str, str]]:
        given = data.get("responses")
        if not isinstance(given, list):
            return []
        return [
            {"name": name, "text": str(r.get("text", "")), "model": str(r.get("model") or "")}
            for name, r in zip("AB", given, strict=False)
            if isinstance(r, dict)
        ]

    def sides(self, data: dict, display_order: str) -> list[dict[str, str]]:
        texts = [r.get("text", "") for r in data.get("responses") or []]
        if display_order == "BA":
            texts.reverse()
        return [{"name": n, "text": t} for n, t in zip(("Left", "Right"), texts, strict=False)]

    def disputed_fields(self, payloads: list[dict]) -> list[str]:
        """The preferred side of the rating or of a criterion."""
        disputed = []
        if len({_side(p["rating"]) for p in payloads if "rating" in p}) > 1:
            disputed.append("rating")
        names = sorted({name for p in payloads for name in (p.get("criteria") or {})})
        for name in names:
            sides = {_side((p.get("criteria") or {}).get(name)) for p in payloads}
            sides.discard(None)
            if len(sides) > 1:
                disputed.append(f"criteria.{name}")
        return disputed

    def review_rows(self, payload: dict, disputed: list[str]) -> list[ReviewRow]:
        rows = [_rating_row("rating", "Overall", payload.get("rating"), disputed)]
        for name, value in sorted((payload.get("criteria") or {}).items()):
            rows.append(_rating_row(f"criteria.{name}", label_of(name), value, disputed))
        if payload.get("rationale"):
            rows.append(ReviewRow("rationale", "Rationale", payload["rationale"], text=True))
        return rows

    def review_form_values(self, project: Any) -> dict[str, Any]:
        return {"rating_scale": list(SCALE_LABELS.items()), "criteria": list(project.criteria)}

    def final_from_form(self, post: Any, project: Any) -> dict[str, Any]:
        final: dict[str, Any] = {"rating": _int_or_text(post.get("final_rating", ""))}
        criteria = {
            name: _int_or_text(post[f"final_criteria.{name}"])
            for name in project.criteria
            if post.get(f"final_criteria.{name}", "") != ""
        }
        if criteria:
            final["criteria"] = criteria
        rationale = post.get("final_rationale", "").replace("\r\n", "\n").strip()
        if rationale:
            final["rationale"] = rationale
        return final

    # -- the workspace

    def form_values(self, post: Any, project: Any) -> dict[str, Any]:
        values = super().form_values(post, project)
        marks = {
            name: post[f"criteria.{name}"]
            for name in project.criteria
            if post.get(f"criteria.{name}")
        }
        if marks:
            values["criteria"] = marks
        return values

    def values_from_payload(self, payload: dict, display_order: str) -> dict[str, Any]:
        shown = self.to_display(payload, display_order)
        values: dict[str, Any] = {}
        if _is_rating(shown.get("rating")):
            values["rating"] = str(shown["rating"] + 4)
        marks = {n: str(v + 4) for n, v in (shown.get("criteria") or {}).items() if _is_rating(v)}
        if marks:
            values["criteria"] = marks
        if shown.get("rationale"):
            values["rationale"] = shown["rationale"]
        return values

    def payload_from_form(
        self, values: dict[str, Any], display_order: str
    ) -> tuple[dict[str, Any], list[dict[str, str]]]:
        displayed: dict[str, Any] = {}
        errors: list[dict[str, str]] = []
        if "rating" in values:
            rating = _scale_key(values["rating"])
            if rating is None:
                errors.append({"field": "rating", "message": "Choose a point on the scale."})
            else:
                displayed["rating"] = rating
        marks = {}
        for name, key in values.get("criteria", {}).items():
            mark = _scale_key(key)
            if mark is None:
                errors.append({"field": f"criteria.{name}", "message": "Choose a point."})
            else:
                marks[name] = mark
        if marks:
            displayed["criteria"] = marks
        if values.get("rationale", "").strip():
            displayed["rationale"] = values["rationale"]
        return self.from_display(displayed, display_order), errors

    def task_display(
        self, data: dict, values: dict[str, Any], project: Any, display_order: str, invalid: set
    ) -> dict[str, Any]:
        marks = values.get("criteria")
        marks = marks if isinstance(marks, dict) else {}  # a draft may hold anything
        return {
            "sides": self.sides(data, display_order),
            "scale": _scale_options(values.get("rating")),
            "criteria": [
                {
                    "name": name,
                    "label": label_of(name),
                    "options": _scale_options(marks.get(name), optional=True),
                    "invalid": f"criteria.{name}" in invalid,
                }
                for name in project.criteria
            ],
        }

    # -- exports

    def _rating(self, final: dict) -> int:
        rating = final.get("rating")
        if not _is_rating(rating) or not RATING_MIN <= rating <= RATING_MAX:
            raise RecordError(
                f"final.rating must be an integer {RATING_MIN}..{RATING_MAX}, got {rating!r}"
            )
        return rating

    def pair_skip_reason(self, data: dict, final: dict) -> str | None:
        """A tie prefers neither side, so it gives no pair."""
        return "tie" if self._rating(final) == 0 else None

    def pair(self, data: dict, final: dict) -> tuple[str, str] | None:
        """A negative final rating prefers A (the first response), a positive one B."""
        rating = self._rating(final)
        if rating == 0:
            return None
        a, b = _response_texts(data)
        return (a, b) if rating < 0 else (b, a)

    def pair_sql(self, data: str, final: str) -> tuple[str, str, str]:
        """A non-zero integer rating and two responses with text (the rating compared as JSON
        text, so a float or a string stays with ``pair``, which refuses it)."""
        ratings = ", ".join(f"'{r}'" for r in RATINGS if r != 0)
        a, b = f"{data} -> 'responses' -> 0 ->> 'text'", f"{data} -> 'responses' -> 1 ->> 'text'"
        condition = (
            f"jsonb_typeof({final} -> 'rating') = 'number' AND {final} ->> 'rating' IN ({ratings})"
            f" AND jsonb_typeof({data} -> 'responses') = 'array'"
            f" AND {data} -> 'responses' -> 2 IS NULL"
            f" AND jsonb_typeof({data} -> 'responses' -> 0 -> 'text') = 'string'"
            f" AND jsonb_typeof({data} -> 'responses' -> 1 -> 'text') = 'string'"
        )
        negative = f"left({final} ->> 'rating', 1) = '-'"
        chosen = f"CASE WHEN {negative} THEN {a} ELSE {b} END"
        rejected = f"CASE WHEN {negative} THEN {b} ELSE {a} END"
        return condition, chosen, rejected

    # -- agreement

    def agreement_fields(
        self, vocabulary: Vocabulary, observed: dict[str, list[str]]
    ) -> list[AgreementField]:
        side = AgreementView(
            "side",
            SIDES,
            {r: preferred_side(r) for r in RATINGS},
            percent_key="side_agreement_with_ties",
            alpha=True,
            pairs=True,
            kappa=True,
        )
        side_no_ties = AgreementView(
            "side_no_ties",
            (-1, 1),
            {r: preferred_side(r) or None for r in RATINGS},
            percent_key="side_agreement_without_ties",
            empty_note="no item has two or more non-tie ratings",
        )
        fields = [
            AgreementField(
                "preference.rating",
                "Preference rating",
                ("rating",),
                RATINGS,
                ("ordinal", "interval"),
                views=(side, side_no_ties),
                sided=True,
            )
        ]
        for name in dict.fromkeys(vocabulary.criteria):
            fields.append(
                AgreementField(
                    f"preference.criteria.{name}",
                    f"Criterion: {name}",
                    ("criteria", name),
                    RATINGS,
                    ("ordinal", "interval"),
                )
            )
        return fields


def _rating_row(name: str, label: str, value: Any, disputed: list[str]) -> ReviewRow:
    side = _side(value)
    shown = SCALE_LABELS.get(value, str(value)) if side is not None else str(value)
    return ReviewRow(
        name=name,
        label=label,
        value=f"{shown} ({value:+d})" if side is not None and value else shown,
        differs=name in disputed,
        side=SIDE_NAMES.get(side, "") if side is not None else "",
        rating=value if side is not None else None,
    )


def _response_texts(data: dict) -> tuple[str, str]:
    """The texts of responses A and B; model names are never read."""
    responses = data.get("responses")
    if not isinstance(responses, list) or len(responses) != 2:
        raise RecordError("data.responses must hold exactly two responses")
    first, second = responses
    if type(first) is dict and type(second) is dict:  # the usual case, checked fast
        a, b = first.get("text"), second.get("text")
        if type(a) is str and type(b) is str:
            return a, b
    texts = []
    for index, response in enumerate(responses):
        if not isinstance(response, dict):
            raise RecordError(f"data.responses[{index}] must be an object")
        texts.append(record_text(response.get("text"), f"data.responses[{index}].text"))
    return texts[0], texts[1]
