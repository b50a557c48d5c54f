"""SfmcHook against a fake SFMC transport: REST methods, tokens, retries and errors."""

from __future__ import annotations

import json
import threading

import httpx
import pytest

from airflow_provider_sfmc_de.exceptions import (
    SfmcApiError,
    SfmcAuthError,
    SfmcConfigurationError,
    SfmcRequestsBlockedError,
)
from airflow_provider_sfmc_de.hooks.sfmc import (
    AsyncRequestState,
    AsyncRequestStatus,
    AsyncRowResult,
    SfmcHook,
)
from airflow_provider_sfmc_de.schema import FieldType
from tests.hooks.conftest import (
    AUTH_HOST,
    CLIENT_SECRET,
    captured_logs,
    drop_connection,
    json_answer,
)

ROWS_PATH = "/data/v1/async/dataextensions/key:Customers/rows"


def test_schema_is_looked_up_by_key_then_fields(fake_sfmc, make_hook):
    fake_sfmc.route(
        "GET /data/v1/customobjects",
        json_answer(
            {
                "count": 2,
                "page": 1,
                "pageSize": 50,
                "items": [
                    {"id": "other-id", "key": "Customers_Old", "name": "Old"},
                    {"id": "de-id-1", "key": "Customers", "name": "Customers"},
                ],
            }
        ),
    )
    fake_sfmc.route(
        "GET /data/v1/customobjects/de-id-1/fields",
        json_answer(
            {
                "id": "de-id-1",
                "fields": [
                    {"name": "Email", "type": "EmailAddress", "length": 254, "ordinal": 1},
                    {"name": "Key", "type": "Text", "length": 50, "isPrimaryKey": True},
                ],
            }
        ),
    )
    schema = make_hook().get_data_extension_schema("Customers")

    assert (schema.key, schema.id, schema.name) == ("Customers", "de-id-1", "Customers")
    assert schema.field_names == ("Key", "Email")
    assert schema.field("Email").type is FieldType.EMAIL_ADDRESS
    assert schema.primary_key == ("Key",)
    search = next(r for r in fake_sfmc.requests if r.url.path == "/data/v1/customobjects")
    assert search.url.params["$search"] == "Customers"


def test_unknown_key_names_the_key_and_the_near_miss(fake_sfmc, make_hook):
    fake_sfmc.route(
        "GET /data/v1/customobjects",
        json_answer({"count": 1, "page": 1, "pageSize": 50, "items": [{"id": "x", "key": "CUST"}]}),
    )
    with pytest.raises(SfmcApiError, match=r"'cust'.*did you mean 'CUST'") as raised:
        make_hook().get_data_extension_schema("cust")
    assert raised.value.status_code == 404


@pytest.mark.parametrize(("mode", "method"), [("insert", "POST"), ("upsert", "PUT")])
def test_submit_sends_the_body_as_is_and_returns_the_request_id(fake_sfmc, make_hook, mode, method):
    fake_sfmc.route(f"{method} {ROWS_PATH}", json_answer({"requestId": "req-1"}, 202))
    body = json.dumps({"items": [{"Key": "1"}]}).encode()

    assert make_hook().submit_async_rows("Customers", body, mode=mode) == "req-1"
    sent = fake_sfmc.requests[-1]
    assert (sent.method, sent.content) == (method, body)
    assert sent.headers["Content-Type"] == "application/json"
    assert sent.headers["Authorization"] == "Bearer access-token-1"


def test_submit_to_an_unknown_data_extension_carries_sfmc_message(fake_sfmc, make_hook):
    message = "Failed to resolve the Custom Object [Id: , Key: Customers]."
    fake_sfmc.route(
        f"POST {ROWS_PATH}",
        json_answer(
            {
                "requestId": "r",
                "resultMessages": [
                    {
                        "resultClass": "Error",
                        "resultCode": "CustomObjectNotFound",
                        "message": message,
                    }
                ],
            },
            400,
        ),
    )
    with pytest.raises(SfmcApiError, match="Failed to resolve") as raised:
        make_hook().submit_async_rows("Customers", b'{"items": []}')
    assert (raised.value.status_code, raised.value.errorcode) == (400, "CustomObjectNotFound")
    assert fake_sfmc.calls[f"POST {ROWS_PATH}"] == 1


