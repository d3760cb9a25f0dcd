"""The one validator every request and ingress event passes: each kind of limit, named by field."""

from __future__ import annotations

import pytest
from google.protobuf.message import Message
from hypothesis import given
from hypothesis import strategies as st

from helpline.events import new_event, to_record
from helpline.limits import (
    ID,
    MAX_EVENT_BYTES,
    EventTooLargeError,
    LimitError,
    largest_field,
    validate,
)
from helpline.v1 import contact_events_pb2, feedback_events_pb2, router_service_pb2, ticket_service_pb2


def refusal(message: Message) -> tuple[str, str]:
    with pytest.raises(LimitError) as refused:
        validate(message)
    return refused.value.rule, refused.value.field


def test_a_bot_summary_over_its_maximum_is_refused_naming_the_nested_field() -> None:
    request = router_service_pb2.SubmitContactRequest(contact_id="c-1")
    request.context.bot_transcript_summary = "x" * 1_500_000
    assert refusal(request) == ("too_long", "context.bot_transcript_summary")


def test_an_id_is_at_most_128_characters_of_the_rest_pattern() -> None:
    assert refusal(ticket_service_pb2.CreateTicketRequest(requester_id="r" * 129)) == (
        "too_long",
        "requester_id",
    )
    assert refusal(ticket_service_pb2.CreateTicketRequest(requester_id="has space")) == (
        "invalid_id",
        "requester_id",
    )
    validate(ticket_service_pb2.CreateTicketRequest(requester_id="ann@example.com", subject="Hi"))


@pytest.mark.parametrize("marker", ["-", "_", ".", ":x", "@x"])
def test_no_id_can_be_an_internal_marker(marker: str) -> None:
    assert refusal(ticket_service_pb2.AssignTicketRequest(ticket_id="t-1", assignee_id=marker)) == (
        "invalid_id",
        "assignee_id",
    )


def test_lists_and_maps_have_a_most_items_and_entries() -> None:
    assert refusal(ticket_service_pb2.CreateTicketRequest(tags=["vip"] * 51)) == ("too_many_items", "tags")
    assert refusal(ticket_service_pb2.CreateTicketRequest(tags=["not a tag"])) == ("invalid_tag", "tags[0]")
    many = router_service_pb2.SubmitContactRequest(contact_id="c-1")
    many.context.attributes.update({f"k{i}": "v" for i in range(51)})
    assert refusal(many) == ("too_many_entries", "context.attributes")
    long_value = router_service_pb2.SubmitContactRequest(contact_id="c-1")
    long_value.context.attributes["plan"] = "v" * 1025
    assert refusal(long_value) == ("too_long", "context.attributes[plan]")
    fields = ticket_service_pb2.CreateTicketRequest()
    fields.custom_fields["Not-A-Key"] = "v"
    assert refusal(fields) == ("invalid_field_name", "custom_fields key")


def test_ingress_events_and_survey_answers_are_held_to_the_same_limits() -> None:
    received = contact_events_pb2.ContactReceived(tenant_id="Acme Corp", contact_id="c-1")
    assert refusal(received) == ("invalid_tenant_id", "tenant_id")
    survey = feedback_events_pb2.SurveyAnswered(tenant_id="acme", comment="x" * 65_537)
    assert refusal(survey) == ("too_long", "comment")


def test_an_event_larger_than_a_kafka_message_is_refused_before_the_outbox_naming_its_largest_field() -> None:
    queued = contact_events_pb2.ContactReceived(tenant_id="acme", contact_id="c-1")
    queued.context.bot_transcript_summary = "x" * MAX_EVENT_BYTES
    with pytest.raises(EventTooLargeError) as refused:
        to_record(new_event(queued, source="/test"), "helpline.contacts")
    assert refused.value.field == "context.bot_transcript_summary"
    assert refused.value.rule == "event_too_large"
    queued.context.bot_transcript_summary = "x" * 1000
    assert to_record(new_event(queued, source="/test"), "helpline.contacts").value


def test_the_largest_field_is_found_among_lists_and_maps() -> None:
    request = ticket_service_pb2.CreateTicketRequest(subject="s", tags=["a"] * 5)
    request.custom_fields.update({f"f{i}": "v" * 100 for i in range(10)})
    assert largest_field(request) == "custom_fields"


@given(st.text(min_size=1, max_size=140))
def test_an_id_is_accepted_exactly_when_it_matches_the_pattern(candidate: str) -> None:
    request = router_service_pb2.AcceptOfferRequest(agent_id=candidate, offer_id="o-1")
    problem = ID.problem(candidate)
    if problem is None:
        validate(request)
    else:
        assert refusal(request) == (problem[0], "agent_id")
