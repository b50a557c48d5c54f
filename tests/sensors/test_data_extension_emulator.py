"""The sensor and its trigger against the real emulator process, in poke and deferrable mode.

Rows are submitted through the real hook; in deferrable mode the trigger built by the sensor is
serialized, rebuilt from its kwargs and run on the real async hook, and its one event is handed
to ``execute_complete``, as the triggerer would.
"""

from __future__ import annotations

import asyncio
import csv
import importlib
import json
import uuid

import pytest
from airflow.sdk.exceptions import AirflowFailException, AirflowSensorTimeout, TaskDeferred

from airflow_provider_sfmc_de.emulator import default_config, run_emulator
from airflow_provider_sfmc_de.hooks.sfmc import AsyncRequestState, SfmcHook
from airflow_provider_sfmc_de.outcome import KNOWN_STATES
from airflow_provider_sfmc_de.sensors.data_extension import DataExtensionAsyncRequestSensor

DE_KEY = "Demo_Customers"
CONN_ID = "sfmc_sensor_tests"
MODES = ["poke", "deferrable"]


@pytest.fixture(scope="module")
def emulator():
    config = default_config()
    # Short, but long enough that the first polls see Pending and Executing.
    config["processing"] = {"pickup_delay_seconds": 0.3, "executing_seconds": 0.3}
    # Small pages, so results of one request span several pages.
    config["results_page_size"] = 2
    with run_emulator(config) as running:
        yield running


@pytest.fixture(autouse=True)
def sfmc_connection(emulator, monkeypatch):
    emulator.clear_faults()
    monkeypatch.setenv(f"AIRFLOW_CONN_{CONN_ID.upper()}", emulator.connection_json())
    yield
    emulator.clear_faults()


@pytest.fixture
def hook() -> SfmcHook:
    return SfmcHook(CONN_ID)


def customers(count: int) -> list[dict]:
    """Valid Demo_Customers rows with keys no other test uses."""
    prefix = uuid.uuid4().hex[:8]
    return [
        {
            "SubscriberKey": f"{prefix}-{number}",
            "EmailAddress": f"customer{number}@example.com",
            "FirstName": f"First{number}",
        }
        for number in range(1, count + 1)
    ]


def submit(hook: SfmcHook, *batches: list[dict]) -> dict:
    """Submit each batch as one insert request; return what the insert operator returns."""
    requests, row_keys, first_row = [], {}, 1
    for rows in batches:
        body = json.dumps({"items": rows}).encode()
        request_id = hook.submit_async_rows(DE_KEY, body, mode="insert")
        requests.append({"request_id": request_id, "rows": len(rows), "first_row": first_row})
        row_keys[request_id] = [row["SubscriberKey"] for row in rows]
        first_row += len(rows)
    return {
        "data_extension_key": DE_KEY,
        "mode": "insert",
        "request_ids": [request["request_id"] for request in requests],
        "rows_read": first_row - 1,
        "rows_submitted": first_row - 1,
        "rows_rejected": 0,
        "requests": requests,
        "primary_key": ["SubscriberKey"],
        "row_keys": row_keys,
        "row_keys_path": None,
        "rejected_rows_path": None,
        "dry_run": False,
    }


def status_calls(emulator) -> int:
    """Status polls the emulator answered since its stats were last reset."""
    calls = emulator.stats()["calls"]
    return sum(
        count
        for route, count in calls.items()
        if route.startswith("GET /data/v1/async/") and route.endswith("/status")
    )


def stored_keys(emulator) -> set[str]:
    return {row["SubscriberKey"] for row in emulator.rows(DE_KEY)}


def run_sensor(mode: str, request_ids, **kwargs):
    """Run the sensor to its end in ``mode``; return its result or raise its failure."""
    kwargs.setdefault("poke_interval", 0.1)
    kwargs.setdefault("timeout", 60)
    kwargs.setdefault("error_grace_period", 0)
    sensor = DataExtensionAsyncRequestSensor(
        task_id="wait_for_sfmc",
        sfmc_conn_id=CONN_ID,
        request_ids=request_ids,
        deferrable=mode == "deferrable",
        **kwargs,
    )
    if mode == "poke":
        return sensor.execute({})
    with pytest.raises(TaskDeferred) as deferred:
        sensor.execute({})
    classpath, trigger_kwargs = deferred.value.trigger.serialize()
    module, _, name = classpath.rpartition(".")
    trigger_class = getattr(importlib.import_module(module), name)
    trigger = trigger_class(**json.loads(json.dumps(trigger_kwargs)))

    async def collect():
        return [event.payload async for event in trigger.run()]

    events = asyncio.run(collect())
    assert len(events) == 1
    return sensor.execute_complete({}, events[0])


def test_outcome_knows_every_state_the_hook_reports():
    assert {state.name for state in AsyncRequestState} == KNOWN_STATES


@pytest.mark.parametrize("mode", MODES)
def test_clean_load(mode, emulator, hook):
    first, second = customers(3), customers(2)
    load = submit(hook, first, second)
    summary = run_sensor(mode, load)
    assert summary == {
        "data_extension_key": DE_KEY,
        "requests": 2,
        "rows_ok": 5,
        "rows_failed": 0,
        "transient_failures": 0,
        "failed_rows_path": None,
    }
    assert {row["SubscriberKey"] for row in first + second} <= stored_keys(emulator)


