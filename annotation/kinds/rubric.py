"""`rubric`: one model output judged against the project's rubric.

Item data: `prompt` or `messages` (as every kind), `response: {"text", "model"}` (the model's
name is hidden from annotators and reviewers), optional `reference` (a reference answer shown
to the annotator), optional `group` (items of one group are rephrasings or variants of one
test case) and `tags` (e.g. `adversarial`, `domain:legal`).

The project setting `rubric` lists the criteria, each `{"name", "description", "scale"}` where
`scale` is `{"min": 1, "max": 5}` (an integer scale) or `"pass_fail"`. The rubric is versioned:
an annotation records the version it was made under (`Annotation.rubric_version`), and nothing
re-checks an annotation when the rubric changes.

Payload: `{"scores": {criterion: int | bool}, "rationale"?: str, "flags"?: [str]}`: every
criterion of the rubric is required, an integer on its scale or true (pass) / false (fail).

Item-level agreement: every criterion's scores lie within one point of each other and every
pass/fail is unanimous; otherwise the item goes to review, where the reviewer sets the final
scores. The workspace keys are `1`-`9` on a scale and `P` / `F`, criterion by criterion.
"""

import functools
from typing import Any

from annotation.kinds.base import (
    MAX_TEXT,
    AgreementField,
    DataField,
    ItemKind,
    ModelScoring,
    Problems,
    RecordError,
    ReviewRow,
    Vocabulary,
    check_no_unknown_keys,
    check_object,
    check_text,
    json_type,
    label_of,
    record_text,
    register,
    shown,
)

PASS_FAIL = "pass_fail"  # noqa: S105 (a scale, not a password)
MAX_CRITERIA = 30
MAX_CRITERION_NAME = 64
MAX_DESCRIPTION = 2_000
MAX_SCALE_POINT = 9  # scales lie within 0-9: one key per point in the workspace
MAX_TAGS = 50
MAX_TAG = 64
MAX_GROUP = 255
MAX_FLAGS = 20
MAX_FLAG = 64
# Scores of one criterion agree when they lie within this many points of each other.
TOLERANCE = 1
PASS_VALUE, FAIL_VALUE = "pass", "fail"  # what the workspace and review forms send


# --- the rubric setting ------------------------------------------------------------------------


def is_pass_fail(criterion: dict) -> bool:
    return criterion.get("scale") == PASS_FAIL


def scale_range(criterion: dict) -> tuple[int, int]:
    scale = criterion["scale"]
    return scale["min"], scale["max"]


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def rubric_problem(value: Any) -> str | None:
    """What is wrong with a rubric setting, naming the criterion (None: nothing)."""
    if not isinstance(value, list) or not value:
        return "Must be a non-empty list of criteria {name, description, scale}."
    if len(value) > MAX_CRITERIA:
        return f"At most {MAX_CRITERIA} criteria."
    seen: set[str] = set()
    for index, criterion in enumerate(value):
        where = f"Criterion {index + 1}"
        if not isinstance(criterion, dict):
            return f"{where}: must be an object {{name, description, scale}}."
        unknown = sorted(set(criterion) - {"name", "description", "scale"})
        if unknown:
            return f"{where}: unknown field {unknown[0]!r}."
        name = criterion.get("name")
        if (
            not isinstance(name, str)
            or not name.strip()
            or name != name.strip()
            or len(name) > MAX_CRITERION_NAME
            or "." in name
        ):
            return (
                f"{where}: name must be a non-empty name of at most {MAX_CRITERION_NAME} "
                "characters, without a dot or outer spaces."
            )
        where = f"Criterion {name!r}"
        if name in seen:
            return f"{where}: duplicate criterion name."
        seen.add(name)
        description = criterion.get("description", "")
        if not isinstance(description, str) or len(description) > MAX_DESCRIPTION:
            return f"{where}: description must be text of at most {MAX_DESCRIPTION:,} characters."
        scale = criterion.get("scale")
        if scale == PASS_FAIL:
            continue
        if not isinstance(scale, dict) or set(scale) != {"min", "max"}:
            return f'{where}: scale must be {{"min": int, "max": int}} or "pass_fail".'
        low, high = scale["min"], scale["max"]
        if not _is_int(low) or not _is_int(high):
            return f"{where}: scale min and max must be integers."
        if low >= high:
            return f"{where}: scale min ({low}) must be below max ({high})."
        if low < 0 or high > MAX_SCALE_POINT:
            return f"{where}: a scale lies within 0-{MAX_SCALE_POINT} (one key per point)."
    return None


