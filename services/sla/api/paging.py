"""Pages of a tenant's policies or calendars, for REST (`limit`, `cursor`) and gRPC (`page_size`,
`page_token`) alike.

A cursor names the sort key of the last item returned rather than an offset, so a client paging
through while an administrator adds or removes policies neither sees one twice nor skips one that
was there throughout.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Generic, TypeVar

from services.sla.domain.calendar import Calendar
from services.sla.domain.policy import Policy

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 200

T = TypeVar("T")
# What a list is sorted by: a policy's position and id; a calendar's id (position 0).
SortKey = tuple[int, str]


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    # "" on the last page.
    next_cursor: str


def policy_order(policy: Policy) -> SortKey:
    """Evaluation order, as SlaConfig.policies gives it."""
    return policy.position, policy.policy_id


def calendar_order(calendar: Calendar) -> SortKey:
    return 0, calendar.calendar_id


def encode_cursor(key: SortKey) -> str:
    position, item_id = key
    return base64.urlsafe_b64encode(f"{position}|{item_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> SortKey | None:
    """None for the first page; ValueError for a cursor this API did not hand out."""
    if not cursor:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise ValueError("malformed page cursor") from exc
    position, sep, item_id = raw.partition("|")
    if not sep or not item_id or not position.lstrip("-").isdigit():
        raise ValueError("malformed page cursor")
    return int(position), item_id


def page(items: Iterable[T], key: Callable[[T], SortKey], size: int, cursor: str) -> Page[T]:
    """The `size` items after `cursor`, in `key` order."""
    after = decode_cursor(cursor)
    rest = [item for item in sorted(items, key=key) if after is None or key(item) > after]
    chunk = rest[:size]
    return Page(chunk, encode_cursor(key(chunk[-1])) if len(rest) > size else "")
