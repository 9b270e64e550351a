"""Near-duplicate prompts: MinHash over word shingles, LSH bands, exact Jaccard."""

import random

import pytest

from hygiene import neardup

BASE = [
    "Write a short poem about the sea at night, in the voice of an old lighthouse keeper.",
    "Explain the difference between a list and a tuple in Python, with an example of each.",
    "Summarize the following article about climate policy in three bullet points for a "
    "busy executive who has no time to read it all.",
    "Translate this sentence into French: the meeting has been moved to Thursday afternoon.",
]
# Paraphrase-level edits: a word swapped, a word added, case and punctuation changed.
EDITED = [
    "Write a short poem about the sea at night in the voice of an old lighthouse keeper!",
    "Explain the difference between a list and a tuple in Python, with one example of each.",
    "summarize the following article about climate policy in three bullet points for a "
    "busy executive who has no time to read it all, please.",
    "Translate this sentence into French: The meeting has been moved to Thursday afternoon",
]
UNRELATED = [
    "What is the capital of Australia?",
    "Give me a recipe for a vegan chocolate cake without nuts.",
    "Write a haiku about autumn leaves.",
    "How do I reset a forgotten router password?",
]


def test_paraphrase_level_edits_are_grouped_with_their_original():
    texts = BASE + EDITED + UNRELATED
    grouping = neardup.group(texts)
    assert grouping.groups == [[i, i + len(BASE)] for i in range(len(BASE))]
    assert all(similarity >= 0.8 for _, _, similarity in grouping.pairs)


def test_unrelated_prompts_and_prompts_sharing_a_topic_are_not_grouped():
    texts = [*UNRELATED, "Write a short poem about the mountains at dawn.", BASE[0]]
    assert neardup.group(texts).groups == []


def test_a_lower_threshold_groups_looser_edits_and_a_higher_one_fewer():
    a = "please list five healthy breakfast ideas for a family with two children"
    b = "please list five quick breakfast ideas for a family with two kids"
    similarity = neardup.jaccard(neardup.shingle_set(a), neardup.shingle_set(b))
    assert 0.7 <= similarity < 0.8
    assert neardup.group([a, b], threshold=0.8).groups == []
    assert neardup.group([a, b], threshold=0.7).groups == [[0, 1]]


def test_prompts_without_words_are_never_near_duplicates():
    assert neardup.group(["", "  ", "!!!", ""]).groups == []


def test_groups_are_connected_components_named_in_order():
    chain = [
        "one two three four five six seven eight nine ten eleven twelve",
        "one two three four five six seven eight nine ten eleven twelve thirteen",
        "one two three four five six seven eight nine ten eleven twelve thirteen fourteen",
    ]
    grouping = neardup.group([UNRELATED[0], *chain])
    assert grouping.groups == [[1, 2, 3]]


def test_a_large_run_of_copies_is_one_group():
    copies = ["the same templated prompt asking for exactly the same thing"] * 200
    assert neardup.group(copies).groups == [list(range(200))]


def _mutate(words: list[str], rng: random.Random, vocab: list[str], target: float) -> list[str]:
    """Replace words until the word Jaccard with the original drops to about target."""
    original = neardup.shingle_set(" ".join(words))
    out = list(words)
    while True:
        position = rng.randrange(len(out))
        candidate = list(out)
        candidate[position] = rng.choice(vocab)
        similarity = neardup.jaccard(original, neardup.shingle_set(" ".join(candidate)))
        if similarity < target:
            return out
        out = candidate


def test_lsh_recall_is_at_least_95_percent_at_jaccard_0_8_on_a_synthetic_set():
    """Pairs built to sit just above Jaccard 0.8 (0.80-0.86), among unrelated prompts: the
    bands make at least 95 % of them candidates, and the exact check keeps them."""
    rng = random.Random(17)
    vocab = [f"word{i}" for i in range(20_000)]
    texts: list[str] = []
    planted: list[tuple[int, int]] = []
    for _ in range(400):
        words = [rng.choice(vocab) for _ in range(rng.randint(30, 60))]
        edited = _mutate(words, rng, vocab, 0.8)
        similarity = neardup.jaccard(
            neardup.shingle_set(" ".join(words)), neardup.shingle_set(" ".join(edited))
        )
        assert similarity >= 0.8
        planted.append((len(texts), len(texts) + 1))
        texts.extend([" ".join(words), " ".join(edited)])
    texts.extend(" ".join(rng.choice(vocab) for _ in range(40)) for _ in range(2_000))

    grouping = neardup.group(texts, threshold=0.8)

    found = {(i, j) for i, j, _ in grouping.pairs}
    recall = sum(pair in found for pair in planted) / len(planted)
    assert recall >= 0.95
    # and nothing unrelated was grouped
    assert all(j == i + 1 and i < 800 for i, j, _ in grouping.pairs)


@pytest.mark.parametrize(("similarity", "at_least"), [(0.8, 0.999), (0.7, 0.98)])
def test_the_band_layout_makes_pairs_at_the_threshold_candidates(similarity, at_least):
    assert neardup.candidate_probability(similarity) >= at_least
    assert neardup.candidate_probability(0.1) < 0.02


def test_band_keys_are_stable_across_calls_and_batches():
    once = neardup.band_keys(BASE)
    alone = neardup.band_keys(BASE[2:3])
    assert (once[2] == alone[0]).all()
    assert (neardup.band_keys(BASE, chunk=1) == once).all()


def test_an_index_of_eval_prompts_finds_the_train_prompts_near_them():
    index = neardup.NearDupIndex([10, 20], [BASE[0], BASE[1]], threshold=0.8)
    found = index.matches([EDITED[0], UNRELATED[0], EDITED[1]])
    assert [[eval_id for eval_id, _ in matches] for matches in found] == [[10], [], [20]]