def _criteria(vocabulary: Vocabulary) -> tuple[dict, ...]:
    return vocabulary.rubric


def _scale_label(criterion: dict) -> str:
    if is_pass_fail(criterion):
        return "pass / fail"
    low, high = scale_range(criterion)
    return f"{low}-{high}"


def check_score(criterion: dict, value: Any, path: str, problems: Problems) -> None:
    name = criterion["name"]
    if is_pass_fail(criterion):
        if not isinstance(value, bool):
            problems.add(path, f"{name}: must be true (pass) or false (fail), not {value!r}.")
        return
    low, high = scale_range(criterion)
    if not _is_int(value):
        problems.add(path, f"{name}: must be an integer from {low} to {high}, not {value!r}.")
    elif not low <= value <= high:
        problems.add(path, f"{name}: must be from {low} to {high} (got {value}).")


def score_label(value: Any) -> str:
    if value is True:
        return "Pass"
    if value is False:
        return "Fail"
    return str(value)


def _form_score(raw: Any) -> Any:
    """A score as a form sends it ("3", "pass", "fail") as a payload value; anything else is
    kept as text, so validation names it."""
    if raw == PASS_VALUE:
        return True
    if raw == FAIL_VALUE:
        return False
    try:
        return int(raw)
    except (TypeError, ValueError):
        return raw


def _form_value(value: Any) -> str:
    """A payload value as a form control's value."""
    if value is True:
        return PASS_VALUE
    if value is False:
        return FAIL_VALUE
    return "" if value is None else str(value)


def _flags_from_text(text: str) -> list[str]:
    return list(dict.fromkeys(f.strip() for f in text.split(",") if f.strip()))


def pass_fail_label(scores: Any) -> bool | None:
    """The pass/fail verdict of a set of scores: pass when every pass/fail criterion passed
    (None when it has none)."""
    if not isinstance(scores, dict):
        return None
    verdicts = [v for v in scores.values() if isinstance(v, bool)]
    return all(verdicts) if verdicts else None


# --- the OpenAPI description ----------------------------------------------------------------------


@functools.cache
def criterion_serializer() -> type:
    """The OpenAPI description of one criterion of the `rubric` project setting."""
    from drf_spectacular.utils import extend_schema_field, extend_schema_serializer
    from rest_framework import serializers

    @extend_schema_field(
        {
            "oneOf": [
                {
                    "type": "object",
                    "properties": {"min": {"type": "integer"}, "max": {"type": "integer"}},
                    "required": ["min", "max"],
                    "additionalProperties": False,
                },
                {"type": "string", "enum": [PASS_FAIL]},
            ],
            "description": 'An integer scale (min below max, within 0-9) or "pass_fail".',
        }
    )
    class ScaleField(serializers.JSONField):
        pass

    @extend_schema_serializer(component_name="RubricCriterion")
    class CriterionSchema(serializers.Serializer):
        """One criterion of a project's rubric."""

        name = serializers.CharField(max_length=MAX_CRITERION_NAME)
        description = serializers.CharField(
            required=False, allow_blank=True, max_length=MAX_DESCRIPTION
        )
        scale = ScaleField()

    return CriterionSchema