def test_submit_rejects_an_unknown_mode(make_hook):
    with pytest.raises(SfmcConfigurationError, match="'merge'"):
        make_hook().submit_async_rows("Customers", b"{}", mode="merge")


@pytest.mark.parametrize(
    ("answer", "state", "has_errors"),
    [
        ({"status": {"requestStatus": "Pending"}}, AsyncRequestState.PENDING, False),
        ({"status": {"requestStatus": "Executing"}}, AsyncRequestState.EXECUTING, False),
        (
            {"status": {"requestStatus": "Complete", "hasErrors": False, "resultStatus": "OK"}},
            AsyncRequestState.COMPLETE,
            False,
        ),
        (
            {"status": {"requestStatus": "Complete", "resultStatus": "Has Errors"}},
            AsyncRequestState.COMPLETE,
            True,
        ),
        ({"status": {"requestStatus": "Error", "hasErrors": True}}, AsyncRequestState.ERROR, True),
        ({"requestId": "status-call"}, AsyncRequestState.PENDING, False),
        (
            {"resultMessages": [{"resultCode": "AsyncRequestStatusNotFound", "message": "gone"}]},
            AsyncRequestState.NOT_FOUND,
            False,
        ),
    ],
)
def test_status_is_normalised(fake_sfmc, make_hook, answer, state, has_errors):
    fake_sfmc.route("GET /data/v1/async/req-1/status", json_answer(answer))
    status = make_hook().get_async_status("req-1")

    assert status == AsyncRequestStatus(
        request_id="req-1",
        state=state,
        has_errors=has_errors,
        result_status=answer.get("status", {}).get("resultStatus"),
    )


def test_results_are_read_from_every_page_in_order(fake_sfmc, make_hook):
    def page(request: httpx.Request) -> httpx.Response:
        number = int(request.url.params["page"])
        items = [{"status": "OK"}] * 2 if number == 1 else [{"status": "Error", "errorCode": "E"}]
        return httpx.Response(200, json={"page": number, "pageSize": 2, "count": 3, "items": items})

    fake_sfmc.route("GET /data/v1/async/req-1/results", page)
    results = list(make_hook().iter_async_results("req-1"))

    assert results == [
        AsyncRowResult("OK"),
        AsyncRowResult("OK"),
        AsyncRowResult("Error", error_code="E"),
    ]
    assert [r.ok for r in results] == [True, True, False]
    assert fake_sfmc.calls["GET /data/v1/async/req-1/results"] == 2


def test_rows_merge_keys_and_values_over_pages(fake_sfmc, make_hook):
    def page(request: httpx.Request) -> httpx.Response:
        number = int(request.url.params["$page"])
        item = {"keys": {"Key": str(number)}, "values": {"Email": f"{number}@example.com"}}
        answer = {"page": number, "pageSize": 1, "count": 2, "items": [item]}
        return httpx.Response(200, json=answer)

    fake_sfmc.route("GET /data/v1/customobjectdata/key/Customers/rowset", page)
    rows = list(make_hook().iter_rows("Customers", page_size=1))

    assert rows == [
        {"Key": "1", "Email": "1@example.com"},
        {"Key": "2", "Email": "2@example.com"},
    ]
    assert fake_sfmc.requests[-1].url.params["$pageSize"] == "1"


