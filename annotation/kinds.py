"""What a valid item and a valid annotation look like, per kind.

The one place these rules live: the REST API, the browser pages and the importer all call it.
Validators collect every problem as `{"field", "message"}` rather than stopping at the first, so
a bulk import can report all of them at once.
"""

import hashlib
import math
import re
from dataclasses import dataclass, field
from typing import Any

from core import jsonutil

INSTRUCTION, PREFERENCE, REFUSAL = "instruction", "preference", "refusal"
KINDS = (INSTRUCTION, PREFERENCE, REFUSAL)
ROLES = ("system", "user", "assistant")
DECISIONS = ("refuse", "comply", "partial")
RATING_MIN, RATING_MAX = -3, 3

MAX_TEXT = 100_000  # characters in one string
MAX_MESSAGES = 200
MAX_LIST_SETTING = 100  # entries in a project's categories / criteria / harm categories
MAX_METADATA_BYTES = 64 * 1024
MAX_EXTERNAL_ID = 255

# NUL cannot be stored in PostgreSQL text or jsonb, and a lone surrogate is not Unicode text.
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
UNSTORABLE_MESSAGE = "Must not contain NUL (U+0000) or unpaired surrogate characters."


def default_kinds() -> list[str]:
    return list(KINDS)


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


@dataclass(frozen=True)
class Vocabulary:
    """The project's lists that annotation values must come from."""

    kinds: tuple[str, ...] = KINDS
    categories: tuple[str, ...] = tuple(default_categories())
    criteria: tuple[str, ...] = tuple(default_criteria())
    harm_categories: tuple[str, ...] = tuple(default_harm_categories())

    @classmethod
    def of(cls, project: Any) -> "Vocabulary":
        return cls(
            kinds=tuple(project.kinds),
            categories=tuple(project.categories),
            criteria=tuple(project.criteria),
            harm_categories=tuple(project.harm_categories),
        )


@dataclass
class Problems:
    """Collects `{"field", "message"}` entries under a field-path prefix."""

    errors: list[dict[str, str]] = field(default_factory=list)

    def add(self, path: str, message: str) -> None:
        self.errors.append({"field": path, "message": message})

    def __bool__(self) -> bool:
        return bool(self.errors)


def _text(value: Any, path: str, problems: Problems, *, required: bool = True) -> str | None:
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


def _choice(value: Any, path: str, choices: tuple[str, ...], problems: Problems) -> str | None:
    if value is None:
        problems.add(path, "This field is required.")
    elif not isinstance(value, str) or value not in choices:
        problems.add(path, f"{value!r} is not one of: {', '.join(choices)}.")
    else:
        return value
    return None


def _rating(value: Any, path: str, problems: Problems) -> None:
    if value is None:
        problems.add(path, "This field is required.")
    elif isinstance(value, bool) or not isinstance(value, int):
        problems.add(path, f"Must be an integer from {RATING_MIN} to {RATING_MAX}.")
    elif not RATING_MIN <= value <= RATING_MAX:
        problems.add(path, f"Must be from {RATING_MIN} to {RATING_MAX} (got {value}).")


def _no_unknown_keys(obj: dict, allowed: set[str], prefix: str, problems: Problems, hint: str):
    for key in sorted(set(obj) - allowed):
        problems.add(f"{prefix}{key}", f"Unknown field.{hint}")


def _object(value: Any, path: str, problems: Problems) -> dict | None:
    if not isinstance(value, dict):
        problems.add(path, f"Must be a JSON object, not {_json_type(value)}.")
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


def _json_type(value: Any) -> str:
    return {
        dict: "an object",
        list: "an array",
        str: "a string",
        bool: "a boolean",
        int: "a number",
        float: "a number",
        type(None): "null",
    }.get(type(value), type(value).__name__)


# --- item data ---------------------------------------------------------------------------------

_COMMON_DATA = {"prompt", "messages", "system"}
_DATA_FIELDS = {
    INSTRUCTION: _COMMON_DATA | {"context", "category", "draft"},
    PREFERENCE: _COMMON_DATA | {"responses"},
    REFUSAL: _COMMON_DATA | {"model_response", "harm_category"},
}
_DATA_HINT = " Put free-form values in the item's metadata."


def _prompt(data: dict, problems: Problems) -> None:
    has_prompt, has_messages = "prompt" in data, "messages" in data
    if has_prompt and has_messages:
        problems.add("data.prompt", "Give either prompt or messages, not both.")
    elif has_prompt:
        _text(data["prompt"], "data.prompt", problems)
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
            if _object(message, path, problems) is None:
                continue
            _no_unknown_keys(message, {"role", "content"}, f"{path}.", problems, "")
            _choice(message.get("role"), f"{path}.role", ROLES, problems)
            _text(message.get("content"), f"{path}.content", problems)
        last = messages[-1]
        if isinstance(last, dict) and last.get("role") in ROLES and last["role"] != "user":
            problems.add("data.messages", "The last message must be from the user.")
    else:
        problems.add("data.prompt", "Give a prompt (string) or messages (list of {role, content}).")
    if "system" in data:
        _text(data["system"], "data.system", problems)


