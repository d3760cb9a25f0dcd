"""The sender against a real HTTP server: the host's addresses checked at each attempt (DNS
rebinding), the connection pinned to the address checked, redirects not followed, the connection
kept for the next attempt unless the answer is too large to read, and no cookie kept."""

from __future__ import annotations

import ipaddress
import socket
import threading
from datetime import UTC, datetime

from services.notify.deliverer import MAX_ANSWER_BYTES, Sender
from services.notify.domain.signing import new_secret, verify
from tests.integration.notify.receiver import receiving

NOW = datetime.now(UTC)
LOOPBACK = ipaddress.ip_address("127.0.0.1")


def test_a_name_that_resolves_to_a_private_address_is_refused_at_delivery() -> None:
    with receiving() as receiver:
        port = receiver.server.server_address[1]
        sender = Sender(timeout_s=2, allow_private=False, resolver=lambda _h, _p: [LOOPBACK])
        attempt = sender.post(f"http://hooks.example:{port}/in", "msg_1", b"{}", new_secret(), NOW)
        sender.close()
        assert (attempt.status_code, attempt.ok) == (0, False)
        assert "127.0.0.1 is a loopback address" in attempt.error
        assert receiver.at("/in") == []


def test_the_connection_goes_to_the_address_checked_with_the_named_host() -> None:
    secret = new_secret()
    with receiving() as receiver:
        port = receiver.server.server_address[1]
        sender = Sender(timeout_s=2, allow_private=True, resolver=lambda _h, _p: [LOOPBACK])
        attempt = sender.post(f"http://hooks.example:{port}/in?x=1", "msg_1", b'{"a":1}', secret, NOW)
        receiver.answer("/moved", 302)
        moved = sender.post(f"http://hooks.example:{port}/moved", "msg_2", b"{}", secret, NOW)
        sender.close()
    assert attempt.ok, attempt.error
    (got,) = receiver.at("/in?x=1")
    assert got.headers["host"] == f"hooks.example:{port}"
    assert verify(secret, got.headers, b'{"a":1}', int(NOW.timestamp()))
    assert (moved.ok, moved.status_code, moved.error) == (False, 302, "HTTP 302")


def test_an_unreachable_target_is_a_failed_attempt_not_an_error() -> None:
    with receiving() as receiver:
        port = receiver.server.server_address[1]
    sender = Sender(timeout_s=1, allow_private=True, resolver=lambda _h, _p: [LOOPBACK])
    attempt = sender.post(f"http://hooks.example:{port}/in", "msg_1", b"{}", new_secret(), NOW)
    sender.close()
    assert attempt.status_code == 0
    assert "ConnectError" in attempt.error


def test_the_connection_is_kept_for_the_next_attempt_unless_the_answer_is_too_large() -> None:
    with receiving() as receiver:
        url = receiver.url("/in")
        sender = Sender(timeout_s=2, allow_private=True)
        for n in range(3):
            assert sender.post(url, f"msg_{n}", b"{}", new_secret(), NOW).ok
        receiver.answer("/in", 200, body=b"x" * (MAX_ANSWER_BYTES * 4))
        large = sender.post(url, "msg_large", b"{}", new_secret(), NOW)
        receiver.answer("/in", 204)
        after = sender.post(url, "msg_after", b"{}", new_secret(), NOW)
        sender.close()
    assert (large.ok, after.ok) == (True, True)
    ports = [got.peer_port for got in receiver.at("/in")]
    # One connection for the first four (the fourth dropped, its answer left unread), then another.
    assert len(set(ports[:4])) == 1
    assert ports[4] != ports[0]


def test_a_cookie_a_target_sets_is_never_sent() -> None:
    with receiving() as receiver:
        receiver.answer("/in", 204, headers=(("set-cookie", "session=tenant-a; Path=/"),))
        sender = Sender(timeout_s=2, allow_private=True)
        assert sender.post(receiver.url("/in"), "msg_1", b"{}", new_secret(), NOW).ok
        assert sender.post(receiver.url("/in"), "msg_2", b"{}", new_secret(), NOW).ok
        sender.close()
    assert ["cookie" in got.headers for got in receiver.at("/in")] == [False, False]


def test_a_2xx_whose_body_is_cut_short_is_still_delivered() -> None:
    """The status answers the attempt; the body is read only to keep the connection."""
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]

    def answer_short() -> None:
        connection, _ = server.accept()
        with connection:
            connection.recv(65536)
            connection.sendall(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\nshort")

    thread = threading.Thread(target=answer_short, daemon=True)
    thread.start()
    sender = Sender(timeout_s=2, allow_private=True)
    attempt = sender.post(f"http://127.0.0.1:{port}/in", "msg_1", b"{}", new_secret(), NOW)
    sender.close()
    thread.join(5)
    server.close()
    assert (attempt.ok, attempt.status_code, attempt.error) == (True, 200, "")
