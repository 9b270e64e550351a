"""Item kinds: one module per kind (`instruction.py`, `preference.py`, `refusal.py`,
`rubric.py`) behind a registry (`base.registry`), and what is the same for every kind: the
prompt, an imported row, content hashes, the split.

The one place the rules of items and annotations live: the REST API, the browser pages, the
importer, review, agreement and exports look a kind up here (`kind_get(name)`) and never branch
on its name. Adding a kind is one module here, its templates under `templates/kinds/<name>/`,
and its tests (the README's "Adding an item kind").
"""

import hashlib
import math
from dataclasses import dataclass
from typing import Any

# Registration order is the order kinds are offered in.
from annotation.kinds import instruction, preference, refusal, rubric
from annotation.kinds.base import (
    _UNSTORABLE,
    MAX_EXTERNAL_ID,
    MAX_LIST_SETTING,
    MAX_METADATA_BYTES,
    MAX_TEXT,
    PROMPT_FIELDS,
    ROLES,
    UNSTORABLE_MESSAGE,
    AgreementField,
    AgreementView,
    DataField,
    ItemKind,
    ModelComparison,
    ModelScoring,
    Problems,
    RecordError,
    ReviewRow,
    Vocabulary,
    check_no_unknown_keys,
    check_object,
    check_prompt,
    default_categories,
    default_criteria,
    default_harm_categories,
    default_rubric,
    json_hash,
    kind_get,
    label_of,
    prompt_text,
    registry,
    representative_prompt,
    unstorable,
)
from core import jsonutil
from core.draws import stable_draw

__all__ = [
    "MAX_EXTERNAL_ID",
    "MAX_LIST_SETTING",
    "MAX_METADATA_BYTES",
    "MAX_MODEL",
    "MAX_SIGNAL",
    "MAX_TEXT",
    "ROLES",
    "SOURCES",
    "UNSTORABLE_MESSAGE",
    "AgreementField",
    "AgreementView",
    "CleanItem",
    "DataField",
    "ItemKind",
    "ModelComparison",
    "ModelScoring",
    "Problems",
    "RecordError",
    "ReviewRow",
    "Vocabulary",
    "content_hash",
    "default_categories",
    "default_criteria",
    "default_harm_categories",
    "default_kinds",
    "default_rubric",
    "json_hash",
    "kind_get",
    "label_of",
    "names",
    "prompt_text",
    "registry",
    "representative_prompt",
    "split_for",
    "unstorable",
    "validate_item_data",
    "validate_item_row",
    "validate_payload",
    "validate_prediction",
]

# Kind names, for seeds, fixtures and documentation; code looks kinds up instead of comparing.
INSTRUCTION = instruction.InstructionKind.name
PREFERENCE = preference.PreferenceKind.name
REFUSAL = refusal.RefusalKind.name
RUBRIC = rubric.RubricKind.name
KINDS = registry.keys()


def names() -> tuple[str, ...]:
    return registry.keys()


def choices() -> list[tuple[str, str]]:
    return [(kind.name, kind.label) for kind in registry]


def default_kinds() -> list[str]:
    return list(names())


# --- item data and payloads ---------------------------------------------------------------------

_DATA_HINT = " Put free-form values in the item's metadata."


def validate_item_data(kind: str, data: Any, vocabulary: Vocabulary) -> list[dict[str, str]]:
    problems = Problems()
    if check_object(data, "data", problems) is None:
        return problems.errors
    spec = kind_get(kind)
    check_no_unknown_keys(data, PROMPT_FIELDS | spec.data_fields, "data.", problems, _DATA_HINT)
    check_prompt(data, problems)
    spec.check_data(data, vocabulary, problems)
    return problems.errors


def validate_payload(
    kind: str, payload: Any, vocabulary: Vocabulary, *, gold: bool = False, prefix: str = ""
) -> list[dict[str, str]]:
    """An annotation payload of `kind`. A gold answer (`gold=True`) needs only the scored
    field; its texts are optional."""
    problems = Problems()
    if check_object(payload, prefix.rstrip(".") or "payload", problems) is None:
        return problems.errors
    kind_get(kind).check_payload(payload, vocabulary, problems, gold=gold, prefix=prefix)
    return problems.errors


def content_hash(kind: str, data: dict) -> str:
    """sha256 of what makes two items the same task: the kind, the system prompt, the whole
    prompt or conversation, and what the kind adds (a preference's two responses)."""
    key: dict[str, Any] = {"kind": kind, "system": data.get("system")}
    key["prompt"] = data["messages"] if "messages" in data else data.get("prompt")
    key.update(kind_get(kind).content_key(data))
    return hashlib.sha256(jsonutil.dumps(key, sort_keys=True)).hexdigest()


