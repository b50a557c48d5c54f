from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

import numpy as np
import pandas as pd
import pendulum
import pytest

from airflow_provider_sfmc_de.validation import (
    RowValidator,
    SchemaMismatchError,
    excerpt,
    is_null,
)

VALID = {"Id": "A1", "Email": "ann@example.com"}


def run(schema, records, **kwargs):
    """Validate dict rows; return the sent objects and the rejections."""
    rejections = []
    validator = RowValidator(schema, on_rejection=rejections.append, **kwargs)
    sent = []
    for record in records:
        columns = tuple(record)
        valid = validator.check_batch(columns, [tuple(record.values())])
        sent.extend(map(json.loads, valid.encoded))
    assert validator.rows_read == validator.rows_valid + validator.rows_rejected
    return sent, rejections


def sent_value(schema, field, value):
    sent, rejections = run(schema, [{**VALID, field: value}])
    assert rejections == [], rejections
    return sent[0][field]


def rejected_rule(schema, field, value):
    sent, rejections = run(schema, [{**VALID, field: value}])
    assert sent == []
    assert [rejection.field for rejection in rejections] == [field]
    return rejections[0].rule


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("Name", "Zoë", "Zoë"),
        ("Name", "x" * 10, "x" * 10),
        ("Name", 42, "42"),
        ("Name", "", ""),
        ("Count", 2**31 - 1, 2**31 - 1),
        ("Count", -(2**31), -(2**31)),
        ("Count", "17", 17),
        ("Count", 3.0, 3),
        ("Count", np.int64(5), 5),
        ("Count", "", None),
        ("Price", "1234.5", "1234.50"),
        ("Price", Decimal("-9999.99"), "-9999.99"),
        ("Price", 0.1, "0.10"),
        ("Price", 12, "12.00"),
        ("Price", "1.500", "1.50"),
        ("Price", np.float64(2.25), "2.25"),
        ("Born", "2025-04-30T13:45:00Z", "2025-04-30T13:45:00"),
        ("Born", "2025-05-02", "2025-05-02T00:00:00"),
        ("Born", dt.date(2024, 2, 29), "2024-02-29T00:00:00"),
        ("Born", dt.datetime(2024, 1, 2, 3, 4, 5, 999), "2024-01-02T03:04:05"),
        ("Born", pd.Timestamp("2024-01-02 03:04:05.6"), "2024-01-02T03:04:05"),
        ("Born", pendulum.datetime(2024, 1, 2, 4, 4, 5, tz="Europe/Paris"), "2024-01-02T03:04:05"),
        ("Born", np.datetime64("2024-01-02T03:04:05"), "2024-01-02T03:04:05"),
        ("Active", True, True),
        ("Active", 0, False),
        ("Active", "TRUE", True),
        ("Active", "0", False),
        ("Active", np.bool_(True), True),
        ("Active", 1.0, True),
        ("Email", " ann.o'brien+tag@mail.example.co.uk ", "ann.o'brien+tag@mail.example.co.uk"),
        ("Mobile", "+1 (555) 010-4477", "+1 (555) 010-4477"),
        ("Mobile", 5550104477, "5550104477"),
        ("Language", "en-US", "en-US"),
        ("Language", "fr", "fr"),
        ("Language", "es_419", "es_419"),
        ("Name", None, None),
        ("Name", float("nan"), None),
        ("Born", pd.NaT, None),
        ("Count", pd.NA, None),
    ],
)
def test_valid_values_are_sent_normalised(all_types_schema, field, value, expected):
    assert sent_value(all_types_schema, field, value) == expected


@pytest.mark.parametrize(
    ("field", "value", "rule"),
    [
        ("Id", None, "required"),
        ("Id", "  ", "required"),
        ("Id", float("nan"), "required"),
        ("Email", "", "required"),
        ("Name", "x" * 11, "text_length"),
        ("Name", True, "text"),
        ("Name", [1], "text"),
        ("Count", 2**31, "number"),
        ("Count", -(2**31) - 1, "number"),
        ("Count", 1.5, "number"),
        ("Count", "12a", "number"),
        ("Count", True, "number"),
        ("Price", "1.234", "decimal"),
        ("Price", "10000", "decimal"),
        ("Price", "abc", "decimal"),
        ("Price", float("inf"), "decimal"),
        ("Born", "30/04/2025", "date"),
        ("Born", "1700-01-01", "date"),
        ("Born", 20250430, "date"),
        ("Active", "yes", "boolean"),
        ("Active", 2, "boolean"),
        ("Email", "ann@", "email"),
        ("Email", "ann example.com", "email"),
        ("Email", "a" * 250 + "@example.com", "email"),
        ("Email", 12, "email"),
        ("Mobile", "555-01", "phone"),
        ("Mobile", "call me", "phone"),
        ("Mobile", "555/010/4477", "phone"),
        ("Mobile", "555 010 4477 +1", "phone"),
        ("Mobile", "+1 555 010 4477 1234 5", "phone"),
        ("Language", "english", "locale"),
        ("Language", "en-USA", "locale"),
    ],
)
def test_invalid_values_are_rejected_with_their_rule(all_types_schema, field, value, rule):
    assert rejected_rule(all_types_schema, field, value) == rule


