"""The pure waiting and matching logic shared by the sensor and its trigger."""

from __future__ import annotations

import subprocess
import sys

import pytest

from airflow_provider_sfmc_de.failed_rows import (
    FailedRowsReport,
    LoadManifest,
    RequestRows,
    is_transient,
    record_request_results,
)
from airflow_provider_sfmc_de.outcome import RequestWatch, WaitOutcome
from tests.sensors.fakes import DEADLOCK, DUPLICATE, OK


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_error_becomes_final_only_after_the_grace_period():
    clock = FakeClock()
    watch = RequestWatch(["r1"], error_grace_period=30, clock=clock)
    watch.record("r1", "ERROR")
    assert watch.pending == ["r1"]
    clock.now += 29
    watch.record("r1", "ERROR")
    assert not watch.finished
    assert "1 in Error, re-checked for 30 s" in watch.progress()
    clock.now += 1
    watch.record("r1", "ERROR")
    assert watch.finished
    assert watch.outcome().failed == ["r1"]


def test_error_grace_restarts_after_the_request_leaves_error():
    clock = FakeClock()
    watch = RequestWatch(["r1"], error_grace_period=30, clock=clock)
    watch.record("r1", "ERROR")
    clock.now += 20
    watch.record("r1", "EXECUTING")
    clock.now += 20
    watch.record("r1", "ERROR")
    assert not watch.finished


def test_progress_counts_requests_by_state():
    clock = FakeClock()
    watch = RequestWatch(["a", "b", "c", "d"], error_grace_period=0, clock=clock)
    assert watch.record("a", "COMPLETE") is True
    assert watch.record("b", "PENDING") is False
    watch.record("c", "EXECUTING")
    clock.now += 42
    assert watch.progress() == (
        "1 of 4 SFMC async requests finished after 42 s; waiting on 1 Executing, 2 Pending."
    )


def test_unknown_state_and_request_are_refused():
    watch = RequestWatch(["r1"], error_grace_period=0)
    with pytest.raises(ValueError, match="Unknown async request state"):
        watch.record("r1", "Queued")
    with pytest.raises(ValueError, match="not one of the requests"):
        watch.record("r2", "COMPLETE")


def test_outcome_survives_the_event_round_trip():
    outcome = WaitOutcome(
        status="done", complete=["a"], with_errors=["b"], failed=["c"], elapsed_seconds=1.5
    )
    assert WaitOutcome.from_event(outcome.to_event()) == outcome
    assert outcome.needs_results == ["b", "c"]


def test_deadlock_message_is_transient():
    assert is_transient(DEADLOCK.message)
    assert is_transient("... Rerun the transaction.\r\n")
    assert not is_transient(DUPLICATE.message)
    assert not is_transient(None)


def test_results_are_matched_to_rows_by_position():
    report = FailedRowsReport(None, primary_key=["Id", "Region"])
    with report:
        tally = record_request_results(
            report,
            RequestRows("r1", rows=3, first_row=11, numbered=True),
            [OK, DUPLICATE, DEADLOCK],
            keys=["1|EU", "2|EU", "3|US"],
        )
    assert (tally.rows_ok, tally.rows_failed, tally.results_read) == (1, 2, 3)
    assert [(row.row_number, row.key, row.transient) for row in report.examples] == [
        (12, "2|EU", False),
        (13, "3|US", True),
    ]
    assert report.describe(report.examples[0]).startswith("Id|Region '2|EU': [UnexpectedError]")


def test_manifest_refuses_what_is_not_request_ids():
    with pytest.raises(ValueError, match="without a 'request_ids' entry"):
        LoadManifest.from_argument({"rows": 3})
    with pytest.raises(ValueError, match="request id strings"):
        LoadManifest.from_argument([1, 2])
    with pytest.raises(ValueError, match="list of SFMC request ids"):
        LoadManifest.from_argument(42)
    assert LoadManifest.from_argument("abc-123").request_ids == ["abc-123"]


def test_row_numbers_are_only_given_where_no_rejected_row_makes_a_gap():
    # Rows 1-10 read; row 3 rejected by the operator, so the first request holds rows 1, 2, 4.
    manifest = LoadManifest.from_argument(
        {
            "request_ids": ["r1", "r2"],
            "rows_read": 10,
            "rows_rejected": 1,
            "requests": [
                {"request_id": "r1", "rows": 3, "first_row": 1},
                {"request_id": "r2", "rows": 6, "first_row": 5},
            ],
        }
    )
    assert [request.numbered for request in manifest.requests] == [False, True]
    report = FailedRowsReport(None)
    with report:
        for request in manifest.requests:
            record_request_results(report, request, [OK, DUPLICATE])
    assert [row.row_number for row in report.examples] == [None, 6]
    assert report.describe(report.examples[0]).startswith("row 2 of request r1:")


def test_last_row_tells_whether_a_request_holds_a_gap():
    manifest = LoadManifest.from_argument(
        {
            "request_ids": ["r1", "r2"],
            "rows_rejected": 3,
            "requests": [
                {"request_id": "r1", "rows": 2, "first_row": 1, "last_row": 2},
                {"request_id": "r2", "rows": 2, "first_row": 4, "last_row": 7},
            ],
        }
    )
    assert [request.numbered for request in manifest.requests] == [True, False]


def test_the_shared_logic_imports_nothing_from_airflow():
    script = (
        "import sys\n"
        "import airflow_provider_sfmc_de.failed_rows, airflow_provider_sfmc_de.outcome\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'airflow'))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"
