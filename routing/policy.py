"""Where an imported item goes by its model's prediction: auto-accepted, audited or to people.

Pure functions over the project's settings and an import's row dicts: the importer calls
`route_rows` (registered by routing.apps) before it writes, so the decision costs no second
write. The rules, in order (the first that fires decides, and is recorded as `route_rule`):

1. no prediction, or a gold item: people (`no_prediction`, `gold`);
2. a rule of `always_review` (any production signal, a tag, a category, a predicted decision
   other than one named): people (`signal`, `tag:<t>`, `category:<c>`, `decision_not:<d>`);
3. auto-acceptance off (`auto_accept_above` null): people (`auto_accept_off`);
4. confidence below the threshold: people (`below_threshold`);
5. the audit draw, a stable hash of the project and the external_id under `audit_rate`:
   audit (`audit_sample`), the same items on every re-import;
6. otherwise auto-accepted (`above_threshold`): written approved, its final record the
   prediction's payload with provenance `auto`.
"""

from dataclasses import dataclass
from typing import Any

from annotation import kinds
from annotation.models import ItemStatus, Project, Route
from core.draws import stable_draw


@dataclass(frozen=True)
class Policy:
    threshold: float | None
    audit_rate: float
    rules: tuple[tuple[str, Any], ...]
    project_id: int

    @classmethod
    def of(cls, project: Project) -> "Policy":
        rules = tuple(next(iter(rule.items())) for rule in project.always_review or ())
        return cls(
            threshold=project.auto_accept_above,
            audit_rate=project.audit_rate,
            rules=rules,
            project_id=project.pk,
        )


def audit_draw(project_id: int, external_id: str) -> float:
    """A stable number in [0, 1) per item: below `audit_rate` means audited."""
    return stable_draw(f"audit:{project_id}:{external_id}")


def _tags(row: dict[str, Any]) -> set[str]:
    found: set[str] = set()
    for holder in (row.get("metadata") or {}, row.get("data") or {}):
        tags = holder.get("tags") if isinstance(holder, dict) else None
        if isinstance(tags, list):
            found.update(t for t in tags if isinstance(t, str))
    return found


def _categories(row: dict[str, Any], kind: kinds.ItemKind) -> set[str]:
    payload = row["prediction"]["payload"]
    found = {kind.coverage_labels(payload)[0], kind.given_category(row.get("data") or {})}
    metadata = row.get("metadata") or {}
    if isinstance(metadata.get("category"), str):
        found.add(metadata["category"])
    return found - {""}


def _rule_fired(rule: tuple[str, Any], row: dict[str, Any], kind: kinds.ItemKind) -> str | None:
    name, arg = rule
    match name:
        case "signal":
            return "signal" if row.get("signal") else None
        case "tag":
            return f"tag:{arg}" if arg in _tags(row) else None
        case "category":
            return f"category:{arg}" if arg in _categories(row, kind) else None
        case "decision_not":
            decision = kind.coverage_labels(row["prediction"]["payload"])[1]
            return f"decision_not:{arg}" if kind.decision_field and decision != arg else None
    return None


def route_for(policy: Policy, row: dict[str, Any]) -> tuple[str, str]:
    """(route, rule) of one import row (keys as the importer writes them)."""
    prediction = row.get("prediction")
    if prediction is None:
        return Route.HUMAN.value, "no_prediction"
    if row.get("is_gold"):
        return Route.HUMAN.value, "gold"
    kind = kinds.kind_get(row["kind"])
    for rule in policy.rules:
        fired = _rule_fired(rule, row, kind)
        if fired:
            return Route.HUMAN.value, fired[:100]
    if policy.threshold is None:
        return Route.HUMAN.value, "auto_accept_off"
    if prediction["confidence"] < policy.threshold:
        return Route.HUMAN.value, "below_threshold"
    if audit_draw(policy.project_id, row["external_id"]) < policy.audit_rate:
        return Route.AUDIT.value, "audit_sample"
    return Route.AUTO.value, "above_threshold"


def route_rows(project: Project, rows: list[dict[str, Any]]) -> None:
    """The importer's router: set route, rule and, for auto-accepted rows, status approved.
    Rows without a prediction are left as they are (no route: people, as before routing)."""
    policy = Policy.of(project)
    for row in rows:
        if row.get("prediction") is None:
            continue
        row["route"], row["route_rule"] = route_for(policy, row)
        if row["route"] == Route.AUTO:
            row["status"] = ItemStatus.APPROVED.value
