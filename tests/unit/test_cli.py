"""CLI pieces that need no broker."""

from __future__ import annotations

from typer.testing import CliRunner

from helpline.cli import _entity_id, app
from helpline.v1 import contact_events_pb2, ticket_events_pb2


def test_key_field_is_found_on_the_message_or_one_level_down() -> None:
    assert _entity_id(contact_events_pb2.ContactReceived(contact_id="c-1"), "contact_id") == "c-1"
    created = ticket_events_pb2.TicketCreated()
    created.ticket.ticket_id = "t-1"
    assert _entity_id(created, "ticket_id") == "t-1"
    assert _entity_id(ticket_events_pb2.TicketCreated(), "ticket_id") is None


def test_publish_refuses_an_unknown_type_and_lists_the_known_ones() -> None:
    result = CliRunner().invoke(app, ["publish", "helpline.nothing.v1", "--json", "{}"])
    assert result.exit_code == 2
    assert "unknown event type" in result.output
    assert "helpline.contact.received.v1" in result.output


def test_publish_refuses_json_that_does_not_fit_the_message() -> None:
    result = CliRunner().invoke(
        app, ["publish", "helpline.contact.received.v1", "--json", '{"contactId": "c", "bogus": 1}']
    )
    assert result.exit_code == 2
    assert "bogus" in result.output


def test_run_refuses_an_unknown_service() -> None:
    result = CliRunner().invoke(app, ["run", "billing"])
    assert result.exit_code == 2
    assert "router" in result.output


def test_publish_to_a_topic_other_systems_write_needs_an_ingress_key() -> None:
    received = ["publish", "helpline.contact.received.v1", "--json", '{"tenantId": "acme", "contactId": "c"}']
    unsigned = CliRunner().invoke(
        app, [*received, "--topic", "helpline.contacts.ingress"], env={"HELPLINE_INGRESS_KEY": ""}
    )
    assert unsigned.exit_code == 2
    assert "--ingress-key" in unsigned.output
    malformed = CliRunner().invoke(
        app, [*received, "--topic", "helpline.contacts.ingress", "--ingress-key", "no-colon"]
    )
    assert malformed.exit_code == 2
    assert "KEY_ID:SECRET" in malformed.output
