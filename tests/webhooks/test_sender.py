"""The signed POST itself, against real servers on 127.0.0.1: TLS to the checked address with
the URL's host name verified, a receiver that trickles its answer cut at the timeout."""

import socket
import ssl
import subprocess
import threading
import time

import pytest

from tests.webhooks.receiver import Receiver
from webhooks import sender


@pytest.fixture
def tls_receiver(tmp_path):
    """The test receiver behind TLS, with a self-signed certificate for `localhost`."""
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
            "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost",
            "-keyout", str(key), "-out", str(cert),
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    with Receiver() as receiver:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(cert, key)
        receiver.server.socket = context.wrap_socket(receiver.server.socket, server_side=True)
        yield receiver, cert


def test_https_goes_to_the_checked_address_and_verifies_the_host_name(
    tls_receiver, monkeypatch, settings
):
    settings.WEBHOOKS_TIMEOUT_SECONDS = 5
    receiver, cert = tls_receiver
    port = receiver.server.server_address[1]
    url = f"https://localhost:{port}/hook"
    # Not trusted: the certificate is refused, nothing is delivered.
    answer = sender.post(url, body=b"{}", headers={})
    assert answer.status is None and "CERTIFICATE_VERIFY_FAILED" in answer.error
    # Trusted (as a public CA would be): delivered, the Host header names the URL's host.
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))
    answer = sender.post(url, body=b'{"a": 1}', headers={"Rubric-Event": "item.approved"})
    assert answer.status == 200, answer.error
    request = receiver.received[-1]
    assert request.body == b'{"a": 1}'
    assert request.headers["host"] == f"localhost:{port}"
    assert request.headers["rubric-event"] == "item.approved"


def test_a_receiver_that_trickles_its_answer_is_cut_at_the_timeout(settings):
    settings.WEBHOOKS_TIMEOUT_SECONDS = 1
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    stop = threading.Event()

    def trickle():
        conn, _ = server.accept()
        with conn:
            conn.recv(65536)
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n")
            while not stop.is_set():  # one byte every 0.2 s: never idle long enough to time out
                try:
                    conn.sendall(b"x")
                except OSError:
                    return
                time.sleep(0.2)

    thread = threading.Thread(target=trickle, daemon=True)
    thread.start()
    started = time.monotonic()
    answer = sender.post(f"http://127.0.0.1:{server.getsockname()[1]}/hook", body=b"{}", headers={})
    elapsed = time.monotonic() - started
    stop.set()
    server.close()
    assert elapsed < 2.0  # the whole attempt, not each read, is bounded
    assert answer.status is None and "Timed out after 1 s" in answer.error


def test_the_signature_is_an_hmac_of_the_timestamp_and_the_body():
    import hashlib
    import hmac

    expected = hmac.new(b"whsec_k", b"1700000000.{}", hashlib.sha256).hexdigest()
    assert sender.signature("whsec_k", 1700000000, b"{}") == f"sha256={expected}"
    assert sender.signature("whsec_k", 1700000001, b"{}") != f"sha256={expected}"
