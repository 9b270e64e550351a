"""One signed POST to a webhook endpoint, bounded in time, to an address the guard checked.

`http.client` on a socket this module connects itself: to the address the guard resolved and
checked (not a second lookup), with the URL's host name for TLS (SNI and certificate check)
and the ``Host`` header. A watchdog shuts the socket when the timeout runs out, so one attempt
never holds a worker longer than ``WEBHOOKS_TIMEOUT_SECONDS`` however slowly a receiver
trickles its answer. Redirects are answers like any other (never followed).
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import http.client
import socket
import ssl
import threading
import time
from dataclasses import dataclass

from django.conf import settings

from webhooks import guard

EXCERPT = 500  # characters of a response body kept in the delivery log
USER_AGENT = "Rubric-Webhooks/1"


def timeout_seconds() -> float:
    return float(getattr(settings, "WEBHOOKS_TIMEOUT_SECONDS", 10))


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """``sha256=<hex>``: HMAC-SHA256 of ``"{timestamp}.{body}"`` with the endpoint's secret."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"sha256={mac.hexdigest()}"


@dataclass
class Answer:
    status: int | None  # None: no answer (the error says why)
    headers: dict[str, str]
    excerpt: str
    error: str
    duration_ms: float
    refused: bool = False  # the guard refused the address: not sent, not retried


class _Watchdog:
    """Shuts the socket down at the deadline: a blocked read returns at once."""

    def __init__(self, seconds: float) -> None:
        self.sock: socket.socket | None = None
        self.fired = False
        self.timer = threading.Timer(seconds, self._fire)
        self.timer.daemon = True

    def _fire(self) -> None:
        self.fired = True
        if self.sock is not None:
            with contextlib.suppress(OSError):
                self.sock.shutdown(socket.SHUT_RDWR)


def _connect(target: guard.Target, deadline: float) -> socket.socket:
    last: OSError | None = None
    for address in target.addresses:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        try:
            sock = socket.create_connection((address, target.port), timeout=remaining)
        except OSError as exc:
            last = exc
            continue
        if target.scheme == "https":
            context = ssl.create_default_context()
            try:
                sock = context.wrap_socket(sock, server_hostname=target.host)
            except (OSError, ssl.SSLError):
                sock.close()
                raise
        return sock
    if last is not None:
        raise last
    raise TimeoutError("timed out connecting")


def post(url: str, *, body: bytes, headers: dict[str, str], timeout: float | None = None) -> Answer:
    """POST ``body`` to ``url``. Never raises for the receiver's faults: an Answer with
    ``status=None`` and the error says what went wrong (refused by the guard, no connection,
    timed out, reset)."""
    seconds = timeout_seconds() if timeout is None else timeout
    started = time.monotonic()
    deadline = started + seconds

    def ended(status: int | None, hdrs: dict[str, str], excerpt: str, error: str) -> Answer:
        return Answer(status, hdrs, excerpt, error, (time.monotonic() - started) * 1000)

    try:
        target = guard.check(url)  # resolved now: a name may point elsewhere since registration
    except guard.UnsafeURL as exc:
        answer = ended(None, {}, "", f"Refused: {exc.message}")
        answer.refused = True
        return answer
    watchdog = _Watchdog(seconds)
    watchdog.timer.start()
    conn: http.client.HTTPConnection | None = None
    try:
        sock = _connect(target, deadline)
        watchdog.sock = sock
        sock.settimeout(max(deadline - time.monotonic(), 0.001))
        conn = http.client.HTTPConnection(target.host, target.port)
        conn.sock = sock  # already connected to the checked address
        conn.putrequest("POST", target.path, skip_host=True, skip_accept_encoding=True)
        conn.putheader("Host", target.host_header)
        for name, value in {
            "User-Agent": USER_AGENT,
            "Content-Type": "application/json",
            "Content-Length": str(len(body)),
            **headers,
        }.items():
            conn.putheader(name, value)
        conn.endheaders(body)
        response = conn.getresponse()
        answer_headers = {k.lower(): v for k, v in response.getheaders()}
        raw = response.read(EXCERPT * 4)
        if watchdog.fired:  # the answer did not complete in time (a trickle): no answer
            return ended(None, {}, "", f"Timed out after {seconds:g} s.")
        return ended(response.status, answer_headers, raw.decode("utf-8", "replace")[:EXCERPT], "")
    except (OSError, http.client.HTTPException, ssl.SSLError) as exc:
        if watchdog.fired or isinstance(exc, TimeoutError | socket.timeout):
            error = f"Timed out after {seconds:g} s."
        else:
            text = str(exc).strip()
            error = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
        return ended(None, {}, "", error[:1000])
    finally:
        watchdog.timer.cancel()
        if conn is not None:
            conn.close()
        elif watchdog.sock is not None:
            watchdog.sock.close()
