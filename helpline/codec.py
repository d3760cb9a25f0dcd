"""JSON for the frozen dataclasses services keep in Redis.

pydantic's TypeAdapter reads and writes a domain's dataclasses as they are (enums, datetimes,
durations, mappings, unions), about 60 us a round trip; no second model to keep in step.
"""

from __future__ import annotations

from typing import Any, Generic, TypeVar

from pydantic import TypeAdapter

R = TypeVar("R")


class Codec(Generic[R]):
    def __init__(self, kind: type[R]) -> None:
        self._adapter: TypeAdapter[R] = TypeAdapter(kind)

    def dumps(self, record: R) -> str:
        return self._adapter.dump_json(record).decode()

    def loads(self, raw: bytes | str) -> R:
        return self._adapter.validate_json(raw)

    def to_python(self, record: R) -> Any:
        return self._adapter.dump_python(record, mode="json")
