"""What every store shares: `ensure_indexes`, how a record's fields are told apart when stored, and what no
store keeps (`refuse_unstorable`: the same 400 from SQLite and MongoDB)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import Field, dataclass, fields, is_dataclass
from typing import Any, Literal, Protocol, TypeVar

from app.errors import UnstorableValue

# MongoDB's largest document (BSON); the embedded store refuses a larger record too, so both answer alike.
MAX_RECORD_BYTES = 16 * 1024 * 1024

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


def _has_nul_key(value: Any) -> bool:
    if isinstance(value, Mapping):
        return any("\x00" in str(key) or _has_nul_key(item) for key, item in value.items())
    if isinstance(value, list | tuple):
        return any(_has_nul_key(item) for item in value)
    return False


def refuse_unstorable(values: Mapping[str, Any], size: int = 0) -> None:
    """Raise UnstorableValue naming the field (`values`' name) that holds a key with U+0000 (BSON keys cannot,
    so MongoDB refuses it), or for a record of `size` bytes over MAX_RECORD_BYTES."""
    for name, value in _flat(values).items():
        if _has_nul_key(value):
            raise UnstorableValue(f"{name}: object keys must not contain the character U+0000.", field=name)
    if size > MAX_RECORD_BYTES:
        fields_ = _flat(values)
        largest = max(fields_, key=lambda name: len(repr(fields_[name])), default=None)
        limit = f"{MAX_RECORD_BYTES // (1024 * 1024)} MiB"
        raise UnstorableValue(f"{largest}: the object to store would be over {limit}.", field=largest)


def refuse_unstorable_text(values: Mapping[str, Any], texts: tuple[Any, ...]) -> None:
    """`refuse_unstorable` for a store that keeps records as text (JSON), checked only when the `texts` could
    break its rules: a key with U+0000 shows in JSON as the escape `\\u0000` (a string value may hold it too:
    the check then looks closer)."""
    size = sum(len(text) for text in texts if isinstance(text, str))
    if size > MAX_RECORD_BYTES or any("\\u0000" in text for text in texts if isinstance(text, str)):
        refuse_unstorable(values, size)


def _flat(values: Mapping[str, Any]) -> dict[str, Any]:
    """Records' fields in place of the records."""
    flat: dict[str, Any] = {}
    for name, value in values.items():
        if is_dataclass(value) and not isinstance(value, type):
            flat.update({f.name: getattr(value, f.name) for f in record_fields(type(value))})
        else:
            flat[name] = value
    return flat