def test_not_nullable_field_with_default_leaves_a_null_out(all_types_schema):
    sent, rejections = run(all_types_schema, [{**VALID, "Tier": None}, {**VALID, "Id": "B"}])
    assert rejections == []
    assert "Tier" not in sent[0]
    assert sent[1] == {"Id": "B", "Email": "ann@example.com"}


def test_a_rejection_names_row_key_field_rule_and_an_excerpt(all_types_schema):
    rows = [{**VALID, "Id": f"K{number}"} for number in range(3)]
    rows[1]["Email"] = "not-an-address-" + "x" * 100
    rows[1]["Count"] = "many"
    sent, rejections = run(all_types_schema, rows)
    assert [row["Id"] for row in sent] == ["K0", "K2"]
    assert [(r.row_number, r.primary_key, r.field, r.rule) for r in rejections] == [
        (2, "K1", "Email", "email"),
        (2, "K1", "Count", "number"),
    ]
    assert rejections[0].value_excerpt == "not-an-address-" + "x" * 22 + "..."


def test_a_repeated_primary_key_names_both_rows_ignoring_case(all_types_schema):
    rows = [{**VALID, "Id": "a1"}, {**VALID, "Id": "B"}, {**VALID, "Id": "A1"}]
    sent, rejections = run(all_types_schema, rows)
    assert [row["Id"] for row in sent] == ["a1", "B"]
    [rejection] = rejections
    assert (rejection.row_number, rejection.rule) == (3, "duplicate_primary_key")
    assert "rows 1 and 3" in rejection.message


def test_an_invalid_row_does_not_claim_its_primary_key(all_types_schema):
    rows = [{**VALID, "Email": "bad"}, dict(VALID)]
    sent, rejections = run(all_types_schema, rows)
    assert len(sent) == 1
    assert [r.row_number for r in rejections] == [1]


def test_composite_primary_key_joins_values(all_types_schema):
    fields = [
        {"name": "Store", "type": "Number", "isPrimaryKey": True, "ordinal": 0},
        {"name": "Sku", "type": "Text", "isPrimaryKey": True, "ordinal": 1},
    ]
    schema = type(all_types_schema).from_api(key="Stock", id="x", name="Stock", fields=fields)
    validator = RowValidator(schema, on_rejection=lambda rejection: None)
    valid = validator.check_batch(("Store", "Sku"), [(7, "AB-1"), ("7", "ab-1")])
    assert valid.keys == ["7|AB-1"]
    assert validator.rows_rejected == 1


def test_a_row_larger_than_a_request_is_rejected(all_types_schema):
    sent, rejections = run(all_types_schema, [dict(VALID)], max_row_bytes=20)
    assert sent == []
    assert rejections[0].rule == "row_too_large"


def test_case_mismatch_names_the_right_spelling(all_types_schema):
    validator = RowValidator(all_types_schema, on_rejection=lambda rejection: None)
    with pytest.raises(SchemaMismatchError) as error:
        validator.check_columns(["Id", "email", "Nmae", "Shoe"])
    assert error.value.problems == (
        "email: no such field; did you mean Email?",
        "Nmae: no such field; did you mean Name?",
        "Shoe: no such field",
    )


def test_missing_required_column_fails_a_table_but_only_the_rows_of_dicts(all_types_schema):
    strict = RowValidator(all_types_schema, on_rejection=lambda r: None, strict_columns=True)
    with pytest.raises(SchemaMismatchError, match="Email: required field is missing"):
        strict.check_columns(["Id", "Name"])
    sent, rejections = run(all_types_schema, [{"Id": "A"}, dict(VALID)])
    assert len(sent) == 1
    assert [(r.row_number, r.field, r.rule) for r in rejections] == [(1, "Email", "required")]


def test_rows_are_numbered_across_batches(all_types_schema):
    rejections = []
    validator = RowValidator(all_types_schema, on_rejection=rejections.append)
    columns = ("Id", "Email")
    validator.check_batch(columns, [("A", "a@example.com"), ("B", "b@example.com")])
    valid = validator.check_batch(columns, [("C", "bad"), ("D", "d@example.com")])
    assert valid.row_numbers == [4]
    assert rejections[0].row_number == 3
    assert (validator.rows_read, validator.rows_valid, validator.rows_rejected) == (4, 3, 1)


def test_is_null_and_excerpt():
    assert all(map(is_null, [None, float("nan"), pd.NaT, pd.NA, np.datetime64("NaT")]))
    assert not any(map(is_null, ["", 0, False]))
    assert excerpt("a\nb") == "a b"
    assert excerpt(None) is None


def test_validation_speed_figure(all_types_schema):
    """Print rows per second for the benchmark record; asserts only the result."""
    import time

    columns = ("Id", "Name", "Count", "Price", "Born", "Active", "Email", "Language")
    rows = [
        (f"K{n}", "Ann", n, "12.5", "2024-01-02", True, f"u{n}@example.com", "en-US")
        for n in range(50_000)
    ]
    validator = RowValidator(all_types_schema, on_rejection=lambda rejection: None)
    started = time.perf_counter()
    valid = len(validator.check_batch(columns, rows).encoded)
    elapsed = time.perf_counter() - started
    print(f"validated and encoded {valid} rows at {valid / elapsed:,.0f} rows/s")
    assert valid == len(rows)
