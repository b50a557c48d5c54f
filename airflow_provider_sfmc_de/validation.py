"""Check rows against a Data Extension's schema before anything is sent; no Airflow imports.

Speed matters here: a load can hold millions of rows. For each distinct set of columns a
``_ColumnPlan`` is compiled once: a check per field, a msgspec ``Struct`` type to encode the row,
and the positions of the primary-key fields. A batch is then checked column by column (a column
of plain strings a type accepts whole is tested at C speed, a repetitive one once per distinct
value), encoded in one ``encode_lines`` call, and its keys are looked up in a compact
``KeyIndex``. Rows with a failing value go through the checks one by one for their report.

Each check takes a raw value and returns the value to send, or raises ``RuleViolation``. The
rules for one field type live in one ``_<type>_check`` builder below, so a rule SFMC turns out to
apply differently is changed in one place.
"""

from __future__ import annotations

import datetime as dt
import difflib
import itertools
import numbers
import re
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any, NamedTuple

import msgspec
import numpy as np

from airflow_provider_sfmc_de.schema import FieldType

if TYPE_CHECKING:
    from collections.abc import Iterable

    from airflow_provider_sfmc_de.schema import DataExtensionField, DataExtensionSchema

Check = Callable[[Any], Any]
# Given a non-empty column of plain strings, True only when the type's check would return every
# one of them unchanged: the test a whole column can pass at C speed instead of value by value.
ColumnTest = Callable[[Sequence[str]], bool]

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
_EMAIL_LINES = re.compile(f"{_EMAIL.pattern}(?:\n{_EMAIL.pattern})*")
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


class TypeRule(NamedTuple):
    """A field type's rule: ``check`` takes one value; ``column_passes`` (if any) a whole column."""

    check: Check
    column_passes: ColumnTest | None = None


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


def _text_check(field: DataExtensionField) -> TypeRule:
    max_length = field.length or TEXT_MAX_LENGTH

    def check(value: Any) -> str:
        if value.__class__ is not str:
            value = _text_from_scalar(value)
        if len(value) > max_length:
            raise RuleViolation(
                "text_length", f"{len(value)} characters; the field holds {max_length}"
            )
        return value

    def column_passes(values: Sequence[str]) -> bool:
        return max(map(len, values)) <= max_length

    return TypeRule(check, column_passes)


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


def _email_check(field: DataExtensionField) -> TypeRule:
    max_length = min(field.length or EMAIL_MAX_LENGTH, EMAIL_MAX_LENGTH)
    match = _EMAIL.fullmatch
    match_lines = _EMAIL_LINES.fullmatch

    def check(value: Any) -> str:
        if not isinstance(value, str):
            raise RuleViolation("email", f"a {type(value).__name__} is not an email address")
        value = value.strip()
        if len(value) > max_length:
            raise RuleViolation("email", f"{len(value)} characters; at most {max_length}")
        if match(value) is None:
            raise RuleViolation("email", "not an email address")
        return value

    def column_passes(values: Sequence[str]) -> bool:
        # One regex run over the column joined by newlines, which no address may hold; the
        # pattern allows no blanks either, so no value needs stripping.
        if max(map(len, values)) > max_length:
            return False
        lines = "\n".join(values)
        return lines.count("\n") == len(values) - 1 and match_lines(lines) is not None

    return TypeRule(check, column_passes)


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


def _value_rule(build: Callable[[DataExtensionField], Check]) -> Callable[..., TypeRule]:
    """A type whose values are checked one by one only."""

    def build_rule(field: DataExtensionField) -> TypeRule:
        return TypeRule(build(field))

    return build_rule


_TYPE_RULES: dict[FieldType, Callable[[DataExtensionField], TypeRule]] = {
    FieldType.TEXT: _text_check,
    FieldType.NUMBER: _value_rule(_number_check),
    FieldType.DECIMAL: _value_rule(_memoize_text(_decimal_check)),
    FieldType.DATE: _value_rule(_memoize_text(_date_check)),
    FieldType.BOOLEAN: _value_rule(_boolean_check),
    FieldType.EMAIL_ADDRESS: _email_check,
    FieldType.PHONE: _value_rule(_phone_check),
    FieldType.LOCALE: _value_rule(_locale_check),
}


def _is_bool(value: Any) -> bool:
    return isinstance(value, bool | np.bool_)


