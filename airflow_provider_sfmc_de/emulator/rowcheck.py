"""Check and convert row values the way SFMC does when it saves them to a Data Extension.

Each field type has one converter that turns a JSON value into the value stored in SQLite, or
raises :class:`RowError` naming the field and the rule. The rules SFMC does not document
(Number range, Boolean spellings, Phone and Locale shapes) live in the constants below.
"""

from __future__ import annotations

import functools
import re
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from airflow_provider_sfmc_de.schema import FieldType

if TYPE_CHECKING:
    from collections.abc import Callable

    from airflow_provider_sfmc_de.emulator.config import DataExtensionDefinition, FieldDefinition

NUMBER_MIN, NUMBER_MAX = -(2**31), 2**31 - 1
TRUE_SPELLINGS = frozenset({"true", "1"})
FALSE_SPELLINGS = frozenset({"false", "0"})
EMAIL_PATTERN = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
PHONE_PATTERN = re.compile(r"\+?[0-9][0-9 ().\-]*")
LOCALE_PATTERN = re.compile(r"[A-Za-z]{2,3}(-[A-Za-z]{2})?")
DATE_FORMATS = ("%m/%d/%Y %I:%M:%S %p", "%m/%d/%Y %H:%M:%S", "%m/%d/%Y %H:%M", "%m/%d/%Y")
VALIDATION_ERROR = "ValidationError"
MAX_PLANS = 1000


class RowError(Exception):
    """A row SFMC refuses; ``error_code`` and ``message`` go into the row's result item."""

    def __init__(self, message: str, error_code: str = VALIDATION_ERROR) -> None:
        super().__init__(message)
        self.error_code = error_code
        self.message = message


def _as_text(field: FieldDefinition, value: Any) -> str:
    if isinstance(value, bool):
        text = "True" if value else "False"
    elif isinstance(value, int | float | str):
        text = str(value)
    else:
        raise RowError(f"The value for field '{field.name}' must be text, not a JSON object.")
    if field.length is not None and len(text) > field.length:
        raise RowError(
            f"The value for field '{field.name}' is {len(text)} characters long; "
            f"the field allows at most {field.length}."
        )
    return text


def _to_text(field: FieldDefinition, value: Any) -> str:
    if type(value) is str and (field.length is None or len(value) <= field.length):
        return value
    return _as_text(field, value)


def _to_number(field: FieldDefinition, value: Any) -> int:
    number: int | None = None
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif (isinstance(value, float) and value.is_integer()) or (
        isinstance(value, str) and re.fullmatch(r"\s*[+-]?\d+\s*", value)
    ):
        number = int(value)
    if number is None:
        raise RowError(f"The value for field '{field.name}' is not a whole number.")
    if not NUMBER_MIN <= number <= NUMBER_MAX:
        raise RowError(
            f"The value for field '{field.name}' is outside the Number range "
            f"{NUMBER_MIN}..{NUMBER_MAX}."
        )
    return number


