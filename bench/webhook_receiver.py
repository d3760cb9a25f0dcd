"""The webhook target of bench.webhooks: an HTTP/1.1 server on 127.0.0.1, its own process, that
answers every POST with 204 at once and keeps, per request, its path, its arrival (epoch seconds)
and what its signature is checked against later.

    python -m bench.webhook_receiver --port PORT --secret whsec_...

It must not be what limits the rate it measures: the bare client's rate is its ceiling. So it is an
asyncio protocol that reads Content-Length framed requests on kept-alive connections and writes a
fixed answer, one thread, no framework. On the 2-CPU development machine a bare httpx client of 8
threads posted 1,700/s to it, using 0.08 of a core in it (the client itself, at 0.9 of a core, was
the limit), against 1,060/s to `http.server.ThreadingHTTPServer` with keep-alive (0.2 of a core,
its threads also taking the client's CPU) and 1,250/s to uvicorn with its pure-Python h11 parser
(httptools and uvloop are not dependencies). The signatures are checked when the records are read,
not while requests arrive, so checking every one costs the timed phases nothing. Chunked bodies are
not taken (411): the notify service and the bare client send Content-Length.

Control, on the same port: `GET /_count?path=P` gives the distinct `webhook-id`s received on P;
`GET /_records?path=P` gives P's requests as JSON, `[[webhook-id, arrival, signature valid], ...]`,
validity checked with the secret (a timestamp within 5 minutes of its arrival, the signature that
of the body).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import time
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

from services.notify.domain import signing

NO_CONTENT = b"HTTP/1.1 204 No Content\r\n\r\n"
LENGTH_REQUIRED = b"HTTP/1.1 411 Length Required\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
# A request head (line and headers) past this is not one of the benchmark's clients': closed.
MAX_HEAD_BYTES = 64 * 1024


@dataclass(frozen=True)
class Arrival:
    webhook_id: str
    at: float
    headers: dict[str, str]
    body: bytes


class Receiver:
    def __init__(self, secret: str) -> None:
        self.secret = secret
        self.by_path: dict[str, list[Arrival]] = {}
        self.distinct: dict[str, set[str]] = {}

    def keep(self, path: str, headers: dict[str, str], body: bytes) -> None:
        webhook_id = headers.get(signing.ID_HEADER, "")
        self.by_path.setdefault(path, []).append(Arrival(webhook_id, time.time(), headers, body))
        self.distinct.setdefault(path, set()).add(webhook_id)

    def control(self, target: str) -> bytes:
        parts = urlsplit(target)
        path = parse_qs(parts.query).get("path", [""])[0]
        if parts.path == "/_count":
            answer: object = len(self.distinct.get(path, ()))
        elif parts.path == "/_records":
            answer = [
                [a.webhook_id, a.at, signing.verify(self.secret, a.headers, a.body, int(a.at))]
                for a in self.by_path.get(path, [])
            ]
        else:
            return b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n"
        body = json.dumps(answer).encode()
        return (
            b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
            + f"content-length: {len(body)}\r\n\r\n".encode()
            + body
        )


class Connection(asyncio.Protocol):
    def __init__(self, receiver: Receiver) -> None:
        self.receiver = receiver
        self.buffer = bytearray()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        assert self.transport is not None
        self.buffer += data
        # A client may send its next request before reading an answer (pipelining): answer each.
        while True:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                if len(self.buffer) > MAX_HEAD_BYTES:
                    self.transport.close()
                return
            request_line, *lines = self.buffer[:end].decode("latin-1").split("\r\n")
            method, target, _ = request_line.split(" ", 2)
            headers = {}
            for line in lines:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
            if "transfer-encoding" in headers:
                self.transport.write(LENGTH_REQUIRED)
                self.transport.close()
                return
            length = int(headers.get("content-length", "0"))
            if len(self.buffer) < end + 4 + length:
                return
            body = bytes(self.buffer[end + 4 : end + 4 + length])
            del self.buffer[: end + 4 + length]
            if method == "POST":
                self.receiver.keep(target, headers, body)
                self.transport.write(NO_CONTENT)
            else:
                self.transport.write(self.receiver.control(target))
            if headers.get("connection", "").lower() == "close":
                self.transport.close()
                return


async def serve(port: int, secret: str) -> None:
    receiver = Receiver(secret)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: Connection(receiver), "127.0.0.1", port, backlog=1024)
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    async with server:
        await stop.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--secret", required=True, help="the subscription's whsec_ secret")
    args = parser.parse_args()
    asyncio.run(serve(args.port, args.secret))


if __name__ == "__main__":
    main()
