"""Authorization-code grant: rotating refresh tokens, stored at once, re-read on invalid_grant."""

from __future__ import annotations

import json

import pytest

from airflow_provider_sfmc_de.exceptions import SfmcAuthError, SfmcConfigurationError
from tests.hooks.conftest import MemoryRefreshTokenStore, json_answer


@pytest.fixture
def auth_code_conn(connection):
    def define(refresh_token: str | None = None) -> str:
        extra = {"grant_type": "authorization_code"}
        if refresh_token:
            extra["refresh_token"] = refresh_token
        return connection("sfmc_user", **extra)

    return define


def refresh_tokens_sent(fake_sfmc) -> list[str]:
    return [
        json.loads(r.content)["refresh_token"]
        for r in fake_sfmc.requests
        if r.url.path == "/v2/token" and json.loads(r.content)["grant_type"] == "refresh_token"
    ]


def test_first_run_uses_the_connection_token_and_stores_the_rotated_one(
    fake_sfmc, make_hook, auth_code_conn
):
    first = fake_sfmc.new_refresh_token()
    store = MemoryRefreshTokenStore()
    fake_sfmc.route("GET /data/v1/async/r/status", json_answer({}))
    make_hook(auth_code_conn(first), refresh_token_store=store).get_async_status("r")

    assert refresh_tokens_sent(fake_sfmc) == [first]
    assert store.writes == ["refresh-token-2"]


def test_the_stored_token_is_preferred_over_the_connection_one(
    fake_sfmc, make_hook, auth_code_conn
):
    stale = fake_sfmc.new_refresh_token()
    newest = fake_sfmc.new_refresh_token()
    store = MemoryRefreshTokenStore()
    store.value = newest
    make_hook(auth_code_conn(stale), refresh_token_store=store).get_access_token()

    assert refresh_tokens_sent(fake_sfmc) == [newest]
    assert store.value == "refresh-token-3"


def test_each_run_starts_from_the_token_the_previous_one_stored(
    fake_sfmc, make_hook, auth_code_conn
):
    from airflow_provider_sfmc_de.hooks._tokens import ACCESS_TOKENS

    store = MemoryRefreshTokenStore()
    conn_id = auth_code_conn(fake_sfmc.new_refresh_token())
    for _ in range(3):
        ACCESS_TOKENS.clear()  # a new worker process
        make_hook(conn_id, refresh_token_store=store).get_access_token()

    assert refresh_tokens_sent(fake_sfmc) == [
        "refresh-token-1",
        "refresh-token-2",
        "refresh-token-3",
    ]
    assert store.writes == ["refresh-token-2", "refresh-token-3", "refresh-token-4"]


def test_invalid_grant_rereads_the_store_and_retries(fake_sfmc, make_hook, auth_code_conn, capsys):
    used_up = "refresh-token-used-by-another-worker"
    rotated_elsewhere = fake_sfmc.new_refresh_token()
    # The first read happens before the other worker has stored its rotated token.
    store = MemoryRefreshTokenStore(reads=[used_up, rotated_elsewhere])
    make_hook(auth_code_conn(), refresh_token_store=store).get_access_token()

    assert refresh_tokens_sent(fake_sfmc) == [used_up, rotated_elsewhere]
    assert store.writes == ["refresh-token-2"]
    assert "invalid_grant" in capsys.readouterr().out


def test_when_every_token_is_refused_the_error_says_how_to_sign_in(
    fake_sfmc, make_hook, auth_code_conn
):
    store = MemoryRefreshTokenStore()
    store.value = "stale-stored-value"
    hook = make_hook(auth_code_conn("stale-connection-value"), refresh_token_store=store)
    with pytest.raises(SfmcAuthError, match="sfmc-de authorize --conn-id sfmc_user") as raised:
        hook.get_access_token()

    assert raised.value.errorcode == "invalid_grant"
    assert "stale-" not in str(raised.value)
    assert refresh_tokens_sent(fake_sfmc) == ["stale-stored-value", "stale-connection-value"]


def test_no_refresh_token_at_all_is_a_configuration_error(fake_sfmc, make_hook, auth_code_conn):
    hook = make_hook(auth_code_conn(), refresh_token_store=MemoryRefreshTokenStore())
    with pytest.raises(SfmcConfigurationError, match="sfmc-de authorize"):
        hook.get_access_token()
    assert fake_sfmc.calls["POST /v2/token"] == 0


def test_other_token_errors_are_not_mistaken_for_rotation(fake_sfmc, make_hook, auth_code_conn):
    fake_sfmc.route(
        "POST /v2/token",
        json_answer({"error": "invalid_client", "error_description": "Client auth failed"}, 401),
    )
    store = MemoryRefreshTokenStore()
    store.value = "refresh-token-x"
    with pytest.raises(SfmcAuthError, match="Client auth failed") as raised:
        make_hook(auth_code_conn(), refresh_token_store=store).get_access_token()
    assert raised.value.errorcode == "invalid_client"
    assert fake_sfmc.calls["POST /v2/token"] == 1


def test_a_failed_store_write_does_not_fail_the_run(fake_sfmc, make_hook, auth_code_conn, capsys):
    class BrokenStore(MemoryRefreshTokenStore):
        def write(self, refresh_token: str) -> None:
            raise RuntimeError("database is locked")

    fake_sfmc.route("GET /data/v1/async/r/status", json_answer({}))
    hook = make_hook(
        auth_code_conn(fake_sfmc.new_refresh_token()), refresh_token_store=BrokenStore()
    )
    hook.get_async_status("r")

    output = capsys.readouterr().out
    assert "Could not store the new refresh token" in output
    assert "refresh-token-2" not in output


def test_authorization_code_exchange_stores_the_refresh_token(fake_sfmc, make_hook, auth_code_conn):
    def code_grant(request):
        body = json.loads(request.content)
        assert (body["grant_type"], body["code"]) == ("authorization_code", "the-code")
        assert body["redirect_uri"] == "http://127.0.0.1:8765/callback"
        return json_answer(
            {
                "access_token": "access-from-code",
                "refresh_token": "refresh-from-code",
                "expires_in": 1079,
                "rest_instance_url": fake_sfmc.rest_url,
            }
        )(request)

    fake_sfmc.route("POST /v2/token", code_grant)
    fake_sfmc.route("GET /data/v1/async/r/status", json_answer({}))
    store = MemoryRefreshTokenStore()
    hook = make_hook(auth_code_conn(), refresh_token_store=store)
    hook.exchange_authorization_code("the-code", redirect_uri="http://127.0.0.1:8765/callback")
    hook.get_async_status("r")

    assert store.writes == ["refresh-from-code"]
    assert fake_sfmc.bearer_tokens() == ["access-from-code"]
