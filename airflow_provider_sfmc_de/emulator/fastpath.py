"""Check a whole request of clean rows in C, with a msgspec type built from the Data Extension.

Most loads are clean: every row has the exact field names, JSON types that need no coercion,
and values within the rules. For those, msgspec checks types, lengths, ranges and patterns while
it decodes, and the rows go to SQLite as tuples. Anything else (a bad value, a coercion SFMC
would make, a name in another case, an empty string) makes :meth:`FastRowDecoder.decode` return
``None`` and the request takes the row-by-row path in ``rowcheck``, which names the problem.
The rules match ``rowcheck``'s; only their speed differs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import msgspec

from airflow_provider_sfmc_de.emulator.rowcheck import (
    CONVERTERS,
    EMAIL_PATTERN,
    LOCALE_PATTERN,
    NUMBER_MAX,
    NUMBER_MIN,
    PHONE_PATTERN,
    RowError,
)
from airflow_provider_sfmc_de.schema import FieldType

if TYPE_CHECKING:
    from collections.abc import Callable

    from airflow_provider_sfmc_de.emulator.config import DataExtensionDefinition, FieldDefinition

_PATTERNS = {
    FieldType.EMAIL_ADDRESS: EMAIL_PATTERN,
    FieldType.PHONE: PHONE_PATTERN,
    FieldType.LOCALE: LOCALE_PATTERN,
}
# Types whose JSON value still needs converting to the stored value after decoding.
_CONVERTED_LATER = frozenset({FieldType.DATE, FieldType.DECIMAL})


def _value_type(field: FieldDefinition) -> Any:
    """The msgspec type that accepts exactly the clean JSON values of a field."""
    if field.type is FieldType.NUMBER:
        return Annotated[int, msgspec.Meta(ge=NUMBER_MIN, le=NUMBER_MAX)]
    if field.type is FieldType.BOOLEAN:
        return bool
    if field.type is FieldType.DECIMAL:
        return int | float | Annotated[str, msgspec.Meta(min_length=1)]
    constraints: dict[str, Any] = {"min_length": 1}
    if field.length is not None and field.type is not FieldType.DATE:
        constraints["max_length"] = field.length
    if field.type in _PATTERNS:
        constraints["pattern"] = rf"\A(?:{_PATTERNS[field.type].pattern})\Z"
    return Annotated[str, msgspec.Meta(**constraints)]


class FastRowDecoder:
    """Decode an async request body straight into stored-value tuples, in field order.

    :param extension: the Data Extension the rows are for.
    """

    def __init__(self, extension: DataExtensionDefinition) -> None:
        self.columns = [field.name for field in extension.fields]
        struct_fields = []
        for index, field in enumerate(extension.fields):
            value_type = _value_type(field)
            if field.default_value not in (None, ""):
                # An explicit null also takes the default on the row-by-row path, so a null
                # here leaves this path.
                default = CONVERTERS[field.type](field, field.default_value)
                struct_fields.append((f"f{index}", value_type, default))
            elif field.is_required:
                struct_fields.append((f"f{index}", value_type))
            else:
                struct_fields.append((f"f{index}", value_type | None, None))
        # Field names need not be identifiers, so the struct uses positions and renames them.
        row_type = msgspec.defstruct(
            "Row",
            struct_fields,
            rename={f"f{index}": name for index, name in enumerate(self.columns)},
            forbid_unknown_fields=True,
        )
        self._body_type = msgspec.defstruct("Body", [("items", list[row_type])])
        self._later: list[tuple[int, Callable[[FieldDefinition, Any], Any], FieldDefinition]] = [
            (index, CONVERTERS[field.type], field)
            for index, field in enumerate(extension.fields)
            if field.type in _CONVERTED_LATER
        ]

    def decode(self, body: bytes) -> list[tuple[Any, ...]] | None:
        """Return the rows as tuples of stored values, or ``None`` if any row needs a closer
        look."""
        try:
            rows = msgspec.json.decode(body, type=self._body_type).items
        except msgspec.ValidationError:
            return None
        tuples = [msgspec.structs.astuple(row) for row in rows]
        for index, convert, field in self._later:
            # Loads repeat values (dates above all): convert each distinct value once, and
            # rebuild the rows only when some value is not already in its stored form.
            try:
                stored = {
                    value: convert(field, value)
                    for value in {row[index] for row in tuples}
                    if value is not None
                }
            except RowError:
                return None
            if any(type(value) is not type(new) or value != new for value, new in stored.items()):
                stored[None] = None
                tuples = [(*row[:index], stored[row[index]], *row[index + 1 :]) for row in tuples]
        return tuples
