"""What every item kind shares, and `ItemKind`: the one object per kind that owns what differs.

A kind module (`annotation/kinds/preference.py`, ...) subclasses `ItemKind` and registers one
instance in `registry`. Every other module looks a kind up (`kind_get(item.kind)`) and calls it;
none asks `if kind == "preference"`. What a kind owns:

* item data: the fields it takes beyond the prompt, their validation, what makes two items the
  same task (`content_key`), the labels a model suggested (`suggestions`);
* annotation payloads: validation, the agreement key (also what gold is scored on), gold
  matching, coverage labels, the annotation that stands for an agreed item;
* review: whether a reviewer must choose the final text, the fields in dispute, the rows a
  reviewer reads, the edit form's payload;
* display: the mapping between A/B terms and what a page shows (one scale, both ways), the
  workspace's form and task panel, what the review and item pages show of its data
  (`data_shown`, `sides`), labels, the templates of its form fields;
* exports: the SFT reply, the preference pair (or why there is none), the manifest category;
* agreement: the fields a report measures (`agreement_fields`), declared as data;
* the API's description of its data and payload (`data_serializer`, `payload_serializer`),
  which annotation.kinds.schemas turns into the OpenAPI schema's bodies by kind.

Validators collect every problem as `{"field", "message"}` instead of stopping at the first, so
a bulk import reports all of them at once.
"""

import hashlib
import re
from dataclasses import dataclass, field
from typing import Any, ClassVar

from core import jsonutil
from core.registry import Registry

ROLES = ("system", "user", "assistant")

MAX_TEXT = 100_000  # characters in one string
MAX_MESSAGES = 200
MAX_LIST_SETTING = 100  # entries in a project's categories / criteria / harm categories
MAX_METADATA_BYTES = 64 * 1024
MAX_EXTERNAL_ID = 255

# NUL cannot be stored in PostgreSQL text or jsonb, and a lone surrogate is not Unicode text.
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
UNSTORABLE_MESSAGE = "Must not contain NUL (U+0000) or unpaired surrogate characters."


def default_categories() -> list[str]:
    return [
        "summarization",
        "question_answering",
        "translation",
        "classification",
        "extraction",
        "rewriting",
        "code",
        "reasoning",
        "creative_writing",
        "other",
    ]


def default_criteria() -> list[str]:
    return ["helpfulness", "harmlessness", "honesty"]


def default_harm_categories() -> list[str]:
    return [
        "none",
        "violence",
        "self_harm",
        "sexual",
        "hate",
        "harassment",
        "illegal_activity",
        "privacy",
        "medical",
        "financial",
        "malware",
        "misinformation",
        "other",
    ]


def default_rubric() -> list[dict[str, Any]]:
    """The rubric a project starts with: four criteria scored 1-5 and an overall pass/fail."""
    five = {"min": 1, "max": 5}
    return [
        {
            "name": "helpfulness",
            "description": "Does the response give the user what they needed?",
            "scale": dict(five),
        },
        {
            "name": "correctness",
            "description": "Is what it says true and, for code or reasoning, does it work?",
            "scale": dict(five),
        },
        {
            "name": "harmlessness",
            "description": "Is it free of harmful, unsafe or offensive content?",
            "scale": dict(five),
        },
        {
            "name": "instruction_following",
            "description": "Does it follow the prompt's instructions and constraints?",
            "scale": dict(five),
        },
        {
            "name": "overall",
            "description": "Would you ship this response as it is?",
            "scale": "pass_fail",
        },
    ]


