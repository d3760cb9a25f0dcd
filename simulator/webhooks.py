"""The simulated survey tool's side of the platform's webhooks (docs/notify.md): a subscription of
the run's own on the notify service, and the receiver it points at, a small HTTP server in the
run's event loop that checks every delivery's Standard Webhooks signature, drops repeats by
`webhook-id` (delivery is at least once) and hands each event on.

The receiver is `asyncio.start_server` with the few lines of HTTP/1.1 a webhook needs (one POST
with a Content-Length per connection, answered and closed) rather than uvicorn: uvicorn's server
takes over the process's signal handlers and logging, which the simulator's own Ctrl-C handling
and console own, and the notify service's client needs nothing more.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import hashlib
import hmac
import json
import socket
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

import httpx

from simulator.setup import SetupError

SECRET_PREFIX = "whsec_"  # noqa: S105 (the format's prefix, no secret)
# Standard Webhooks' advice: refuse a timestamp further than this from the receiver's clock (replays).
TOLERANCE_S = 300
# A CloudEvent body is bounded by the Kafka message limit of its topic (1 MiB).
MAX_BODY = 1 << 20
MAX_HEAD = 16 << 10
# How long a connection may take to send its request before it is dropped.
READ_TIMEOUT_S = 10.0
# What the run's subscriptions are known by, so a run cleans up one a killed run left behind.
DESCRIPTION = "helpline simulator: the simulated survey tool"

# A delivery's event type and its `data`; raising ValueError refuses the delivery (400).
Handler = Callable[[str, Mapping[str, Any]], None]


def verify(secret: str, headers: Mapping[str, str], body: bytes, now: float) -> bool:
    """Whether the delivery is signed with `secret` per Standard Webhooks: a `v1,` signature in
    `webhook-signature` (of several, space-separated, any may match) is the base64 HMAC-SHA256 of
    "<webhook-id>.<webhook-timestamp>.<body>" keyed with the secret's base64 after `whsec_`, and the
    timestamp is within TOLERANCE_S of `now` (epoch seconds). `headers` are lower-cased."""
    message_id = headers.get("webhook-id", "")
    stamp = headers.get("webhook-timestamp", "")
    if not message_id or not stamp.isdigit() or abs(now - int(stamp)) > TOLERANCE_S:
        return False
    try:
        key = base64.b64decode(secret.removeprefix(SECRET_PREFIX), validate=True)
    except (binascii.Error, ValueError):
        return False
    if not key:
        return False
    digest = hmac.new(key, f"{message_id}.{stamp}.".encode() + body, hashlib.sha256).digest()
    expected = base64.b64encode(digest).decode()
    return any(
        hmac.compare_digest(expected, given.removeprefix("v1,"))
        for given in headers.get("webhook-signature", "").split()
        if given.startswith("v1,")
    )


@dataclass
class Inbox:
    """What the receiver does with one delivery, without the sockets: verify, drop a repeat, parse
    the structured CloudEvent, hand it on. Answers the HTTP status to send; what it refuses goes to
    `problem`. The secret is the subscription's, known once it is made."""

    handler: Handler
    problem: Callable[[str], None]
    secret: str = ""
    seen: set[str] = field(default_factory=set)
    repeats: int = 0

    def take(self, headers: Mapping[str, str], body: bytes, now: float) -> HTTPStatus:
        if not verify(self.secret, headers, body, now):
            self.problem(f"a webhook delivery with a bad signature: {headers.get('webhook-id', '')!r}")
            return HTTPStatus.UNAUTHORIZED
        message_id = headers["webhook-id"]
        if message_id in self.seen:
            self.repeats += 1
            return HTTPStatus.NO_CONTENT
        try:
            event = json.loads(body)
            event_type, data = event["type"], event["data"]
            if not (isinstance(event_type, str) and isinstance(data, dict)):
                raise ValueError("a CloudEvent's type is a string and its data an object")
            self.handler(event_type, data)
        except (ValueError, KeyError, TypeError) as exc:
            self.problem(f"webhook delivery {message_id}: {exc}")
            return HTTPStatus.BAD_REQUEST
        self.seen.add(message_id)
        return HTTPStatus.NO_CONTENT