@functools.cache
def _serializers() -> tuple[type, type]:
    """The OpenAPI description of rubric data and payloads (see `ItemKind.data_serializer`)."""
    from drf_spectacular.utils import extend_schema_field, extend_schema_serializer
    from rest_framework import serializers

    from annotation.kinds.schemas import PromptDataSchema

    @extend_schema_serializer(component_name="RubricResponse")
    class ResponseSchema(serializers.Serializer):
        """The model output that is judged."""

        text = serializers.CharField(max_length=MAX_TEXT, help_text="Markdown.")
        model = serializers.CharField(
            required=False,
            max_length=MAX_TEXT,
            help_text="The model that wrote it: required at import. Only leads read it: "
            "annotators and reviewers read items without model names.",
        )

    @extend_schema_serializer(component_name="RubricData")
    class RubricDataSchema(PromptDataSchema):
        """The data of a rubric item: one model output to score on the project's rubric."""

        response = ResponseSchema()
        reference = serializers.CharField(
            required=False,
            max_length=MAX_TEXT,
            help_text="A reference answer shown to the annotator (markdown).",
        )
        group = serializers.CharField(
            required=False,
            max_length=MAX_GROUP,
            help_text="Items of one group are rephrasings or variants of one test case; the "
            "evaluation report measures how consistently a model is scored across them.",
        )
        tags = serializers.ListField(
            child=serializers.CharField(max_length=MAX_TAG),
            required=False,
            max_length=MAX_TAGS,
            help_text="Tags such as `adversarial` or `domain:legal`; the evaluation report "
            "shows each tag separately.",
        )

    @extend_schema_field(
        {
            "type": "object",
            "additionalProperties": {"oneOf": [{"type": "integer"}, {"type": "boolean"}]},
            "description": "A score per criterion of the project's `rubric`, every criterion "
            "required: an integer on its scale, or true (pass) / false (fail).",
        }
    )
    class ScoresField(serializers.JSONField):
        pass

    @extend_schema_serializer(component_name="RubricPayload")
    class RubricPayloadSchema(serializers.Serializer):
        """A rubric annotation: a score per criterion of the project's rubric."""

        scores = ScoresField()
        rationale = serializers.CharField(
            required=False, allow_blank=True, max_length=MAX_TEXT, help_text="Why, in words."
        )
        flags = serializers.ListField(
            child=serializers.CharField(max_length=MAX_FLAG),
            required=False,
            max_length=MAX_FLAGS,
            help_text="Short labels for what stood out (e.g. `hallucination`).",
        )

    return RubricDataSchema, RubricPayloadSchema


