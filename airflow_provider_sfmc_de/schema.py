"""The shape of a Data Extension, as SFMC describes it; no Airflow imports."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping


class FieldType(enum.StrEnum):
    """Data Extension field types, spelled as SFMC spells them."""

    TEXT = "Text"
    NUMBER = "Number"
    DATE = "Date"
    BOOLEAN = "Boolean"
    EMAIL_ADDRESS = "EmailAddress"
    PHONE = "Phone"
    DECIMAL = "Decimal"
    LOCALE = "Locale"


@dataclass(frozen=True, slots=True)
class DataExtensionField:
    """One column of a Data Extension."""

    name: str
    type: FieldType
    length: int | None = None
    scale: int | None = None
    is_primary_key: bool = False
    is_nullable: bool = True
    default_value: str | None = None
    ordinal: int = 0

    @property
    def is_required(self) -> bool:
        """A primary-key field is always required, whatever ``isNullable`` says."""
        return self.is_primary_key or not self.is_nullable

    @classmethod
    def from_api(cls, payload: Mapping[str, Any]) -> DataExtensionField:
        """Build a field from one item of ``GET /data/v1/customobjects/{id}/fields``."""
        return cls(
            name=payload["name"],
            type=FieldType(payload["type"]),
            length=payload.get("length") or None,
            scale=payload.get("scale"),
            is_primary_key=bool(payload.get("isPrimaryKey", False)),
            is_nullable=bool(payload.get("isNullable", True)),
            default_value=payload.get("defaultValue"),
            ordinal=int(payload.get("ordinal", 0)),
        )


@dataclass(frozen=True, slots=True)
class DataExtensionSchema:
    """A Data Extension's identity and its fields, in ordinal order."""

    key: str
    id: str
    name: str
    fields: tuple[DataExtensionField, ...]

    @classmethod
    def from_api(
        cls, *, key: str, id: str, name: str, fields: Iterable[Mapping[str, Any]]
    ) -> DataExtensionSchema:
        parsed = sorted((DataExtensionField.from_api(field) for field in fields), key=_ordinal)
        return cls(key=key, id=id, name=name, fields=tuple(parsed))

    @property
    def field_names(self) -> tuple[str, ...]:
        return tuple(field.name for field in self.fields)

    @property
    def primary_key(self) -> tuple[str, ...]:
        return tuple(field.name for field in self.fields if field.is_primary_key)

    def field(self, name: str) -> DataExtensionField:
        """Return the field named exactly ``name``; raise ``KeyError`` otherwise."""
        for field in self.fields:
            if field.name == name:
                return field
        raise KeyError(name)


def _ordinal(field: DataExtensionField) -> int:
    return field.ordinal
