"""Async rows over real HTTP: submit, status through Pending to Complete, paged results."""

from __future__ import annotations

import httpx
import pytest

from airflow_provider_sfmc_de.emulator import Emulator
from tests.emulator.conftest import (
    CUSTOMERS,
    api_client,
    customer,
    submit,
    wait_until_complete,
)


def test_insert_goes_pending_then_complete_and_stores_rows(patient_emulator: Emulator) -> None:
    with api_client(patient_emulator) as client:
        request_id = submit(client, CUSTOMERS, [customer(1), customer(2)])
        first = client.get(f"/data/v1/async/{request_id}/status").json()
        status = wait_until_complete(client, request_id)

    assert first["status"]["requestStatus"] == "Pending"
    assert first["status"]["requestId"] == request_id
    assert first["requestId"] != request_id
    assert status["resultStatus"] == "OK"
    assert status["hasErrors"] is False
    assert {"callDateTime", "pickupDateTime", "completionDateTime"} <= set(status)
    keys = [row["SubscriberKey"] for row in patient_emulator.rows(CUSTOMERS)]
    assert {"S0000001", "S0000002"} <= set(keys)


def test_results_one_item_per_row_in_submission_order_and_paged(client: httpx.Client) -> None:
    rows = [customer(100 + number) for number in range(120)]
    rows[7]["EmailAddress"] = "not-an-email"
    rows[61]["SubscriberKey"] = rows[60]["SubscriberKey"]
    request_id = submit(client, CUSTOMERS, rows)
    wait_until_complete(client, request_id)

    page_one = client.get(f"/data/v1/async/{request_id}/results").json()
    page_two = client.get(f"/data/v1/async/{request_id}/results", params={"page": 2}).json()
    page_three = client.get(f"/data/v1/async/{request_id}/results", params={"page": 3}).json()

    assert (page_one["page"], page_one["pageSize"], page_one["count"]) == (1, 50, 120)
    assert [len(page["items"]) for page in (page_one, page_two, page_three)] == [50, 50, 20]
    items = page_one["items"] + page_two["items"] + page_three["items"]
    failed = [position for position, item in enumerate(items) if item["status"] == "Error"]
    assert failed == [7, 61]
    assert "EmailAddress" in items[7]["message"]
    assert items[61]["message"].startswith("Violation of PRIMARY KEY constraint")
    assert items[61]["message"].endswith("The statement has been terminated.")
    assert "The duplicate key value is (S0000160)" in items[61]["message"]
    assert items[0] == {"status": "OK", "errorCode": None, "message": None}


@pytest.mark.parametrize("endpoint", ["status", "results"])
def test_unknown_request_id_answers_200_not_found(client: httpx.Client, endpoint: str) -> None:
    answer = client.get(f"/data/v1/async/00000000-0000-0000-0000-000000000000/{endpoint}")

    assert answer.status_code == 200
    message = answer.json()["resultMessages"][0]
    assert message["resultCode"] == "AsyncRequestStatusNotFound"
    assert message["resultType"] == "Operational"
    assert message["message"].startswith(
        "Unable to locate an Async Request Status Record for the provided RequestId:"
    )


def test_stats_count_calls_tokens_and_requests(
    shared_emulator: Emulator, client: httpx.Client
) -> None:
    shared_emulator.reset_stats()
    submit(client, CUSTOMERS, [customer(900)])
    client.get("/data/v1/customobjects", params={"$search": CUSTOMERS})

    stats = shared_emulator.stats()
    assert stats["calls"]["POST /data/v1/async/dataextensions/key:{key}/rows"] == 1
    assert stats["calls"]["GET /data/v1/customobjects"] == 1
    assert stats["async_requests"] == 1
    assert stats["token_requests"] == 0
    assert CUSTOMERS in stats["rows_stored"]


def test_results_are_empty_until_complete(patient_emulator: Emulator) -> None:
    with api_client(patient_emulator) as client:
        request_id = submit(client, CUSTOMERS, [customer(30000)])
        early = client.get(f"/data/v1/async/{request_id}/results").json()
        wait_until_complete(client, request_id)
        late = client.get(f"/data/v1/async/{request_id}/results").json()

    assert (early["count"], early["items"]) == (0, [])
    assert late["count"] == 1