def must_have_value(field: DataExtensionField) -> bool:
    """A field SFMC cannot fill in itself: a primary key, or not nullable without a default."""
    return field.is_primary_key or (not field.is_nullable and field.default_value is None)


def field_check(field: DataExtensionField) -> Check:
    """Compile the check for one field: null handling, then the rule of its type."""
    convert = _TYPE_RULES[field.type](field).check
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


# A column's values checked: the values to send, and the positions of the values that failed.
ColumnCheck = Callable[[Sequence[Any]], tuple[Sequence[Any], list[int]]]
# Columns of only these types may be checked once per distinct value: equal values of them
# behave alike (unlike 1, 1.0 and True, which are equal but not alike).
_ALIKE_WHEN_EQUAL = frozenset({str, int, type(None)})
_FAILED = object()
# Distinct values remembered per repetitive column: some 2.5 MB for a column of dates.
_COLUMN_CACHE_SIZE = 16_384


def column_check(field: DataExtensionField) -> ColumnCheck:
    """Compile the check of a whole column of one field, with the same results as ``field_check``.

    A column of plain strings that the type's ``column_passes`` accepts is sent as it is; a
    repetitive column (dates, names, flags) is checked once per distinct value; any other is
    checked value by value.
    """
    check = field_check(field)
    column_passes = _TYPE_RULES[field.type](field).column_passes
    # Blank strings are null, not values, except in an optional Text field.
    blanks_differ = must_have_value(field) or field.type is not FieldType.TEXT

    # The results of the distinct values of past batches; failing values are not kept.
    passed: dict[Any, Any] = {}

    def check_repetitive(
        values: Sequence[Any], distinct: dict[Any, None]
    ) -> tuple[Sequence[Any], list[int]]:
        new = distinct.keys() - passed.keys()
        if len(passed) + len(new) > _COLUMN_CACHE_SIZE:
            passed.clear()
            new = distinct.keys()
        failing = False
        for value in new:
            result = _outcome(check, value)
            if result is _FAILED:
                failing = True
            else:
                passed[value] = result
        if not failing:
            return list(map(passed.__getitem__, values)), []
        checked = list(map(passed.get, values, itertools.repeat(_FAILED)))
        return checked, _failed_positions(checked)

    def check_column(values: Sequence[Any]) -> tuple[Sequence[Any], list[int]]:
        types = set(map(type, values))
        if (
            column_passes is not None
            and types == {str}
            and not (blanks_differ and ("" in values or any(map(str.isspace, values))))
            and column_passes(values)
        ):
            return values, []
        if types <= _ALIKE_WHEN_EQUAL:
            distinct = dict.fromkeys(values)
            if len(distinct) * 2 <= len(values):
                return check_repetitive(values, distinct)
        try:
            return list(map(check, values)), []
        except RuleViolation:
            checked = [_outcome(check, value) for value in values]
            return checked, _failed_positions(checked)

    return check_column


def _outcome(check: Check, value: Any) -> Any:
    try:
        return check(value)
    except RuleViolation:
        return _FAILED


def _failed_positions(checked: list[Any]) -> list[int]:
    return [position for position, outcome in enumerate(checked) if outcome is _FAILED]