@dataclass(frozen=True)
class Vocabulary:
    """The project's lists that annotation values must come from."""

    kinds: tuple[str, ...] = field(default_factory=lambda: registry.keys())
    categories: tuple[str, ...] = tuple(default_categories())
    criteria: tuple[str, ...] = tuple(default_criteria())
    harm_categories: tuple[str, ...] = tuple(default_harm_categories())
    # The project's rubric: criteria `{name, description, scale}` (see the rubric kind).
    rubric: tuple[dict[str, Any], ...] = tuple(default_rubric())

    @classmethod
    def of(cls, project: Any) -> "Vocabulary":
        return cls(
            kinds=tuple(project.kinds),
            categories=tuple(project.categories),
            criteria=tuple(project.criteria),
            harm_categories=tuple(project.harm_categories),
            rubric=tuple(project.rubric),
        )


# --- validation helpers, shared by the kinds ----------------------------------------------------


@dataclass
class Problems:
    """Collects `{"field", "message"}` entries."""

    errors: list[dict[str, str]] = field(default_factory=list)

    def add(self, path: str, message: str) -> None:
        self.errors.append({"field": path, "message": message})

    def __bool__(self) -> bool:
        return bool(self.errors)


def check_text(value: Any, path: str, problems: Problems, *, required: bool = True) -> str | None:
    if value is None:
        if required:
            problems.add(path, "This field is required.")
        return None
    if not isinstance(value, str):
        problems.add(path, f"Must be a string, not {type(value).__name__}.")
        return None
    if required and not value.strip():
        problems.add(path, "Must not be empty.")
        return None
    if len(value) > MAX_TEXT:
        problems.add(path, f"Must be at most {MAX_TEXT:,} characters (got {len(value):,}).")
        return None
    if _UNSTORABLE.search(value):
        problems.add(path, UNSTORABLE_MESSAGE)
        return None
    return value


def check_choice(value: Any, path: str, choices: tuple[str, ...], problems: Problems) -> str | None:
    if value is None:
        problems.add(path, "This field is required.")
    elif not isinstance(value, str) or value not in choices:
        problems.add(path, f"{value!r} is not one of: {', '.join(choices)}.")
    else:
        return value
    return None


def check_no_unknown_keys(
    obj: dict, allowed: set[str] | frozenset[str], prefix: str, problems: Problems, hint: str = ""
) -> None:
    for key in sorted(set(obj) - allowed):
        problems.add(f"{prefix}{key}", f"Unknown field.{hint}")


def check_object(value: Any, path: str, problems: Problems) -> dict | None:
    if not isinstance(value, dict):
        problems.add(path, f"Must be a JSON object, not {json_type(value)}.")
        return None
    return value


def unstorable(value: Any) -> bool:
    if isinstance(value, str):
        return _UNSTORABLE.search(value) is not None
    if isinstance(value, dict):
        return any(unstorable(k) or unstorable(v) for k, v in value.items())
    if isinstance(value, list):
        return any(unstorable(v) for v in value)
    return False


def json_type(value: Any) -> str:
    return {
        dict: "an object",
        list: "an array",
        str: "a string",
        bool: "a boolean",
        int: "a number",
        float: "a number",
        type(None): "null",
    }.get(type(value), type(value).__name__)


def json_hash(value: Any) -> str:
    """sha256 of the canonical JSON of a value: equal values, equal hashes."""
    return hashlib.sha256(jsonutil.dumps(value, sort_keys=True)).hexdigest()


def label_of(name: str) -> str:
    """A list entry as a page shows it: "question_answering" -> "Question answering"."""
    return name.replace("_", " ").capitalize()


# --- the prompt, shared by every kind -----------------------------------------------------------

PROMPT_FIELDS = frozenset({"prompt", "messages", "system"})


