"""Each fault switch, set through the admin endpoints (or the config) and seen over HTTP."""

from __future__ import annotations

import time

import httpx
import pytest

from airflow_provider_sfmc_de.emulator import Emulator
from tests.emulator.conftest import CUSTOMERS, customer, fast_config, submit, wait_until_complete

SEARCH = "/data/v1/customobjects"


@pytest.fixture
def faulty(shared_emulator: Emulator) -> Emulator:
    shared_emulator.clear_faults()
    yield shared_emulator
    shared_emulator.clear_faults()


def test_rate_limit_for_the_next_calls_then_normal(faulty: Emulator, client: httpx.Client) -> None:
    faulty.set_faults(rate_limit={"next": 2, "retry_after": 3})

    answers = [client.get(SEARCH) for _ in range(3)]

    assert [answer.status_code for answer in answers] == [429, 429, 200]
    assert answers[0].headers["Retry-After"] == "3"
    body = answers[0].json()
    assert (body["errorcode"], body["retryAfter"], body["message"]) == (
        50100,
        3,
        "Rate limit exceeded",
    )


def test_fraction_one_hits_every_call_and_path_filters(
    faulty: Emulator, client: httpx.Client
) -> None:
    faulty.set_faults(server_error={"fraction": 1.0, "status": 503, "path": "/fields"})

    search = client.get(SEARCH)
    fields = client.get(f"{SEARCH}/key:{CUSTOMERS}/fields")

    assert search.status_code == 200
    assert fields.status_code == 503


def test_fraction_zero_hits_no_call(faulty: Emulator, client: httpx.Client) -> None:
    faulty.set_faults(server_error={"fraction": 0.0})

    assert all(client.get(SEARCH).status_code == 200 for _ in range(5))


def test_blocked_answers_429_50200_without_retry_after(
    faulty: Emulator, client: httpx.Client
) -> None:
    faulty.set_faults(blocked={"next": 1})

    answer = client.get(SEARCH)

    assert answer.status_code == 429
    assert answer.json()["errorcode"] == 50200
    assert answer.json()["message"] == "Your requests are temporarily blocked."
    assert "Retry-After" not in answer.headers


def test_server_error_defaults_to_500(faulty: Emulator, client: httpx.Client) -> None:
    faulty.set_faults(server_error={"next": 1})

    assert client.get(SEARCH).status_code == 500
    assert client.get(SEARCH).status_code == 200


def test_drop_connection_closes_without_an_answer(faulty: Emulator, client: httpx.Client) -> None:
    faulty.set_faults(drop_connection={"next": 1})

    with pytest.raises(httpx.RemoteProtocolError):
        client.get(SEARCH)
    assert client.get(SEARCH).status_code == 200


def test_slow_delays_the_answer(faulty: Emulator, client: httpx.Client) -> None:
    faulty.set_faults(slow={"next": 1, "seconds": 0.3})

    started = time.monotonic()
    answer = client.get(SEARCH)

    assert answer.status_code == 200
    assert time.monotonic() - started >= 0.3


def test_faults_hit_the_token_endpoint_too(faulty: Emulator) -> None:
    faulty.set_faults(rate_limit={"next": 1, "path": "/v2/token"})

    answer = httpx.post(
        f"{faulty.url}/v2/token",
        json={
            "grant_type": "client_credentials",
            "client_id": faulty.client_id,
            "client_secret": faulty.client_secret,
        },
    )

    assert answer.status_code == 429
    assert faulty.stats()["calls"]["POST /v2/token"] >= 1


def test_missing_status_for_the_first_polls(faulty: Emulator, client: httpx.Client) -> None:
    faulty.set_faults(missing_status={"polls": 2})
    request_id = submit(client, CUSTOMERS, [customer(20000)])

    polls = [client.get(f"/data/v1/async/{request_id}/status").json() for _ in range(3)]

    assert "status" not in polls[0]
    assert "status" not in polls[1]
    assert polls[0]["requestId"]
    assert polls[2]["status"]["requestId"] == request_id


def test_transient_error_before_complete(faulty: Emulator, client: httpx.Client) -> None:
    faulty.set_faults(transient_error={"polls": 1})
    request_id = submit(client, CUSTOMERS, [customer(20100)])
    time.sleep(0.2)

    states = []
    for _ in range(200):
        status = client.get(f"/data/v1/async/{request_id}/status").json()["status"]
        states.append(status["requestStatus"])
        if status["requestStatus"] == "Complete":
            break
        time.sleep(0.02)

    assert "Error" in states
    assert states[-1] == "Complete"
    assert states.index("Error") == len(states) - 2


def test_deadlock_rows_fail_every_nth_row(faulty: Emulator, client: httpx.Client) -> None:
    faulty.set_faults(deadlock_rows={"every": 3})
    request_id = submit(client, CUSTOMERS, [customer(20200 + n) for n in range(6)])
    wait_until_complete(client, request_id)

    items = client.get(f"/data/v1/async/{request_id}/results").json()["items"]

    failed = [n for n, item in enumerate(items) if item["status"] == "Error"]
    assert failed == [2, 5]
    assert all(items[n]["message"].endswith("Rerun the transaction.") for n in failed)
    stored = {row["SubscriberKey"] for row in faulty.rows(CUSTOMERS)}
    assert "S0020202" not in stored
    assert "S0020201" in stored


def test_revoke_tokens_forces_a_new_token(faulty: Emulator, client: httpx.Client) -> None:
    assert client.get(SEARCH).status_code == 200

    faulty.revoke_tokens()

    assert client.get(SEARCH).status_code == 401


def test_unknown_fault_is_refused(faulty: Emulator) -> None:
    answer = httpx.post(f"{faulty.url}/_emulator/faults", json={"earthquake": {}})

    assert answer.status_code == 400
    assert "earthquake" in answer.json()["error"]


def test_faults_listed_and_cleared(faulty: Emulator) -> None:
    faulty.set_faults(rate_limit={"next": 5})
    listed = httpx.get(f"{faulty.url}/_emulator/faults").json()

    faulty.clear_faults()

    assert listed == {"faults": {"rate_limit": {"next": 5}}}
    assert httpx.get(f"{faulty.url}/_emulator/faults").json() == {"faults": {}}


def test_faults_from_the_config_are_active_at_start(sfmc_emulator_factory) -> None:
    emulator = sfmc_emulator_factory(fast_config(faults={"server_error": {"next": 1}}))

    first = httpx.get(f"{emulator.url}{SEARCH}")
    second = httpx.get(f"{emulator.url}{SEARCH}")

    assert first.status_code == 500
    assert second.status_code == 401