@pytest.mark.parametrize("mode", MODES)
def test_primary_key_violations_are_reported_by_key(mode, emulator, hook, tmp_path):
    existing = customers(2)
    run_sensor(mode, submit(hook, existing))
    fresh = customers(3)
    # Positions 2 and 4 of the second request repeat keys that are already stored.
    retry = [fresh[0], existing[0], fresh[1], existing[1], fresh[2]]
    load = submit(hook, customers(1), retry)
    report = tmp_path / "failed_rows.jsonl"

    with pytest.raises(AirflowFailException) as failure:
        run_sensor(mode, load, failed_rows_path=str(report))

    message = str(failure.value)
    assert "2 of 6 rows failed in SFMC, more than max_failed_rows=0" in message
    assert f"SubscriberKey '{existing[0]['SubscriberKey']}'" in message
    assert "PRIMARY KEY" in message
    assert f"Full report: {report}" in message
    failed = [json.loads(line) for line in report.read_text().splitlines()]
    assert [(row["key"], row["position"], row["row_number"]) for row in failed] == [
        (existing[0]["SubscriberKey"], 2, 3),
        (existing[1]["SubscriberKey"], 4, 5),
    ]
    assert all(row["request_id"] == load["request_ids"][1] for row in failed)
    assert not any(row["transient"] for row in failed)
    assert {row["SubscriberKey"] for row in fresh} <= stored_keys(emulator)


@pytest.mark.parametrize("mode", MODES)
def test_max_failed_rows_lets_a_few_failures_through(mode, hook, tmp_path):
    existing = customers(2)
    run_sensor(mode, submit(hook, existing))
    report = tmp_path / "failed_rows.csv"
    load = submit(hook, [*customers(2), *existing])
    summary = run_sensor(mode, load, max_failed_rows=2, failed_rows_path=str(report))
    assert summary["rows_ok"] == 2
    assert summary["rows_failed"] == 2
    assert summary["failed_rows_path"] == str(report)
    with report.open(newline="") as handle:
        failed = list(csv.DictReader(handle))
    assert [row["position"] for row in failed] == ["3", "4"]
    assert [row["key"] for row in failed] == [row["SubscriberKey"] for row in existing]


@pytest.mark.parametrize("mode", MODES)
def test_missing_status_keeps_waiting(mode, emulator, hook):
    emulator.set_faults(missing_status={"polls": 3})
    rows = customers(2)
    load = submit(hook, rows)
    emulator.reset_stats()
    assert run_sensor(mode, load)["rows_ok"] == 2
    assert status_calls(emulator) >= 4
    assert {row["SubscriberKey"] for row in rows} <= stored_keys(emulator)


@pytest.mark.parametrize("mode", MODES)
def test_executing_keeps_waiting(mode, emulator, hook):
    load = submit(hook, customers(2))
    assert hook.get_async_status(load["request_ids"][0]).state in (
        AsyncRequestState.PENDING,
        AsyncRequestState.EXECUTING,
    )
    emulator.reset_stats()
    assert run_sensor(mode, load, poke_interval=0.05)["rows_ok"] == 2
    assert status_calls(emulator) >= 2


@pytest.mark.parametrize("mode", MODES)
def test_transient_error_is_checked_again_until_complete(mode, emulator, hook):
    emulator.set_faults(transient_error={"polls": 2})
    rows = customers(3)
    load = submit(hook, rows)
    emulator.reset_stats()
    summary = run_sensor(mode, load, error_grace_period=30)
    assert summary["rows_ok"] == 3
    assert summary["rows_failed"] == 0
    assert status_calls(emulator) >= 3


@pytest.mark.parametrize("mode", MODES)
def test_deadlocked_rows_are_counted_as_transient(mode, emulator, hook, tmp_path):
    emulator.set_faults(deadlock_rows={"every": 2})
    report = tmp_path / "failed_rows.jsonl"
    load = submit(hook, customers(4))
    summary = run_sensor(mode, load, max_failed_rows=10, failed_rows_path=str(report))
    assert summary["rows_failed"] == 2
    assert summary["transient_failures"] == 2
    failed = [json.loads(line) for line in report.read_text().splitlines()]
    assert [row["position"] for row in failed] == [2, 4]
    assert all(row["message"].endswith("Rerun the transaction.") for row in failed)


@pytest.mark.parametrize("mode", MODES)
def test_unknown_request_id_fails_as_unknown_or_expired(mode, hook):
    load = submit(hook, customers(1))
    unknown = str(uuid.uuid4())
    with pytest.raises(AirflowFailException, match=rf"{unknown}: the request id is unknown"):
        run_sensor(mode, [*load["request_ids"], unknown])


@pytest.mark.parametrize("mode", MODES)
def test_timeout_names_the_unfinished_requests(mode, emulator, hook):
    emulator.set_faults(missing_status={"polls": 1000})
    load = submit(hook, customers(1))
    with pytest.raises(AirflowSensorTimeout, match=load["request_ids"][0]):
        run_sensor(mode, load, timeout=0.5)