class KeyIndex:
    """The primary keys of a load, kept compactly to find the rows that repeat one.

    Each key is kept as two independent 64-bit hashes of its UTF-8 bytes (Python's keyed
    SipHash) and its row number: 24 bytes, where a dict of strings costs 130 to 190. Two
    different keys pass for one with odds of about n squared in 2**129, 1 in 10**26 at a
    million rows. The keys lie in runs sorted by the first hash, looked up a batch at a time
    with ``np.searchsorted``; runs of similar size are merged, so there are few of them.
    """

    def __init__(self) -> None:
        self._runs: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []

    def __len__(self) -> int:
        return sum(len(run[0]) for run in self._runs)

    def first_rows(self, keys: Sequence[str], row_numbers: Sequence[int]) -> np.ndarray:
        """Return the row that first had each key (its own row if new) and remember new keys.

        ``keys`` are already folded as they must compare; ``row_numbers`` ascend.
        """
        count = len(keys)
        data = list(map(str.encode, keys))
        first = np.fromiter(map(hash, data), np.int64, count)
        second = np.fromiter(map(hash, map(b"\x00".__add__, data)), np.int64, count)
        rows = np.asarray(row_numbers, dtype=np.int64)
        # Sort the batch by both hashes, keeping load order among equal keys, and group them.
        order = np.lexsort((second, first))
        first, second, rows = first[order], second[order], rows[order]
        starts = np.ones(count, dtype=bool)
        starts[1:] = (first[1:] != first[:-1]) | (second[1:] != second[:-1])
        group = np.cumsum(starts) - 1
        leaders = np.flatnonzero(starts)
        leader_rows = rows[leaders]
        known = self._find(first[leaders], second[leaders])
        found = known >= 0
        leader_rows[found] = known[found]
        new = leaders[~found]
        self._add(first[new], second[new], rows[new])
        result = np.empty(count, dtype=np.int64)
        result[order] = leader_rows[group]
        return result

    def _find(self, first: np.ndarray, second: np.ndarray) -> np.ndarray:
        """The row number of each (first, second) hash pair already kept, or -1."""
        found = np.full(len(first), -1, dtype=np.int64)
        for run_first, run_second, run_rows in self._runs:
            left = np.searchsorted(run_first, first, side="left")
            right = np.searchsorted(run_first, first, side="right")
            width = right - left
            single = np.flatnonzero(width == 1)
            match = single[run_second[left[single]] == second[single]]
            found[match] = run_rows[left[match]]
            # Different keys sharing the first hash: about once in 10**8 loads of a million.
            for position in np.flatnonzero(width > 1):
                span = slice(left[position], right[position])
                same = np.flatnonzero(run_second[span] == second[position])
                if len(same):
                    found[position] = run_rows[span][same[0]]
        return found

    def _add(self, first: np.ndarray, second: np.ndarray, rows: np.ndarray) -> None:
        if not len(first):
            return
        self._runs.append((first, second, rows))
        while len(self._runs) > 1 and len(self._runs[-2][0]) <= 2 * len(self._runs[-1][0]):
            newer, older = list(self._runs.pop()), list(self._runs.pop())
            # Two sorted runs: the stable sort (timsort) merges them in linear time.
            order = np.argsort(np.concatenate((older[0], newer[0])), kind="stable")
            merged = []
            for _ in range(3):  # one array at a time, so the index is never held twice over
                merged.append(np.concatenate((older.pop(0), newer.pop(0)))[order])
            self._runs.append(tuple(merged))


class ValidRows(NamedTuple):
    """The valid rows of a batch, ready to pack, as three lists in load order.

    For each row: its load row number, its primary-key string and its encoded JSON object.
    """

    row_numbers: list[int]
    keys: list[str]
    encoded: list[bytes]


