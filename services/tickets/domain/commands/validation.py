"""What a ticket command checks of its input and of the ticket: the limits of subjects, texts,
tags, custom fields and linked contacts, the normalised forms that make equal values compare
equal, and the refusal of any change to a closed ticket."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence

from helpline.limits import FIELD_KEY, FIELD_VALUE, LISTS, LONG_TEXT, MAPS, SUBJECT
from helpline.v1 import common_pb2
from services.tickets.domain import lifecycle
from services.tickets.domain.errors import InvalidCommand
from services.tickets.domain.model import Status, Ticket

# The maxima are helpline.limits', which every API holds requests to before they get here.
SUBJECT_MAX = SUBJECT.max_chars
TEXT_MAX = LONG_TEXT.max_chars
MAX_TAGS = LISTS["tags"]
MAX_CUSTOM_FIELDS = MAPS["custom_fields"].max_entries
CUSTOM_FIELD_VALUE_MAX = FIELD_VALUE.max_chars
MAX_LINKED_CONTACTS = LISTS["contact_ids"]
# Tags are compared lower-cased: the REST pattern (helpline.limits.TAG) lower-cased.
TAG_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_:-]{0,49}$")
CUSTOM_FIELD_KEY_PATTERN = re.compile(FIELD_KEY.pattern or "")


def normalise_subject(subject: str) -> str:
    text = subject.strip()
    if not text:
        raise InvalidCommand("subject_required", "a ticket needs a subject")
    if len(text) > SUBJECT_MAX:
        raise InvalidCommand(
            "subject_too_long", f"the subject has {len(text)} characters; at most {SUBJECT_MAX} are allowed"
        )
    return text


def normalise_tags(tags: Iterable[str]) -> tuple[str, ...]:
    """Lower-case, deduplicated and sorted, so equal tag sets compare equal and index once."""
    normalised = sorted({tag.strip().lower() for tag in tags})
    for tag in normalised:
        if not TAG_PATTERN.match(tag):
            raise InvalidCommand(
                "invalid_tag",
                f"tag {tag!r} must be 1-50 of a-z, 0-9, '_', ':', '-', starting with a letter or digit",
                tag=tag,
            )
    if len(normalised) > MAX_TAGS:
        raise InvalidCommand("too_many_tags", f"{len(normalised)} tags; at most {MAX_TAGS} are allowed")
    return tuple(normalised)


def normalise_custom_fields(fields: Mapping[str, str]) -> dict[str, str]:
    if len(fields) > MAX_CUSTOM_FIELDS:
        raise InvalidCommand(
            "too_many_custom_fields", f"{len(fields)} custom fields; at most {MAX_CUSTOM_FIELDS} are allowed"
        )
    for key, value in fields.items():
        if not CUSTOM_FIELD_KEY_PATTERN.match(key):
            raise InvalidCommand(
                "invalid_custom_field_key",
                f"custom field key {key!r} must be 1-50 of a-z, 0-9, '_', starting with a letter",
                key=key,
            )
        if len(value) > CUSTOM_FIELD_VALUE_MAX:
            raise InvalidCommand(
                "custom_field_too_long",
                f"custom field {key!r} has {len(value)} characters; at most {CUSTOM_FIELD_VALUE_MAX}",
                key=key,
            )
    return dict(sorted(fields.items()))


def checked_text(text: str, name: str, *, required: bool) -> str:
    if required and not text.strip():
        raise InvalidCommand(f"{name}_required", f"the {name} is empty")
    if len(text) > TEXT_MAX:
        raise InvalidCommand(
            f"{name}_too_long", f"the {name} has {len(text)} characters; at most {TEXT_MAX} are allowed"
        )
    return text


def require_field(value: str, name: str) -> None:
    if not value:
        raise InvalidCommand(f"{name}_required", f"{name} is required")


def check_survey(survey_id: str, kinds: Sequence[common_pb2.SurveyKind.ValueType]) -> None:
    require_field(survey_id, "survey_id")
    if not kinds:
        raise InvalidCommand("survey_kinds_required", "a survey asks at least one question (CSAT, NPS, CES)")
    if any(kind not in common_pb2.SurveyKind.values() or kind == 0 for kind in kinds):
        raise InvalidCommand("invalid_survey_kind", f"survey kinds {list(kinds)} include an unknown kind")


def ensure_mutable(ticket: Ticket) -> None:
    # The ticket's state forbids the change, whatever the request says: a refusal, not bad input.
    if ticket.status is Status.CLOSED:
        raise lifecycle.closed_refusal(ticket)


def differs(current: object, wanted: object) -> bool:
    if isinstance(current, Mapping) and isinstance(wanted, Mapping):
        return dict(current) != dict(wanted)
    return current != wanted
