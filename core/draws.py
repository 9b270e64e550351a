"""Stable draws: a number in [0, 1) from a key, the same on every run and every machine.

The project's samples are drawn this way (the eval split, the review sample, the audit sample
of routing, the review gold), so re-importing or re-running picks the same items, and a
reader can say why an item was picked."""

import hashlib


def stable_draw(key: str) -> float:
    """The first 8 bytes of the key's SHA-256 as a fraction of 2**64."""
    digest = hashlib.sha256(key.encode("utf-8", "surrogatepass")).digest()
    return int.from_bytes(digest[:8], "big") / 2**64