class _ColumnPlan:
    """Everything compiled once for one set of columns."""

    __slots__ = (
        "checks",
        "column_checks",
        "columns",
        "key_positions",
        "missing_required",
        "row_type",
    )

    def __init__(
        self,
        columns: tuple[str, ...],
        fields: Sequence[DataExtensionField],
        key_positions: tuple[int, ...],
        missing_required: tuple[str, ...],
    ) -> None:
        self.columns = columns
        self.checks = tuple(map(field_check, fields))
        self.column_checks = tuple(map(column_check, fields))
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
    remembered across the whole load (in a ``KeyIndex``) so that a repeated key is caught,
    naming both rows; SFMC compares text keys without regard to case, so this does too.

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
        self._key_index = KeyIndex()
        encoder = msgspec.json.Encoder()
        self._encode, self._encode_lines = encoder.encode, encoder.encode_lines

    def check_columns(self, columns: Sequence[str]) -> None:
        """Raise ``SchemaMismatchError`` if these columns cannot be loaded at all."""
        self._plan(tuple(columns))

    def check_batch(self, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> ValidRows:
        """Return the valid rows of a batch; report the others, in row order.

        The batch is checked column by column, then its rows are encoded in one call and
        their keys looked up together. Rows are numbered across batches.
        """
        plan = self._plan(tuple(columns))
        if plan.missing_required:
            self._reject_all(plan, rows)
            return ValidRows([], [], [])
        rows = rows if isinstance(rows, list | tuple) else list(rows)
        first_number = self.rows_read + 1
        self.rows_read += len(rows)
        try:
            return self._check_batch(plan, rows, first_number) if rows else ValidRows([], [], [])
        finally:
            self.rows_valid = self.rows_read - self.rows_rejected

    def _check_batch(
        self, plan: _ColumnPlan, rows: Sequence[Sequence[Any]], first_number: int
    ) -> ValidRows:
        count = len(rows)
        columns = list(zip(*rows, strict=False))
        invalid: set[int] = set()
        checked = []
        for check_column, values in zip(plan.column_checks, columns, strict=False):
            values, failed = check_column(values)
            checked.append(values)
            invalid.update(failed)
        # The rows whose every value passed, by their positions in the batch.
        passed = range(count)
        numbers = list(range(first_number, first_number + count))
        if invalid:
            passed = [position for position in passed if position not in invalid]
            checked = [[values[position] for position in passed] for values in checked]
            numbers = [first_number + position for position in passed]
        keys = self._keys(plan, checked, numbers)
        if checked:
            encoded = self._encode_lines(list(map(plan.row_type, *checked))).split(b"\n")
            encoded.pop()  # the text ends with a newline
        else:  # rows without any column
            encoded = [self._encode(plan.row_type())] * len(passed)
        too_large = self._too_large(encoded)
        repeated = self._repeated(plan, keys, numbers, too_large)
        if not invalid and not too_large and not repeated:
            return ValidRows(numbers, keys, encoded)
        valid = ValidRows([], [], [])
        at = dict(zip(passed, range(len(passed)), strict=True))
        for position in range(count):
            number = first_number + position
            index = at.get(position)
            if index is None:
                self._reject_fields(plan, rows[position], number)
            elif index in too_large:
                self._reject(
                    Rejection(
                        number,
                        keys[index],
                        None,
                        "row_too_large",
                        f"{len(encoded[index])} bytes encoded; "
                        f"a request holds {self.max_row_bytes}",
                    )
                )
            elif index in repeated:
                self._reject(
                    Rejection(
                        number,
                        keys[index],
                        KEY_SEPARATOR.join(self.schema.primary_key),
                        "duplicate_primary_key",
                        f"rows {repeated[index]} and {number} have the same primary key",
                    )
                )
            else:
                valid.row_numbers.append(number)
                valid.keys.append(keys[index])
                valid.encoded.append(encoded[index])
        return valid

    def _keys(
        self, plan: _ColumnPlan, checked: list[Sequence[Any]], numbers: list[int]
    ) -> list[str]:
        positions = plan.key_positions
        if not positions:
            return [f"#{number}" for number in numbers]
        if len(positions) == 1:
            values = checked[positions[0]]
            if set(map(type, values)) <= {str}:
                return list(values)
            return [value if value.__class__ is str else _key_part(value) for value in values]
        parts = [checked[position] for position in positions]
        return [KEY_SEPARATOR.join(map(_key_part, values)) for values in zip(*parts, strict=True)]

    def _too_large(self, encoded: list[bytes]) -> set[int]:
        limit = self.max_row_bytes
        if limit is None or not encoded or max(map(len, encoded)) <= limit:
            return set()
        return {index for index, row in enumerate(encoded) if len(row) > limit}

    def _repeated(
        self, plan: _ColumnPlan, keys: list[str], numbers: list[int], too_large: set[int]
    ) -> dict[int, int]:
        """Map the index of each row repeating an earlier row's key to that earlier row."""
        if not plan.key_positions or not keys:
            return {}
        claiming = [index for index in range(len(keys)) if index not in too_large]
        if too_large:
            keys = [keys[index] for index in claiming]
            numbers = [numbers[index] for index in claiming]
        first_rows = self._key_index.first_rows(list(map(str.casefold, keys)), numbers)
        repeats = np.flatnonzero(first_rows != np.asarray(numbers, dtype=np.int64))
        return {claiming[index]: int(first_rows[index]) for index in repeats}

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
        return _ColumnPlan(columns, fields, key_positions, missing)

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

    def _reject_all(self, plan: _ColumnPlan, rows: Iterable[Sequence[Any]]) -> None:
        for row in rows:
            self.rows_read += 1
            key = _raw_key_string(row, plan.key_positions)
            self._reject(
                *(
                    Rejection(self.rows_read, key, name, "required", "the field is missing")
                    for name in plan.missing_required
                )
            )

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
