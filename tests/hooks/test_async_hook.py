"""SfmcAsyncHook behaves as the sync hook: tokens, 401 handling, retries, paging, errors."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from airflow_provider_sfmc_de.exceptions import SfmcApiError, SfmcRequestsBlockedError
from airflow_provider_sfmc_de.hooks.sfmc import AsyncRequestState, AsyncRowResult
from tests.hooks.conftest import drop_connection, json_answer


def test_status_shares_the_token_with_the_sync_hook(fake_sfmc, make_hook):
    complete = {"status": {"requestStatus": "Complete", "resultStatus": "OK", "hasErrors": False}}
    fake_sfmc.route("GET /data/v1/async/req-1/status", json_answer(complete))
    make_hook().get_async_status("req-1")
    status = asyncio.run(make_hook(asynchronous=True).get_async_status("req-1"))

    assert status.state is AsyncRequestState.COMPLETE
    assert status.result_status == "OK"
    assert fake_sfmc.calls["POST /v2/token"] == 1


def test_results_from_every_page(fake_sfmc, make_hook):
    def page(request: httpx.Request) -> httpx.Response:
        number = int(request.url.params["page"])
        items = [{"status": "OK"}] if number == 1 else [{"status": "Error", "message": "dup"}]
        return httpx.Response(200, json={"page": number, "pageSize": 1, "count": 2, "items": items})

    fake_sfmc.route("GET /data/v1/async/req-1/results", page)
    results = asyncio.run(make_hook(asynchronous=True).get_async_results("req-1"))

    assert results == [AsyncRowResult("OK"), AsyncRowResult("Error", message="dup")]


def test_401_gets_one_new_token(fake_sfmc, make_hook):
    rejected = json_answer({"message": "Not Authorized", "errorcode": 0}, 401)
    fake_sfmc.route("GET /data/v1/async/r/status", rejected, json_answer({}))
    asyncio.run(make_hook(asynchronous=True).get_async_status("r"))

    assert fake_sfmc.bearer_tokens() == ["access-token-1", "access-token-2"]


def test_transient_failures_are_retried(fake_sfmc, make_hook):
    limited = json_answer({"message": "Rate limit exceeded", "errorcode": 50100}, 429)
    server_error = json_answer({"message": "boom"}, 502)
    fake_sfmc.route(
        "GET /data/v1/async/r/status", limited, server_error, drop_connection, json_answer({})
    )
    status = asyncio.run(make_hook(asynchronous=True).get_async_status("r"))

    assert status.state is AsyncRequestState.PENDING
    assert fake_sfmc.calls["GET /data/v1/async/r/status"] == 4


def test_blocked_fails_fast_and_other_errors_carry_sfmc_details(fake_sfmc, make_hook):
    blocked = json_answer(
        {"message": "Your requests are temporarily blocked.", "errorcode": 50200}, 429
    )
    fake_sfmc.route("GET /data/v1/async/r/status", blocked)
    fake_sfmc.route(
        "GET /data/v1/async/r/results", json_answer({"message": "Bad", "errorcode": 10001}, 400)
    )
    hook = make_hook(asynchronous=True)

    with pytest.raises(SfmcRequestsBlockedError):
        asyncio.run(hook.get_async_status("r"))
    with pytest.raises(SfmcApiError, match="Bad") as raised:
        asyncio.run(hook.get_async_results("r"))
    assert (raised.value.status_code, raised.value.errorcode) == (400, 10001)
    assert fake_sfmc.calls["GET /data/v1/async/r/status"] == 1
    assert fake_sfmc.calls["GET /data/v1/async/r/results"] == 1


def test_dropped_connections_give_up_with_a_clear_error(fake_sfmc, make_hook):
    fake_sfmc.route("GET /data/v1/async/r/status", drop_connection)
    with pytest.raises(SfmcApiError, match="closed without an answer"):
        asyncio.run(make_hook(asynchronous=True, max_attempts=2).get_async_status("r"))
    assert fake_sfmc.calls["GET /data/v1/async/r/status"] == 2
