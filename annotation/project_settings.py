"""A project's settings, described once: type, range, default and help text of each.

`SETTINGS` feeds everything that knows a setting: the service's validation (`check`, whose
messages the REST API, the console and the tests read), the columns' defaults and the range
CheckConstraints of `annotation.models.Project`, the console's settings forms (labels, help
texts, min/max) and the REST API's bodies (`annotation.apis`). This module imports no Django
model, so the models can read it.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from annotation import kinds
from annotation.kinds.rubric import rubric_problem

MAX_NAME = 200
MAX_GUIDELINES = 200_000  # characters of the guidelines or the system prompt
MAX_LABEL = 64  # characters of one entry of a label list


class Type(StrEnum):
    NAME = "name"  # a non-empty line of text
    KINDS = "kinds"  # a list of the registry's kind names
    INTEGER = "integer"
    FRACTION = "fraction"  # a number from `minimum` to `maximum` (0 to 1)
    LABELS = "labels"  # a list of names: categories, criteria, harm categories
    TEXT = "text"  # Markdown or plain text, possibly empty
    BOOLEAN = "boolean"
    CHOICE = "choice"  # one of `choices`
    # A list of criteria {name, description, scale} (annotation.kinds.rubric).
    SCORED_CRITERIA = "scored_criteria"
    # A list of rules that send an item to people whatever its confidence (`routing_rule_problem`).
    ROUTING_RULES = "routing_rules"


@dataclass(frozen=True)
class Setting:
    name: str
    type: Type
    help: str
    # The column's default: a value, or a function that makes one (lists). None: required
    # when a project is created.
    default: Any = None
    minimum: float | None = None
    maximum: float | None = None
    # The CheckConstraint on Project that holds the range or the choices ("": none).
    constraint: str = ""
    choices: tuple[tuple[str, str], ...] = ()  # a CHOICE setting's (value, label) pairs
    # Versioned: a change makes a new version (`Project.<name>_version`), the annotations keep
    # the version they were made under, and each version's value is kept (SettingVersion).
    versioned: bool = False
    # Null is a value of its own ("off"); the default may then be None without the setting
    # being required.
    nullable: bool = False

    @property
    def label(self) -> str:
        return self.name.replace("_", " ").capitalize()

    @property
    def required(self) -> bool:
        return self.default is None and not self.nullable

    @property
    def initial(self) -> Any:
        """The default as a value (a fresh one for a list)."""
        return self.default() if callable(self.default) else self.default

    def check(self, value: Any) -> str | None:
        """What is wrong with `value` for this setting, or None."""
        if value is None and self.nullable:
            return None
        match self.type:
            case Type.NAME:
                if not isinstance(value, str) or not value.strip() or len(value) > MAX_NAME:
                    return f"Must be a non-empty name of at most {MAX_NAME} characters."
            case Type.KINDS:
                return _label_list(value, allowed=kinds.KINDS)
            case Type.INTEGER:
                return _number(value, self.minimum, self.maximum, integer=True)
            case Type.FRACTION:
                return _number(value, self.minimum, self.maximum, integer=False)
            case Type.LABELS:
                return _label_list(value)
            case Type.TEXT:
                if not isinstance(value, str):
                    return "Must be a string."
                if len(value) > MAX_GUIDELINES:
                    return f"Must be at most {MAX_GUIDELINES:,} characters."
                if kinds.unstorable(value):
                    return kinds.UNSTORABLE_MESSAGE
            case Type.BOOLEAN:
                if not isinstance(value, bool):
                    return "Must be true or false."
            case Type.CHOICE:
                values = [v for v, _ in self.choices]
                if not isinstance(value, str) or value not in values:
                    return f"Must be one of: {', '.join(values)}."
            case Type.SCORED_CRITERIA:
                return rubric_problem(value)
            case Type.ROUTING_RULES:
                return routing_rule_problem(value)
        return None


# The rules of `always_review`: each sends an item to people whatever its confidence.
ROUTING_RULE_KEYS = {
    "signal": "any production signal",
    "tag": "a tag in the item's metadata.tags (or data.tags)",
    "category": "a category (the prediction's, the data's, or metadata.category)",
    "decision_not": "a predicted decision other than this one (a refusal's decision)",
}
MAX_ROUTING_RULES = 50


def default_always_review() -> list[dict[str, Any]]:
    return [{"signal": True}]


def routing_rule_problem(value: Any) -> str | None:
    if not isinstance(value, list):
        return 'Must be a list of rules: {"signal": true}, {"tag": str}, {"category": str}.'
    if len(value) > MAX_ROUTING_RULES:
        return f"At most {MAX_ROUTING_RULES} rules."
    for rule in value:
        if not isinstance(rule, dict) or len(rule) != 1:
            return "Each rule is an object with one key: " + ", ".join(ROUTING_RULE_KEYS) + "."
        ((key, arg),) = rule.items()
        if key not in ROUTING_RULE_KEYS:
            return f"{key!r} is not a rule; rules: {', '.join(ROUTING_RULE_KEYS)}."
        if key == "signal":
            if arg is not True:
                return '{"signal": true} is the only form of the signal rule.'
        elif (
            not isinstance(arg, str)
            or not arg.strip()
            or len(arg) > MAX_LABEL
            or kinds.unstorable(arg)
        ):
            return f"The {key} rule takes a non-empty name of at most {MAX_LABEL} characters."
    if len({repr(sorted(r.items())) for r in value}) != len(value):
        return "Rules must be unique."
    return None


def _number(value: Any, lo: Any, hi: Any, *, integer: bool) -> str | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return "Must be a number." if not integer else "Must be an integer."
    if integer and not isinstance(value, int):
        return "Must be an integer."
    if not lo <= value <= hi:
        return f"Must be from {lo:g} to {hi:g}."
    return None


def _label_list(value: Any, *, allowed: Sequence[str] | None = None) -> str | None:
    if not isinstance(value, list) or not value:
        return "Must be a non-empty list of names."
    if len(value) > kinds.MAX_LIST_SETTING:
        return f"At most {kinds.MAX_LIST_SETTING} entries."
    for entry in value:
        if (
            not isinstance(entry, str)
            or not entry.strip()
            or len(entry) > MAX_LABEL
            or entry != entry.strip()
        ):
            return (
                f"Each entry must be a non-empty name of at most {MAX_LABEL} characters, "
                "no outer spaces."
            )
        if allowed is not None and entry not in allowed:
            return f"{entry!r} is not one of: {', '.join(allowed)}."
    if len(set(value)) != len(value):
        return "Entries must be unique."
    return None


def _fraction(name: str, default: float, help: str) -> Setting:
    return Setting(
        name,
        Type.FRACTION,
        help,
        default=default,
        minimum=0,
        maximum=1,
        constraint=f"project_{name}_range",
    )


SETTINGS: tuple[Setting, ...] = (
    Setting(
        "name",
        Type.NAME,
        f"Shown to everyone in the project (at most {MAX_NAME} characters).",
    ),
    Setting(
        "kinds",
        Type.KINDS,
        "The item kinds this project accepts at import. Items already imported keep theirs.",
        default=kinds.default_kinds,
    ),
    Setting(
        "annotations_per_item",
        Type.INTEGER,
        "Overlap: how many different annotators annotate each item (1 to 10). "
        "Agreement needs at least 2.",
        default=2,
        minimum=1,
        maximum=10,
        constraint="project_overlap_range",
    ),
    _fraction(
        "review_sample_rate",
        0.1,
        "Share of agreed items sent to review anyway as a QA sample, from 0 to 1 (0.1 = 10 %).",
    ),
    _fraction(
        "gold_rate",
        0.0,
        "Share of an annotator's items served from gold items (known answers) to score them, "
        "from 0 to 1. 0 turns gold items off.",
    ),
    Setting(
        "lease_seconds",
        Type.INTEGER,
        "How long a claimed item stays reserved for its annotator (60 to 86,400 seconds). The "
        "annotation page keeps the lease alive while it is open.",
        default=1800,
        minimum=60,
        maximum=86400,
        constraint="project_lease_seconds_range",
    ),
    _fraction(
        "eval_fraction",
        0.0,
        "Share (0 to 1) of newly imported items put in the eval split, by a stable hash of the "
        "external_id, when the import gives no split. Eval items never reach a train export; "
        "items already imported keep their split.",
    ),
    Setting(
        "categories",
        Type.LABELS,
        "Instruction task categories, one per line. Annotators choose one per item; the "
        "dashboard's coverage chart counts them.",
        default=kinds.default_categories,
    ),
    Setting(
        "criteria",
        Type.LABELS,
        "Preference criteria, one per line; each is rated from -3 to 3 besides the overall rating.",
        default=kinds.default_criteria,
    ),
    Setting(
        "harm_categories",
        Type.LABELS,
        "Refusal harm categories, one per line.",
        default=kinds.default_harm_categories,
    ),
    Setting(
        "guidelines",
        Type.TEXT,
        "Markdown. Annotators read it on the project page; saving a change makes a new version "
        "and annotators see a notice until they annotate under it.",
        default="",
    ),
    Setting(
        "system_prompt",
        Type.TEXT,
        "Optional. Exports put it as the system message of items that have no system prompt "
        "of their own.",
        default="",
    ),
    Setting(
        "auto_approve_text",
        Type.BOOLEAN,
        "Approve agreed instruction and refusal items without a reviewer choosing the final "
        "text (the first annotation's text is used).",
        default=False,
    ),
    Setting(
        "agreement_every",
        Type.INTEGER,
        "An agreement report is computed after every this many new annotations (0: only on "
        "request).",
        default=100,
        minimum=0,
        maximum=1_000_000,
    ),
    Setting(
        "near_duplicate_threshold",
        Type.FRACTION,
        "Prompts whose Jaccard similarity (of their sets of words) reaches this (0.7 to 1) are "
        "near-duplicates: "
        "grouped at import and in the items browser, and an eval item near a train item is a "
        "warning in train exports (which may leave the train side out).",
        default=0.8,
        minimum=0.7,
        maximum=1,
        constraint="project_near_duplicate_threshold_range",
    ),
    _fraction(
        "gold_threshold",
        0.7,
        "The dashboard flags annotators whose gold accuracy falls below this share (0 to 1).",
    ),
    Setting(
        "suggestions",
        Type.CHOICE,
        "How a model's suggested labels (an instruction's category, a refusal's harm category, "
        "given at import) reach annotators: hidden (the default: nothing to anchor on), shown "
        "as a labelled suggestion they confirm themselves, or preselected in the form. The "
        "dashboard shows how often a shown suggestion was kept.",
        default="hidden",
        constraint="project_suggestions_valid",
        choices=(
            ("hidden", "Hidden"),
            ("confirm", "Shown as a suggestion to confirm"),
            ("preselect", "Preselected"),
        ),
    ),
    Setting(
        "rubric",
        Type.SCORED_CRITERIA,
        "The criteria rubric items are scored on: a JSON list of {name, description, scale}, "
        'scale {"min": 1, "max": 5} (integers within 0-9) or "pass_fail". Every criterion is '
        "required in an annotation. Versioned: annotations keep the rubric they were made "
        "under, and the evaluation report says which version each number comes from.",
        default=kinds.default_rubric,
        versioned=True,
    ),
    # Routing production items by a model's confidence (the routing app applies these at
    # import and reports calibration against them).
    Setting(
        "auto_accept_above",
        Type.FRACTION,
        "Confidence threshold (0 to 1): an imported item whose prediction is at least this "
        "sure is approved as the model answered (provenance auto), unless a rule or the audit "
        "sample sends it to people. Empty: off (every item goes to people). Check the "
        "calibration report before setting it.",
        default=None,
        minimum=0,
        maximum=1,
        constraint="project_auto_accept_above_range",
        nullable=True,
    ),
    _fraction(
        "audit_rate",
        0.05,
        "Share (0 to 1) of the items that would be auto-accepted still sent to people, drawn by "
        "a stable hash of the external_id (the same items every time). 0 stops the "
        "calibration from being measured above the threshold.",
    ),
    Setting(
        "always_review",
        Type.ROUTING_RULES,
        "Rules that send an item to people whatever its confidence, a JSON list: "
        '{"signal": true} (any production signal), {"tag": "..."}, {"category": "..."}, '
        '{"decision_not": "comply"} (a predicted refusal decision other than comply).',
        default=default_always_review,
    ),
    Setting(
        "calibration_target",
        Type.FRACTION,
        "The error rate auto-accepted items may have (0.001 to 0.5; 0.02 = 2 %): the "
        "calibration report recommends the lowest threshold whose measured error, upper end "
        "of its 95 % interval included, stays under it.",
        default=0.02,
        minimum=0.001,
        maximum=0.5,
        constraint="project_calibration_target_range",
    ),
    Setting(
        "queue_order",
        Type.CHOICE,
        "The order annotators are served items in (after their own lease, gold and partly "
        "annotated items): by priority (then oldest), by uncertainty (the least sure "
        "prediction first: lowest confidence, for preferences the smallest margin; items "
        "without a prediction last), or by disagreement (items sent back after a disputed "
        "round first: a reviewer rejected their annotations, or the annotators disagreed and "
        "a reviewer sent them back; then by priority).",
        default="priority",
        constraint="project_queue_order_valid",
        choices=(
            ("priority", "Priority"),
            ("uncertainty", "Uncertainty first"),
            ("disagreement", "Disputed first"),
        ),
    ),
    # Guards against automation bias in review (review.guards applies them).
    Setting(
        "review_prediction",
        Type.CHOICE,
        "When a reviewer sees the model's answer to an item (never its confidence or model "
        "name): shown with the item, or only after they record their own judgement (that "
        "blind judgement is kept and scores them on the dashboard).",
        default="shown",
        constraint="project_review_prediction_valid",
        choices=(("shown", "Shown with the item"), ("after_judgement", "After their judgement")),
    ),
    _fraction(
        "review_gold_rate",
        0.0,
        "Review gold: share (0 to 1) of the items with a model answer that reviewers are shown "
        "a deliberately wrong answer for, drawn by a stable hash of the item. The dashboard "
        "shows how many each reviewer caught; the wrong answer never reaches a final record. "
        "0 turns it off.",
    ),
)

NAMES: tuple[str, ...] = tuple(s.name for s in SETTINGS)
_BY_NAME = {s.name: s for s in SETTINGS}


def get(name: str) -> Setting:
    return _BY_NAME[name]


def default(name: str) -> Any:
    """A setting's default as the model field takes it (a value, or a function for a list)."""
    return _BY_NAME[name].default


def ranged() -> list[Setting]:
    """The settings whose range the database holds too (`Setting.constraint`)."""
    return [s for s in SETTINGS if s.constraint and s.type != Type.CHOICE]


def versioned() -> list[Setting]:
    """The settings whose every version is kept (`Setting.versioned`)."""
    return [s for s in SETTINGS if s.versioned]


def chosen() -> list[Setting]:
    """The settings whose choices the database holds too (`Setting.constraint`)."""
    return [s for s in SETTINGS if s.constraint and s.type == Type.CHOICE]


def check(name: str, value: Any) -> str | None:
    """What is wrong with `value` for setting `name` (None: nothing; an unknown name is the
    caller's to report)."""
    setting = _BY_NAME.get(name)
    return setting.check(value) if setting is not None else None


def unknown_message() -> str:
    return f"Unknown setting. Settings: {', '.join(NAMES)}."
