"""What an export checks in the rows it writes: train items that near-duplicate eval items
(hygiene.neardup), and personal data (hygiene.pii, run as write_export's row filter)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from annotation.kinds import prompt_text
from annotation.models import Split
from exports.formats import EncodedBatch

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
        from hygiene.neardup import NearDupIndex  # numpy: loaded when eval items exist only

        texts = [prompt_text(data) for _, _, data in eval_items]
        self.index = NearDupIndex([i for i, _, _ in eval_items], texts, threshold=threshold)
        self.pairs: dict[tuple[int, int], float] = {}
        self.train_external_ids: dict[int, str] = {}
        self.excluded_records = 0
        self._decided: dict[int, bool] = {}  # item id -> near an eval item (last chunk's items)

    def filter(self, records: Iterable[Any], *, split_of: Any) -> Iterator[Any]:
        """``records`` less the excluded ones; ``split_of(record)`` says a record's split. An
        EncodedBatch is checked as a chunk of its own (less its excluded records)."""
        chunk: list[Any] = []
        for record in records:
            if type(record) is EncodedBatch:
                yield from self._check(chunk, split_of)
                chunk = []
                yield from self._check_batch(record)
                continue
            chunk.append(record)
            if len(chunk) >= CHUNK:
                yield from self._check(chunk, split_of)
                chunk = []
        yield from self._check(chunk, split_of)

    def _decide(self, entries: list[tuple[int, str, Any, str]]) -> dict[int, bool]:
        """Whether each item of ``entries`` (item id, external_id, data, split) is near an
        eval item: train items not decided in the previous chunk are checked now."""
        todo: dict[int, tuple[str, Any]] = {}
        for item_id, external_id, data, split in entries:
            if split == Split.TRAIN and item_id not in self._decided:
                todo.setdefault(item_id, (external_id, data))
        in_chunk = {entry[0] for entry in entries}
        decided = {k: v for k, v in self._decided.items() if k in in_chunk}
        if todo:
            found = self.index.matches([prompt_text(data) for _, data in todo.values()])
            for (item_id, (external_id, _)), matches in zip(todo.items(), found, strict=True):
                decided[item_id] = bool(matches)
                for eval_id, similarity in matches:
                    self.pairs[(item_id, eval_id)] = similarity
                    self.train_external_ids[item_id] = external_id
        self._decided = decided
        return decided

    def _check(self, chunk: list[Any], split_of: Any) -> Iterator[Any]:
        if not chunk:
            return
        decided = self._decide([(r.item_id, r.external_id, r.data, split_of(r)) for r in chunk])
        for record in chunk:
            if self.exclude and decided.get(record.item_id):
                self.excluded_records += 1
                continue
            yield record

    def _check_batch(self, batch: EncodedBatch) -> Iterator[EncodedBatch]:
        data = batch.data if batch.data is not None else [None] * len(batch)
        entries = list(zip(batch.item_ids, batch.external_ids, data, batch.splits, strict=True))
        decided = self._decide(entries)
        if not self.exclude:
            yield batch
            return
        keep = [i for i, item_id in enumerate(batch.item_ids) if not decided.get(item_id)]
        self.excluded_records += len(batch) - len(keep)
        if len(keep) == len(batch):
            yield batch
        elif keep:
            yield batch.subset(keep)

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
