"""The sender against a real HTTP server: the host's addresses checked at each attempt (DNS
rebinding), the connection pinned to the address checked, redirects not followed."""

from __future__ import annotations

import ipaddress
from datetime import UTC, datetime

from services.notify.deliverer import Sender
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
