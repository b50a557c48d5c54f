"""Check rows against a Data Extension's schema before anything is sent; no Airflow imports.

Speed matters here: a load can hold millions of rows. For each distinct set of columns a
``_ColumnPlan`` is compiled once: a tuple of per-field check functions, a msgspec ``Struct`` type
to encode the row, and the positions of the primary-key fields. A valid row then costs one
``map`` over the checks and one ``encode`` call; exceptions are raised only for invalid values.

Each check takes a raw value and returns the value to send, or raises ``RuleViolation``. The
rules for one field type live in one ``_<type>_check`` builder below, so a rule SFMC turns out to
apply differently is changed in one place.
"""

from __future__ import annotations

import datetime as dt
import difflib
import numbers
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from operator import call
from typing import TYPE_CHECKING, Any, NamedTuple

import msgspec
import numpy as np

from airflow_provider_sfmc_de.schema import FieldType

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator, Sequence

    from airflow_provider_sfmc_de.schema import DataExtensionField, DataExtensionSchema

Check = Callable[[Any], Any]

NUMBER_MIN = -(2**31)
NUMBER_MAX = 2**31 - 1
EMAIL_MAX_LENGTH = 254
TEXT_MAX_LENGTH = 4000
DECIMAL_DEFAULT_PRECISION = 18
# SFMC stores Date fields as SQL Server ``datetime``, whose range starts in 1753.
EARLIEST_DATE = dt.datetime(1753, 1, 1)
KEY_SEPARATOR = "|"

# Pragmatic address syntax (the WHATWG form, plus a dot in the domain): an exact RFC 5322 parser
# such as email-validator costs about 80 microseconds a row, which a million-row load cannot pay.
_EMAIL = re.compile(
    r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@"
    r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+"
)
# Digits with the usual separators and an optional leading plus; 7 to 15 digits (E.164 maximum).
_PHONE = re.compile(r"\+?[0-9 ().-]+")
_PHONE_MIN_DIGITS = 7
_PHONE_MAX_DIGITS = 15
# A language code with an optional region, as SFMC's Locale fields hold them: en, en-US, fr_CA.
_LOCALE = re.compile(r"[A-Za-z]{2,3}(?:[-_](?:[A-Za-z]{2}|[0-9]{3}))?")
_INTEGER = re.compile(r"[+-]?[0-9]+")
_TRUE_TEXT = frozenset({"true", "1"})
_FALSE_TEXT = frozenset({"false", "0"})


class RuleViolation(Exception):
    """A value breaks a field's rule; raised by the checks and turned into a ``Rejection``."""

    def __init__(self, rule: str, message: str) -> None:
        super().__init__(message)
        self.rule = rule
        self.message = message