def validate_item_data(kind: str, data: Any, vocabulary: Vocabulary) -> list[dict[str, str]]:
    problems = Problems()
    if _object(data, "data", problems) is None:
        return problems.errors
    _no_unknown_keys(data, _DATA_FIELDS[kind], "data.", problems, _DATA_HINT)
    _prompt(data, problems)
    if kind == INSTRUCTION:
        for name in ("context", "draft"):
            if name in data:
                _text(data[name], f"data.{name}", problems)
        if "category" in data:
            _choice(data["category"], "data.category", vocabulary.categories, problems)
    elif kind == PREFERENCE:
        responses = data.get("responses")
        if not isinstance(responses, list) or len(responses) != 2:
            problems.add("data.responses", "Must be exactly two responses: [A, B].")
        else:
            texts = []
            for i, response in enumerate(responses):
                path = f"data.responses[{i}]"
                if _object(response, path, problems) is None:
                    continue
                _no_unknown_keys(response, {"text", "model"}, f"{path}.", problems, "")
                texts.append(_text(response.get("text"), f"{path}.text", problems))
                if "model" in response:
                    _text(response["model"], f"{path}.model", problems)
            if len(texts) == 2 and texts[0] is not None and texts[0] == texts[1]:
                problems.add("data.responses", "The two responses must differ.")
    elif kind == REFUSAL:
        if "model_response" in data:
            _text(data["model_response"], "data.model_response", problems)
        if "harm_category" in data:
            _choice(
                data["harm_category"], "data.harm_category", vocabulary.harm_categories, problems
            )
    return problems.errors


def content_hash(kind: str, data: dict) -> str:
    """sha256 of what makes two items the same task: the kind, the system prompt, the prompt or
    messages, and for a preference its two responses (one prompt compared across several pairs
    of responses is not a duplicate)."""
    key: dict[str, Any] = {"kind": kind, "system": data.get("system")}
    key["prompt"] = data["messages"] if "messages" in data else data.get("prompt")
    if kind == PREFERENCE:
        key["responses"] = [r.get("text") for r in data.get("responses", [])]
    return hashlib.sha256(jsonutil.dumps(key, sort_keys=True)).hexdigest()


def json_hash(value: Any) -> str:
    """sha256 of the canonical JSON of a value: equal values, equal hashes."""
    return hashlib.sha256(jsonutil.dumps(value, sort_keys=True)).hexdigest()


# --- annotation payloads -----------------------------------------------------------------------


def validate_payload(
    kind: str, payload: Any, vocabulary: Vocabulary, *, gold: bool = False, prefix: str = ""
) -> list[dict[str, str]]:
    """An annotation payload of `kind`. A gold answer (`gold=True`) needs only the scored field:
    the category, the rating, or the decision; its texts are optional."""
    problems = Problems()
    root = prefix.rstrip(".") or "payload"
    if _object(payload, root, problems) is None:
        return problems.errors
    if kind == INSTRUCTION:
        _no_unknown_keys(payload, {"response", "category"}, prefix, problems, "")
        if not gold or "response" in payload:
            _text(payload.get("response"), f"{prefix}response", problems)
        _choice(payload.get("category"), f"{prefix}category", vocabulary.categories, problems)
    elif kind == PREFERENCE:
        _no_unknown_keys(payload, {"rating", "criteria", "rationale"}, prefix, problems, "")
        _rating(payload.get("rating"), f"{prefix}rating", problems)
        criteria = payload.get("criteria")
        if criteria is not None and _object(criteria, f"{prefix}criteria", problems) is not None:
            for name, value in criteria.items():
                if name not in vocabulary.criteria:
                    problems.add(
                        f"{prefix}criteria.{name}",
                        f"Not a criterion of this project ({', '.join(vocabulary.criteria)}).",
                    )
                else:
                    _rating(value, f"{prefix}criteria.{name}", problems)
        if "rationale" in payload:
            _text(payload["rationale"], f"{prefix}rationale", problems, required=False)
    elif kind == REFUSAL:
        _no_unknown_keys(payload, {"decision", "response", "harm_category"}, prefix, problems, "")
        _choice(payload.get("decision"), f"{prefix}decision", DECISIONS, problems)
        if not gold or "response" in payload:
            _text(payload.get("response"), f"{prefix}response", problems)
        if not gold or "harm_category" in payload:
            _choice(
                payload.get("harm_category"),
                f"{prefix}harm_category",
                vocabulary.harm_categories,
                problems,
            )
    return problems.errors


