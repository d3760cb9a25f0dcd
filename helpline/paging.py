"""Pages of a tenant's configuration (queues, agents, SLA policies...), for REST (`limit`,
`cursor`) and gRPC (`page_size`, `page_token`) alike.

A cursor names the sort key of the last item returned rather than an offset, so a client paging
through while an administrator adds or removes items neither sees one twice nor skips one that was
there throughout.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Annotated, Generic, TypeVar

from fastapi import Query

from helpline.rest import ProblemError

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 200

T = TypeVar("T")
# What a list is sorted by: a position and an id (an SLA policy's evaluation order), or an id alone
# (position 0).
SortKey = tuple[int, str]
Limit = Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE, description="Items per page.")]
Cursor = Annotated[str, Query(max_length=512, description="`next_cursor` of the page before.")]


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    # "" on the last page.
    next_cursor: str


def by_id(item_id: str) -> SortKey:
    return 0, item_id


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


def paged(items: Iterable[T], key: Callable[[T], SortKey], limit: int, cursor: str) -> Page[T]:
    """`page` for a REST API: a cursor it did not hand out is a 400 problem."""
    try:
        return page(items, key, limit, cursor)
    except ValueError as exc:
        raise ProblemError(400, "Bad Request", "the cursor is not one this API returned") from exc