def blind_data(kind: str, data: dict) -> dict:
    """Item data as annotators and reviewers see it: model names are never shown."""
    return kind_get(kind).blind(data)


# --- one imported row --------------------------------------------------------------------------

_ROW_FIELDS = {
    "external_id",
    "kind",
    "data",
    "metadata",
    "priority",
    "split",
    "gold",
    "prediction",
    "source",
    "signal",
}
SOURCES = ("curated", "production")
MAX_SIGNAL = 200  # characters of a production monitor's signal
MAX_MODEL = 200  # characters of a prediction's model name


@dataclass
class CleanItem:
    external_id: str
    kind: str
    data: dict
    metadata: dict
    priority: float
    split: str | None  # None: derive from the project's eval_fraction
    gold: dict | None
    # A model's answer in the kind's payload shape with its confidence (0..1) and the model's
    # name: {"payload", "confidence", "model"?}; None when the item carries none.
    prediction: dict | None = None
    source: str = "curated"  # "production": the item came from live traffic
    signal: str = ""  # why a production monitor flagged it ("" when none)

    @property
    def certainty(self) -> float | None:
        """How sure the prediction is, as the uncertainty queue order reads it."""
        if self.prediction is None:
            return None
        return kind_get(self.kind).prediction_certainty(
            self.prediction["payload"], self.prediction["confidence"]
        )


def validate_prediction(
    kind: str, prediction: Any, vocabulary: Vocabulary, problems: Problems
) -> dict | None:
    """`{"payload": <the kind's payload>, "confidence": 0..1, "model"?: str}`: the payload is
    validated like an annotation of the kind."""
    if check_object(prediction, "prediction", problems) is None:
        return None
    before = len(problems.errors)
    check_no_unknown_keys(prediction, {"payload", "confidence", "model"}, "prediction.", problems)
    if "payload" not in prediction:
        problems.add("prediction.payload", "This field is required: the model's answer.")
    else:
        problems.errors.extend(
            validate_payload(kind, prediction["payload"], vocabulary, prefix="prediction.payload.")
        )
    confidence = prediction.get("confidence")
    if isinstance(confidence, bool) or not isinstance(confidence, int | float):
        problems.add("prediction.confidence", "Required: a number from 0 to 1.")
    elif not math.isfinite(confidence) or not 0 <= confidence <= 1:
        problems.add("prediction.confidence", f"Must be from 0 to 1 (got {confidence!r}).")
    model = prediction.get("model")
    if model is not None and (
        not isinstance(model, str) or len(model) > MAX_MODEL or _UNSTORABLE.search(model)
    ):
        problems.add("prediction.model", f"A name of at most {MAX_MODEL} characters.")
    if len(problems.errors) > before:
        return None
    clean = {"payload": prediction["payload"], "confidence": float(confidence)}
    if model:
        clean["model"] = model
    return clean


def validate_item_row(row: Any, vocabulary: Vocabulary) -> tuple[CleanItem | None, list[dict]]:
    problems = Problems()
    if check_object(row, "item", problems) is None:
        return None, problems.errors
    check_no_unknown_keys(row, _ROW_FIELDS, "", problems)

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
    if kind not in vocabulary.kinds or kind not in registry:
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
    elif check_object(metadata, "metadata", problems) is not None:
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

    prediction = row.get("prediction")
    if prediction is not None and kind is not None:
        prediction = validate_prediction(kind, prediction, vocabulary, problems)

    source = row.get("source")
    if source is None:
        source = "curated"
    elif source not in SOURCES:
        problems.add("source", f"{source!r} is not one of: {', '.join(SOURCES)}.")
    signal = row.get("signal")
    if signal is None:
        signal = ""
    elif (
        not isinstance(signal, str)
        or not signal.strip()
        or len(signal) > MAX_SIGNAL
        or _UNSTORABLE.search(signal)
    ):
        problems.add(
            "signal",
            f"A non-empty text of at most {MAX_SIGNAL} characters (user_thumbs_down, "
            "policy_flag, novel_topic, or your own).",
        )

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
            prediction=prediction,
            source=source,
            signal=signal.strip(),
        ),
        [],
    )


def split_for(external_id: str, eval_fraction: float) -> str:
    """A stable split from the external_id: the same id lands in the same split every time."""
    if eval_fraction <= 0:
        return "train"
    return "eval" if stable_draw(external_id) < eval_fraction else "train"
