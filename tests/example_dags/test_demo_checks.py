"""The demo's own checks fail when what the emulator stored differs from what the tasks claim."""

from __future__ import annotations

import copy
import json

import pytest
from demo import check_load
from sample_data import DATA_EXTENSION_KEY, INVALID_ROWS, sample_customers, valid_subscriber_keys

CUSTOMERS = sample_customers()


@pytest.fixture
def good_load(tmp_path):
    """What a correct run of the staging-table example returns and stores."""
    report = tmp_path / "rejected_rows.jsonl"
    report.write_text(
        "".join(
            json.dumps({"row_number": invalid.row_number, "field": invalid.field}) + "\n"
            for invalid in INVALID_ROWS
        )
    )
    valid = len(valid_subscriber_keys(CUSTOMERS))
    load = {
        "rows_read": len(CUSTOMERS),
        "rows_rejected": len(INVALID_ROWS),
        "rows_submitted": valid,
        "request_ids": ["a", "b", "c", "d"],
        "rejected_rows_path": str(report),
    }
    waited = {"rows_ok": valid, "rows_failed": 0}
    invalid_numbers = {invalid.row_number for invalid in INVALID_ROWS}
    landed = [
        copy.deepcopy(row)
        for number, row in enumerate(CUSTOMERS, start=1)
        if number not in invalid_numbers
    ]
    stats = {"async_requests": 4, "rows_stored": {DATA_EXTENSION_KEY: valid}}
    return load, waited, landed, stats


def test_a_correct_load_passes(good_load):
    assert check_load(CUSTOMERS, *good_load) == []


def test_a_row_missing_from_the_emulator_fails(good_load):
    load, waited, landed, stats = good_load
    missing = landed.pop(10)["SubscriberKey"]
    stats["rows_stored"][DATA_EXTENSION_KEY] -= 1

    problems = check_load(CUSTOMERS, load, waited, landed, stats)

    assert any(problem.startswith("rows landed is") for problem in problems)
    assert any(missing in problem for problem in problems)


def test_a_value_changed_on_the_way_fails(good_load):
    load, waited, landed, stats = good_load
    landed[0]["EmailAddress"] = "someone.else@example.com"

    problems = check_load(CUSTOMERS, load, waited, landed, stats)

    assert problems == [f"rows whose values changed on the way is {['C000001']!r}, expected []"]


def test_counts_that_do_not_match_the_reports_fail(good_load):
    load, waited, landed, stats = good_load
    load["rows_rejected"] = 2
    stats["async_requests"] = 5
    with open(load["rejected_rows_path"], "a", encoding="utf-8") as report:
        report.write(json.dumps({"row_number": 9, "field": "LastName"}) + "\n")

    problems = check_load(CUSTOMERS, load, waited, landed, stats)

    assert [problem.partition(" is ")[0] for problem in problems] == [
        "rows rejected",
        "rejected rows (row number, field)",
        "async requests sent",
    ]
