"""Structured logs: JSON lines carrying the service, and the event id, type and tenant of the event a
consumer handles."""

from __future__ import annotations

import logging
import sys
from collections.abc import MutableMapping
from contextvars import ContextVar, Token
from typing import Any, Protocol

import structlog


class HandledEvent(Protocol):
    """What a log line names of the event being handled (helpline.events.Envelope is one)."""

    @property
    def id(self) -> str: ...

    @property
    def type(self) -> str: ...

    @property
    def tenant_id(self) -> str: ...


# The event being handled. One context variable set per record rather than structlog's
# bind_contextvars, which sets one per key and took more than a third of a consumer's own time per
# record; the event itself is kept, its fields read only when a line is logged.
_HANDLING: ContextVar[HandledEvent | None] = ContextVar("helpline_handling", default=None)


def handling(event: HandledEvent) -> Token[HandledEvent | None]:
    """Put the event on every line logged until `handled(token)`; over what the context binds."""
    return _HANDLING.set(event)


def handled(token: Token[HandledEvent | None]) -> None:
    _HANDLING.reset(token)


def _add_handling(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    current = _HANDLING.get()
    if current is not None:
        # Before merge_contextvars, which fills only what is missing: a field given to the call wins,
        # then the event's, then the context's.
        event_dict.setdefault("event_id", current.id)
        event_dict.setdefault("event_type", current.type)
        event_dict.setdefault("tenant", current.tenant_id)
    return event_dict


def configure_logging(service: str, level: str = "INFO", fmt: str = "json") -> None:
    """Route both structlog and the standard library (kafka-python, grpc, uvicorn) through one renderer."""
    shared: list[structlog.types.Processor] = [
        _add_handling,
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.StackInfoRenderer(),
    ]
    renderer: structlog.types.Processor = (
        structlog.processors.JSONRenderer() if fmt == "json" else structlog.dev.ConsoleRenderer()
    )
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            renderer,
        ],
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # kafka-python is chatty at INFO about every connection, httpx about every request (a line per
    # webhook delivery: 6% of notify's time in bench/webhooks); their warnings still show.
    for chatty in ("kafka", "httpx"):
        logging.getLogger(chatty).setLevel(max(logging.WARNING, logging.getLevelName(level)))
    structlog.contextvars.clear_contextvars()
    structlog.contextvars.bind_contextvars(service=service)


def get_logger(name: str) -> structlog.stdlib.BoundLogger:
    logger: structlog.stdlib.BoundLogger = structlog.stdlib.get_logger(name)
    return logger
