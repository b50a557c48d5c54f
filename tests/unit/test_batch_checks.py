"""Checking a batch column by column, and the compact key index, agree with one row at a time."""

from __future__ import annotations

import random

import numpy as np
import pytest

from airflow_provider_sfmc_de.validation import (
    KeyIndex,
    RowValidator,
    RuleViolation,
    column_check,
    field_check,
)

FAILED = "<failed>"

# Columns chosen to take each path of column_check: a whole column accepted at once, one
# value that breaks it (long, blank, padded, a newline inside), repeated values, mixed types.
COLUMNS = {
    "Id": [
        ["A1", "B2", "C3"],
        ["A1", " ", "C3"],
        ["A1", "", "C3"],
        ["A1", "x" * 21, "C3"],
        ["A1", None, "A1", "A1"],
        [1, 2, 2, 2],
    ],
    "Name": [["Ann", "", " ", "Ann"], ["Ann", None, "Bo"], ["a" * 11, "Ann", "Ann", "Ann"]],
    "Count": [[1, 1, 1, "2"], [1, True, 1, 1], ["1", "1", "1", "x"], [1.0, 1, 1.5, 1]],
    "Price": [["12.5", "12.5", "12.5", "1.234"], ["", "1", "1", "1"]],
    "Born": [["2024-01-02"] * 3 + ["02/01/2024"], ["", "2024-01-02", "2024-01-02", "x"]],
    "Active": [[1, 1, 0, 0, 2], [True, 1, 1, 1], ["true", "TRUE", "true", "yes"]],
    "Email": [
        ["a@example.com", "b@example.com"],
        ["a@example.com", " b@example.com "],
        ["a@example.com", "b@example.com\nc@example.com"],
        ["a@example.com", "b(at)example.com"],
        ["a@example.com", "", "c@example.com"],
        ["a@example.com", "b" * 250 + "@example.com"],
    ],
    "Mobile": [["+1 555 0100", "+1 555 0100", "+1 555 0100", "12"]],
    "Language": [["en-US", "en-US", "en-US", "english"]],
    "Tier": [["gold", "", " ", None, "gold"]],
}


def one_by_one(check, values):
    results = []
    for value in values:
        try:
            results.append(check(value))
        except RuleViolation:
            results.append(FAILED)
    return results


@pytest.mark.parametrize(
    ("name", "values"),
    [(name, values) for name, columns in COLUMNS.items() for values in columns],
)
def test_a_column_is_checked_as_each_of_its_values(all_types_schema, name, values):
    field = all_types_schema.field(name)
    checked, failed = column_check(field)(tuple(values))
    expected = one_by_one(field_check(field), values)
    assert [FAILED if position in failed else value for position, value in enumerate(checked)] == (
        expected
    )
    assert failed == [position for position, value in enumerate(expected) if value == FAILED]


def run_batches(schema, columns, rows, batch_size):
    rejections = []
    validator = RowValidator(schema, on_rejection=rejections.append, max_row_bytes=200)
    valid = []
    for start in range(0, len(rows), batch_size):
        batch = validator.check_batch(columns, rows[start : start + batch_size])
        valid.extend(zip(*batch, strict=True))
    counts = (validator.rows_read, validator.rows_valid, validator.rows_rejected)
    return valid, rejections, counts


def test_a_batch_gives_the_same_rows_and_report_as_rows_one_at_a_time(all_types_schema):
    columns = ("Id", "Name", "Count", "Born", "Active", "Email")
    generator = random.Random(7)
    rows = []
    for number in range(400):
        row = [f"K{generator.randrange(300)}", "Ann", number, "2024-01-02", 1, f"u{number}@x.org"]
        problem = generator.randrange(12)
        if problem == 0:
            row[1] = "far too long a name"
        elif problem == 1:
            row[3] = "01/02/2024"
        elif problem == 2:
            row[5] = "not an address"
        elif problem == 3:
            row[0] = row[0].lower()  # the same key in another case
        elif problem == 4:
            row[5] = "u" * 150 + "@x.org"  # too large a row at 200 bytes
        rows.append(tuple(row))
    whole = run_batches(all_types_schema, columns, rows, batch_size=len(rows))
    assert whole == run_batches(all_types_schema, columns, rows, batch_size=1)
    assert whole == run_batches(all_types_schema, columns, rows, batch_size=37)
    valid, rejections, _ = whole
    assert {rejection.rule for rejection in rejections} >= {
        "text_length",
        "date",
        "email",
        "duplicate_primary_key",
        "row_too_large",
    }
    assert len({key.casefold() for _, key, _ in valid}) == len(valid)


def test_the_key_index_finds_every_repeat_across_merged_runs():
    generator = random.Random(11)
    index, first_row_of = KeyIndex(), {}
    number = 0
    for _ in range(60):
        keys = [f"key-{generator.randrange(5_000)}" for _ in range(generator.randrange(1, 300))]
        numbers = list(range(number + 1, number + len(keys) + 1))
        number += len(keys)
        pairs = zip(keys, numbers, strict=True)
        expected = [first_row_of.setdefault(key, row) for key, row in pairs]
        assert index.first_rows(keys, numbers).tolist() == expected
    assert len(index) == len(first_row_of)
    assert len(index._runs) < 10  # runs of like size are merged


def test_the_key_index_tells_keys_apart_that_share_their_first_hash():
    index = KeyIndex()
    first, second = np.array([5, 5, 9]), np.array([1, 2, 1])
    index._add(first, second, np.array([10, 11, 12]))
    found = index._find(np.array([5, 5, 5, 9]), np.array([2, 1, 3, 2]))
    assert found.tolist() == [11, 10, -1, -1]


def test_a_repetitive_column_remembers_passing_values_across_batches(all_types_schema):
    field = all_types_schema.field("Born")
    check_column = column_check(field)
    first = ["2024-01-02", "2024-01-02", "2024-01-03", "2024-01-03"]
    second = ["2024-01-03", "31/12/2024", "2024-01-03", "2024-01-03", "31/12/2024", ""]
    for values in (first, second, second, first):
        checked, failed = check_column(tuple(values))
        expected = one_by_one(field_check(field), values)
        assert [
            FAILED if position in failed else value for position, value in enumerate(checked)
        ] == (expected)