def _to_decimal(field: FieldDefinition, value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise RowError(f"The value for field '{field.name}' is not a decimal number.")
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        raise RowError(f"The value for field '{field.name}' is not a decimal number.") from None
    if not number.is_finite():
        raise RowError(f"The value for field '{field.name}' is not a decimal number.")
    scale = field.scale or 0
    # SQL Server rounds digits beyond the scale and refuses digits beyond the precision.
    rounded = number.quantize(Decimal(1).scaleb(-scale), rounding=ROUND_HALF_UP)
    integer_digits = len(str(abs(int(rounded)))) if int(rounded) else 0
    allowed = (field.length or 18) - scale
    if integer_digits > allowed:
        raise RowError(
            f"The value for field '{field.name}' has {integer_digits} digits before the "
            f"decimal point; Decimal({field.length},{scale}) allows at most {allowed}."
        )
    return str(rounded)


@functools.lru_cache(maxsize=65536)
def _date_text(text: str) -> str | None:
    # Loads repeat dates a lot; caching the parse makes Date the cheapest type to check.
    parsed = parse_date(text)
    return None if parsed is None else parsed.isoformat()


def parse_date(text: str) -> datetime | None:
    """Parse the date spellings SFMC accepts; ``None`` when none matches."""
    text = text.strip()
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        parsed = None
        for pattern in DATE_FORMATS:
            try:
                parsed = datetime.strptime(text, pattern)
                break
            except ValueError:
                continue
    if parsed is None:
        return None
    # SFMC keeps the wall-clock time to the second and no zone.
    return parsed.replace(tzinfo=None, microsecond=0)


def _to_date(field: FieldDefinition, value: Any) -> str:
    stored = _date_text(value) if isinstance(value, str) else None
    if stored is None:
        raise RowError(f"The value for field '{field.name}' is not a valid date.")
    return stored


def _to_boolean(field: FieldDefinition, value: Any) -> int:
    if value is True or value is False:
        return int(value)
    spelling = str(value).strip().lower() if not isinstance(value, dict | list) else ""
    if spelling in TRUE_SPELLINGS:
        return 1
    if spelling in FALSE_SPELLINGS:
        return 0
    raise RowError(f"The value for field '{field.name}' is not a Boolean (true, false, 1 or 0).")


def _to_matching_text(
    pattern: re.Pattern[str], description: str
) -> Callable[[FieldDefinition, Any], str]:
    """Build the converter of a text type whose values must match ``pattern``."""

    def convert(field: FieldDefinition, value: Any) -> str:
        text = _as_text(field, value)
        if not pattern.fullmatch(text):
            raise RowError(f"The value for field '{field.name}' is not a valid {description}.")
        return text

    return convert


CONVERTERS: dict[FieldType, Callable[[FieldDefinition, Any], Any]] = {
    FieldType.TEXT: _to_text,
    FieldType.NUMBER: _to_number,
    FieldType.DECIMAL: _to_decimal,
    FieldType.DATE: _to_date,
    FieldType.BOOLEAN: _to_boolean,
    FieldType.EMAIL_ADDRESS: _to_matching_text(EMAIL_PATTERN, "email address"),
    FieldType.PHONE: _to_matching_text(PHONE_PATTERN, "phone number"),
    FieldType.LOCALE: _to_matching_text(LOCALE_PATTERN, "locale code"),
}


class RowChecker:
    """Turn submitted rows into stored values for one Data Extension, as SFMC would.

    :param extension: the Data Extension the rows are for.
    """

    def __init__(self, extension: DataExtensionDefinition) -> None:
        self.extension = extension
        # SQL Server column names are case-insensitive, so SFMC matches them that way.
        self._fields = {field.name.lower(): field for field in extension.fields}
        self._defaults = [
            (field.name, CONVERTERS[field.type](field, field.default_value))
            for field in extension.fields
            if field.default_value not in (None, "")
        ]
        self._required = [field.name for field in extension.fields if field.is_required]
        self.primary_key = extension.primary_key
        self._plans: dict[tuple[str, ...], list[tuple[str, str, Any, FieldDefinition]]] = {}

    def _plan(self, names: tuple[str, ...]) -> list[tuple[str, str, Any, FieldDefinition]]:
        """How to convert a row with these column names; rows of a load share a few plans."""
        plan = self._plans.get(names)
        if plan is not None:
            return plan
        plan = []
        for name in names:
            field = self._fields.get(name.lower())
            if field is None:
                raise RowError(
                    f"The field '{name}' does not exist in Data Extension '{self.extension.key}'."
                )
            plan.append((name, field.name, CONVERTERS[field.type], field))
        if len(self._plans) < MAX_PLANS:
            self._plans[names] = plan
        return plan

    def convert(self, row: Any) -> dict[str, Any]:
        """Return ``{field name: stored value}`` for the columns the row gives."""
        if type(row) is not dict:
            raise RowError("The item is not an object of field names and values.")
        return {
            name: None if (value := row[source]) is None or value == "" else convert(field, value)
            for source, name, convert, field in self._plan(tuple(row))
        }

    def check_new_row(self, values: dict[str, Any]) -> dict[str, Any]:
        """Complete a row about to be inserted with defaults; refuse it if a required field is
        missing."""
        for name, default in self._defaults:
            if values.get(name) is None:
                values[name] = default
        for name in self._required:
            if values.get(name) is None:
                raise RowError(f"The field '{name}' is required and has no value.")
        return values

    def check_key(self, values: dict[str, Any]) -> None:
        """Refuse a row that does not name its primary key (needed to update it)."""
        for name in self.primary_key:
            if values.get(name) is None:
                raise RowError(f"The field '{name}' is required and has no value.")

    def key_of(self, values: dict[str, Any]) -> tuple[Any, ...]:
        """The row's primary key, compared the way SQL Server's default collation compares."""
        if len(self.primary_key) == 1:
            value = values.get(self.primary_key[0])
            return (value.lower() if isinstance(value, str) else value,)
        return tuple(
            value.lower() if isinstance(value, str) else value
            for value in (values.get(name) for name in self.primary_key)
        )