def test_one_token_serves_many_calls_and_threads(fake_sfmc, make_hook):
    fake_sfmc.route("GET /data/v1/async/req-1/status", json_answer({}))
    hook = make_hook()
    threads = [
        threading.Thread(target=lambda: [hook.get_async_status("req-1") for _ in range(5)])
        for _ in range(8)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    make_hook().get_async_status("req-1")  # a second hook on the same connection

    assert fake_sfmc.calls["POST /v2/token"] == 1
    assert fake_sfmc.calls["GET /data/v1/async/req-1/status"] == 41


def test_client_credentials_token_request(fake_sfmc, make_hook, connection):
    fake_sfmc.route("GET /data/v1/async/r/status", json_answer({}))
    make_hook(connection("sfmc_scoped", scope="data_extensions_read")).get_async_status("r")

    body = json.loads(fake_sfmc.requests[0].content)
    assert body == {
        "grant_type": "client_credentials",
        "client_id": "unit-client-id",
        "client_secret": CLIENT_SECRET,
        "account_id": "100000001",
        "scope": "data_extensions_read",
    }
    assert str(fake_sfmc.requests[0].url) == (
        "https://mc563885gzs27c5t9-63k636ttgm.auth.marketingcloudapis.com/v2/token"
    )
    assert fake_sfmc.requests[1].url.host == f"{AUTH_HOST}.rest.marketingcloudapis.com"


def test_a_token_near_expiry_is_renewed(fake_sfmc, make_hook):
    fake_sfmc.expires_in = 0
    fake_sfmc.route("GET /data/v1/async/r/status", json_answer({}))
    hook = make_hook()
    hook.get_async_status("r")
    hook.get_async_status("r")

    assert fake_sfmc.bearer_tokens() == ["access-token-1", "access-token-2"]


def test_401_drops_the_token_and_retries_once_with_a_new_one(fake_sfmc, make_hook, capsys):
    rejected = json_answer({"message": "Not Authorized", "errorcode": 0}, 401)
    fake_sfmc.route("GET /data/v1/async/r/status", rejected, json_answer({}))
    status = make_hook().get_async_status("r")

    assert status.state is AsyncRequestState.PENDING
    assert fake_sfmc.bearer_tokens() == ["access-token-1", "access-token-2"]
    assert "refused with HTTP 401" in captured_logs(capsys)


def test_a_second_401_fails_instead_of_looping(fake_sfmc, make_hook):
    rejected = json_answer({"message": "Not Authorized", "errorcode": 0}, 401)
    fake_sfmc.route("GET /data/v1/async/r/status", rejected)
    with pytest.raises(SfmcAuthError, match="Not Authorized") as raised:
        make_hook().get_async_status("r")
    assert (raised.value.status_code, raised.value.errorcode) == (401, 0)
    assert fake_sfmc.calls["POST /v2/token"] == 2


def test_rate_limit_waits_retry_after_capped_and_logs_the_reason(fake_sfmc, make_hook, capsys):
    limited = json_answer(
        {"message": "Rate limit exceeded", "errorcode": 50100}, 429, **{"Retry-After": "30"}
    )
    fake_sfmc.route("GET /data/v1/async/r/status", limited, limited, json_answer({}))
    make_hook(max_retry_wait=0.02).get_async_status("r")

    assert fake_sfmc.calls["GET /data/v1/async/r/status"] == 3
    retries = [line for line in captured_logs(capsys).splitlines() if "retrying in" in line]
    assert len(retries) == 2
    assert "Rate limit exceeded" in retries[0]
    assert "retrying in 0.02 s (attempt 2 of 5)" in retries[0]
    assert "attempt 3 of 5" in retries[1]


@pytest.mark.parametrize(
    "failure",
    [
        json_answer({"message": "boom"}, 503),
        drop_connection,
        json_answer({"message": "Unable to save rows for data extension", "errorcode": 10006}, 400),
    ],
    ids=["5xx", "dropped", "10006"],
)
def test_transient_failures_are_retried(fake_sfmc, make_hook, failure):
    fake_sfmc.route(f"POST {ROWS_PATH}", failure, failure, json_answer({"requestId": "req-9"}))

    assert make_hook().submit_async_rows("Customers", b'{"items": []}') == "req-9"
    assert fake_sfmc.calls[f"POST {ROWS_PATH}"] == 3


def test_timeouts_are_retried_until_the_attempts_run_out(fake_sfmc, make_hook):
    def timeout(request):
        raise httpx.ReadTimeout("timed out", request=request)

    fake_sfmc.route("GET /data/v1/async/r/status", timeout)
    with pytest.raises(SfmcApiError, match=r"timed out.*max_attempts=3"):
        make_hook(max_attempts=3).get_async_status("r")
    assert fake_sfmc.calls["GET /data/v1/async/r/status"] == 3


def test_retries_stop_when_the_total_time_is_spent(fake_sfmc, make_hook):
    fake_sfmc.route("GET /data/v1/async/r/status", json_answer({"message": "down"}, 500))
    with pytest.raises(SfmcApiError, match="down") as raised:
        make_hook(max_attempts=50, max_retry_time=0, retry_base_wait=1).get_async_status("r")
    assert raised.value.status_code == 500
    assert fake_sfmc.calls["GET /data/v1/async/r/status"] == 1


def test_requests_blocked_fails_fast(fake_sfmc, make_hook):
    fake_sfmc.route(
        "GET /data/v1/async/r/status",
        json_answer({"message": "Your requests are temporarily blocked.", "errorcode": 50200}, 429),
    )
    with pytest.raises(SfmcRequestsBlockedError, match="temporarily blocked") as raised:
        make_hook().get_async_status("r")
    assert (raised.value.status_code, raised.value.errorcode) == (429, 50200)
    assert fake_sfmc.calls["GET /data/v1/async/r/status"] == 1


def test_other_client_errors_are_not_retried(fake_sfmc, make_hook):
    fake_sfmc.route(
        "GET /data/v1/async/r/status",
        json_answer({"message": "Insufficient privileges", "errorcode": 20001}, 403),
    )
    with pytest.raises(SfmcApiError, match="Insufficient privileges") as raised:
        make_hook().get_async_status("r")
    assert (raised.value.status_code, raised.value.errorcode) == (403, 20001)
    assert fake_sfmc.calls["GET /data/v1/async/r/status"] == 1


def test_retry_settings_come_from_the_connection_extras(fake_sfmc, make_hook, connection):
    fake_sfmc.route("GET /data/v1/async/r/status", json_answer({"message": "down"}, 500))
    conn_id = connection("sfmc_retry", max_attempts="2", timeout="4.5")
    hook = SfmcHook(conn_id, max_retry_wait=0.001)
    hook._client = make_hook(conn_id)._client

    with pytest.raises(SfmcApiError):
        hook.get_async_status("r")
    assert fake_sfmc.calls["GET /data/v1/async/r/status"] == 2
    assert (hook.retry_policy.timeout, hook.retry_policy.max_retry_wait) == (4.5, 0.001)


def test_bad_retry_setting_is_a_configuration_error(connection):
    hook = SfmcHook(connection("sfmc_bad_retry", max_attempts="many"))
    with pytest.raises(SfmcConfigurationError, match="max_attempts must be a number"):
        _ = hook.retry_policy


def test_wrong_client_secret_is_an_auth_error_without_the_secret(fake_sfmc, make_hook, monkeypatch):
    hook = make_hook()
    monkeypatch.setenv(
        "AIRFLOW_CONN_SFMC_WRONG",
        json.dumps({"conn_type": "sfmc", "host": "sub", "login": "id", "password": "wrong-secret"}),
    )
    wrong = SfmcHook("sfmc_wrong")
    wrong._client = hook._client
    ok, message = wrong.test_connection()

    assert not ok
    assert "invalid_client" in message
    assert "wrong-secret" not in message


def test_test_connection_reports_the_rest_host(make_hook):
    ok, message = make_hook().test_connection()
    assert ok
    assert "account 100000001" in message
    assert "rest.marketingcloudapis.com" in message


def test_a_foreign_rest_instance_url_never_gets_the_token(fake_sfmc, make_hook):
    fake_sfmc.rest_url = "https://attacker.example.com/"
    with pytest.raises(SfmcConfigurationError, match=r"attacker\.example\.com"):
        make_hook().get_async_status("r")
    assert [r.url.path for r in fake_sfmc.requests] == ["/v2/token"]


def test_secrets_stay_out_of_reprs(make_hook):
    hook = make_hook()
    token = hook.get_access_token()

    assert "access-token-1" not in repr(token)
    assert CLIENT_SECRET not in repr(hook.settings)
    assert CLIENT_SECRET not in repr(hook)
