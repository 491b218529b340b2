"""What every store shares: `ensure_indexes`, and how a record's fields are told apart when stored."""

from __future__ import annotations

import re
from dataclasses import Field, dataclass, fields
from typing import Any, Literal, Protocol, TypeVar

T = TypeVar("T")
Kind = Literal["time", "json", "tuple", "bool", "plain"]
_KINDS: dict[str, Kind] = {"dict": "json", "list": "json", "tuple": "tuple", "bool": "bool"}


class IndexedStore(Protocol):
    async def ensure_indexes(self) -> None:
        """Create the indexes the queries rely on (idempotent)."""


@dataclass(frozen=True)
class RecordField:
    name: str
    kind: Kind


_FIELDS: dict[type, tuple[RecordField, ...]] = {}


def record_fields(cls: type) -> tuple[RecordField, ...]:
    """The fields of a record class (a frozen dataclass), in order, with their kinds."""
    if cls not in _FIELDS:
        _FIELDS[cls] = tuple(RecordField(f.name, _kind(f)) for f in fields(cls))
    return _FIELDS[cls]


def _kind(f: Field[Any]) -> Kind:
    # `*_at` is a datetime; else the start of its annotation tells (the records' annotations are strings).
    return "time" if f.name.endswith("_at") else _KINDS.get(re.split(r"[\[ ]", str(f.type))[0], "plain")


def build(cls: type[T], values: dict[str, Any]) -> T:
    """A `cls` from stored values by field name: names it lacks are ignored, missing ones take their defaults."""
    kept: dict[str, Any] = {}
    for field in record_fields(cls):
        if field.name in values:
            value = values[field.name]
            kept[field.name] = tuple(value) if field.kind == "tuple" and value is not None else value
    return cls(**kept)
