"""Every line logged while a consumer handles an event carries the event's id, type and tenant, over
what the log context binds and under what the call itself gives; nothing of it stays after."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest
import structlog

from helpline.events import event_handler, new_event, to_record
from helpline.logging import configure_logging, get_logger
from helpline.v1 import common_pb2, contact_events_pb2


def test_each_event_is_on_every_line_logged_while_handled_and_gone_after(
    capsys: pytest.CaptureFixture[str],
) -> None:
    message = contact_events_pb2.ContactReceived(
        tenant_id="acme", contact_id="c-4", channel=common_pb2.CHANNEL_CHAT
    )
    event = new_event(message, source="/test", subject="c-4")
    record = to_record(event, "helpline.contacts")
    log = get_logger("test.events")

    def handle(_envelope: object) -> None:
        log.info("inside")
        log.info("given", tenant="named-by-the-call")

    configure_logging("tests", level="INFO", fmt="json")
    try:
        with structlog.contextvars.bound_contextvars(tenant="outer"):
            event_handler(handle)(
                SimpleNamespace(topic="t", headers=record.headers, value=record.value, key=record.key)
            )
            log.info("after")
        lines = {line["event"]: line for line in map(json.loads, capsys.readouterr().err.splitlines())}
    finally:
        configure_logging("tests", level="INFO", fmt="console")
    inside = lines["inside"]
    assert (inside["event_id"], inside["event_type"], inside["tenant"]) == (event.id, event.type, "acme")
    assert (lines["given"]["tenant"], lines["given"]["event_id"]) == ("named-by-the-call", event.id)
    assert lines["after"]["tenant"] == "outer"
    assert "event_id" not in lines["after"]
