"""Pseudonyms that stand for annotators where their names are hidden (reviewers' views).

A keyed hash of the user id with the project's own random key: stable within a project,
different across projects, and not reversible by someone who knows the user ids."""

import hashlib
import hmac
from collections.abc import Iterable
from typing import Any

from annotation.models import Project


def annotator_pseudonym(project: Project, user_id: int) -> str:
    digest = hmac.new(project.pseudonym_key.encode(), str(user_id).encode(), hashlib.sha256)
    return f"Annotator {digest.hexdigest()[:6]}"


def blind_annotator_rows(
    project: Project, rows: Iterable[dict[str, Any]], *, name_key: str
) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """Rows about annotators with `name_key` replaced by a pseudonym and `user_id` dropped
    (None), sorted by pseudonym; and the name -> pseudonym map, for tables keyed by name."""
    names: dict[str, str] = {}
    out = []
    for row in rows:
        alias = annotator_pseudonym(project, row["user_id"])
        names[row[name_key]] = alias
        out.append({**row, name_key: alias, "user_id": None})
    return sorted(out, key=lambda r: r[name_key]), names
