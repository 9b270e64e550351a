"""Near-duplicate prompts: MinHash over word shingles with banded LSH, then exact Jaccard.

Pure numpy and Python (no Django), so the import hook, the export check, the bench and the
tests call the same code.

- A prompt's words are the runs of letters, digits and ``_`` in its case-folded UTF-8 text
  (any non-ASCII character counts as a letter, so accented and non-Latin words stay whole;
  ASCII punctuation and spaces separate). Its shingles are its single words: prompts are
  short, and with pairs of words one word changed in a 15-word prompt already takes the
  similarity to 0.75 (it stays at 0.88 with single words). A prompt without words is never
  anyone's near-duplicate.
- Each word is a 64-bit key, a polynomial hash of its bytes with fixed constants (stable
  across processes and machines, unlike Python's ``hash``), computed for a whole chunk of
  prompts at once in numpy (prefix sums over the chunk's bytes: no Python per word).
  ``NUM_PERM`` multiply-shift hashes of the keys give the MinHash signature.
- The signature is cut into ``BANDS`` bands of ``ROWS`` values; each band gives a 64-bit key.
  Two prompts sharing any band key are candidates; a candidate pair is kept when the exact
  Jaccard similarity of their word sets reaches the threshold (no estimate error; the sets
  compare the words themselves, so a hash collision never joins two prompts).

With 10 bands of 3 rows a pair at Jaccard s is a candidate with probability
``1 - (1 - s**3) ** 10``: 0.9992 at 0.8, 0.985 at 0.7 (the lowest threshold a project may
set), 0.74 at 0.5, 0.08 at 0.2; ``candidate_probability`` says it for any s. Fewer, longer
bands would cost more hashing (the bench's budget) for no recall gained above 0.7.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

BANDS = 10
ROWS = 3
NUM_PERM = BANDS * ROWS
DEFAULT_THRESHOLD = 0.8
CHUNK_DOCS = 4_096  # prompts hashed at once: a few MB of temporaries for typical prompts
# Runs of equal band keys up to this size are paired all against all; a larger run (many
# copies of one template) is paired as a chain and a star, which links the same groups.
FULL_RUN = 24

_WORD_BYTES = re.compile(rb"[0-9A-Za-z_\x80-\xff]+")
_IS_WORD = np.zeros(256, dtype=bool)
for _chars in (b"0123456789_", b"ABCDEFGHIJKLMNOPQRSTUVWXYZ", b"abcdefghijklmnopqrstuvwxyz"):
    _IS_WORD[list(_chars)] = True
_IS_WORD[0x80:] = True
_SEP = "\x00"  # joins a chunk's prompts: never part of a word
_rng = np.random.default_rng(20261204)  # fixed: keys stored at import must match later ones
_A = _rng.integers(1, 2**63, NUM_PERM, dtype=np.uint64) * np.uint64(2) + np.uint64(1)
_B = _rng.integers(0, 2**63, NUM_PERM, dtype=np.uint64)
_BAND_MIX = _rng.integers(1, 2**63, ROWS, dtype=np.uint64) * np.uint64(2) + np.uint64(1)
_BAND_SALT = _rng.integers(0, 2**63, BANDS, dtype=np.uint64)
_POLY = int(_rng.integers(1, 2**63)) * 2 + 1  # odd: invertible modulo 2**64
_POLY_INVERSE = pow(_POLY, -1, 2**64)
_LENGTH_MIX = np.uint64(int(_rng.integers(1, 2**63)) * 2 + 1)
_SHIFT = np.uint64(32)
_EMPTY = np.uint32(0xFFFFFFFF)
_powers: dict[str, np.ndarray] = {}


def candidate_probability(similarity: float) -> float:
    """The chance that two prompts of this Jaccard similarity share a band."""
    return 1.0 - (1.0 - similarity**ROWS) ** BANDS


def _encode(text: str) -> bytes:
    return text.casefold().encode("utf-8", "surrogatepass")


def shingle_set(text: str) -> frozenset[bytes]:
    """The prompt's words (see the module docstring), as a set."""
    return frozenset(_WORD_BYTES.findall(_encode(text)))


def jaccard(a: frozenset, b: frozenset) -> float:
    if not a or not b:
        return 0.0
    shared = len(a & b)
    return shared / (len(a) + len(b) - shared)


