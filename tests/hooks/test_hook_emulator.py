"""SfmcHook through the real emulator process: both grants, token reuse and renewal, retries."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import threading
import time

import httpx
import pytest

from airflow_provider_sfmc_de.emulator import default_config, run_emulator
from airflow_provider_sfmc_de.exceptions import (
    SfmcApiError,
    SfmcConfigurationError,
    SfmcRequestsBlockedError,
)
from airflow_provider_sfmc_de.hooks._tokens import ACCESS_TOKENS, refresh_token_variable
from airflow_provider_sfmc_de.hooks.sfmc import (
    AsyncRequestState,
    SfmcAsyncHook,
    SfmcHook,
)

CUSTOMERS = "Demo_Customers"
FAST_RETRIES = {"max_retry_wait": 0.05, "retry_base_wait": 0.01}
STATUS_CALL = "GET /data/v1/async/{request_id}/status"


@pytest.fixture(scope="module")
def emulator():
    """One emulator process for the module; each test resets its faults and counters."""
    config = default_config()
    config["processing"] = {"pickup_delay_seconds": 0, "executing_seconds": 0}
    with run_emulator(config) as running:
        yield running


@pytest.fixture(autouse=True)
def _clean_emulator(request):
    if "emulator" in request.fixturenames:
        running = request.getfixturevalue("emulator")
        running.clear_faults()
        running.reset_stats()


@pytest.fixture
def client_credentials_hook(emulator, monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_SFMC_EMULATOR", emulator.connection_json())
    return SfmcHook("sfmc_emulator", **FAST_RETRIES)


def customers_body(*keys: str) -> bytes:
    items = [{"SubscriberKey": key, "EmailAddress": f"{key}@example.com"} for key in keys]
    return json.dumps({"items": items}).encode()


def wait_for_completion(hook: SfmcHook, request_id: str):
    for _ in range(200):
        status = hook.get_async_status(request_id)
        if status.state is AsyncRequestState.COMPLETE:
            return status
        time.sleep(0.05)
    raise AssertionError(f"request {request_id} did not complete")


def test_client_credentials_round_trip_with_one_token(emulator, client_credentials_hook):
    hook = client_credentials_hook
    schema = hook.get_data_extension_schema(CUSTOMERS)
    request_id = hook.submit_async_rows(CUSTOMERS, customers_body("cc-1", "cc-2"))
    status = wait_for_completion(hook, request_id)
    results = list(hook.iter_async_results(request_id))
    upsert_id = hook.submit_async_rows(CUSTOMERS, customers_body("cc-2"), mode="upsert")
    wait_for_completion(hook, upsert_id)
    rows = {row["SubscriberKey"]: row for row in hook.iter_rows(CUSTOMERS, page_size=1)}
    ok, message = hook.test_connection()

    assert schema.primary_key == ("SubscriberKey",)
    assert "EmailAddress" in schema.field_names
    assert (status.has_errors, status.result_status) == (False, "OK")
    assert [result.ok for result in results] == [True, True]
    assert rows["cc-1"]["EmailAddress"] == "cc-1@example.com"
    assert {"cc-1", "cc-2"} <= set(rows)
    assert ok, message
    stats = emulator.stats()
    assert stats["token_requests"] == 1
    assert stats["token_requests_by_grant"] == {"client_credentials": 1}
    assert stats["calls"][STATUS_CALL] >= 2


def test_async_hook_reads_status_and_results(emulator, client_credentials_hook):
    request_id = client_credentials_hook.submit_async_rows(CUSTOMERS, customers_body("as-1"))
    wait_for_completion(client_credentials_hook, request_id)
    async_hook = SfmcAsyncHook("sfmc_emulator", **FAST_RETRIES)

    async def read():
        return await async_hook.get_async_status(request_id), await async_hook.get_async_results(
            request_id
        )

    status, results = asyncio.run(read())

    assert status.state is AsyncRequestState.COMPLETE
    assert [result.ok for result in results] == [True]
    assert emulator.stats()["token_requests"] == 1


def test_a_token_expiring_mid_run_is_renewed_before_sfmc_refuses_it(
    sfmc_emulator_factory, monkeypatch, capsys
):
    config = default_config()
    config["token_lifetime_seconds"] = 2
    emulator = sfmc_emulator_factory(config)
    monkeypatch.setenv("AIRFLOW_CONN_SFMC_SHORT_LIVED", emulator.connection_json())
    hook = SfmcHook("sfmc_short_lived", **FAST_RETRIES)

    statuses = [hook.get_async_status("no-such-request").state]
    for _ in range(2):
        time.sleep(2)  # the token's whole lifetime
        statuses.append(hook.get_async_status("no-such-request").state)

    assert statuses == [AsyncRequestState.NOT_FOUND] * 3
    assert emulator.stats()["token_requests"] == 3
    # Renewed ahead of time: no call was refused for an expired token.
    assert "HTTP 401" not in capsys.readouterr().out


def test_a_revoked_token_is_replaced_by_exactly_one_new_one(
    emulator, client_credentials_hook, capsys
):
    hook = client_credentials_hook
    hook.get_async_status("warm-up")
    emulator.revoke_tokens()
    states = []
    threads = [
        threading.Thread(target=lambda: states.append(hook.get_async_status("r").state))
        for _ in range(6)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert states == [AsyncRequestState.NOT_FOUND] * 6
    assert emulator.stats()["token_requests"] == 2
    assert "refused with HTTP 401" in capsys.readouterr().out


@pytest.mark.parametrize(
    "fault",
    [
        {"rate_limit": {"next": 2, "retry_after": 1, "path": "/status"}},
        {"server_error": {"next": 2, "status": 503, "path": "/status"}},
        {"drop_connection": {"next": 2, "path": "/status"}},
    ],
    ids=["429", "5xx", "dropped"],
)
def test_transient_failures_are_recovered(emulator, client_credentials_hook, fault, capsys):
    emulator.set_faults(**fault)
    status = client_credentials_hook.get_async_status("r")

    assert status.state is AsyncRequestState.NOT_FOUND
    assert emulator.stats()["calls"][STATUS_CALL] == 3
    assert capsys.readouterr().out.count("retrying in") == 2


def test_submissions_recover_from_a_dropped_connection(emulator, client_credentials_hook):
    emulator.set_faults(drop_connection={"next": 1, "path": "/dataextensions/"})
    request_id = client_credentials_hook.submit_async_rows(CUSTOMERS, customers_body("drop-1"))

    assert wait_for_completion(client_credentials_hook, request_id).result_status == "OK"


def test_blocked_requests_fail_fast(emulator, client_credentials_hook):
    emulator.set_faults(blocked={"next": 5, "path": "/status"})
    with pytest.raises(SfmcRequestsBlockedError) as raised:
        client_credentials_hook.get_async_status("r")

    assert (raised.value.status_code, raised.value.errorcode) == (429, 50200)
    assert emulator.stats()["calls"][STATUS_CALL] == 1


def test_retries_give_up_after_the_attempts_allowed(emulator, monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_SFMC_FEW_ATTEMPTS", emulator.connection_json(max_attempts=2))
    emulator.set_faults(server_error={"path": "/status"})
    with pytest.raises(SfmcApiError) as raised:
        SfmcHook("sfmc_few_attempts", **FAST_RETRIES).get_async_status("r")

    assert raised.value.status_code == 500
    assert emulator.stats()["calls"][STATUS_CALL] == 2


@pytest.mark.parametrize(
    "host", ["https://sfmc.example.com", "http://mc1234.auth.marketingcloudapis.com"]
)
def test_foreign_hosts_are_refused_before_any_request(emulator, monkeypatch, host):
    connection = json.loads(emulator.connection_json())
    monkeypatch.setenv("AIRFLOW_CONN_SFMC_FOREIGN", json.dumps({**connection, "host": host}))
    hook = SfmcHook("sfmc_foreign")

    with pytest.raises(SfmcConfigurationError, match="Refusing SFMC host"):
        hook.get_async_status("r")
    ok, message = hook.test_connection()
    assert not ok
    assert "Refusing" in message
    assert emulator.client_secret not in message


# Authorization code: rotating refresh tokens kept in an Airflow Variable.


@pytest.fixture
def authorization_code_conn(emulator, monkeypatch, airflow_db):
    """A connection holding a fresh refresh token, and no stored one yet."""
    from airflow.models import Variable

    conn_id = f"sfmc_user_{os.getpid()}_{time.monotonic_ns()}"
    first = emulator.issue_refresh_token()
    monkeypatch.setenv(
        f"AIRFLOW_CONN_{conn_id.upper()}",
        emulator.connection_json("authorization_code", refresh_token=first),
    )
    yield conn_id, first
    Variable.delete(refresh_token_variable(conn_id))


def stored_refresh_token(conn_id: str) -> str | None:
    from airflow.models import Variable

    return Variable.get(refresh_token_variable(conn_id), default_var=None)


def redeem(emulator, refresh_token: str) -> httpx.Response:
    """Spend a refresh token directly, as another client would."""
    return httpx.post(
        f"{emulator.url}/v2/token",
        json={
            "grant_type": "refresh_token",
            "refresh_token": refresh_token,
            "client_id": emulator.client_id,
            "client_secret": emulator.client_secret,
        },
    )


def test_authorization_code_stores_each_rotated_token(emulator, authorization_code_conn):
    conn_id, first = authorization_code_conn
    SfmcHook(conn_id, **FAST_RETRIES).get_async_status("r")
    after_first_run = stored_refresh_token(conn_id)
    ACCESS_TOKENS.clear()  # the next run is another worker process
    SfmcHook(conn_id, **FAST_RETRIES).get_async_status("r")
    after_second_run = stored_refresh_token(conn_id)

    assert after_first_run not in (None, first)
    assert after_second_run not in (None, first, after_first_run)
    assert emulator.stats()["token_requests_by_grant"] == {"refresh_token": 2}
    # The stored token is the newest one: the ones before it are used up.
    assert redeem(emulator, after_first_run).json()["error"] == "invalid_grant"
    assert redeem(emulator, after_second_run).status_code == 200


def test_threads_racing_to_refresh_share_one_refresh(emulator, authorization_code_conn):
    conn_id, _ = authorization_code_conn
    hooks = [SfmcHook(conn_id, **FAST_RETRIES) for _ in range(4)]
    barrier = threading.Barrier(len(hooks))
    errors: list[BaseException] = []

    def run(hook: SfmcHook) -> None:
        barrier.wait()
        try:
            hook.get_async_status("r")
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=run, args=(hook,)) for hook in hooks]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert emulator.stats()["token_requests_by_grant"] == {"refresh_token": 1}
    assert redeem(emulator, stored_refresh_token(conn_id)).status_code == 200


RACER = """
import sys
from airflow_provider_sfmc_de.hooks._tokens import ACCESS_TOKENS
from airflow_provider_sfmc_de.hooks.sfmc import SfmcHook

for _ in range(int(sys.argv[2])):
    ACCESS_TOKENS.clear()
    SfmcHook(sys.argv[1], max_retry_wait=0.05).get_async_status("r")
print("done")
"""


def test_processes_racing_to_refresh_never_fail(emulator, authorization_code_conn):
    conn_id, _ = authorization_code_conn
    rounds, processes = 3, 2
    racers = [
        subprocess.Popen(
            [sys.executable, "-c", RACER, conn_id, str(rounds)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for _ in range(processes)
    ]
    outputs = [racer.communicate(timeout=120)[0] for racer in racers]

    assert [racer.returncode for racer in racers] == [0] * processes, outputs
    # Each refresh succeeded at the first try: no process presented a used-up token.
    assert emulator.stats()["token_requests_by_grant"] == {"refresh_token": rounds * processes}
    assert not any("invalid_grant" in output for output in outputs)
    assert redeem(emulator, stored_refresh_token(conn_id)).status_code == 200
