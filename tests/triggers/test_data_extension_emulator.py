"""The trigger's events, polling the real emulator process through the real async hook."""

from __future__ import annotations

import asyncio
import json
import time
import uuid

import pytest

from airflow_provider_sfmc_de.emulator import default_config, run_emulator
from airflow_provider_sfmc_de.hooks.sfmc import SfmcHook
from airflow_provider_sfmc_de.triggers.data_extension import DataExtensionAsyncRequestTrigger

DE_KEY = "Demo_Customers"
CONN_ID = "sfmc_trigger_tests"


@pytest.fixture(scope="module")
def emulator():
    config = default_config()
    config["processing"] = {"pickup_delay_seconds": 0.2, "executing_seconds": 0.2}
    with run_emulator(config) as running:
        yield running


@pytest.fixture(autouse=True)
def sfmc_connection(emulator, monkeypatch):
    emulator.clear_faults()
    monkeypatch.setenv(f"AIRFLOW_CONN_{CONN_ID.upper()}", emulator.connection_json())
    yield
    emulator.clear_faults()


def submit(rows: list[dict]) -> str:
    return SfmcHook(CONN_ID).submit_async_rows(DE_KEY, json.dumps({"items": rows}).encode())


def customers(count: int, prefix: str | None = None) -> list[dict]:
    prefix = prefix or uuid.uuid4().hex[:8]
    return [
        {"SubscriberKey": f"{prefix}-{n}", "EmailAddress": f"c{n}@example.com"}
        for n in range(1, count + 1)
    ]


def fire(request_ids: list[str], **kwargs) -> list[dict]:
    kwargs = {"poll_interval": 0.05, "error_grace_period": 0.0, **kwargs}
    trigger = DataExtensionAsyncRequestTrigger(
        request_ids=request_ids, sfmc_conn_id=CONN_ID, **kwargs
    )

    async def collect() -> list[dict]:
        return [event.payload async for event in trigger.run()]

    return asyncio.run(collect())


def test_one_event_sorts_clean_requests_from_those_with_row_errors():
    stored = customers(2)
    [event] = fire([submit(stored)])
    assert event["complete"]
    clean = submit(customers(3))
    duplicate = submit([*customers(1), stored[0]])
    [event] = fire([clean, duplicate])
    assert event["status"] == "done"
    assert event["complete"] == [clean]
    assert event["with_errors"] == [duplicate]
    assert event["failed"] == event["not_found"] == []


def test_missing_status_and_transient_error_keep_the_trigger_waiting(emulator):
    emulator.set_faults(missing_status={"polls": 2}, transient_error={"polls": 2})
    request_id = submit(customers(2))
    [event] = fire([request_id], error_grace_period=30)
    assert event["status"] == "done"
    assert event["complete"] == [request_id]


def test_error_past_the_grace_period_is_reported_as_failed(emulator):
    emulator.set_faults(transient_error={"polls": 1000})
    request_id = submit(customers(1))
    [event] = fire([request_id], error_grace_period=0.2)
    assert event["failed"] == [request_id]


def test_unknown_request_id_is_reported_not_found():
    known = submit(customers(1))
    unknown = str(uuid.uuid4())
    [event] = fire([known, unknown])
    assert event["not_found"] == [unknown]


def test_timeout_event_lists_what_is_still_waiting(emulator):
    emulator.set_faults(missing_status={"polls": 1000})
    request_id = submit(customers(1))
    [event] = fire([request_id], end_time=time.time() + 0.3)
    assert event["status"] == "timeout"
    assert event["waiting"] == {request_id: "Pending"}
    assert request_id in event["message"]


def test_unreachable_sfmc_gives_an_error_event(monkeypatch):
    monkeypatch.setenv(
        f"AIRFLOW_CONN_{CONN_ID.upper()}",
        json.dumps(
            {
                "conn_type": "sfmc",
                "host": "http://127.0.0.1:9",
                "login": "sfmc-de-demo-client",
                "password": "sfmc-de-demo-secret",
                "extra": {"account_id": "100000001", "max_attempts": 1},
            }
        ),
    )
    [event] = fire(["any-request"])
    assert event["status"] == "error"
    assert "network error" in event["message"]
    assert "sfmc-de-demo-secret" not in event["message"]