def check_prompt(data: dict, problems: Problems) -> None:
    """`prompt` (a string) or `messages` (a list of {role, content}, the last from the user),
    and an optional `system`."""
    has_prompt, has_messages = "prompt" in data, "messages" in data
    if has_prompt and has_messages:
        problems.add("data.prompt", "Give either prompt or messages, not both.")
    elif has_prompt:
        check_text(data["prompt"], "data.prompt", problems)
    elif has_messages:
        messages = data["messages"]
        if not isinstance(messages, list) or not messages:
            problems.add("data.messages", "Must be a non-empty array of {role, content}.")
            return
        if len(messages) > MAX_MESSAGES:
            problems.add("data.messages", f"At most {MAX_MESSAGES} messages.")
            return
        for i, message in enumerate(messages):
            path = f"data.messages[{i}]"
            if check_object(message, path, problems) is None:
                continue
            check_no_unknown_keys(message, {"role", "content"}, f"{path}.", problems)
            check_choice(message.get("role"), f"{path}.role", ROLES, problems)
            check_text(message.get("content"), f"{path}.content", problems)
        last = messages[-1]
        if isinstance(last, dict) and last.get("role") in ROLES and last["role"] != "user":
            problems.add("data.messages", "The last message must be from the user.")
    else:
        problems.add("data.prompt", "Give a prompt (string) or messages (list of {role, content}).")
    if "system" in data:
        check_text(data["system"], "data.system", problems)


def prompt_text(data: Any) -> str:
    """What an item asks, as near-duplicate and eval-leak checks compare it: ``prompt``, or
    the user turns of ``messages`` joined by newlines ("" when none)."""
    if not isinstance(data, dict):
        return ""
    messages = data.get("messages")
    if isinstance(messages, list) and messages:
        return "\n".join(
            m["content"]
            for m in messages
            if isinstance(m, dict) and m.get("role") == "user" and isinstance(m.get("content"), str)
        )
    prompt = data.get("prompt")
    return prompt if isinstance(prompt, str) else ""


def representative_prompt(data: dict) -> str:
    """The one turn that stands for an item where a page has room for one line: the last user
    turn of a conversation, else the prompt. (Exports use the whole conversation; what makes
    two items the same task is `ItemKind.content_key`.)"""
    if not isinstance(data, dict):
        return ""
    if isinstance(data.get("prompt"), str):
        return data["prompt"]
    messages = data.get("messages")
    if isinstance(messages, list):
        for message in reversed(messages):
            if isinstance(message, dict) and message.get("role") == "user":
                return str(message.get("content", ""))
    return ""


# --- what pages show ----------------------------------------------------------------------------


def choices_of(names: Any, chosen: Any) -> list[dict[str, Any]]:
    return [{"value": n, "label": label_of(n), "selected": n == chosen} for n in names]


@dataclass
class ReviewRow:
    """One field of an annotation as a reviewer reads it."""

    name: str
    label: str
    value: str
    differs: bool = False
    text: bool = False
    side: str = ""  # a rating on the page's left/right scale: "left", "right" or "tie"
    rating: int | None = None


@dataclass(frozen=True)
class DataField:
    """One field of an item's data beyond the prompt, as the review page and the lead's item
    page show it (`ItemKind.data_shown`): a text under its label, or a short value on a line
    of its own (`note`). `key`: the data field it shows."""

    key: str
    label: str
    text: str
    note: bool = False


def shown(*fields: DataField) -> list[DataField]:
    """The fields that hold a text to show (a string, not empty)."""
    return [f for f in fields if isinstance(f.text, str) and f.text]


class RecordError(ValueError):
    """An item's data or final payload that cannot become an export row (a bug upstream: both
    are validated on the way in). The export names the item."""


def record_text(value: Any, what: str) -> str:
    if not isinstance(value, str):
        raise RecordError(f"{what} must be a string, got {type(value).__name__}")
    return value


# --- agreement fields, declared as data ---------------------------------------------------------


@dataclass(frozen=True)
class AgreementView:
    """Another reading of an agreement field's values, measured on its own: a rating read as
    the side it prefers. `of` maps each value of the field to a value of the view (None: the
    annotation gives no value for this view, as a tie has no non-tie side)."""

    name: str
    values: tuple
    of: dict
    # The report's key for the view's percent agreement ("" for none), and the note it gets
    # when no item has two or more values of the view.
    percent_key: str = ""
    empty_note: str = ""
    alpha: bool = False  # the view's nominal alpha is the field's `alpha_nominal`
    pairs: bool = False  # counts towards the annotators' agreement with each other
    kappa: bool = False  # Cohen's kappa per pair of annotators, and Gwet's AC1