def preferred_side(rating: int) -> int:
    """-1 when A is preferred, +1 when B is, 0 for a tie."""
    return (rating > 0) - (rating < 0)


def agreement_key(kind: str, payload: dict) -> Any:
    """The value that must be equal across annotations for an item to count as agreed, and
    that a gold answer is scored on: preferred side, decision, category."""
    if kind == PREFERENCE:
        return preferred_side(payload["rating"])
    if kind == REFUSAL:
        return payload["decision"]
    return payload["category"]


def coverage_labels(kind: str, payload: dict) -> tuple[str, str]:
    """What coverage counts an approved item under: (category, decision). The category is an
    instruction's `category` or a refusal's `harm_category`, the decision a refusal's; ""
    where the kind has none or the payload leaves it out."""
    if kind == INSTRUCTION:
        return payload.get("category") or "", ""
    if kind == REFUSAL:
        return payload.get("harm_category") or "", payload.get("decision") or ""
    return "", ""


def gold_matches(kind: str, gold: dict, payload: dict) -> bool:
    """Whether an answer matches a gold item's known answer: the same preferred side, the
    same decision (and harm category when the gold fixes one), the same category."""
    if agreement_key(kind, payload) != agreement_key(kind, gold):
        return False
    if kind == REFUSAL and "harm_category" in gold:
        return payload.get("harm_category") == gold["harm_category"]
    return True


# --- one imported row --------------------------------------------------------------------------

_ROW_FIELDS = {"external_id", "kind", "data", "metadata", "priority", "split", "gold"}


@dataclass
class CleanItem:
    external_id: str
    kind: str
    data: dict
    metadata: dict
    priority: float
    split: str | None  # None: derive from the project's eval_fraction
    gold: dict | None


def validate_item_row(row: Any, vocabulary: Vocabulary) -> tuple[CleanItem | None, list[dict]]:
    problems = Problems()
    if _object(row, "item", problems) is None:
        return None, problems.errors
    _no_unknown_keys(row, _ROW_FIELDS, "", problems, "")

    external_id = row.get("external_id")
    if isinstance(external_id, int) and not isinstance(external_id, bool):
        external_id = str(external_id)
    if not isinstance(external_id, str) or not external_id.strip():
        problems.add("external_id", "Required: a non-empty string that identifies the item.")
        external_id = None
    elif len(external_id) > MAX_EXTERNAL_ID:
        problems.add("external_id", f"Must be at most {MAX_EXTERNAL_ID} characters.")
    elif _UNSTORABLE.search(external_id):
        problems.add("external_id", UNSTORABLE_MESSAGE)

    kind = row.get("kind")
    if kind not in vocabulary.kinds:
        problems.add(
            "kind", f"{kind!r} is not a kind this project accepts: {', '.join(vocabulary.kinds)}."
        )
        kind = None
    elif "data" not in row:
        problems.add("data", "This field is required.")
    else:
        problems.errors.extend(validate_item_data(kind, row["data"], vocabulary))

    metadata = row.get("metadata")
    if metadata is None:
        metadata = {}
    elif _object(metadata, "metadata", problems) is not None:
        if unstorable(metadata):
            problems.add("metadata", UNSTORABLE_MESSAGE)
        elif len(jsonutil.dumps(metadata)) > MAX_METADATA_BYTES:
            problems.add("metadata", f"Must be at most {MAX_METADATA_BYTES // 1024} KB as JSON.")

    priority = row.get("priority", 0)
    if priority is None:
        priority = 0
    if isinstance(priority, bool) or not isinstance(priority, int | float):
        problems.add("priority", "Must be a number (higher is served first).")
    elif not math.isfinite(priority) or abs(priority) > 1e12:
        problems.add("priority", "Must be a finite number between -1e12 and 1e12.")

    split = row.get("split")
    if split is not None and split not in ("train", "eval"):
        problems.add("split", f"{split!r} is not one of: train, eval.")

    gold = row.get("gold")
    if gold is not None and kind is not None:
        problems.errors.extend(validate_payload(kind, gold, vocabulary, gold=True, prefix="gold."))

    if problems:
        return None, problems.errors
    return (
        CleanItem(
            external_id=external_id,
            kind=kind,
            data=row["data"],
            metadata=metadata,
            priority=float(priority),
            split=split,
            gold=gold,
        ),
        [],
    )


def split_for(external_id: str, eval_fraction: float) -> str:
    """A stable split from the external_id: the same id lands in the same split every time."""
    if eval_fraction <= 0:
        return "train"
    digest = hashlib.sha256(external_id.encode("utf-8", "surrogatepass")).digest()
    position = int.from_bytes(digest[:8], "big") / 2**64
    return "eval" if position < eval_fraction else "train"
