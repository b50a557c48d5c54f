"""Sending through the hook: parallel requests, and faults in the middle of a load."""

from __future__ import annotations

import threading

from airflow_provider_sfmc_de.operators.data_extension import DataExtensionInsertOperator
from tests.operators.conftest import customer, wait_for_results

SUBMIT_ROUTE = "POST /data/v1/async/dataextensions/key:{key}/rows"


def operator_with_spy(on_call=None, **kwargs):
    """An operator whose hook counts submissions and tracks how many are in flight."""
    operator = DataExtensionInsertOperator(
        task_id="load", data_extension_key="Demo_Customers", **kwargs
    )
    hook = operator.hook
    submit = hook.submit_async_rows
    lock = threading.Lock()
    spy = {"calls": 0, "in_flight": 0, "most_in_flight": 0}

    def counting_submit(key, body, *, mode):
        with lock:
            spy["calls"] += 1
            spy["in_flight"] += 1
            spy["most_in_flight"] = max(spy["most_in_flight"], spy["in_flight"])
            call = spy["calls"]
        try:
            if on_call is not None:
                on_call(call)
            return submit(key, body, mode=mode)
        finally:
            with lock:
                spy["in_flight"] -= 1

    hook.submit_async_rows = counting_submit
    return operator, spy


def test_parallel_requests_stay_within_the_limit(sfmc_default):
    # Slow answers keep requests in flight long enough to overlap.
    sfmc_default.set_faults(slow={"seconds": 0.3, "path": "async/dataextensions"})
    operator, spy = operator_with_spy(
        rows=[customer(n) for n in range(1, 21)], batch_max_rows=2, max_parallel_requests=3
    )

    result = operator.execute(context={})

    assert spy["calls"] == 10
    assert spy["most_in_flight"] == 3
    assert [request["first_row"] for request in result["requests"]] == list(range(1, 21, 2))
    assert result["request_ids"] == [request["request_id"] for request in result["requests"]]
    assert len(set(result["request_ids"])) == 10
    for request_id, keys in result["row_keys"].items():
        first = int(keys[0][1:])
        assert keys == [f"C{first:05d}", f"C{first + 1:05d}"]
        assert result["requests"][result["request_ids"].index(request_id)]["first_row"] == first
    wait_for_results(result["request_ids"])
    assert len(sfmc_default.rows("Demo_Customers")) == 20


def test_a_429_and_a_500_mid_load_lose_and_repeat_no_row(sfmc_default):
    def inject_faults(call):
        if call == 3:
            sfmc_default.set_faults(
                rate_limit={"next": 1, "retry_after": 1, "path": "async/dataextensions"}
            )
        elif call == 5:
            sfmc_default.set_faults(server_error={"next": 1, "path": "async/dataextensions"})

    operator, spy = operator_with_spy(
        on_call=inject_faults, rows=[customer(n) for n in range(1, 13)], batch_max_rows=2
    )

    result = operator.execute(context={})

    assert spy["calls"] == 6
    assert result["rows_submitted"] == 12
    stats = sfmc_default.stats()
    assert stats["async_requests"] == 6
    assert stats["calls"][SUBMIT_ROUTE] == 8  # two retried attempts
    results = wait_for_results(result["request_ids"])
    assert all(row.ok for rows in results.values() for row in rows)
    stored = [row["SubscriberKey"] for row in sfmc_default.rows("Demo_Customers")]
    assert sorted(stored) == [f"C{n:05d}" for n in range(1, 13)]


def test_a_request_that_keeps_failing_stops_the_load_and_names_what_was_sent(sfmc_default):
    import pytest

    from airflow_provider_sfmc_de.exceptions import SfmcError

    def fail_from_the_third(call):
        if call == 3:
            sfmc_default.set_faults(server_error={"path": "async/dataextensions"})

    operator, spy = operator_with_spy(
        on_call=fail_from_the_third, rows=[customer(n) for n in range(1, 11)], batch_max_rows=2
    )

    with pytest.raises(SfmcError) as error:
        operator.execute(context={})

    assert spy["calls"] == 3  # no request after the failed one
    message = str(error.value)
    assert "Request 3 of 5 (rows from load row 5) failed" in message
    assert "2 requests with 4 rows had been accepted" in message
    assert sfmc_default.stats()["async_requests"] == 2