@dataclass(frozen=True)
class AgreementField:
    """One payload field an agreement report measures, e.g. `preference.rating`.

    `path` is where the value sits in a payload (`("rating",)`, `("criteria", "honesty")`);
    `values` are its possible values in order (ordinal and interval metrics read their
    positions and the values themselves); a value outside them is counted as unknown and
    left out with a note. `open_values`: the values come from a project list a lead may edit,
    so values seen in annotations count too (`agreement_fields` gets them as `observed`)."""

    key: str
    label: str
    path: tuple[str, ...]
    values: tuple
    metrics: tuple[str, ...]  # of "nominal", "ordinal", "interval"
    pairs: bool = False
    kappa: bool = False
    views: tuple[AgreementView, ...] = ()
    open_values: bool = False
    # The value is a signed choice between the left and the right response as displayed
    # (negative: the first response, mapped through the display order): position bias is
    # measured on it.
    sided: bool = False


# --- evaluating models, declared as data -------------------------------------------------------


@dataclass(frozen=True)
class ModelScoring:
    """How a kind that scores one model's output feeds an evaluation report: where its data
    holds the model's name, the test case's group and tags, and where its payload holds the
    scores (`{criterion: int | bool}`: an integer on a scale, a boolean for pass/fail). Paths
    are keys (an int: an array index). `setting`: the versioned project setting that lists
    the criteria (`[{name, description, scale}]`); an annotation records its version in
    `<setting>_version`."""

    model: tuple[str | int, ...]
    scores: tuple[str, ...]
    group: tuple[str | int, ...] = ()
    tags: tuple[str | int, ...] = ()
    setting: str = ""


@dataclass(frozen=True)
class ModelComparison:
    """How a kind that compares two models' outputs feeds an evaluation report: where its data
    holds the first and the second model's names, and where its payload holds the outcome, a
    signed number (negative: the first is preferred, positive: the second, 0: a tie)."""

    first: tuple[str | int, ...]
    second: tuple[str | int, ...]
    outcome: tuple[str, ...]


# --- the kind --------------------------------------------------------------------------------