@register
class RubricKind(ItemKind):
    name = "rubric"
    label = "Rubric"
    data_fields = frozenset({"response", "reference", "group", "tags"})
    payload_fields = frozenset({"scores", "rationale", "flags"})
    scored_field = "scores"
    task_template = "kinds/rubric/task.html"
    review_template = "kinds/rubric/review_edit.html"
    task_heading = "Score the response"
    field_labels = {"scores": "Scores", "rationale": "Rationale", "flags": "Flags"}
    form_texts = ("rationale",)
    csv_data_columns = ("response", "model", "reference", "group", "tags")
    response_text_paths = (("response", "text"), ("reference",))
    gives_result = True
    gives_label = True
    model_scoring = ModelScoring(
        model=("response", "model"),
        scores=("scores",),
        group=("group",),
        tags=("tags",),
        setting="rubric",
    )

    def data_serializer(self) -> type:
        return _serializers()[0]

    def payload_serializer(self) -> type:
        return _serializers()[1]

    # -- item data

    def check_data(self, data: dict, vocabulary: Vocabulary, problems: Problems) -> None:
        response = data.get("response")
        if response is None:
            problems.add("data.response", "This field is required: {text, model}.")
        elif check_object(response, "data.response", problems) is not None:
            check_no_unknown_keys(response, {"text", "model"}, "data.response.", problems)
            check_text(response.get("text"), "data.response.text", problems)
            model = check_text(response.get("model"), "data.response.model", problems)
            if model is not None and len(model) > MAX_TAG * 4:
                problems.add("data.response.model", f"At most {MAX_TAG * 4} characters.")
        if "reference" in data:
            check_text(data["reference"], "data.reference", problems)
        if "group" in data:
            group = check_text(data["group"], "data.group", problems)
            if group is not None and len(group) > MAX_GROUP:
                problems.add("data.group", f"At most {MAX_GROUP} characters.")
        if "tags" in data:
            tags = data["tags"]
            if not isinstance(tags, list) or len(tags) > MAX_TAGS:
                problems.add("data.tags", f"Must be a list of at most {MAX_TAGS} tags.")
                return
            for i, tag in enumerate(tags):
                tag = check_text(tag, f"data.tags[{i}]", problems)
                if tag is not None and (len(tag) > MAX_TAG or tag != tag.strip()):
                    problems.add(
                        f"data.tags[{i}]", f"At most {MAX_TAG} characters, no outer spaces."
                    )
            if len(set(map(str, tags))) != len(tags):
                problems.add("data.tags", "Tags must be unique.")

    def content_key(self, data: dict) -> dict[str, Any]:
        # One prompt scored for several models' outputs is not a duplicate.
        response = data.get("response") or {}
        return {"response": [response.get("text"), response.get("model")]}

    def blind(self, data: dict) -> dict:
        blinded = dict(data)
        if isinstance(blinded.get("response"), dict):
            blinded["response"] = {"text": blinded["response"].get("text")}
        return blinded

    def data_shown(self, data: dict) -> list[DataField]:
        response = data.get("response")
        return shown(
            DataField(
                "response", "Response", response.get("text") if isinstance(response, dict) else None
            ),
            DataField("reference", "Reference answer", data.get("reference")),
        )

    def data_from_csv(self, cells: dict[str, str]) -> dict[str, Any]:
        data: dict[str, Any] = {}
        if "response" in cells or "model" in cells:
            data["response"] = {"text": cells.get("response", ""), "model": cells.get("model", "")}
        for name in ("reference", "group"):
            if name in cells:
                data[name] = cells[name]
        if "tags" in cells:
            data["tags"] = [t.strip() for t in cells["tags"].split(",") if t.strip()]
        return data

    # -- payloads

    def check_payload(
        self, payload: dict, vocabulary: Vocabulary, problems: Problems, *, gold: bool, prefix: str
    ) -> None:
        """Every criterion of the rubric is required (a gold answer may fix only some)."""
        check_no_unknown_keys(payload, self.payload_fields, prefix, problems)
        scores = payload.get("scores")
        rubric = {c["name"]: c for c in _criteria(vocabulary)}
        if scores is None:
            problems.add(f"{prefix}scores", "This field is required: a score per criterion.")
        elif not isinstance(scores, dict):
            problems.add(f"{prefix}scores", f"Must be a JSON object, not {json_type(scores)}.")
        else:
            for name in scores:
                if name not in rubric:
                    problems.add(
                        f"{prefix}scores.{name}",
                        f"{name}: not a criterion of this project's rubric ({', '.join(rubric)}).",
                    )
            for name, criterion in rubric.items():
                if name in scores:
                    check_score(criterion, scores[name], f"{prefix}scores.{name}", problems)
                elif not gold:
                    problems.add(f"{prefix}scores.{name}", f"{name}: this criterion is required.")
            if gold and not scores:
                problems.add(f"{prefix}scores", "Give at least one criterion's score.")
        if "rationale" in payload:
            check_text(payload["rationale"], f"{prefix}rationale", problems, required=False)
        if "flags" in payload:
            flags = payload["flags"]
            if not isinstance(flags, list) or len(flags) > MAX_FLAGS:
                problems.add(f"{prefix}flags", f"Must be a list of at most {MAX_FLAGS} flags.")
            else:
                for i, flag in enumerate(flags):
                    flag = check_text(flag, f"{prefix}flags[{i}]", problems)
                    if flag is not None and len(flag) > MAX_FLAG:
                        problems.add(f"{prefix}flags[{i}]", f"At most {MAX_FLAG} characters.")

    def agreement_key(self, payload: dict) -> Any:
        return tuple(sorted((k, str(v)) for k, v in (payload.get("scores") or {}).items()))

    def agrees(self, payloads: list[dict]) -> bool:
        """Every criterion scored by all, scores within one point, pass/fail unanimous."""
        return not self.disputed_fields(payloads)

    def gold_matches(self, gold: dict, payload: dict) -> bool:
        """Each criterion the gold answer fixes: within one point, the same pass/fail."""
        given = payload.get("scores") or {}
        for name, expected in (gold.get("scores") or {}).items():
            if not _close([expected, given.get(name)]):
                return False
        return True

    def representative(self, annotations: list[Any]) -> Any:
        """The annotation closest to the mean scores (the earliest on a tie)."""
        numeric: dict[str, list[int]] = {}
        for a in annotations:
            for name, value in (a.payload.get("scores") or {}).items():
                if _is_int(value):
                    numeric.setdefault(name, []).append(value)
        means = {name: sum(v) / len(v) for name, v in numeric.items()}

        def distance(a: Any) -> float:
            scores = a.payload.get("scores") or {}
            return sum(abs(scores.get(name, mean) - mean) for name, mean in means.items())

        return min(annotations, key=lambda a: (distance(a), a.pk))

    # -- review

    def seeded_wrong(self, payload: dict, vocabulary: Vocabulary) -> dict | None:
        """Scores moved beyond the tolerance: a pass/fail flipped, an integer moved to the far
        end of its scale (when that is more than TOLERANCE away). None when no criterion of
        the rubric can be moved that far."""
        scores = dict(payload.get("scores") or {})
        moved = False
        for criterion in vocabulary.rubric:
            name, value = criterion["name"], scores.get(criterion["name"])
            if isinstance(value, bool):
                scores[name], moved = not value, True
            elif _is_int(value) and not is_pass_fail(criterion):
                low, high = scale_range(criterion)
                far = low if value - low >= high - value else high
                if abs(far - value) > TOLERANCE:
                    scores[name], moved = far, True
        if not moved:
            return None
        return {"scores": scores}

    def disputed_fields(self, payloads: list[dict]) -> list[str]:
        names = list(dict.fromkeys(n for p in payloads for n in (p.get("scores") or {})))
        return [
            f"scores.{name}"
            for name in names
            if not _close([(p.get("scores") or {}).get(name) for p in payloads])
        ]

    def review_rows(self, payload: dict, disputed: list[str]) -> list[ReviewRow]:
        rows = [
            ReviewRow(
                f"scores.{name}", label_of(name), score_label(value), f"scores.{name}" in disputed
            )
            for name, value in (payload.get("scores") or {}).items()
        ]
        if payload.get("flags"):
            rows.append(ReviewRow("flags", "Flags", ", ".join(map(str, payload["flags"]))))
        if payload.get("rationale"):
            rows.append(ReviewRow("rationale", "Rationale", payload["rationale"], text=True))
        return rows

    def review_form_values(self, project: Any) -> dict[str, Any]:
        return {"rubric_criteria": [_criterion_view(c, None) for c in project.rubric]}

    def final_from_form(self, post: Any, project: Any) -> dict[str, Any]:
        scores = {
            c["name"]: _form_score(post.get(f"final_scores.{c['name']}", ""))
            for c in project.rubric
            if post.get(f"final_scores.{c['name']}", "") != ""
        }
        final: dict[str, Any] = {"scores": scores}
        rationale = post.get("final_rationale", "").replace("\r\n", "\n").strip()
        if rationale:
            final["rationale"] = rationale
        flags = _flags_from_text(post.get("final_flags", ""))
        if flags:
            final["flags"] = flags
        return final

    # -- the workspace

    def form_values(self, post: Any, project: Any) -> dict[str, Any]:
        values = super().form_values(post, project)
        scores = {
            c["name"]: post[f"scores.{c['name']}"]
            for c in project.rubric
            if post.get(f"scores.{c['name']}")
        }
        if scores:
            values["scores"] = scores
        if post.get("flags", "").strip():
            values["flags"] = post["flags"]
        return values

    def values_from_payload(self, payload: dict, display_order: str) -> dict[str, Any]:
        values: dict[str, Any] = {}
        scores = payload.get("scores")
        if isinstance(scores, dict) and scores:
            values["scores"] = {name: _form_value(v) for name, v in scores.items()}
        if payload.get("rationale"):
            values["rationale"] = payload["rationale"]
        if payload.get("flags"):
            values["flags"] = ", ".join(str(f) for f in payload["flags"])
        return values

    def payload_from_form(
        self, values: dict[str, Any], display_order: str
    ) -> tuple[dict[str, Any], list[dict[str, str]]]:
        payload: dict[str, Any] = {
            "scores": {name: _form_score(raw) for name, raw in values.get("scores", {}).items()}
        }
        if values.get("rationale", "").strip():
            payload["rationale"] = values["rationale"]
        flags = _flags_from_text(values.get("flags", ""))
        if flags:
            payload["flags"] = flags
        return payload, []

    def task_display(
        self, data: dict, values: dict[str, Any], project: Any, display_order: str, invalid: set
    ) -> dict[str, Any]:
        from core.markdown import render_markdown  # here: the kinds load without Django

        response = data.get("response") or {}
        reference = data.get("reference")
        chosen = values.get("scores") or {}
        return {
            "response_html": render_markdown(str(response.get("text", ""))),
            "reference_html": render_markdown(reference) if reference else None,
            "criteria": [
                {
                    **_criterion_view(c, chosen.get(c["name"])),
                    "invalid": f"scores.{c['name']}" in invalid,
                }
                for c in project.rubric
            ],
            "flags": values.get("flags", ""),
        }

    # -- exports

    def _scores(self, final: dict) -> dict[str, Any]:
        scores = final.get("scores")
        if not isinstance(scores, dict):
            raise RecordError("final.scores must be an object")
        return scores

    def _response(self, data: dict) -> tuple[str, str]:
        response = data.get("response")
        if not isinstance(response, dict):
            raise RecordError("data.response must be an object")
        return (
            record_text(response.get("text"), "data.response.text"),
            record_text(response.get("model"), "data.response.model"),
        )

    def result_row(self, data: dict, final: dict) -> dict[str, Any]:
        text, model = self._response(data)
        group = data.get("group")
        return {
            "model": model,
            "response": text,
            "scores": dict(self._scores(final)),
            "group": group if isinstance(group, str) else "",
            "tags": [t for t in data.get("tags") or [] if isinstance(t, str)],
        }

    def label_skip_reason(self, data: dict, final: dict) -> str | None:
        """A rubric without a pass/fail criterion gives no label."""
        return "no_pass_fail" if pass_fail_label(self._scores(final)) is None else None

    def labelled_completion(self, data: dict, final: dict) -> tuple[str, bool] | None:
        """The response, labelled true when every pass/fail criterion passed."""
        label = pass_fail_label(self._scores(final))
        if label is None:
            return None
        return self._response(data)[0], label

    # -- agreement

    def agreement_fields(
        self, vocabulary: Vocabulary, observed: dict[str, list[str]]
    ) -> list[AgreementField]:
        """Alpha per criterion: ordinal and interval on a scale, nominal for pass/fail."""
        fields = []
        for criterion in _criteria(vocabulary):
            name = criterion["name"]
            if is_pass_fail(criterion):
                values: tuple = (False, True)
                metrics: tuple[str, ...] = ("nominal",)
            else:
                low, high = scale_range(criterion)
                values, metrics = tuple(range(low, high + 1)), ("ordinal", "interval")
            fields.append(
                AgreementField(
                    f"rubric.{name}", f"Rubric: {label_of(name)}", ("scores", name), values, metrics
                )
            )
        return fields


