"""Shared helpers for the emulator's own tests: a client with a token, and a waiting loop."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest

from airflow_provider_sfmc_de.emulator import Emulator

CUSTOMERS = "Demo_Customers"
ALL_TYPES = "Demo_AllTypes"
# A copy of the customers extension that only the paging test writes to.
PAGED = "Test_Paged_Customers"
# An extension with a primary key of two fields.
COMPOSITE = "Test_Composite_Key"


def token_for(emulator: Emulator, **params: Any) -> dict[str, Any]:
    body = {
        "grant_type": "client_credentials",
        "client_id": emulator.client_id,
        "client_secret": emulator.client_secret,
        **params,
    }
    answer = httpx.post(f"{emulator.url}/v2/token", json=body)
    assert answer.status_code == 200, answer.text
    return answer.json()


def api_client(emulator: Emulator, **token_params: Any) -> httpx.Client:
    """An HTTP client for the REST API, with a fresh client-credentials token."""
    token = token_for(emulator, **token_params)["access_token"]
    return httpx.Client(
        base_url=emulator.url, headers={"Authorization": f"Bearer {token}"}, timeout=30
    )


def wait_until_complete(client: httpx.Client, request_id: str, timeout: float = 30) -> dict:
    """Poll an async request until SFMC would say Complete; return the last status object."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        answer = client.get(f"/data/v1/async/{request_id}/status").json()
        status = answer.get("status")
        if status and status["requestStatus"] == "Complete":
            return status
        time.sleep(0.05)
    raise AssertionError(f"Request {request_id} did not complete within {timeout} s.")


def submit(client: httpx.Client, key: str, items: list[dict], *, upsert: bool = False) -> str:
    method = client.put if upsert else client.post
    answer = method(f"/data/v1/async/dataextensions/key:{key}/rows", json={"items": items})
    assert answer.status_code == 202, answer.text
    return answer.json()["requestId"]


def customer(number: int, **fields: Any) -> dict[str, Any]:
    return {
        "SubscriberKey": f"S{number:07d}",
        "EmailAddress": f"user{number}@example.com",
        "FirstName": "Ada",
        **fields,
    }


def fast_config(**settings: Any) -> dict[str, Any]:
    """The default config with tiny processing delays, plus any overridden settings."""
    from airflow_provider_sfmc_de.emulator import default_config

    config = default_config()
    config["processing"] = {"pickup_delay_seconds": 0.05, "executing_seconds": 0.05}
    config.update(settings)
    return config


@pytest.fixture(scope="session")
def shared_emulator() -> Emulator:
    """One emulator for the whole run: starting a process per test would be slow. Tests use
    keys of their own and clear the faults they set."""
    from airflow_provider_sfmc_de.emulator import run_emulator

    config = fast_config()
    customers = next(item for item in config["data_extensions"] if item["key"] == CUSTOMERS)
    config["data_extensions"].append({**customers, "key": PAGED, "name": "Paged customers"})
    config["data_extensions"].append(
        {
            "key": COMPOSITE,
            "name": "Composite key",
            "fields": [
                {"name": "Region", "type": "Text", "length": 10, "isPrimaryKey": True},
                {"name": "Code", "type": "Number", "isPrimaryKey": True},
                {"name": "Label", "type": "Text"},
            ],
        }
    )
    with run_emulator(config) as emulator:
        yield emulator


@pytest.fixture(scope="session")
def patient_emulator() -> Emulator:
    """An emulator that leaves requests Pending for a second, for tests that must see them
    before they are picked up."""
    from airflow_provider_sfmc_de.emulator import run_emulator

    config = fast_config()
    config["processing"] = {"pickup_delay_seconds": 1.0, "executing_seconds": 0.1}
    with run_emulator(config) as emulator:
        yield emulator


@pytest.fixture
def client(shared_emulator: Emulator) -> httpx.Client:
    with api_client(shared_emulator) as http:
        yield http
