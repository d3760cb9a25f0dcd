"""The words every service's domain shares with the contracts (common.proto): priority,
department, support tier, channel, ticket status and type, and author type, with their protobuf
values. Each is defined here once, since services never import each other: the router and tickets
both read channels, tickets and the SLA service both read ticket statuses and authors.

They are string enums rather than the generated protobuf enums because the domains store, compare
and show DOMAIN.md's words (`web_form`, `on_hold`) in Redis records, REST bodies and policies;
`enum_map` ties each member to the contract value of the same name and fails at import if the
contract lacks one, so the two cannot drift apart.
"""

from __future__ import annotations

from enum import StrEnum

from helpline.domain import enum_map
from helpline.v1 import common_pb2


class Priority(StrEnum):
    LOW = "low"
    NORMAL = "normal"
    HIGH = "high"
    URGENT = "urgent"


class Department(StrEnum):
    SERVICE = "service"
    SUPPORT = "support"


class Tier(StrEnum):
    L1 = "L1"
    L2 = "L2"
    L3 = "L3"


class Channel(StrEnum):
    """How a contact reached the centre, and `API`: a ticket opened through the tickets API, with no
    contact. The contract has no value for `API` (it travels as CHANNEL_UNSPECIFIED); no agent
    takes it, so the router refuses it wherever the router's rules refuse self-service and bot."""

    VOICE = "voice"
    CHAT = "chat"
    EMAIL = "email"
    SMS = "sms"
    SOCIAL = "social"
    WEB_FORM = "web_form"
    CALLBACK = "callback"
    TASK = "task"
    SELF_SERVICE = "self_service"
    BOT = "bot"
    API = "api"


class TicketStatus(StrEnum):
    NEW = "new"
    OPEN = "open"
    PENDING = "pending"
    ON_HOLD = "on_hold"
    SOLVED = "solved"
    CLOSED = "closed"


class TicketType(StrEnum):
    QUESTION = "question"
    INCIDENT = "incident"
    PROBLEM = "problem"
    TASK = "task"
    COMPLAINT = "complaint"
    FEEDBACK = "feedback"
    FIELD_SERVICE = "field_service"


class AuthorType(StrEnum):
    AGENT = "agent"
    CUSTOMER = "customer"
    SYSTEM = "system"


PRIORITY_TO_PROTO = enum_map(Priority, common_pb2.Priority, "PRIORITY_")
DEPARTMENT_TO_PROTO = enum_map(Department, common_pb2.Department, "DEPARTMENT_")
TIER_TO_PROTO = enum_map(Tier, common_pb2.Tier, "TIER_")
CHANNEL_TO_PROTO = enum_map(
    Channel, common_pb2.Channel, "CHANNEL_", {Channel.API: common_pb2.CHANNEL_UNSPECIFIED}
)
# The channels of contacts: every one but API. Read back through this table, CHANNEL_UNSPECIFIED is
# no channel, so a reader's default (or refusal) applies.
CONTACT_CHANNEL_TO_PROTO = {channel: value for channel, value in CHANNEL_TO_PROTO.items() if value}
TICKET_STATUS_TO_PROTO = enum_map(TicketStatus, common_pb2.TicketStatus, "TICKET_STATUS_")
TICKET_TYPE_TO_PROTO = enum_map(TicketType, common_pb2.TicketType, "TICKET_TYPE_")
AUTHOR_TYPE_TO_PROTO = enum_map(AuthorType, common_pb2.AuthorType, "AUTHOR_TYPE_")
