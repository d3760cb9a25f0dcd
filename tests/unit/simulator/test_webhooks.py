"""The survey tool's webhook receiver: Standard Webhooks signatures checked against the reference
library's, repeats dropped by webhook-id, and the HTTP it speaks on a loopback socket."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from http import HTTPStatus
from typing import Any

import httpx
import pytest
from standardwebhooks import Webhook

from simulator.webhooks import Inbox, Receiver, verify

SECRET = "whsec_" + base64.b64encode(bytes(range(32))).decode()
OTHER = "whsec_" + base64.b64encode(bytes(range(1, 33))).decode()
NOW = 1_900_000_000
EVENT = {"type": "helpline.ticket.survey_requested.v1", "data": {"ticket_id": "t-1"}}


def signed(body: bytes, message_id: str = "msg_1", at: int = NOW, secret: str = SECRET) -> dict[str, str]:
    """The headers the reference library signs a delivery with."""
    signature = Webhook(secret).sign(message_id, datetime.fromtimestamp(at, UTC), body)
    return {"webhook-id": message_id, "webhook-timestamp": str(at), "webhook-signature": signature}


def test_a_delivery_signed_by_the_reference_library_verifies() -> None:
    body = json.dumps(EVENT).encode()
    assert verify(SECRET, signed(body), body, NOW)


@pytest.mark.parametrize(
    "tamper",
    [
        pytest.param(lambda h, b: (h, b + b" "), id="body changed"),
        pytest.param(lambda h, b: (h | {"webhook-id": "msg_2"}, b), id="id changed"),
        pytest.param(lambda h, b: (h | {"webhook-timestamp": str(NOW + 1)}, b), id="timestamp changed"),
        pytest.param(lambda h, b: (signed(b, secret=OTHER), b), id="another secret"),
        pytest.param(lambda h, b: (signed(b, at=NOW - 301), b), id="too old"),
        pytest.param(lambda h, b: (signed(b, at=NOW + 301), b), id="from the future"),
        pytest.param(
            lambda h, b: ({k: v for k, v in h.items() if k != "webhook-signature"}, b), id="unsigned"
        ),
        pytest.param(lambda h, b: (h | {"webhook-signature": h["webhook-signature"][3:]}, b), id="no v1"),
        pytest.param(lambda h, b: (h | {"webhook-timestamp": "soon"}, b), id="no timestamp"),
    ],
)
def test_anything_else_is_refused(tamper: Any) -> None:
    body = json.dumps(EVENT).encode()
    headers, sent = tamper(signed(body), body)
    assert not verify(SECRET, headers, sent, NOW)


def test_any_of_several_signatures_may_match_a_secret_being_rotated() -> None:
    body = b"{}"
    rotated = f"{signed(body, secret=OTHER)['webhook-signature']} {signed(body)['webhook-signature']}"
    assert verify(SECRET, signed(body) | {"webhook-signature": rotated}, body, NOW)


def test_no_secret_verifies_nothing() -> None:
    body = b"{}"
    empty_key = Webhook(base64.b64encode(b"\0").decode()).sign(
        "msg_1", datetime.fromtimestamp(NOW, UTC), body
    )
    assert not verify("", signed(body) | {"webhook-signature": empty_key}, body, NOW)
    assert not verify("whsec_", signed(body), body, NOW)


class Taken:
    def __init__(self) -> None:
        self.events: list[tuple[str, Mapping[str, Any]]] = []
        self.problems: list[str] = []

    def inbox(self) -> Inbox:
        return Inbox(lambda kind, data: self.events.append((kind, data)), self.problems.append, SECRET)


def test_the_inbox_hands_on_each_delivery_once_and_refuses_a_forgery() -> None:
    taken = Taken()
    inbox = taken.inbox()
    body = json.dumps(EVENT).encode()
    assert inbox.take(signed(body), body, NOW) == HTTPStatus.NO_CONTENT
    # At least once: the same delivery again (its 2xx lost) is answered and dropped.
    assert inbox.take(signed(body, at=NOW + 5), body, NOW + 5) == HTTPStatus.NO_CONTENT
    assert inbox.take(signed(body, secret=OTHER, message_id="msg_2"), body, NOW) == HTTPStatus.UNAUTHORIZED
    assert taken.events == [(EVENT["type"], EVENT["data"])]
    assert inbox.repeats == 1
    assert taken.problems == ["a webhook delivery with a bad signature: 'msg_2'"]


@pytest.mark.parametrize(
    "body",
    [b"not json", b"[]", json.dumps({"type": "x"}).encode(), json.dumps({"type": 1, "data": {}}).encode()],
)
def test_a_delivery_that_is_no_cloudevent_is_a_bad_request_and_not_taken_as_seen(body: bytes) -> None:
    taken = Taken()
    inbox = taken.inbox()
    assert inbox.take(signed(body), body, NOW) == HTTPStatus.BAD_REQUEST
    assert "msg_1" not in inbox.seen
    assert len(taken.problems) == 1


def test_a_delivery_the_handler_refuses_is_a_bad_request() -> None:
    problems: list[str] = []

    def refuse(_kind: str, _data: Mapping[str, Any]) -> None:
        raise ValueError("not the run's ticket")

    inbox = Inbox(refuse, problems.append, SECRET)
    body = json.dumps(EVENT).encode()
    assert inbox.take(signed(body), body, NOW) == HTTPStatus.BAD_REQUEST
    assert problems == ["webhook delivery msg_1: not the run's ticket"]


def test_the_receiver_answers_http_on_its_socket() -> None:
    taken = Taken()
    receiver = Receiver("127.0.0.1:0", taken.inbox())
    url = receiver.url()
    assert url == f"http://127.0.0.1:{receiver.port}/"

    async def exchange() -> list[int]:
        await receiver.start()
        try:
            async with httpx.AsyncClient(timeout=5) as client:
                body = json.dumps(EVENT).encode()
                now = int(datetime.now(UTC).timestamp())
                answers = [
                    await client.post(url, content=body, headers=signed(body, at=now)),
                    await client.post(url, content=body, headers=signed(body, at=now)),
                    await client.post(url, content=body, headers=signed(body, "msg_2", now, OTHER)),
                    await client.get(url),
                ]
                return [answer.status_code for answer in answers]
        finally:
            await receiver.stop()
            receiver.close()

    assert asyncio.run(exchange()) == [204, 204, 401, 405]
    assert taken.events == [(EVENT["type"], EVENT["data"])]


def test_a_receiver_on_every_address_needs_the_url_it_is_called_at() -> None:
    receiver = Receiver("0.0.0.0:0", Taken().inbox())
    try:
        with pytest.raises(ValueError, match="give the URL"):
            receiver.url()
        assert receiver.url("http://simulator:8090/") == "http://simulator:8090/"
    finally:
        receiver.close()
