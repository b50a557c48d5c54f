"""The trigger's serialization and the events it fires, on a scripted async hook."""

from __future__ import annotations

import asyncio
import json
import time

import pytest

from airflow_provider_sfmc_de.hooks.sfmc import AsyncRequestState as State
from airflow_provider_sfmc_de.triggers.data_extension import DataExtensionAsyncRequestTrigger
from tests.sensors.fakes import FailingAsyncHook, ScriptedAsyncHook

CLASSPATH = "airflow_provider_sfmc_de.triggers.data_extension.DataExtensionAsyncRequestTrigger"


def run_trigger(trigger: DataExtensionAsyncRequestTrigger, hook) -> list[dict]:
    trigger._get_async_hook = lambda: hook

    async def collect() -> list[dict]:
        return [event.payload async for event in trigger.run()]

    return asyncio.run(collect())


def make_trigger(request_ids: list[str], **kwargs) -> DataExtensionAsyncRequestTrigger:
    kwargs.setdefault("poll_interval", 0.01)
    kwargs.setdefault("error_grace_period", 0.0)
    return DataExtensionAsyncRequestTrigger(request_ids=request_ids, **kwargs)


def test_serialize_round_trip_is_json_safe():
    trigger = DataExtensionAsyncRequestTrigger(
        request_ids=["r1", "r2"],
        sfmc_conn_id="sfmc_prod",
        poll_interval=15.0,
        error_grace_period=90.0,
        end_time=1_900_000_000.5,
        max_concurrent_polls=4,
    )
    classpath, kwargs = trigger.serialize()
    assert classpath == CLASSPATH
    assert json.loads(json.dumps(kwargs)) == kwargs
    rebuilt = DataExtensionAsyncRequestTrigger(**kwargs)
    assert rebuilt.serialize() == (classpath, kwargs)
    assert kwargs == {
        "request_ids": ["r1", "r2"],
        "sfmc_conn_id": "sfmc_prod",
        "poll_interval": 15.0,
        "error_grace_period": 90.0,
        "end_time": 1_900_000_000.5,
        "max_concurrent_polls": 4,
    }


def test_one_event_once_all_requests_are_final_and_done_ones_are_not_polled_again():
    hook = ScriptedAsyncHook(
        {
            "clean": [State.COMPLETE],
            "slow": [State.PENDING, State.EXECUTING, State.EXECUTING, State.COMPLETE],
            "bad": [State.EXECUTING, (State.COMPLETE, True)],
        }
    )
    events = run_trigger(make_trigger(["clean", "slow", "bad"]), hook)
    assert len(events) == 1
    event = events[0]
    assert event["status"] == "done"
    assert event["complete"] == ["clean", "slow"]
    assert event["with_errors"] == ["bad"]
    assert event["failed"] == event["not_found"] == []
    assert event["waiting"] == {}
    assert hook.status_calls == {"clean": 1, "slow": 4, "bad": 2}
    assert json.loads(json.dumps(event)) == event


def test_missing_status_is_read_as_pending_and_keeps_waiting():
    # The hook turns an answer without a ``status`` object into PENDING.
    hook = ScriptedAsyncHook({"r1": [State.PENDING, State.PENDING, State.PENDING, State.COMPLETE]})
    [event] = run_trigger(make_trigger(["r1"]), hook)
    assert event["complete"] == ["r1"]
    assert hook.status_calls["r1"] == 4


def test_error_within_the_grace_period_is_checked_again():
    hook = ScriptedAsyncHook({"r1": [State.ERROR, State.ERROR, State.COMPLETE]})
    [event] = run_trigger(make_trigger(["r1"], error_grace_period=60.0), hook)
    assert event["status"] == "done"
    assert event["complete"] == ["r1"]
    assert event["failed"] == []


def test_error_that_outlasts_the_grace_period_is_final():
    hook = ScriptedAsyncHook({"r1": [State.ERROR]})
    [event] = run_trigger(make_trigger(["r1"], error_grace_period=0.05), hook)
    assert event["failed"] == ["r1"]
    assert hook.status_calls["r1"] >= 2


def test_unknown_request_ends_the_wait():
    hook = ScriptedAsyncHook({"known": [State.PENDING]})
    [event] = run_trigger(make_trigger(["known", "unknown"]), hook)
    assert event["status"] == "done"
    assert event["not_found"] == ["unknown"]
    assert event["waiting"] == {"known": "Pending"}


def test_timeout_names_the_requests_still_waiting():
    hook = ScriptedAsyncHook({"r1": [State.COMPLETE], "r2": [State.EXECUTING]})
    [event] = run_trigger(make_trigger(["r1", "r2"], end_time=time.time() + 0.05), hook)
    assert event["status"] == "timeout"
    assert event["complete"] == ["r1"]
    assert event["waiting"] == {"r2": "Executing"}
    assert "r2" in event["message"]
    assert "1 Executing" in event["message"]


def test_an_api_failure_becomes_an_error_event():
    [event] = run_trigger(make_trigger(["r1"]), FailingAsyncHook())
    assert event["status"] == "error"
    assert "HTTP 503" in event["message"]


@pytest.mark.parametrize("request_ids", [["r1"], ["r1", "r2", "r3"]])
def test_event_lists_every_request_exactly_once(request_ids):
    hook = ScriptedAsyncHook({rid: [State.COMPLETE] for rid in request_ids})
    [event] = run_trigger(make_trigger(request_ids), hook)
    assert event["complete"] == request_ids