class ItemKind:
    """Everything that differs by item kind. Subclasses fill in the class attributes and
    override what their kind does differently; the defaults fit a kind with one scored field
    and no text."""

    name: ClassVar[str]
    label: ClassVar[str]
    # Item data beyond the prompt (`prompt` / `messages`, `system`).
    data_fields: ClassVar[frozenset[str]] = frozenset()
    payload_fields: ClassVar[frozenset[str]] = frozenset()
    # The payload field that agreement is decided on and gold is scored on.
    scored_field: ClassVar[str]
    # A reviewer chooses the final text of an agreed item unless the project auto-approves.
    needs_final_text: ClassVar[bool] = False
    # Whether pages show its responses in a random left/right order (recorded per assignment).
    shows_sides: ClassVar[bool] = False
    # The templates that hold its form fields on the workspace and in the review edit panel.
    task_template: ClassVar[str]
    review_template: ClassVar[str]
    task_heading: ClassVar[str]
    # The form field its template focuses when the task opens ("": the task's heading).
    autofocus_field: ClassVar[str] = ""
    field_labels: ClassVar[dict[str, str]] = {}
    # The workspace form's text fields and single-choice fields, by name (`form_values`).
    form_texts: ClassVar[tuple[str, ...]] = ()
    form_choices: ClassVar[tuple[str, ...]] = ()
    # Coverage: the payload field an approved item is counted under, the project list its
    # values come from, and what a page calls it ("" when the kind has none).
    coverage_field: ClassVar[str] = ""
    coverage_list: ClassVar[str] = ""
    coverage_label: ClassVar[str] = ""
    coverage_plural: ClassVar[str] = ""
    # A payload field whose values the dashboard counts on approved items, and its values.
    decision_field: ClassVar[str] = ""
    decision_values: ClassVar[tuple[str, ...]] = ()
    # When set, the dashboard shows this kind's share of the SFT replies, with this note on
    # why the share matters.
    reply_share_note: ClassVar[str] = ""
    # Exports: whether its final payload gives an SFT reply, a preference pair, both sides of
    # a preference for KTO.
    gives_reply: ClassVar[bool] = False
    gives_pair: ClassVar[bool] = False
    # A payload field of free text (the reply) that a reviewer compares word by word.
    text_field: ClassVar[str] = ""
    # Data fields that hold a model's suggested label for the payload field of the same name.
    suggested_fields: ClassVar[tuple[str, ...]] = ()
    # CSV upload columns that hold data fields of this kind (beyond the shared ones).
    csv_data_columns: ClassVar[tuple[str, ...]] = ()
    # The items search: paths in `data` to the texts of the model responses it shows (keys
    # and list positions; model names are never searched). annotation/search.py indexes them.
    response_text_paths: ClassVar[tuple[tuple[str | int, ...], ...]] = ()
    # Exports: whether its final payload gives an evaluation result row (`result_row`), and
    # a labelled single completion for KTO (`labelled_completion`) when a lead asks for it.
    gives_result: ClassVar[bool] = False
    gives_label: ClassVar[bool] = False
    # Evaluation reports: how the kind scores one model (None: it does not), and how it
    # compares two (None: it does not).
    model_scoring: ClassVar[ModelScoring | None] = None
    model_comparison: ClassVar[ModelComparison | None] = None

    # -- item data

    def check_data(self, data: dict, vocabulary: Vocabulary, problems: Problems) -> None:
        """Problems with the fields beyond the prompt (the caller checked the prompt and
        unknown keys)."""

    def content_key(self, data: dict) -> dict[str, Any]:
        """What besides the system prompt and the prompt makes two items the same task."""
        return {}

    def given_category(self, data: dict) -> str:
        """The category given at import (a guess to count coverage by until items are
        approved), "" when none or the kind has no categories."""
        if not self.coverage_field or not isinstance(data, dict):
            return ""
        return str(data.get(self.coverage_field) or "")

    def suggestions(self, data: dict) -> dict[str, Any]:
        """Labels a model suggested for the answer (imported with the item, in the data field
        of the same name), by payload field: what the project's `suggestions` setting hides,
        labels or preselects."""
        return {name: data[name] for name in self.suggested_fields if data.get(name)}

    def without_suggestions(self, data: dict) -> dict:
        """The data without the suggested labels (what annotators see while they are hidden)."""
        return {key: value for key, value in data.items() if key not in self.suggested_fields}

    def blind(self, data: dict) -> dict:
        """The data as annotators and reviewers see it: no model names."""
        return dict(data)

    # -- payloads

    def check_payload(
        self, payload: dict, vocabulary: Vocabulary, problems: Problems, *, gold: bool, prefix: str
    ) -> None:
        raise NotImplementedError

    def agreement_key(self, payload: dict) -> Any:
        return payload[self.scored_field]

    def agrees(self, payloads: list[dict]) -> bool:
        """Whether the annotations of an item agree (item-level agreement): by default, all
        have the same agreement key. A kind with a tolerance (scores within a point)
        overrides it."""
        return len({self.agreement_key(p) for p in payloads}) == 1

    def gold_matches(self, gold: dict, payload: dict) -> bool:
        return self.agreement_key(payload) == self.agreement_key(gold)

    def prediction_certainty(self, payload: dict, confidence: float) -> float:
        """How sure a model's prediction is, as the `uncertainty` queue order reads it (lowest
        first): its stated confidence by default. A kind whose answer is a margin between two
        responses overrides it."""
        return confidence

    def prediction_correct(self, prediction: dict, final: dict) -> bool:
        """Whether a model's predicted payload equals the human final, by the item-level
        agreement rule (what a calibration report counts as correct)."""
        try:
            return self.agrees([prediction, final])
        except (KeyError, TypeError):
            return False

    def seeded_wrong(self, payload: dict, vocabulary: Vocabulary) -> dict | None:
        """A deliberately wrong version of a model's answer, shown to a reviewer instead of
        the real one (review gold, the project's `review_gold_rate`): it must disagree with
        `payload` by the kind's agreement rule (`prediction_correct` is False) and be a valid
        payload of the kind. None: the kind cannot make one of this answer (not seeded)."""
        return None

    def coverage_labels(self, payload: dict) -> tuple[str, str]:
        """(category, decision) an approved item is counted under; "" where there is none."""
        category = payload.get(self.coverage_field) or "" if self.coverage_field else ""
        decision = payload.get(self.decision_field) or "" if self.decision_field else ""
        return category, decision

    def representative(self, annotations: list[Any]) -> Any:
        """The annotation that stands for an agreed item (annotations in id order)."""
        return annotations[0]

    # -- display: A/B terms <-> what a page shows

    def to_display(self, payload: dict, display_order: str) -> dict:
        """A payload in the terms of a page that shows the responses in `display_order`. The
        same mapping goes both ways (`from_display`)."""
        return payload

    def from_display(self, payload: dict, display_order: str) -> dict:
        return self.to_display(payload, display_order)

    def order_note(self, author_order: str, reader_order: str) -> str:
        """What a reader must know about an annotation written under another display order
        ("" when none: the kind shows no sides, or both saw the same order)."""
        return ""

    def sides(self, data: dict, display_order: str) -> list[dict[str, str]]:
        """Its responses as they stand on a page, left then right ([] for a kind without)."""
        return []

    def responses(self, data: dict) -> list[dict[str, str]]:
        """Its responses as imported, with their models' names, for pages a lead reads
        (`sides` is the blind view in a display order; [] for a kind without)."""
        return []

    def data_shown(self, data: dict) -> list[DataField]:
        """The item's data beyond the prompt and the sides, in the order pages show it (the
        review page and the lead's item page read it; empty values are left out)."""
        return []

    def disputed_fields(self, payloads: list[dict]) -> list[str]:
        return [self.scored_field] if _differs(payloads, self.scored_field) else []

    def review_rows(self, payload: dict, disputed: list[str]) -> list[ReviewRow]:
        raise NotImplementedError

    def review_form_values(self, project: Any) -> dict[str, Any]:
        """Choices the review edit panel offers (its template reads them)."""
        return {}

    def final_from_form(self, post: Any, project: Any) -> dict[str, Any]:
        """The payload the review edit panel describes, in the page's terms."""
        raise NotImplementedError

    # -- the workspace

    def form_values(self, post: Any, project: Any) -> dict[str, Any]:
        """The workspace form's fields of this kind as typed (what a draft keeps and a
        re-render shows): its `form_texts` and the `form_choices` chosen. A kind with other
        fields adds them."""
        values: dict[str, Any] = {}
        for name in self.form_texts:
            text = post.get(name)
            if text is not None:
                # Browsers send textarea line breaks as CRLF; the typed text has LF.
                values[name] = text.replace("\r\n", "\n")
        for name in self.form_choices:
            if post.get(name):
                values[name] = post[name]
        return values

    def initial_values(self, data: dict) -> dict[str, Any]:
        """The workspace form as it opens, before any draft (the suggested labels aside: the
        project's `suggestions` setting decides about those)."""
        return {}

    def values_from_payload(self, payload: dict, display_order: str) -> dict[str, Any]:
        """A payload (A/B terms) as the workspace form's values (what `payload_from_form`
        reads), in the terms of a form shown in `display_order`: the inverse of
        `payload_from_form`, to show a submitted answer in its form again."""
        return dict(payload)

    def payload_from_form(
        self, values: dict[str, Any], display_order: str
    ) -> tuple[dict[str, Any], list[dict[str, str]]]:
        """The payload (A/B terms) the workspace form's values describe, and errors for values
        no form control can send. A field left empty is left out, so validation names it."""
        raise NotImplementedError

    def task_display(
        self, data: dict, values: dict[str, Any], project: Any, display_order: str, invalid: set
    ) -> dict[str, Any]:
        """What the task panel shows beyond the prompt (the template escapes all of it)."""
        return {}

    # -- the OpenAPI description (annotation.kinds.schemas builds the API's bodies on it)

    def data_serializer(self) -> type:
        """The serializer class that describes its item data (the prompt fields and
        `data_fields`). It documents and never validates: `check_data` does. A kind module
        imports Django REST framework only in here, so the kinds load without Django."""
        raise NotImplementedError

    def payload_serializer(self) -> type:
        """The serializer class that describes its payload (`payload_fields`); it documents,
        `check_payload` validates."""
        raise NotImplementedError

    # -- exports (pure: plain data in, text out; RecordError on data that cannot be used)

    def reply(self, data: dict, final: dict) -> str:
        """The approved reply of an SFT row."""
        raise RecordError(f"a {self.name} item gives no reply")

    def pair_skip_reason(self, data: dict, final: dict) -> str | None:
        """Why this record gives no preference pair, or None when it gives one."""
        return "kind_not_taken"

    def pair(self, data: dict, final: dict) -> tuple[str, str] | None:
        """(chosen, rejected), or None (see pair_skip_reason)."""
        return None

    def pair_sql(self, data: str, final: str) -> tuple[str, str, str] | None:
        """``pair`` in SQL, for exports that build their fixed-shape rows in the database:
        (condition, chosen text, rejected text) over the jsonb expressions ``data`` and
        ``final``. Where the condition holds, ``pair`` gives exactly these texts; elsewhere
        (a tie, an unusual shape, a record ``pair`` would refuse) the record is built in Python
        as usual. None: the kind's records are always built in Python."""
        return None

    def result_row(self, data: dict, final: dict) -> dict[str, Any]:
        """An evaluation result row's kind-specific columns (see `gives_result`)."""
        raise RecordError(f"a {self.name} item gives no result row")

    def label_skip_reason(self, data: dict, final: dict) -> str | None:
        """Why this record gives no labelled completion, or None when it gives one."""
        return "kind_not_taken"

    def labelled_completion(self, data: dict, final: dict) -> tuple[str, bool] | None:
        """(completion, label) for an unpaired preference row (KTO), or None."""
        return None

    def manifest_category(self, data: dict, final: dict) -> str | None:
        """The category a record counts under in a manifest (None: the kind has none)."""
        if not self.coverage_field:
            return None
        value = final.get(self.coverage_field) or data.get(self.coverage_field)
        return value if isinstance(value, str) and value else "uncategorized"

    # -- agreement

    def agreement_fields(
        self, vocabulary: Vocabulary, observed: dict[str, list[str]]
    ) -> list[AgreementField]:
        """The fields a report measures. `observed` holds values seen in annotations that are
        no longer in the project's lists, by field key, so they are still counted."""
        return []

    # -- CSV uploads

    def data_from_csv(self, cells: dict[str, str]) -> dict[str, Any]:
        """Data fields of this kind from a CSV record's non-empty cells."""
        return {name: cells[name] for name in self.csv_data_columns if name in cells}

    def __repr__(self) -> str:
        return f"<item kind {self.name}>"


def _differs(payloads: list[dict], name: str) -> bool:
    return len({str(p[name]) for p in payloads if name in p}) > 1


registry: Registry[ItemKind] = Registry("item kind")


def register(cls: type[ItemKind]) -> type[ItemKind]:
    """Class decorator: register one instance of the kind under its name."""
    registry.register(cls.name)(cls())
    return cls


def kind_get(name: str) -> ItemKind:
    return registry.get(name)