def _close(values: list[Any]) -> bool:
    """Whether the scores of one criterion agree: all present, pass/fail equal, integers
    within TOLERANCE of each other."""
    if any(v is None for v in values):
        return False
    if any(isinstance(v, bool) for v in values):
        return len({v for v in values}) == 1 and all(isinstance(v, bool) for v in values)
    if not all(_is_int(v) for v in values):
        return len({str(v) for v in values}) == 1
    return max(values) - min(values) <= TOLERANCE


def _criterion_view(criterion: dict, chosen: Any) -> dict[str, Any]:
    """A criterion as a form shows it: label, description, and its options with their keys."""
    chosen = _form_value(chosen) if not isinstance(chosen, str) else chosen
    if is_pass_fail(criterion):
        options = [
            {"value": PASS_VALUE, "key": "P", "label": "Pass"},
            {"value": FAIL_VALUE, "key": "F", "label": "Fail"},
        ]
    else:
        low, high = scale_range(criterion)
        options = [{"value": str(v), "key": str(v), "label": str(v)} for v in range(low, high + 1)]
    for option in options:
        option["checked"] = option["value"] == chosen
    return {
        "name": criterion["name"],
        "label": label_of(criterion["name"]),
        "description": criterion.get("description", ""),
        "scale": _scale_label(criterion),
        "pass_fail": is_pass_fail(criterion),
        "options": options,
        "chosen": chosen,
    }