class SchemaMismatchError(ValueError):
    """The rows' columns do not fit the Data Extension; no row can be loaded as given."""

    def __init__(self, problems: Sequence[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = tuple(problems)


@dataclass(frozen=True, slots=True)
class Rejection:
    """One reason a row cannot be loaded. ``value_excerpt`` is short, never the whole value."""

    row_number: int
    primary_key: str | None
    field: str | None
    rule: str
    message: str
    value_excerpt: str | None = None


def excerpt(value: Any, limit: int = 40) -> str | None:
    """Return a short printable excerpt of ``value`` for a report (never a log line)."""
    if value is None:
        return None
    text = value if isinstance(value, str) else repr(value)
    text = text.translate(_CONTROL_CHARACTERS)
    return text if len(text) <= limit else text[: limit - 3] + "..."


_CONTROL_CHARACTERS = {code: " " for code in range(32)}


def is_null(value: Any) -> bool:
    """Tell whether ``value`` means "no value": None, NaN, NaT or pandas NA."""
    if value is None:
        return True
    try:
        return bool(value != value)
    except (TypeError, ValueError):  # pandas.NA refuses to be a bool; it is null
        return value.__class__.__name__ == "NAType"


# Per-type rules. Each builder returns a function from a non-null value to the value to send.


def _text_check(field: DataExtensionField) -> Check:
    max_length = field.length or TEXT_MAX_LENGTH

    def check(value: Any) -> str:
        if value.__class__ is not str:
            value = _text_from_scalar(value)
        if len(value) > max_length:
            raise RuleViolation(
                "text_length", f"{len(value)} characters; the field holds {max_length}"
            )
        return value

    return check


def _text_from_scalar(value: Any) -> str:
    if isinstance(value, str):
        return str(value)
    if isinstance(value, numbers.Integral) and not _is_bool(value):
        return str(int(value))
    if isinstance(value, Decimal | uuid.UUID):
        return str(value)
    if isinstance(value, numbers.Real) and not _is_bool(value):
        return repr(float(value))
    raise RuleViolation("text", f"a {type(value).__name__} is not text")


def _number_check(field: DataExtensionField) -> Check:
    def check(value: Any) -> int:
        if value.__class__ is not int:
            value = _whole_number(value)
        if not NUMBER_MIN <= value <= NUMBER_MAX:
            raise RuleViolation("number", "outside the 32-bit integer range")
        return value

    return check


def _whole_number(value: Any) -> int:
    if _is_bool(value):
        raise RuleViolation("number", "a boolean is not a number")
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, str):
        text = value.strip()
        if _INTEGER.fullmatch(text):
            return int(text)
        raise RuleViolation("number", "not a whole number")
    if isinstance(value, Decimal | numbers.Real):
        # pandas stores an integer column holding a null as floats: 3.0 is still the number 3.
        if value == int(value):
            return int(value)
        raise RuleViolation("number", "not a whole number")
    raise RuleViolation("number", f"a {type(value).__name__} is not a number")


def _decimal_check(field: DataExtensionField) -> Check:
    precision = field.length or DECIMAL_DEFAULT_PRECISION
    scale = field.scale or 0
    max_integer_digits = precision - scale
    quantum = Decimal(1).scaleb(-scale)

    def check(value: Any) -> str:
        number = _to_decimal(value)
        try:
            quantized = number.quantize(quantum)
        except InvalidOperation:  # more digits than any Decimal field holds
            raise RuleViolation("decimal", f"more than {precision} digits") from None
        if quantized != number:
            raise RuleViolation("decimal", f"more than {scale} digits after the point")
        digits, exponent = len(quantized.as_tuple().digits), quantized.as_tuple().exponent
        if digits + exponent > max_integer_digits and quantized != 0:
            raise RuleViolation(
                "decimal", f"more than {max_integer_digits} digits before the point"
            )
        return format(quantized, "f")

    return check


def _to_decimal(value: Any) -> Decimal:
    if value.__class__ is str:
        try:
            number = Decimal(value.strip())
        except InvalidOperation:
            raise RuleViolation("decimal", "not a decimal number") from None
        if not number.is_finite():
            raise RuleViolation("decimal", "not a finite number")
        return number
    if _is_bool(value):
        raise RuleViolation("decimal", "a boolean is not a number")
    try:
        if isinstance(value, Decimal):
            number = value
        elif isinstance(value, numbers.Integral):
            number = Decimal(int(value))
        elif isinstance(value, numbers.Real):
            # repr() gives the shortest text that round-trips: 0.1, not 0.1000000000000000055...
            number = Decimal(repr(float(value)))
        elif isinstance(value, str):
            number = Decimal(value.strip())
        else:
            raise RuleViolation("decimal", f"a {type(value).__name__} is not a number")
    except InvalidOperation:
        raise RuleViolation("decimal", "not a decimal number") from None
    if not number.is_finite():
        raise RuleViolation("decimal", "not a finite number")
    return number


def _date_check(field: DataExtensionField) -> Check:
    def check(value: Any) -> str:
        moment = _to_datetime(value)
        if moment < EARLIEST_DATE:
            raise RuleViolation("date", "before 1753-01-01, the earliest date SFMC stores")
        # One form for every input; SFMC keeps Date values to the second.
        return moment.isoformat(timespec="seconds")

    return check


def _to_datetime(value: Any) -> dt.datetime:
    """Return a naive datetime: UTC for an aware value, the wall clock for a naive one."""
    if value.__class__ is str:
        try:
            moment = dt.datetime.fromisoformat(value)
        except ValueError:
            moment = None
        if moment is not None and moment.tzinfo is None:
            return moment
    # pandas Timestamp and pendulum DateTime are datetime subclasses.
    if isinstance(value, dt.datetime):
        moment = value
    elif isinstance(value, dt.date):
        return dt.datetime(value.year, value.month, value.day)
    elif isinstance(value, str):
        try:
            moment = dt.datetime.fromisoformat(value.strip())
        except ValueError:
            raise RuleViolation("date", "not an ISO 8601 date") from None
    elif isinstance(value, np.datetime64):
        moment = value.astype("datetime64[us]").item()
        if not isinstance(moment, dt.datetime):
            raise RuleViolation("date", "not a date")
    else:
        raise RuleViolation("date", f"a {type(value).__name__} is not a date")
    if moment.tzinfo is not None and moment.utcoffset() is not None:
        moment = moment.astimezone(dt.UTC)
    # A plain datetime: pandas and pendulum subclasses format themselves differently.
    return dt.datetime(
        moment.year, moment.month, moment.day, moment.hour, moment.minute, moment.second
    )


def _boolean_check(field: DataExtensionField) -> Check:
    def check(value: Any) -> bool:
        if value is True or value is False:
            return value
        if value.__class__ is int and (value == 0 or value == 1):
            return value == 1
        if isinstance(value, str):
            text = value.strip().lower()
            if text in _TRUE_TEXT:
                return True
            if text in _FALSE_TEXT:
                return False
            raise RuleViolation("boolean", "not true, false, 1 or 0")
        if _is_bool(value):
            return bool(value)
        if isinstance(value, numbers.Real) and value in (0, 1):
            return bool(value)
        raise RuleViolation("boolean", "not true, false, 1 or 0")

    return check


def _email_check(field: DataExtensionField) -> Check:
    max_length = min(field.length or EMAIL_MAX_LENGTH, EMAIL_MAX_LENGTH)
    match = _EMAIL.fullmatch

    def check(value: Any) -> str:
        if not isinstance(value, str):
            raise RuleViolation("email", f"a {type(value).__name__} is not an email address")
        value = value.strip()
        if len(value) > max_length:
            raise RuleViolation("email", f"{len(value)} characters; at most {max_length}")
        if match(value) is None:
            raise RuleViolation("email", "not an email address")
        return value

    return check


def _phone_check(field: DataExtensionField) -> Check:
    match = _PHONE.fullmatch

    def check(value: Any) -> str:
        if not isinstance(value, str):
            value = _text_from_scalar(value)
        value = value.strip()
        digits = sum(character.isdigit() for character in value)
        if match(value) is None or not _PHONE_MIN_DIGITS <= digits <= _PHONE_MAX_DIGITS:
            raise RuleViolation(
                "phone", "not a phone number (7 to 15 digits, with + ( ) - . or spaces)"
            )
        return value

    return check


def _locale_check(field: DataExtensionField) -> Check:
    match = _LOCALE.fullmatch

    def check(value: Any) -> str:
        if not isinstance(value, str) or match(value.strip()) is None:
            raise RuleViolation("locale", "not a locale code such as en-US")
        return value.strip()

    return check


_TEXT_CACHE_SIZE = 16_384
_MISSING = object()


def _memoize_text(build: Callable[[DataExtensionField], Check]) -> Callable[..., Check]:
    """Remember the results for text inputs: dates and prices repeat across rows."""

    def build_memoized(field: DataExtensionField) -> Check:
        convert = build(field)
        cache: dict[str, Any] = {}

        def check(value: Any) -> Any:
            if value.__class__ is not str:
                return convert(value)
            result = cache.get(value, _MISSING)
            if result is _MISSING:
                result = convert(value)  # an invalid value raises and is not remembered
                if len(cache) >= _TEXT_CACHE_SIZE:
                    cache.clear()
                cache[value] = result
            return result

        return check

    return build_memoized


_TYPE_CHECKS: dict[FieldType, Callable[[DataExtensionField], Check]] = {
    FieldType.TEXT: _text_check,
    FieldType.NUMBER: _number_check,
    FieldType.DECIMAL: _memoize_text(_decimal_check),
    FieldType.DATE: _memoize_text(_date_check),
    FieldType.BOOLEAN: _boolean_check,
    FieldType.EMAIL_ADDRESS: _email_check,
    FieldType.PHONE: _phone_check,
    FieldType.LOCALE: _locale_check,
}


def _is_bool(value: Any) -> bool:
    return isinstance(value, bool | np.bool_)


def must_have_value(field: DataExtensionField) -> bool:
    """A field SFMC cannot fill in itself: a primary key, or not nullable without a default."""
    return field.is_primary_key or (not field.is_nullable and field.default_value is None)


def field_check(field: DataExtensionField) -> Check:
    """Compile the check for one field: null handling, then the rule of its type."""
    convert = _TYPE_CHECKS[field.type](field)
    is_text = field.type is FieldType.TEXT

    # NaN and NaT are the values not equal to themselves; pandas.NA refuses the comparison.
    # The null tests are inlined rather than shared: this runs for every value of every row.
    if must_have_value(field):

        def check_required(value: Any) -> Any:
            if value is None or (value.__class__ is str and (not value or value.isspace())):
                raise RuleViolation("required", "a value is required")
            try:
                if value != value:
                    raise RuleViolation("required", "a value is required")
            except (TypeError, ValueError):
                if is_null(value):
                    raise RuleViolation("required", "a value is required") from None
            return convert(value)

        return check_required

    # Not nullable but with a default: leave a null out of the row so SFMC applies the default.
    null = None if field.is_nullable else msgspec.UNSET

    def check_optional(value: Any) -> Any:
        if value is None:
            return null
        if value.__class__ is str:
            if not is_text and (not value or value.isspace()):
                return null
            return convert(value)
        try:
            if value != value:
                return null
        except (TypeError, ValueError):
            if is_null(value):
                return null
        return convert(value)

    return check_optional


class ValidRow(NamedTuple):
    """A row ready to pack: its load row number, its primary-key string and its JSON object."""

    row_number: int
    key: str
    encoded: bytes


class _ColumnPlan:
    """Everything compiled once for one set of columns."""

    __slots__ = ("checks", "columns", "key_positions", "missing_required", "row_type")

    def __init__(
        self,
        columns: tuple[str, ...],
        checks: tuple[Check, ...],
        key_positions: tuple[int, ...],
        missing_required: tuple[str, ...],
    ) -> None:
        self.columns = columns
        self.checks = checks
        self.key_positions = key_positions
        self.missing_required = missing_required
        # Struct attribute names must be identifiers; ``rename`` gives the real field names.
        attributes = [f"f{position}" for position in range(len(columns))]
        self.row_type = msgspec.defstruct(
            "DataExtensionRow",
            [(attribute, object) for attribute in attributes],
            rename=dict(zip(attributes, columns, strict=True)),
        )


class RowValidator:
    """Validate and encode the rows of one load against a Data Extension's schema.

    Rows come in batches of tuples sharing one set of column names (see ``sources``).
    Valid rows come out encoded; every problem goes to ``on_rejection``. Primary keys are
    remembered across the whole load so that a repeated key is caught, naming both rows; SFMC
    compares text keys without regard to case, so this does too.

    :param schema: the Data Extension's schema.
    :param on_rejection: called with every ``Rejection``; a row can have several.
    :param max_row_bytes: the largest encoded row that fits in one request.
    :param strict_columns: a missing required column fails the whole load at once (for tables
        and DataFrames, where every row has the same columns) instead of failing each row.
    """

    def __init__(
        self,
        schema: DataExtensionSchema,
        *,
        on_rejection: Callable[[Rejection], None],
        max_row_bytes: int | None = None,
        strict_columns: bool = False,
    ) -> None:
        self.schema = schema
        self.on_rejection = on_rejection
        self.max_row_bytes = max_row_bytes
        self.strict_columns = strict_columns
        self.rows_read = 0
        self.rows_valid = 0
        self.rows_rejected = 0
        self._plans: dict[tuple[str, ...], _ColumnPlan] = {}
        self._first_row_by_key: dict[str, int] = {}
        self._encode = msgspec.json.Encoder().encode

    def check_columns(self, columns: Sequence[str]) -> None:
        """Raise ``SchemaMismatchError`` if these columns cannot be loaded at all."""
        self._plan(tuple(columns))

    def validate(self, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> Iterator[ValidRow]:
        """Yield each valid row of a batch; report the others. Rows are numbered across batches."""
        plan = self._plan(tuple(columns))
        if plan.missing_required:
            yield from self._reject_all(plan, rows)
            return
        checks, row_type, encode = plan.checks, plan.row_type, self._encode
        key_positions, max_row_bytes = plan.key_positions, self.max_row_bytes
        single_key = key_positions[0] if len(key_positions) == 1 else None
        first_row_by_key = self._first_row_by_key
        row_number = self.rows_read
        try:
            for row in rows:
                row_number += 1
                try:
                    values = list(map(call, checks, row))
                except RuleViolation:
                    self._reject_fields(plan, row, row_number)
                    continue
                if single_key is not None:
                    key = values[single_key]
                    if key.__class__ is not str:
                        key = _key_part(key)
                elif key_positions:
                    key = _key_string(values, key_positions)
                else:
                    key = f"#{row_number}"
                encoded = encode(row_type(*values))
                if max_row_bytes is not None and len(encoded) > max_row_bytes:
                    self._reject(
                        Rejection(
                            row_number,
                            key,
                            None,
                            "row_too_large",
                            f"{len(encoded)} bytes encoded; a request holds {max_row_bytes}",
                        )
                    )
                    continue
                if key_positions:
                    first_row = first_row_by_key.setdefault(key.casefold(), row_number)
                    if first_row != row_number:
                        self._reject(
                            Rejection(
                                row_number,
                                key,
                                KEY_SEPARATOR.join(self.schema.primary_key),
                                "duplicate_primary_key",
                                f"rows {first_row} and {row_number} have the same primary key",
                            )
                        )
                        continue
                yield ValidRow(row_number, key, encoded)
        finally:
            self.rows_valid = row_number - self.rows_rejected
            self.rows_read = row_number

    def _plan(self, columns: tuple[str, ...]) -> _ColumnPlan:
        plan = self._plans.get(columns)
        if plan is None:
            plan = self._plans[columns] = self._compile(columns)
        return plan

    def _compile(self, columns: tuple[str, ...]) -> _ColumnPlan:
        problems = column_problems(self.schema, columns)
        present = set(columns)
        missing = tuple(
            field.name
            for field in self.schema.fields
            if must_have_value(field) and field.name not in present
        )
        if missing and self.strict_columns:
            problems.extend(f"{name}: required field is missing from the rows" for name in missing)
        if problems:
            raise SchemaMismatchError(problems)
        fields = [self.schema.field(name) for name in columns]
        key_positions = tuple(columns.index(name) for name in self.schema.primary_key)
        if len(key_positions) < len(self.schema.primary_key):
            key_positions = ()
        return _ColumnPlan(columns, tuple(map(field_check, fields)), key_positions, missing)

    def _reject_fields(self, plan: _ColumnPlan, row: Sequence[Any], row_number: int) -> None:
        key = _raw_key_string(row, plan.key_positions)
        rejections = []
        for name, check, value in zip(plan.columns, plan.checks, row, strict=False):
            try:
                check(value)
            except RuleViolation as violation:
                rejections.append(
                    Rejection(
                        row_number, key, name, violation.rule, violation.message, excerpt(value)
                    )
                )
        self._reject(*rejections)

    def _reject_all(self, plan: _ColumnPlan, rows: Iterable[Sequence[Any]]) -> Iterator[ValidRow]:
        for row in rows:
            self.rows_read += 1
            key = _raw_key_string(row, plan.key_positions)
            self._reject(
                *(
                    Rejection(self.rows_read, key, name, "required", "the field is missing")
                    for name in plan.missing_required
                )
            )
        yield from ()

    def _reject(self, *rejections: Rejection) -> None:
        self.rows_rejected += 1
        for rejection in rejections:
            self.on_rejection(rejection)


def column_problems(schema: DataExtensionSchema, columns: Sequence[str]) -> list[str]:
    """Name every column that is not a field of ``schema``, suggesting the right spelling."""
    names = set(schema.field_names)
    by_folded_name = {name.casefold(): name for name in names}
    problems = []
    seen: set[str] = set()
    for column in columns:
        if column in seen:
            problems.append(f"{column}: the column appears more than once")
        seen.add(column)
        if column in names:
            continue
        spelling = by_folded_name.get(str(column).casefold())
        if spelling is None:
            close = difflib.get_close_matches(str(column), schema.field_names, n=1)
            spelling = close[0] if close else None
        hint = f"; did you mean {spelling}?" if spelling else ""
        problems.append(f"{column}: no such field{hint}")
    return problems


def _key_string(values: Sequence[Any], positions: tuple[int, ...]) -> str:
    if len(positions) == 1:
        value = values[positions[0]]
        return value if value.__class__ is str else _key_part(value)
    return KEY_SEPARATOR.join(_key_part(values[position]) for position in positions)


def _key_part(value: Any) -> str:
    if value is True or value is False:
        return "true" if value else "false"
    return "" if value is None else str(value)


def _raw_key_string(row: Sequence[Any], positions: tuple[int, ...]) -> str | None:
    """The primary key of a rejected row, as given, for the report."""
    if not positions:
        return None
    try:
        parts = [row[position] for position in positions]
    except IndexError:
        return None
    return KEY_SEPARATOR.join("" if is_null(part) else str(part) for part in parts)
