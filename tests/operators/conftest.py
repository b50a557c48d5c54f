"""Fixtures for operator tests: a fast emulator and connections to it and to staging tables."""

from __future__ import annotations

import time
from typing import Any

import pytest

from airflow_provider_sfmc_de.emulator import default_config
from airflow_provider_sfmc_de.hooks.sfmc import SfmcHook
from airflow_provider_sfmc_de.operators.data_extension import DataExtensionInsertOperator

PROCESSING_TIMEOUT_SECONDS = 60


@pytest.fixture
def sfmc_emulator_config() -> dict[str, Any]:
    config = default_config()
    config["processing"] = {"pickup_delay_seconds": 0.01, "executing_seconds": 0.01}
    return config


@pytest.fixture
def sfmc_default(sfmc_emulator, monkeypatch):
    """Point the ``sfmc_default`` connection at the emulator, with short retry waits."""
    monkeypatch.setenv(
        "AIRFLOW_CONN_SFMC_DEFAULT",
        sfmc_emulator.connection_json(retry_base_wait=0.05, max_retry_wait=2),
    )
    return sfmc_emulator


@pytest.fixture
def run_operator(sfmc_default, tmp_path):
    """Build the operator with a report path in ``tmp_path`` and run ``execute``."""

    def run(**kwargs: Any) -> dict[str, Any]:
        kwargs.setdefault("data_extension_key", "Demo_Customers")
        kwargs.setdefault("rejected_rows_path", str(tmp_path / "rejected.jsonl"))
        operator = DataExtensionInsertOperator(task_id="load", **kwargs)
        return operator.execute(context={})

    return run


def wait_for_results(request_ids: list[str]) -> dict[str, list[Any]]:
    """Wait until SFMC has processed each request; return its row results in order."""
    hook = SfmcHook()
    deadline = time.monotonic() + PROCESSING_TIMEOUT_SECONDS
    results = {}
    for request_id in request_ids:
        while not hook.get_async_status(request_id).is_done:
            assert time.monotonic() < deadline, f"request {request_id} was not processed"
            time.sleep(0.05)
        results[request_id] = list(hook.iter_async_results(request_id))
    return results


def customer(number: int, **values: Any) -> dict[str, Any]:
    return {
        "SubscriberKey": f"C{number:05d}",
        "EmailAddress": f"customer{number}@example.com",
        "FirstName": "Ann",
        "LastName": "Lee",
        "SignupDate": "2024-03-01",
        "IsSubscribed": True,
        **values,
    }
