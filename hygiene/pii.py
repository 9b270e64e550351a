"""Personal data in text: regular expressions, each match checked before it counts.

Pure Python (no Django). Types and their checks:

- ``EMAIL``: an address with a dotted domain whose last label is 2+ letters.
- ``CARD``: 13 to 19 digits, optionally grouped by single spaces or dashes, passing the Luhn
  check (a Luhn-invalid number is not a card number).
- ``IBAN``: a country code, two check digits and 11 to 30 letters or digits (grouped by
  spaces or not), passing the ISO 13616 mod-97 check.
- ``SSN``: a US social security number written ``AAA-GG-SSSS``, with the area not 000, 666 or
  9xx, the group not 00 and the serial not 0000.
- ``API_KEY``: common secret shapes: AWS access key ids, GitHub, GitLab, Slack, Stripe,
  OpenAI, Anthropic and Google API keys, and PEM private key headers.
- ``PHONE``: a run of digits and separators that the ``phonenumbers`` library (Google's
  libphonenumber) finds and validates as a possible, valid number, in international form
  (``+44 ...``) or national form for ``region``.

Finding is ``scan(text)``; redacting is ``redact(text)``, which puts ``[EMAIL]``, ``[CARD]``,
... in place of each finding. ``RowScanner`` walks every string of an export row.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from itertools import accumulate, chain
from typing import Any, NamedTuple

import orjson
import phonenumbers

from hygiene.hint_process import HintProcess, rows_hinted

EMAIL, PHONE, CARD, IBAN, SSN, API_KEY = "EMAIL", "PHONE", "CARD", "IBAN", "SSN", "API_KEY"
TYPES = (EMAIL, PHONE, CARD, IBAN, SSN, API_KEY)
ITEM_IDS_MAX = 1_000  # item ids listed per type in a manifest
# ``RowScanner.scan_stream``: rows per batch whose hint is searched at once, and the batches
# a helper process may hold before the export waits for the oldest one's answer.
BATCH_ROWS = 256
BATCHES_AHEAD = 2

_KEYS = (
    r"\bAKIA[0-9A-Z]{16}\b"
    r"|\bgh[pousr]_[A-Za-z0-9]{36,255}\b"
    r"|\bgithub_pat_[A-Za-z0-9_]{60,255}\b"
    r"|\bglpat-[A-Za-z0-9_-]{20,}"
    r"|\bxox[abposr]-[A-Za-z0-9-]{10,}"
    r"|\b[sr]k_(?:live|test)_[A-Za-z0-9]{16,}\b"
    r"|\bsk-(?:proj-|ant-(?:api\d\d-)?)?[A-Za-z0-9_-]{32,}"
    r"|\bAIza[0-9A-Za-z_-]{35}"
    r"|-----BEGIN (?:[A-Z]+ )*PRIVATE KEY-----"
)
_EMAIL = re.compile(
    r"\b[A-Za-z0-9._%+-]{1,64}@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+"
    r"[A-Za-z]{2,24}\b"
)
# The shapes that need digits, in one pass: an alternation tries the named groups in order at
# each position, so an IBAN or an SSN is not read again as a card number, nor a card number as
# a phone number. PHONE_RUN is where a phone number may be (7+ digits with the separators
# numbers are written with); only such runs go to phonenumbers, whose matcher is slow.
_NUMBERS = re.compile(
    r"(?P<IBAN>\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,30}\b)"
    r"|(?P<SSN>\b\d{3}-\d{2}-\d{4}\b)"
    r"|(?P<CARD>(?<![\d-])\d(?:[ -]?\d){12,18}(?![\d-]))"
    r"|(?P<PHONE_RUN>(?:\+|\b)\d[\d ().\-/]{5,20}\d\b)"
)
_KEY = re.compile(_KEYS)
# Cheap tests that rule a text out before any of the patterns above runs on it: every shape
# found holds an "@", seven or more digits with separators between them, or a key's prefix,
# which each have an "_", a "-" or an "A". The hint starts with a class of those characters
# (rare in prose), so the regex engine skips straight to them and looks behind.
_HINT_PATTERN = (
    r"[@0-9_A-](?:(?<=@)|(?<=[0-9])[0-9 ().\-/]{5,}[0-9]|(?<=A)(?:KIA|Iza)"
    r"|(?<=gh[pousr]_)|(?<=github_pat_)|(?<=[sr]k_)(?:live|test)_"
    r"|(?<=glpat-)|(?<=xox[abposr]-)|(?<=sk-)|(?<=-)----BEGIN)"
)
_HINT = re.compile(_HINT_PATTERN)
_KEY_HINT = re.compile(
    r"AKIA|AIza|gh[pousr]_|github_pat_|glpat-|xox[abposr]-|[sr]k_(?:live|test)_|sk-|-----BEGIN"
)
_NUMBER_HINT = re.compile(r"[0-9][0-9 ().\-/]{5,}[0-9]")
# The same over a whole row's JSON (one C call rules out most rows of an export).
_ROW_HINT = re.compile(_HINT_PATTERN.encode())

# The hint over the JSON of many rows at once (an export encodes its rows a chunk at a time).
# The regex engine steps through every character of a text at some ten nanoseconds each,
# whatever the number of calls, so ``hinted`` first asks what the hint's shapes need with
# byte operations that run at memory speed: an "@"; a key's fixed letters (those with an "_"
# or a "-" only where the texts hold one); for a run of digits and separators, the bytes read
# as classes ("0" a digit, "." a separator, "x" anything else), where the run is a plain
# regex that the engine tries at digits only. It finds every run _HINT's finds (so a chunk it
# passes holds no hint), and then _HINT itself says which texts hold one.
_CLASSES = bytes(
    ord("0") if chr(c) in "0123456789" else ord(".") if chr(c) in " ().-/" else ord("x")
    for c in range(256)
)
_CLASS_RUN = re.compile(rb"0[0.]{5,}0")
_A_KEYS = (b"AKIA", b"AIza")
_UNDERSCORE_KEYS = (b"ghp_", b"gho_", b"ghu_", b"ghs_", b"ghr_", b"github_pat_", b"k_live_")
_UNDERSCORE_KEYS += (b"k_test_",)
_DASH_KEYS = (b"-----BEGIN", b"glpat-", b"xox", b"sk-")


def luhn_valid(digits: str) -> bool:
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = ord(char) - 48
        if position % 2:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


def iban_valid(text: str) -> bool:
    compact = text.replace(" ", "")
    if not 15 <= len(compact) <= 34:
        return False
    moved = compact[4:] + compact[:4]
    number = "".join(str(int(c, 36)) for c in moved)
    return int(number) % 97 == 1


def ssn_valid(text: str) -> bool:
    area, group, serial = text.split("-")
    return area not in ("000", "666") and area[0] != "9" and group != "00" and serial != "0000"


def _valid(kind: str, text: str) -> bool:
    if kind == CARD:
        digits = text.replace(" ", "").replace("-", "")
        return 13 <= len(digits) <= 19 and len(set(digits)) > 1 and luhn_valid(digits)
    if kind == IBAN:
        return iban_valid(text)
    if kind == SSN:
        return ssn_valid(text)
    return True


def hinted(
    encoded: bytes, texts: list[tuple[str, ...]], constant: bytes = b"", copies: int = 0
) -> list[int]:
    """The indexes of the entries of ``texts`` (each a row's strings) that the hint matches.
    ``encoded``: bytes holding every text as JSON, and ``copies`` copies of the ``constant``
    bytes between them, which the hint does not match (the caller checked). Where the byte
    tests find nothing the answer is [] without a regex step per character; else the hint runs
    over all the texts, NUL-separated (as a row's: a match never spans two of them)."""
    if not (
        b"@" in encoded
        or any(key in encoded for key in _A_KEYS)
        or (
            encoded.count(b"_") > constant.count(b"_") * copies
            and any(key in encoded for key in _UNDERSCORE_KEYS)
        )
        or (
            encoded.count(b"-") > constant.count(b"-") * copies
            and any(key in encoded for key in _DASH_KEYS)
        )
        or _CLASS_RUN.search(encoded.translate(_CLASSES))
    ):
        return []
    joined = "\x00".join(chain.from_iterable(texts))
    # Each match's entry by where it starts among the entries' ends in the joined text (an
    # entry's texts and the separator after them).
    ends = list(accumulate(sum(map(len, entry)) + len(entry) for entry in texts))
    found: list[int] = []
    for match in _HINT.finditer(joined):
        index = bisect_right(ends, match.start())
        if not found or found[-1] != index:
            found.append(index)
    return found


@dataclass(frozen=True, slots=True)
class Finding:
    type: str
    start: int
    end: int
    text: str


class Scanner:
    """``scan(text)`` and ``redact(text)`` with phone numbers read for ``region`` (an ISO
    3166 code such as ``US``; numbers in international form are found whatever it is)."""

    def __init__(self, *, region: str = "US") -> None:
        self.region = region.upper() if region else None

    def scan(self, text: str) -> list[Finding]:
        if not text or not _HINT.search(text):
            return []
        found: list[Finding] = []
        if _KEY_HINT.search(text):
            found.extend(
                Finding(API_KEY, m.start(), m.end(), m.group()) for m in _KEY.finditer(text)
            )
        if "@" in text:
            found.extend(
                Finding(EMAIL, m.start(), m.end(), m.group()) for m in _EMAIL.finditer(text)
            )
        if _NUMBER_HINT.search(text):
            taken = [(f.start, f.end) for f in found]
            for match in _NUMBERS.finditer(text):
                kind, start, end = match.lastgroup, match.start(), match.end()
                if any(s < end and start < e for s, e in taken):
                    continue  # inside an email address or a key
                if kind == "PHONE_RUN":
                    found.extend(self._phones(text, start, end))
                elif _valid(kind, match.group()):
                    found.append(Finding(kind, start, end, match.group()))
                elif kind == CARD:
                    # A Luhn-invalid run of digits may still be a phone number.
                    found.extend(self._phones(text, start, end))
        if len(found) > 1:
            found.sort(key=lambda f: (f.start, f.end))
        return found

    def _phones(self, text: str, start: int, end: int) -> Iterator[Finding]:
        if start > 0 and text[start - 1] in "(+":
            start -= 1  # "(415) 555-2671": the bracket belongs to the number
        candidate = text[start:end]
        try:
            number = phonenumbers.parse(candidate, self.region)
            if phonenumbers.is_valid_number(number):
                yield Finding(PHONE, start, end, candidate)
                return
        except phonenumbers.NumberParseException:
            pass
        if len(candidate) < 14:
            return
        # A long run may hold two numbers, or a number and more digits: the matcher (slower)
        # finds each in it. A little context either side lets it see a "+" or a bracket.
        left = max(start - 1, 0)
        window = text[left : end + 1]
        try:
            matches = phonenumbers.PhoneNumberMatcher(
                window, self.region, leniency=phonenumbers.Leniency.VALID, max_tries=10
            )
            for match in matches:
                yield Finding(PHONE, left + match.start, left + match.end, match.raw_string)
        except phonenumbers.NumberParseException:
            return

    def redact(self, text: str, findings: list[Finding] | None = None) -> str:
        findings = self.scan(text) if findings is None else findings
        if not findings:
            return text
        parts, last = [], 0
        for finding in findings:
            if finding.start < last:
                continue  # overlapping findings: the first one's placeholder covers both
            parts.append(text[last : finding.start])
            parts.append(f"[{finding.type}]")
            last = finding.end
        parts.append(text[last:])
        return "".join(parts)


class Unscanned(NamedTuple):
    """A row for ``RowScanner.scan_stream``, with its JSON bytes as the file will hold them."""

    item_id: int
    row: Any
    encoded: bytes


class RowScanner:
    """Scans (and with ``redact``, rewrites) every string in export rows, counting findings
    by type with the item ids they were found in. Call it as ``scanner(item_id, row)``; it
    returns the row (a new one when something was redacted). ``process_after``: rows that
    ``scan_stream`` hints in this process before it moves the hint to a helper process (None:
    never)."""

    def __init__(
        self, *, redact: bool = False, region: str = "US", process_after: int | None = None
    ) -> None:
        self.scanner = Scanner(region=region)
        self.redact = redact
        self.process_after = process_after
        self.counts: dict[str, int] = {}
        self.items: dict[str, list[int]] = {}
        self._item_sets: dict[str, set[int]] = {}
        self.rows_scanned = 0

    def _note(self, item_id: int, findings: list[Finding]) -> None:
        for finding in findings:
            kind = finding.type
            self.counts[kind] = self.counts.get(kind, 0) + 1
            seen = self._item_sets.setdefault(kind, set())
            if item_id not in seen:
                seen.add(item_id)
                self.items.setdefault(kind, []).append(item_id)

    def _walk(self, value: Any, item_id: int) -> Any:
        """The value with its strings redacted (the same object when nothing changed)."""
        if isinstance(value, str):
            findings = self.scanner.scan(value)
            if not findings:
                return value
            self._note(item_id, findings)
            return self.scanner.redact(value, findings) if self.redact else value
        if isinstance(value, dict):
            out = None
            for key, inner in value.items():
                new = self._walk(inner, item_id)
                if new is not inner:
                    if out is None:
                        out = dict(value)
                    out[key] = new
            return value if out is None else out
        if isinstance(value, list):
            changed = None
            for index, inner in enumerate(value):
                new = self._walk(inner, item_id)
                if new is not inner:
                    if changed is None:
                        changed = list(value)
                    changed[index] = new
            return value if changed is None else changed
        return value

    def __call__(self, item_id: int, row: dict[str, Any]) -> dict[str, Any]:
        self.rows_scanned += 1
        try:
            if not _ROW_HINT.search(orjson.dumps(row)):
                return row
        except (TypeError, orjson.JSONEncodeError):
            pass  # what orjson refuses is walked as it is
        return self._walk(row, item_id)

    def rules_out(self, encoded: bytes, rows: int = 1) -> bool:
        """For rows already encoded as JSON (``rows`` of them in ``encoded``): counts them as
        scanned and says whether the row hint rules them all out. When it does not, the caller
        decodes each row and passes it to ``walk``."""
        self.rows_scanned += rows
        return not _ROW_HINT.search(encoded)

    def rows_with_hints(
        self, encoded: bytes, texts: list[tuple[str, ...]], *, constant: bytes, rows: int
    ) -> list[int]:
        """``rules_out`` for many rows at once whose only varying strings are their entries of
        ``texts`` (see ``hinted``): counts ``rows`` rows as scanned and returns the indexes of
        the entries the hint matches."""
        self.rows_scanned += rows
        return hinted(encoded, texts, constant, len(texts))

    def scan_stream(self, items: Iterable[Any]) -> Iterator[Any]:
        """``items`` in their order, each ``Unscanned`` one replaced by its bytes where the row
        hint rules it out, else by its row scanned (and redacted); anything else passes as it
        is. The rows go a batch at a time; once ``process_after`` rows are scanned, a helper
        process (hygiene.hint_process) searches each batch on another core while the caller
        builds the next ones, at most ``BATCHES_AHEAD`` batches ahead of what is returned."""
        helper: HintProcess | None = None
        waiting: deque[list[Unscanned]] = deque()
        batch: list[Unscanned] = []
        try:
            for item in items:
                if type(item) is Unscanned:
                    batch.append(item)
                    if len(batch) == BATCH_ROWS:
                        if helper is None and self._past_process_after(len(batch)):
                            helper = HintProcess(_ROW_HINT)
                        yield from self._hinted(batch, helper, waiting, BATCHES_AHEAD)
                        batch = []
                    continue
                if batch or waiting:  # what came before goes first
                    yield from self._hinted(batch, helper, waiting, 0)
                    batch = []
                yield item
            yield from self._hinted(batch, helper, waiting, 0)
        finally:
            if helper is not None:
                helper.close()

    def _past_process_after(self, rows: int) -> bool:
        return self.process_after is not None and self.rows_scanned + rows > self.process_after

    def _hinted(
        self,
        batch: list[Unscanned],
        helper: HintProcess | None,
        waiting: deque[list[Unscanned]],
        ahead: int,
    ) -> Iterator[Any]:
        """Hint ``batch`` (here, or by ``helper``, after the batches ``waiting`` for it), then
        return the rows of the batches answered, leaving at most ``ahead`` waiting."""
        if batch:
            self.rows_scanned += len(batch)
            if helper is None:
                yield from self._scanned(batch, rows_hinted(_ROW_HINT, _encoded(batch)))
            else:
                helper.submit(_encoded(batch))
                waiting.append(batch)
        while len(waiting) > ahead:
            yield from self._scanned(waiting.popleft(), helper.result())  # type: ignore[union-attr]

    def _scanned(self, batch: list[Unscanned], hinted: list[int]) -> Iterator[Any]:
        if not hinted:
            for item in batch:
                yield item.encoded
            return
        hits = set(hinted)
        for index, item in enumerate(batch):
            yield self._walk(item.row, item.item_id) if index in hits else item.encoded

    def walk(self, item_id: int, row: Any) -> Any:
        """The row scanned (and redacted), without counting it again (see ``rules_out``)."""
        return self._walk(row, item_id)

    def summary(self) -> dict[str, Any]:
        """The manifest's ``personal_data``: findings by type, the item ids per type (sorted,
        at most ``ITEM_IDS_MAX``), and whether they were redacted."""
        return {
            "redacted": self.redact,
            "rows_scanned": self.rows_scanned,
            "findings": dict(sorted(self.counts.items())),
            "item_ids": {
                kind: sorted(ids)[:ITEM_IDS_MAX] for kind, ids in sorted(self.items.items())
            },
            "items_with_findings": {kind: len(ids) for kind, ids in sorted(self.items.items())},
        }


def _encoded(batch: list[Unscanned]) -> list[bytes]:
    return [item.encoded for item in batch]
