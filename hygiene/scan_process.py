"""The personal data scan of an export's rows in a helper process, on another core.

An export scans every row it writes (``hygiene.pii.RowScanner``): a cheap hint over the row's
JSON (a regular expression, some 3 us for a 500-byte row, a third of what building and writing
the row costs), then the full scan of the rows the hint matches. Python's ``re`` holds the GIL,
so a thread cannot run it beside the export; a child process can. The export sends the encoded
rows a batch at a time through a pipe and goes on building the next batch while the child
scans this one; the child answers, batch by batch in order, with what it found in each row the
hint matched: the finding types, and the row redacted when the export redacts.

The child is this interpreter in isolated mode (``-I``: no environment variables, no current
directory on the path) running ``serve`` from this project's directory, which it is given; it
reads frames from its stdin until the pipe closes. A frame is a 4-byte big-endian length and
the rows joined by ``"\\n"`` (a JSON row holds no raw line end); an answer is a 4-byte length and
a JSON list of ``[index, [type, ...], redacted row or null]``.

Nothing is lost when the child cannot run: ``ScanProcess`` keeps each batch until its answer
is read, and when the child cannot be started, dies or answers garbage, it stops using it and
scans the batches left in this process with the same code (``local``).
"""

from __future__ import annotations

import contextlib
import struct
import subprocess
import sys
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

_FRAME = struct.Struct(">I")
MAX_FRAME = 2**31 - 1  # a batch's rows and an answer: a 4-byte length
PROJECT_DIR = Path(__file__).resolve().parent.parent

# (index in the batch, finding types, the row redacted or None) for each row the hint matched.
Found = list[tuple[int, list[str], Any]]
BatchScan = Callable[[list[bytes]], Found]

_START = (
    "import sys; sys.path.insert(0, sys.argv[1]); from hygiene.scan_process import serve; serve()"
)


class ScanProcess:
    """``submit(rows)`` a batch of encoded rows, then ``result()`` what the scan found in them,
    batch by batch in the order submitted (see ``Found``). ``close()`` ends the child.
    ``local(rows)`` scans a batch in this process; ``region`` and ``redact`` configure the
    child's scanner alike."""

    def __init__(self, local: BatchScan, *, region: str, redact: bool) -> None:
        self.local = local
        self._waiting: deque[list[bytes]] = deque()
        self._child: subprocess.Popen[bytes] | None = None
        flag = "1" if redact else ""
        command = [sys.executable, "-I", "-c", _START, str(PROJECT_DIR), region, flag]
        try:
            # The command is this interpreter and a constant program; the rows go by stdin.
            self._child = subprocess.Popen(  # noqa: S603
                command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, bufsize=0
            )
        except OSError:
            self._child = None

    @property
    def running(self) -> bool:
        """Whether the child still answers (else the batches are scanned here)."""
        return self._child is not None

    def submit(self, rows: list[bytes]) -> None:
        self._waiting.append(rows)
        if self._child is None:
            return
        data = b"\n".join(rows)
        if len(data) > MAX_FRAME:
            self.close()
            return
        try:
            self._child.stdin.write(_FRAME.pack(len(data)) + data)  # type: ignore[union-attr]
        except (OSError, ValueError):
            self.close()

    def result(self) -> Found:
        rows = self._waiting.popleft()
        if self._child is not None:
            try:
                return _checked(orjson.loads(self._read(_FRAME.unpack(self._read(4))[0])), rows)
            except (OSError, ValueError, EOFError):
                self.close()  # every batch still waiting is scanned here
        return self.local(rows)

    def _read(self, size: int) -> bytes:
        parts, left = [], size
        while left:
            chunk = self._child.stdout.read(left)  # type: ignore[union-attr]
            if not chunk:
                raise EOFError("the scan process ended")
            parts.append(chunk)
            left -= len(chunk)
        return b"".join(parts)

    def close(self) -> None:
        child, self._child = self._child, None
        if child is None:
            return
        with contextlib.suppress(OSError):
            child.stdin.close()  # type: ignore[union-attr]
        try:
            child.wait(timeout=5)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
        child.stdout.close()  # type: ignore[union-attr]


def _checked(answer: Any, rows: list[bytes]) -> Found:
    """The child's answer, refused (ValueError) unless it names rows of this batch in order."""
    if not isinstance(answer, list):
        raise ValueError("the scan process answered something other than a list")
    found: Found = []
    last = -1
    for entry in answer:
        if not (isinstance(entry, list) and len(entry) == 3):
            raise ValueError("the scan process answered a malformed entry")
        index, types, row = entry
        if not (isinstance(index, int) and last < index < len(rows) and isinstance(types, list)):
            raise ValueError("the scan process answered a row out of its batch")
        found.append((index, types, row))
        last = index
    return found


def serve() -> None:
    """The child: scan each frame from stdin, answer on stdout, until stdin closes."""
    from hygiene.pii import RowScanner

    region, redact = sys.argv[2], bool(sys.argv[3])  # sys.argv[1]: the project's directory
    scanner = RowScanner(region=region, redact=redact)
    read, write, flush = sys.stdin.buffer.read, sys.stdout.buffer.write, sys.stdout.buffer.flush
    while True:
        head = read(4)
        if len(head) < 4:
            return
        data = read(_FRAME.unpack(head)[0])
        answer = orjson.dumps(scanner.scan_batch(data.split(b"\n")))
        write(_FRAME.pack(len(answer)) + answer)
        flush()