def _power_table(n: int) -> tuple[np.ndarray, np.ndarray]:
    """POLY**i and POLY**-i modulo 2**64 for i < n (kept and grown as needed)."""
    if len(_powers.get("up", ())) < n:
        size = max(n, 2 * len(_powers.get("up", ())), 1 << 16)
        with np.errstate(over="ignore"):
            up = np.cumprod(np.full(size, _POLY, dtype=np.uint64), dtype=np.uint64)
            down = np.cumprod(np.full(size, _POLY_INVERSE, dtype=np.uint64), dtype=np.uint64)
        _powers["up"] = np.concatenate(([np.uint64(1)], up[:-1]))
        _powers["down"] = np.concatenate(([np.uint64(1)], down[:-1]))
    return _powers["up"], _powers["down"]


def _word_keys(texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """(keys, lengths): the 64-bit key of every word of every prompt, prompt after prompt,
    and each prompt's number of words."""
    joined = _SEP.join(texts)
    if joined.count(_SEP) != max(len(texts) - 1, 0):
        joined = _SEP.join(text.replace(_SEP, " ") for text in texts)
    data = np.frombuffer(_encode(joined), dtype=np.uint8)
    word = _IS_WORD[data]
    edges = np.diff(np.concatenate(([0], word.view(np.int8), [0])))
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    up, down = _power_table(len(data) + 1)
    with np.errstate(over="ignore"):
        prefix = np.concatenate(
            ([np.uint64(0)], np.cumsum(data.astype(np.uint64) * up[: len(data)], dtype=np.uint64))
        )
        keys = (prefix[ends] - prefix[starts]) * down[starts]
        keys ^= (ends - starts).astype(np.uint64) * _LENGTH_MIX
    separators = np.flatnonzero(data == 0)
    doc = np.searchsorted(separators, starts)
    lengths = np.bincount(doc, minlength=len(texts)).astype(np.int64)
    return keys, lengths


def _signatures(texts: Sequence[str]) -> np.ndarray:
    """(len(texts), NUM_PERM) uint32 MinHash signatures; a prompt without words gets all
    0xFFFFFFFF (and no band keys: see ``band_keys``)."""
    keys, lengths = _word_keys(texts)
    signatures = np.full((len(texts), NUM_PERM), _EMPTY, dtype=np.uint32)
    if not len(keys):
        return signatures
    offsets = np.cumsum(lengths) - lengths
    folded = (keys ^ (keys >> _SHIFT)) & np.uint64(0xFFFFFFFF)
    # (NUM_PERM, words): each hash function's values lie contiguous for the reduction.
    hashed = np.multiply.outer(_A, folded)
    hashed += _B[:, None]
    hashed >>= _SHIFT
    present = lengths > 0
    mins = np.minimum.reduceat(hashed.astype(np.uint32), offsets[present], axis=1)
    signatures[present] = mins.T
    return signatures


def _band_keys_of(signatures: np.ndarray) -> np.ndarray:
    """(n, BANDS) int64 band keys; rows of prompts without words are all 0 (never matched)."""
    bands = signatures.reshape(len(signatures), BANDS, ROWS).astype(np.uint64)
    keys = (bands * _BAND_MIX[None, None, :]).sum(axis=2, dtype=np.uint64) + _BAND_SALT[None, :]
    keys = keys.view(np.int64)
    empty = (signatures == _EMPTY).all(axis=1)
    keys[empty] = 0
    return keys


def band_keys(texts: Sequence[str], *, chunk: int = CHUNK_DOCS) -> np.ndarray:
    """(len(texts), BANDS) int64 LSH band keys, hashed ``chunk`` prompts at a time. A prompt
    without words has keys 0, which ``group`` and the indexes skip."""
    out = np.zeros((len(texts), BANDS), dtype=np.int64)
    for start in range(0, len(texts), chunk):
        part = texts[start : start + chunk]
        out[start : start + len(part)] = _band_keys_of(_signatures(part))
    return out


def _pairs_in_runs(column: np.ndarray) -> np.ndarray:
    """(m, 2) index pairs of rows with equal, non-zero keys in one band."""
    order = np.argsort(column, kind="stable")
    ordered = column[order]
    valid = ordered != 0
    same = (ordered[1:] == ordered[:-1]) & valid[1:]
    if not same.any():
        return np.empty((0, 2), dtype=np.int64)
    # Runs of equal keys: [start, end) in `order`.
    edges = np.flatnonzero(np.diff(np.concatenate(([0], same.astype(np.int8), [0]))))
    run_starts, run_ends = edges[0::2], edges[1::2] + 1
    pairs: list[np.ndarray] = []
    # Consecutive members of every run (a chain) ...
    chain_left = np.flatnonzero(same)
    pairs.append(np.stack([order[chain_left], order[chain_left + 1]], axis=1))
    # ... and, for runs of three or more, all pairs within small ones and a star from the
    # first member of large ones (pairs of two are the chain already).
    sizes = run_ends - run_starts
    for start, end in zip(run_starts[sizes > 2], run_ends[sizes > 2], strict=True):
        members = order[start:end]
        if end - start <= FULL_RUN:
            i, j = np.triu_indices(end - start, k=2)
            pairs.append(np.stack([members[i], members[j]], axis=1))
        else:
            pairs.append(np.stack([np.full(end - start - 1, members[0]), members[1:]], axis=1))
    return np.concatenate(pairs)


def candidate_pairs(keys: np.ndarray) -> np.ndarray:
    """(m, 2) unique pairs (i < j) of rows sharing a band key."""
    n = len(keys)
    found = []
    for band in range(keys.shape[1]):
        pairs = _pairs_in_runs(keys[:, band])
        if len(pairs):
            low, high = pairs.min(axis=1), pairs.max(axis=1)
            found.append(low.astype(np.int64) * n + high)
    if not found:
        return np.empty((0, 2), dtype=np.int64)
    codes = np.unique(np.concatenate(found))
    return np.stack([codes // n, codes % n], axis=1)


class UnionFind:
    def __init__(self) -> None:
        self.parent: dict[int, int] = {}

    def find(self, x: int) -> int:
        parent = self.parent
        root = x
        while parent.get(root, root) != root:
            root = parent[root]
        while parent.get(x, x) != root:
            parent[x], x = root, parent[x]
        return root

    def union(self, a: int, b: int) -> None:
        ra, rb = sorted((self.find(a), self.find(b)))
        self.parent.setdefault(ra, ra)
        self.parent[rb] = ra

    def groups(self) -> list[list[int]]:
        members: dict[int, list[int]] = {}
        for x in list(self.parent):
            members.setdefault(self.find(x), []).append(x)
        return sorted(sorted(m) for m in members.values() if len(m) > 1)


@dataclass(frozen=True)
class Grouping:
    groups: list[list[int]]  # indexes into the texts, each group sorted, groups by first index
    pairs: list[tuple[int, int, float]]  # verified pairs (i, j, jaccard), i < j
    candidates: int  # pairs that shared a band (verified or not)


def group(texts: Sequence[str], *, threshold: float = DEFAULT_THRESHOLD) -> Grouping:
    """Near-duplicate groups among ``texts``: connected components of the pairs whose exact
    Jaccard similarity reaches ``threshold`` (found through LSH, see the module docstring)."""
    keys = band_keys(texts)
    candidates = candidate_pairs(keys)
    del keys
    union = UnionFind()
    pairs = []
    # Shingle sets are made again for each pair rather than kept: a few microseconds each,
    # where keeping those of a million prompts would take gigabytes.
    previous, previous_set = -1, frozenset()
    for i, j in candidates.tolist():
        if i != previous:
            previous, previous_set = i, shingle_set(texts[i])
        similarity = jaccard(previous_set, shingle_set(texts[j]))
        if similarity >= threshold:
            pairs.append((i, j, similarity))
            union.union(i, j)
    return Grouping(groups=union.groups(), pairs=pairs, candidates=len(candidates))


class NearDupIndex:
    """An in-memory LSH index of some prompts (an export's eval prompts) to query others
    against: ``matches(texts)`` gives, for each text, the indexed ids it near-duplicates."""

    def __init__(self, ids: Iterable[int], texts: Sequence[str], *, threshold: float) -> None:
        self.threshold = threshold
        self.ids = list(ids)
        self._shingles = [shingle_set(t) for t in texts]
        self._buckets: dict[int, list[int]] = {}
        keys = band_keys(texts)
        for position, row in enumerate(keys.tolist()):
            for key in row:
                if key:
                    self._buckets.setdefault(key, []).append(position)

    def __len__(self) -> int:
        return len(self.ids)

    def matches(self, texts: Sequence[str]) -> list[list[tuple[int, float]]]:
        """For each text: [(indexed id, jaccard)] of the indexed prompts it near-duplicates,
        by id."""
        out: list[list[tuple[int, float]]] = []
        if not self._buckets:
            return [[] for _ in texts]
        keys = band_keys(texts)
        buckets = self._buckets
        for text, row in zip(texts, keys.tolist(), strict=True):
            seen: set[int] = set()
            for key in row:
                if key:
                    seen.update(buckets.get(key, ()))
            found = []
            if seen:
                mine = shingle_set(text)
                for position in seen:
                    similarity = jaccard(mine, self._shingles[position])
                    if similarity >= self.threshold:
                        found.append((self.ids[position], similarity))
            out.append(sorted(found))
        return out