class Receiver:
    """The inbox on a socket bound at construction (so its port is known before it serves); it
    serves from `start` to `stop`. A delivery that comes before `start` waits in the backlog."""

    def __init__(self, listen: str, inbox: Inbox) -> None:
        host, _, port = listen.rpartition(":")
        self.inbox = inbox
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self._socket = socket.socket(family, socket.SOCK_STREAM)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            self._socket.bind((host.strip("[]"), int(port)))
            self._socket.listen()
        except OSError:
            self._socket.close()
            raise
        self.host = host
        self.port: int = self._socket.getsockname()[1]
        self._server: asyncio.Server | None = None

    def url(self, given: str = "") -> str:
        """Where the notify service is to call: `given`, or the bound address when that is one
        another process can name."""
        if given:
            return given
        if self.host in ("", "0.0.0.0", "[::]"):  # noqa: S104 (reading the address, not binding it)
            raise ValueError(
                f"the receiver listens on all addresses ({self.host or '*'}:{self.port}): "
                "give the URL the notify service reaches it at"
            )
        return f"http://{self.host}:{self.port}/"

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, sock=self._socket, limit=MAX_HEAD)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    def close(self) -> None:
        self._socket.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            status = await asyncio.wait_for(self._request(reader), READ_TIMEOUT_S)
        except (TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError):
            status = HTTPStatus.BAD_REQUEST
        head = f"HTTP/1.1 {status.value} {status.phrase}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
        with contextlib.suppress(ConnectionError):
            writer.write(head.encode("ascii"))
            await writer.drain()
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()

    async def _request(self, reader: asyncio.StreamReader) -> HTTPStatus:
        head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
        request_line, *lines = head.split("\r\n")
        method = request_line.split(" ", 1)[0]
        headers = {}
        for line in lines:
            name, colon, value = line.partition(":")
            if colon:
                headers[name.strip().lower()] = value.strip()
        if method != "POST":
            return HTTPStatus.METHOD_NOT_ALLOWED
        length = headers.get("content-length", "")
        if not length.isdigit():
            return HTTPStatus.LENGTH_REQUIRED
        if int(length) > MAX_BODY:
            return HTTPStatus.REQUEST_ENTITY_TOO_LARGE
        body = await reader.readexactly(int(length))
        return self.inbox.take(headers, body, time.time())


def subscribe(client: httpx.Client, api_key: str, url: str, event_types: list[str]) -> tuple[str, str]:
    """Subscribe `url` to the tenant's `event_types` (the key's tenant), after removing the
    subscriptions an earlier run left behind (a run killed before it unsubscribed); returns the
    subscription's id and its signing secret."""
    headers = {"X-API-Key": api_key}
    for leftover in _ours(client, headers):
        unsubscribe(client, api_key, leftover)
    body = {"url": url, "event_types": event_types, "description": DESCRIPTION}
    answer = client.post("/v1/webhooks", json=body, headers=headers)
    if answer.status_code != HTTPStatus.CREATED:
        raise SetupError(f"POST {client.base_url}/v1/webhooks: {answer.status_code} {answer.text}")
    created = answer.json()
    return created["id"], created["secret"]


def unsubscribe(client: httpx.Client, api_key: str, subscription_id: str) -> None:
    answer = client.delete(f"/v1/webhooks/{subscription_id}", headers={"X-API-Key": api_key})
    if answer.status_code not in (HTTPStatus.NO_CONTENT, HTTPStatus.NOT_FOUND):
        raise SetupError(
            f"DELETE {client.base_url}/v1/webhooks/{subscription_id}: {answer.status_code} {answer.text}"
        )


def _ours(client: httpx.Client, headers: Mapping[str, str]) -> list[str]:
    found, cursor = [], ""
    while True:
        params = {"cursor": cursor} if cursor else {}
        answer = client.get("/v1/webhooks", params=params, headers=headers)
        if answer.status_code != HTTPStatus.OK:
            raise SetupError(f"GET {client.base_url}/v1/webhooks: {answer.status_code} {answer.text}")
        page = answer.json()
        found += [item["id"] for item in page["items"] if item["description"] == DESCRIPTION]
        cursor = page["next_cursor"] or ""
        if not cursor:
            return found
