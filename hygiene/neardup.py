"""Near-duplicate prompts: MinHash over word shingles with banded LSH, then exact Jaccard.

Pure numpy and Python (no Django), so the import hook, the export check, the bench and the
tests call the same code.

- A prompt's words are ``\\w+`` runs of its case-folded text; its shingles are runs of
  ``SHINGLE_WORDS`` consecutive words (a shorter prompt: all its words). A prompt without
  words has no shingle and is never anyone's near-duplicate. Shingles are single words by
  default: prompts are short, and with pairs of words one word changed in a 15-word prompt
  already takes the similarity under 0.8 (it stays at 0.88 with single words).
- Each shingle is a 64-bit key (its words' CRC-32s combined: stable across processes and
  machines, unlike Python's ``hash``). ``NUM_PERM`` multiply-shift hashes of the keys give
  the MinHash signature; all prompts of a chunk are hashed at once in numpy.
- The signature is cut into ``BANDS`` bands of ``ROWS`` values; each band gives a 64-bit key.
  Two prompts sharing any band key are candidates; a candidate pair is kept when the exact
  Jaccard similarity of their shingle sets reaches the threshold (no estimate error).

With 10 bands of 3 rows a pair at Jaccard s is a candidate with probability
``1 - (1 - s**3) ** 10``: 0.9992 at 0.8, 0.985 at 0.7 (the lowest threshold a project may
set), 0.74 at 0.5, 0.08 at 0.2; ``candidate_probability`` says it for any s. Fewer, longer
bands would cost more hashing (the bench's budget) for no recall gained above 0.7.
"""

from __future__ import annotations

import itertools
import re
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

SHINGLE_WORDS = 1  # 1 or 2
BANDS = 10
ROWS = 3
NUM_PERM = BANDS * ROWS
DEFAULT_THRESHOLD = 0.8
CHUNK_DOCS = 4_096  # prompts hashed at once: about 50 MB of temporaries for typical prompts
# Runs of equal band keys up to this size are paired all against all; a larger run (many
# copies of one template) is paired as a chain and a star, which links the same groups.
FULL_RUN = 24

_WORD = re.compile(r"\w+")
# A chunk of prompts is tokenised in one call, joined by NUL (never part of a word), whose
# hash is a value no CRC-32 takes.
_SEP = "\x00"
_TOKEN = re.compile(r"\w+|\x00")
_SENTINEL = 1 << 40
_rng = np.random.default_rng(20261204)  # fixed: keys stored at import must match later ones
_A = _rng.integers(1, 2**63, NUM_PERM, dtype=np.uint64) * np.uint64(2) + np.uint64(1)
_B = _rng.integers(0, 2**63, NUM_PERM, dtype=np.uint64)
_BAND_MIX = _rng.integers(1, 2**63, ROWS, dtype=np.uint64) * np.uint64(2) + np.uint64(1)
_BAND_SALT = _rng.integers(0, 2**63, BANDS, dtype=np.uint64)
_SHIFT = np.uint64(32)
_EMPTY = np.uint32(0xFFFFFFFF)


def candidate_probability(similarity: float) -> float:
    """The chance that two prompts of this Jaccard similarity share a band."""
    return 1.0 - (1.0 - similarity**ROWS) ** BANDS


def words(text: str) -> list[str]:
    return _WORD.findall(text.casefold())


class _WordHashes:
    """CRC-32 of each word, remembered (prompts repeat their words a lot)."""

    def __init__(self) -> None:
        self._cache: dict[str, int] = {_SEP: _SENTINEL}

    def __call__(self, tokens: list[str]) -> list[int]:
        cache = self._cache
        out = list(map(cache.get, tokens))
        if None in out:
            for position, value in enumerate(out):
                if value is None:
                    token = tokens[position]
                    value = out[position] = zlib.crc32(token.encode("utf-8", "surrogatepass"))
                    if len(cache) < 2_000_000:
                        cache[token] = value
        return out  # type: ignore[return-value]


def shingle_set(text: str) -> frozenset[int]:
    """The prompt's shingle keys (see the module docstring)."""
    hashes = [zlib.crc32(w.encode("utf-8", "surrogatepass")) for w in words(text)]
    if SHINGLE_WORDS == 1:
        return frozenset(hashes)
    if len(hashes) == 1:
        return frozenset((hashes[0] << 32 | hashes[0],))
    return frozenset(a << 32 | b for a, b in itertools.pairwise(hashes))


def jaccard(a: frozenset[int], b: frozenset[int]) -> float:
    if not a or not b:
        return 0.0
    shared = len(a & b)
    return shared / (len(a) + len(b) - shared)


def _signatures(texts: Sequence[str], word_hashes: _WordHashes) -> np.ndarray:
    """(len(texts), NUM_PERM) uint32 MinHash signatures; a prompt without words gets all
    0xFFFFFFFF (and no band keys: see ``band_keys``)."""
    joined = _SEP.join(texts)
    if joined.count(_SEP) != max(len(texts) - 1, 0):
        joined = _SEP.join(text.replace(_SEP, " ") for text in texts)
    every = np.asarray(word_hashes(_TOKEN.findall(joined.casefold())), dtype=np.uint64)
    separators = np.flatnonzero(every == _SENTINEL)
    lengths = np.diff(np.concatenate(([-1], separators, [len(every)]))) - 1
    signatures = np.full((len(texts), NUM_PERM), _EMPTY, dtype=np.uint32)
    word_array = every[every != _SENTINEL]
    if not len(word_array):
        return signatures
    starts = np.cumsum(lengths) - lengths
    if SHINGLE_WORDS == 1:
        counts, offsets, keys = lengths, starts, word_array
    else:
        # Shingles per prompt: n-1 pairs, or the one word of a one-word prompt.
        counts = np.where(lengths >= 2, lengths - 1, lengths)
        total = int(counts.sum())
        offsets = np.cumsum(counts) - counts
        doc_start = np.repeat(starts, counts)
        left = doc_start + (np.arange(total, dtype=np.int64) - np.repeat(offsets, counts))
        right = left + np.repeat((lengths >= 2).astype(np.int64), counts)
        keys = (word_array[left] << _SHIFT) | word_array[right]
    hashed = np.multiply.outer(keys, _A)
    hashed += _B
    hashed >>= _SHIFT
    present = counts > 0
    mins = np.minimum.reduceat(hashed, offsets[present], axis=0)
    signatures[present] = mins.astype(np.uint32)
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
    word_hashes = _WordHashes()
    out = np.zeros((len(texts), BANDS), dtype=np.int64)
    for start in range(0, len(texts), chunk):
        part = texts[start : start + chunk]
        out[start : start + len(part)] = _band_keys_of(_signatures(part, word_hashes))
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
