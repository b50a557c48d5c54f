from __future__ import annotations

import csv
import json

from airflow_provider_sfmc_de.reports import (
    RejectedRowsReport,
    read_row_keys_manifest,
    summarize,
    write_row_keys_manifest,
)
from airflow_provider_sfmc_de.validation import Rejection

REJECTION = Rejection(3, "K3", "EmailAddress", "email", "not an email address", "ann@")


def test_json_lines_report(tmp_path):
    path = tmp_path / "reports" / "rejected.jsonl"
    with RejectedRowsReport(path) as report:
        report.add(REJECTION)
        report.add(Rejection(5, None, "Id", "required", "a value is required"))
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert lines[0] == {
        "row_number": 3,
        "primary_key": "K3",
        "field": "EmailAddress",
        "rule": "email",
        "message": "not an email address",
        "value_excerpt": "ann@",
    }
    assert lines[1]["primary_key"] is None
    assert report.count == 2


def test_csv_report_by_extension(tmp_path):
    path = tmp_path / "rejected.CSV"
    with RejectedRowsReport(path) as report:
        report.add(REJECTION)
    rows = list(csv.DictReader(path.open()))
    assert rows == [
        {
            "row_number": "3",
            "primary_key": "K3",
            "field": "EmailAddress",
            "rule": "email",
            "message": "not an email address",
            "value_excerpt": "ann@",
        }
    ]


def test_no_rejection_leaves_no_file(tmp_path):
    with RejectedRowsReport(tmp_path / "rejected.jsonl") as report:
        pass
    assert report.path is None
    assert list(tmp_path.iterdir()) == []


def test_a_temporary_report_when_no_path_is_given():
    with RejectedRowsReport(None, keep_first=1) as report:
        report.add(REJECTION)
        report.add(REJECTION)
    assert report.path.endswith(".jsonl")
    assert report.first == [REJECTION]


def test_summary_leaves_values_out():
    assert summarize([REJECTION]) == "row 3 field EmailAddress: email (not an email address)"
    assert "ann@" not in summarize([REJECTION])


def test_manifest_round_trip(tmp_path):
    path = tmp_path / "keys.jsonl"
    write_row_keys_manifest(path, [("r1", ["a", "b"]), ("r2", ["c"])])
    assert path.read_text().splitlines()[0] == '{"request_id":"r1","keys":["a","b"]}'
    assert read_row_keys_manifest(path) == {"r1": ["a", "b"], "r2": ["c"]}
    assert read_row_keys_manifest(path, ["r2"]) == {"r2": ["c"]}
