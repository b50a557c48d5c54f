"""The sensor's status handling and failed-row report, on a scripted hook (no server)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from airflow.sdk.exceptions import AirflowFailException, AirflowSensorTimeout, TaskDeferred

from airflow_provider_sfmc_de.exceptions import SfmcError
from airflow_provider_sfmc_de.hooks.sfmc import AsyncRequestState as State
from airflow_provider_sfmc_de.sensors.data_extension import DataExtensionAsyncRequestSensor
from airflow_provider_sfmc_de.triggers.data_extension import DataExtensionAsyncRequestTrigger
from tests.sensors.fakes import DEADLOCK, DUPLICATE, OK, ScriptedHook


def load_result(requests: dict[str, list[str]], **extra) -> dict:
    """What the insert operator returns for requests holding these primary keys."""
    first_row = 1
    described = []
    for request_id, keys in requests.items():
        described.append({"request_id": request_id, "rows": len(keys), "first_row": first_row})
        first_row += len(keys)
    result = {
        "data_extension_key": "Demo_Customers",
        "mode": "insert",
        "request_ids": list(requests),
        "rows_read": first_row - 1,
        "rows_submitted": first_row - 1,
        "rows_rejected": 0,
        "requests": described,
        "primary_key": ["SubscriberKey"],
        "row_keys": dict(requests),
        "row_keys_path": None,
        "rejected_rows_path": None,
        "dry_run": False,
    }
    result.update(extra)
    return result


def make_sensor(request_ids, hook, **kwargs) -> DataExtensionAsyncRequestSensor:
    kwargs.setdefault("poke_interval", 0)
    kwargs.setdefault("timeout", 30)
    kwargs.setdefault("error_grace_period", 0)
    kwargs.setdefault("deferrable", False)
    sensor = DataExtensionAsyncRequestSensor(task_id="wait", request_ids=request_ids, **kwargs)
    sensor.hook = hook
    return sensor


def test_clean_load_reads_no_results_and_counts_every_row():
    hook = ScriptedHook(
        {"r1": [State.PENDING, State.COMPLETE], "r2": [State.EXECUTING, State.COMPLETE]}
    )
    sensor = make_sensor(load_result({"r1": ["a", "b"], "r2": ["c"]}), hook)
    assert sensor.execute({}) == {
        "data_extension_key": "Demo_Customers",
        "requests": 2,
        "rows_ok": 3,
        "rows_failed": 0,
        "transient_failures": 0,
        "failed_rows_path": None,
    }
    assert hook.results_calls == {}
    assert hook.status_calls == {"r1": 2, "r2": 2}


def test_failed_rows_are_named_by_key_and_reported_to_a_file(tmp_path):
    report = tmp_path / "out" / "failed.jsonl"
    hook = ScriptedHook(
        {"r1": [State.COMPLETE], "r2": [(State.COMPLETE, True)]},
        results={"r2": [OK, DUPLICATE, DEADLOCK]},
    )
    sensor = make_sensor(
        load_result({"r1": ["a", "b"], "r2": ["c", "d", "e"]}), hook, failed_rows_path=str(report)
    )
    with pytest.raises(AirflowFailException) as failure:
        sensor.execute({})
    message = str(failure.value)
    assert "2 of 5 rows failed" in message
    assert "1 row error, 1 transient deadlock (rows safe to send again" in message
    assert "SubscriberKey 'd': [UnexpectedError] Violation of PRIMARY KEY constraint" in message
    assert f"Full report: {report}" in message
    lines = [json.loads(line) for line in report.read_text().splitlines()]
    assert lines == [
        {
            "request_id": "r2",
            "position": 2,
            "row_number": 4,
            "key": "d",
            "error_code": "UnexpectedError",
            "message": DUPLICATE.message,
            "transient": False,
        },
        {
            "request_id": "r2",
            "position": 3,
            "row_number": 5,
            "key": "e",
            "error_code": "UnexpectedError",
            "message": DEADLOCK.message,
            "transient": True,
        },
    ]
    assert hook.results_calls == {"r2": 1}


def test_max_failed_rows_lets_the_task_succeed_with_the_counts(tmp_path):
    report = tmp_path / "failed.csv"
    hook = ScriptedHook({"r1": [(State.COMPLETE, True)]}, results={"r1": [DEADLOCK, OK, DUPLICATE]})
    sensor = make_sensor(
        load_result({"r1": ["a", "b", "c"]}),
        hook,
        max_failed_rows=2,
        failed_rows_path=str(report),
    )
    summary = sensor.execute({})
    assert summary["rows_ok"] == 1
    assert summary["rows_failed"] == 2
    assert summary["transient_failures"] == 1
    assert summary["failed_rows_path"] == str(report)
    with report.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [(row["key"], row["transient"]) for row in rows] == [("a", "True"), ("c", "False")]


def test_one_failure_more_than_allowed_fails():
    hook = ScriptedHook({"r1": [(State.COMPLETE, True)]}, results={"r1": [DUPLICATE, DUPLICATE]})
    sensor = make_sensor(load_result({"r1": ["a", "b"]}), hook, max_failed_rows=1)
    with pytest.raises(AirflowFailException, match="more than max_failed_rows=1"):
        sensor.execute({})


def test_transient_error_is_rechecked_before_it_counts():
    hook = ScriptedHook({"r1": [State.ERROR, State.ERROR, State.COMPLETE]})
    sensor = make_sensor(load_result({"r1": ["a"]}), hook, error_grace_period=60)
    assert sensor.execute({})["rows_ok"] == 1
    assert hook.status_calls["r1"] == 3


def test_final_error_fails_rows_without_a_result():
    hook = ScriptedHook({"r1": [State.ERROR]}, results={"r1": [OK]})
    sensor = make_sensor(load_result({"r1": ["a", "b", "c"]}), hook)
    with pytest.raises(AirflowFailException) as failure:
        sensor.execute({})
    assert "2 of 3 rows failed" in str(failure.value)
    assert "SubscriberKey 'b': [RequestError] SFMC ended the request with status Error" in str(
        failure.value
    )


def test_final_error_without_row_counts_or_results_fails_clearly():
    hook = ScriptedHook({"r1": [State.ERROR]})
    sensor = make_sensor(["r1"], hook)
    with pytest.raises(AirflowFailException, match="which of its rows landed is unknown"):
        sensor.execute({})


def test_unknown_request_id_fails_saying_unknown_or_expired():
    hook = ScriptedHook({"r1": [State.PENDING]})
    sensor = make_sensor(["r1", "nope"], hook)
    with pytest.raises(AirflowFailException, match=r"nope: the request id is unknown.*expired"):
        sensor.execute({})


def test_timeout_names_what_is_still_waited_on():
    hook = ScriptedHook({"r1": [State.COMPLETE], "r2": [State.PENDING]})
    sensor = make_sensor(["r1", "r2"], hook, timeout=0.05, poke_interval=0.01)
    with pytest.raises(AirflowSensorTimeout, match=r"1 of 2 SFMC async requests unfinished.*r2"):
        sensor.execute({})


def test_plain_id_list_names_failures_by_request_and_position():
    hook = ScriptedHook({"r1": [(State.COMPLETE, True)]}, results={"r1": [OK, DUPLICATE]})
    sensor = make_sensor(["r1"], hook)
    with pytest.raises(AirflowFailException) as failure:
        sensor.execute({})
    assert "1 of 2 rows failed in SFMC" in str(failure.value)
    assert "row 2 of request r1: [UnexpectedError]" in str(failure.value)
    # Without failed_rows_path the full report goes to a temporary file, named in the message.
    report = Path(str(failure.value).rsplit("Full report: ", 1)[1])
    assert report.name.startswith("sfmc-de-failed-rows-")
    [line] = report.read_text().splitlines()
    assert json.loads(line)["position"] == 2
    report.unlink()


def test_clean_plain_id_list_leaves_rows_ok_unknown():
    hook = ScriptedHook({"r1": [State.COMPLETE]})
    assert make_sensor(["r1"], hook).execute({})["rows_ok"] is None


def test_keys_come_from_the_manifest_file_of_a_large_load(tmp_path):
    manifest = tmp_path / "keys.jsonl"
    manifest.write_text(
        json.dumps({"request_id": "r1", "keys": ["a", "b"]})
        + "\n"
        + json.dumps({"request_id": "r2", "keys": ["c", "d"]})
        + "\n"
    )
    result = load_result(
        {"r1": ["a", "b"], "r2": ["c", "d"]}, row_keys=None, row_keys_path=str(manifest)
    )
    hook = ScriptedHook(
        {"r1": [State.COMPLETE], "r2": [(State.COMPLETE, True)]}, results={"r2": [DUPLICATE, OK]}
    )
    with pytest.raises(AirflowFailException, match="SubscriberKey 'c'"):
        make_sensor(result, hook).execute({})


@pytest.mark.parametrize(
    "rendered",
    [
        '["r1", "r2"]',
        "{'request_ids': ['r1', 'r2'], 'requests': [], 'row_keys': None}",
    ],
)
def test_request_ids_rendered_as_text_are_understood(rendered):
    hook = ScriptedHook({"r1": [State.COMPLETE], "r2": [State.COMPLETE]})
    assert make_sensor(rendered, hook).execute({})["requests"] == 2


def test_a_load_that_submitted_nothing_succeeds_at_once(tmp_path):
    hook = ScriptedHook({})
    report = tmp_path / "failed.jsonl"
    summary = make_sensor(
        load_result({}, dry_run=True), hook, failed_rows_path=str(report)
    ).execute({})
    assert summary["requests"] == 0
    assert summary["rows_failed"] == 0
    assert report.read_text() == ""
    assert hook.status_calls == {}


def test_report_path_with_an_unknown_extension_is_refused_before_waiting():
    hook = ScriptedHook({"r1": [State.COMPLETE]})
    with pytest.raises(ValueError, match=r"must end in \.csv"):
        make_sensor(["r1"], hook, failed_rows_path="/tmp/failed.xlsx").execute({})
    assert hook.status_calls == {}


def test_reschedule_mode_is_refused():
    with pytest.raises(ValueError, match="mode"):
        DataExtensionAsyncRequestSensor(task_id="wait", request_ids=["r1"], mode="reschedule")


def test_deferrable_defers_one_trigger_for_all_requests():
    sensor = make_sensor(
        load_result({"r1": ["a"], "r2": ["b"]}),
        ScriptedHook({}),
        deferrable=True,
        poke_interval=15,
        timeout=600,
        error_grace_period=45,
        sfmc_conn_id="sfmc_prod",
    )
    with pytest.raises(TaskDeferred) as deferred:
        sensor.execute({})
    trigger = deferred.value.trigger
    assert isinstance(trigger, DataExtensionAsyncRequestTrigger)
    assert deferred.value.method_name == "execute_complete"
    _, kwargs = trigger.serialize()
    assert kwargs["request_ids"] == ["r1", "r2"]
    assert kwargs["sfmc_conn_id"] == "sfmc_prod"
    assert kwargs["poll_interval"] == 15
    assert kwargs["error_grace_period"] == 45
    assert deferred.value.timeout.total_seconds() > 600


def test_execute_complete_reads_results_like_poke_mode():
    hook = ScriptedHook({}, results={"r2": [DUPLICATE]})
    sensor = make_sensor(load_result({"r1": ["a"], "r2": ["b"]}), hook, deferrable=True)
    event = {"status": "done", "complete": ["r1"], "with_errors": ["r2"], "elapsed_seconds": 3}
    with pytest.raises(AirflowFailException, match="SubscriberKey 'b'"):
        sensor.execute_complete({}, event)
    assert hook.status_calls == {}


@pytest.mark.parametrize(
    ("event", "error", "match"),
    [
        ({"status": "timeout", "message": "Timed out after 9 s"}, AirflowSensorTimeout, "9 s"),
        ({"status": "error", "message": "HTTP 503"}, SfmcError, "HTTP 503"),
        ({"status": "done", "not_found": ["r1"]}, AirflowFailException, "unknown"),
    ],
)
def test_execute_complete_fails_on_timeout_error_and_unknown_ids(event, error, match):
    sensor = make_sensor(["r1"], ScriptedHook({}), deferrable=True)
    with pytest.raises(error, match=match):
        sensor.execute_complete({}, event)
