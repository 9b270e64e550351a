"""What an export checks in the rows it writes: train items that near-duplicate eval items
(hygiene.neardup), and personal data (hygiene.pii, run as write_export's row filter)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from annotation.kinds import prompt_text
from annotation.models import Split
from hygiene.neardup import NearDupIndex

CHUNK = 1_024  # records checked at once (their prompts are hashed together)
PAIRS_LISTED = 200  # near-duplicate pairs listed in the manifest's warning
EXAMPLES = 20


class NearDuplicateCheck:
    """Train records whose prompt near-duplicates an eval item's (Jaccard of word sets at
    least ``threshold``): counted and listed for the manifest, and left out with ``exclude``.

    Records stream through ``filter`` in chunks, so memory holds the eval index and one chunk.
    Records of one item (an annotations export has several) are decided together."""

    def __init__(
        self,
        eval_items: list[tuple[int, str, Any]],
        *,
        threshold: float,
        exclude: bool,
    ) -> None:
        self.threshold = threshold
        self.exclude = exclude
        self.eval_external_ids = {item_id: external_id for item_id, external_id, _ in eval_items}
        texts = [prompt_text(data) for _, _, data in eval_items]
        self.index = NearDupIndex([i for i, _, _ in eval_items], texts, threshold=threshold)
        self.pairs: dict[tuple[int, int], float] = {}
        self.train_external_ids: dict[int, str] = {}
        self.excluded_records = 0
        self._decided: dict[int, bool] = {}  # item id -> near an eval item (last chunk's items)

    def filter(self, records: Iterable[Any], *, split_of: Any) -> Iterator[Any]:
        """``records`` less the excluded ones; ``split_of(record)`` says a record's split."""
        chunk: list[Any] = []
        for record in records:
            chunk.append(record)
            if len(chunk) >= CHUNK:
                yield from self._check(chunk, split_of)
                chunk = []
        yield from self._check(chunk, split_of)

    def _check(self, chunk: list[Any], split_of: Any) -> Iterator[Any]:
        todo: dict[int, Any] = {}
        for record in chunk:
            if split_of(record) == Split.TRAIN and record.item_id not in self._decided:
                todo.setdefault(record.item_id, record)
        in_chunk = {record.item_id for record in chunk}
        decided = {k: v for k, v in self._decided.items() if k in in_chunk}
        if todo:
            records = list(todo.values())
            found = self.index.matches([prompt_text(r.data) for r in records])
            for record, matches in zip(records, found, strict=True):
                decided[record.item_id] = bool(matches)
                for eval_id, similarity in matches:
                    self.pairs[(record.item_id, eval_id)] = similarity
                    self.train_external_ids[record.item_id] = record.external_id
        self._decided = decided
        for record in chunk:
            if self.exclude and decided.get(record.item_id):
                self.excluded_records += 1
                continue
            yield record

    def warnings(self) -> list[dict[str, Any]]:
        if not self.pairs:
            return []
        train_items = sorted({train for train, _ in self.pairs})
        listed = sorted(self.pairs.items(), key=lambda entry: (-entry[1], entry[0]))
        pairs = [
            {
                "train": self.train_external_ids[train],
                "eval": self.eval_external_ids[eval_id],
                "jaccard": round(similarity, 4),
            }
            for (train, eval_id), similarity in listed[:PAIRS_LISTED]
        ]
        action = (
            "they were left out of this file"
            if self.exclude
            else "export again with exclude_near_duplicates to leave them out"
        )
        return [
            {
                "code": "eval_near_duplicate",
                "message": (
                    f"{len(train_items)} train item(s) have a prompt that near-duplicates an eval "
                    f"item's (Jaccard >= {self.threshold:g} of word sets; {len(self.pairs)} "
                    f"pair(s)); {action}."
                ),
                "count": len(self.pairs),
                "train_items": len(train_items),
                "excluded": self.exclude,
                "threshold": self.threshold,
                "pairs": pairs,
                "external_ids": [self.train_external_ids[i] for i in train_items[:EXAMPLES]],
            }
        ]

    def summary(self) -> dict[str, Any]:
        return {
            "threshold": self.threshold,
            "eval_items": len(self.index),
            "pairs": len(self.pairs),
            "train_items": len({train for train, _ in self.pairs}),
            "excluded": self.exclude,
            "excluded_records": self.excluded_records,
        }
