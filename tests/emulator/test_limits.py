"""Requests over the configured row or byte limits, or malformed, get a clear 4xx."""

from __future__ import annotations

import httpx
import pytest

from airflow_provider_sfmc_de.emulator import Emulator, run_emulator
from tests.emulator.conftest import CUSTOMERS, api_client, customer, fast_config

ROWS_URL = f"/data/v1/async/dataextensions/key:{CUSTOMERS}/rows"


@pytest.fixture(scope="module")
def small_limits() -> Emulator:
    config = fast_config(limits={"max_rows_per_request": 10, "max_body_bytes": 2000})
    with run_emulator(config) as emulator:
        yield emulator


def test_too_many_rows_is_400(small_limits: Emulator) -> None:
    with api_client(small_limits) as client:
        answer = client.post(ROWS_URL, json={"items": [customer(n) for n in range(11)]})

    assert answer.status_code == 400
    message = answer.json()["resultMessages"][0]
    assert message["resultCode"] == "TooManyItems"
    assert "11 items" in message["message"]
    assert "at most 10" in message["message"]


def test_too_many_bytes_is_413(small_limits: Emulator) -> None:
    rows = [customer(n, FirstName="x" * 300) for n in range(8)]
    with api_client(small_limits) as client:
        answer = client.post(ROWS_URL, json={"items": rows})

    assert answer.status_code == 413
    assert "at most 2000 bytes" in answer.json()["resultMessages"][0]["message"]


def test_within_limits_is_accepted(small_limits: Emulator) -> None:
    with api_client(small_limits) as client:
        answer = client.post(ROWS_URL, json={"items": [customer(n) for n in range(10)]})

    assert answer.status_code == 202
    assert answer.json()["resultMessages"] == []


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b"not json", "InvalidRequestBody"),
        (b'{"rows": []}', "InvalidRequestBody"),
        (b'{"items": []}', "NoItems"),
    ],
)
def test_malformed_bodies_are_400(client: httpx.Client, body: bytes, code: str) -> None:
    answer = client.post(ROWS_URL, content=body, headers={"Content-Type": "application/json"})

    assert answer.status_code == 400
    assert answer.json()["resultMessages"][0]["resultCode"] == code
