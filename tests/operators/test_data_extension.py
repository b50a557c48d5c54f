"""DataExtensionInsertOperator against the real emulator process, over HTTP."""

from __future__ import annotations

import json

import pytest

from tests.operators.conftest import customer, wait_for_results


def read_report(path):
    with open(path) as report:
        return [json.loads(line) for line in report]


def test_xcom_list_of_dicts_is_loaded(run_operator, sfmc_default):
    rows = [customer(number) for number in range(1, 6)]
    result = run_operator(rows=rows)

    assert result["rows_read"] == result["rows_submitted"] == 5
    assert result["rows_rejected"] == 0
    [request_id] = result["request_ids"]
    assert result["requests"] == [
        {"request_id": request_id, "rows": 5, "first_row": 1, "last_row": 5}
    ]
    assert result["row_keys"] == {request_id: [f"C{number:05d}" for number in range(1, 6)]}
    assert result["primary_key"] == ["SubscriberKey"]
    assert result["rejected_rows_path"] is None
    json.dumps(result)  # XCom-safe
    results = wait_for_results(result["request_ids"])
    assert all(row.ok for row in results[request_id])
    stored = sfmc_default.rows("Demo_Customers")
    assert [row["SubscriberKey"] for row in stored] == [f"C{n:05d}" for n in range(1, 6)]
    assert stored[0]["SignupDate"] == "2024-03-01T00:00:00"


def test_dataframe_with_nulls_numpy_and_timestamps_is_loaded(run_operator, sfmc_default):
    import datetime as dt
    from decimal import Decimal

    import numpy as np
    import pandas as pd
    import pendulum

    frame = pd.DataFrame(
        {
            "Id": ["r1", "r2", "r3"],
            "TextValue": ["a", None, np.nan],
            "NumberValue": pd.array([1, None, 3], dtype="Int64"),
            "DecimalValue": [Decimal("1.5"), np.float64(2.25), np.nan],
            "DateValue": [
                pd.Timestamp("2024-05-06 07:08:09"),
                pd.NaT,
                pendulum.datetime(2024, 5, 6, 9, 8, 9, tz="Europe/Paris"),
            ],
            "BooleanValue": [np.bool_(True), False, None],
            "EmailValue": ["a@example.com", None, "c@example.com"],
        }
    )
    frame["SignedUp"] = dt.date(2024, 1, 1)  # a column the DE lacks: dropped below
    result = run_operator(data_extension_key="Demo_AllTypes", rows=frame.drop(columns="SignedUp"))

    assert (result["rows_read"], result["rows_submitted"], result["rows_rejected"]) == (3, 3, 0)
    wait_for_results(result["request_ids"])
    stored = {row["Id"]: row for row in sfmc_default.rows("Demo_AllTypes")}
    assert stored["r1"]["NumberValue"] == 1
    assert stored["r1"]["DecimalValue"] == "1.50"
    assert stored["r1"]["DateValue"] == "2024-05-06T07:08:09"
    assert stored["r1"]["BooleanValue"] is True
    assert stored["r2"]["TextValue"] is None
    assert stored["r2"]["NumberValue"] is None
    assert stored["r2"]["DateValue"] is None
    assert stored["r3"]["DateValue"] == "2024-05-06T07:08:09"  # 09:08 in Paris is 07:08 UTC
    assert stored["r3"]["DecimalValue"] is None


# One row that passes and one that fails for every rule, loaded into Demo_AllTypes.
RULE_CASES = [
    ("required", "Id", "ok-required", None),
    ("text_length", "TextValue", "x" * 100, "x" * 101),
    ("number", "NumberValue", 2**31 - 1, 2**31),
    ("decimal", "DecimalValue", "1234567890123456.78", "1.234"),
    ("date", "DateValue", "2024-02-29T10:11:12+02:00", "2024-02-30"),
    ("boolean", "BooleanValue", "false", "no"),
    ("email", "EmailValue", "first.last@sub.example.org", "first.last@example"),
    ("phone", "PhoneValue", "+44 20 7946 0958", "12-34"),
    ("locale", "LocaleValue", "fr-CA", "French"),
]


def test_every_rule_passes_one_row_and_rejects_another(run_operator, sfmc_default, tmp_path):
    rows = []
    for rule, field, good, bad in RULE_CASES:
        rows.append({"Id": f"good-{rule}", field: good} if field != "Id" else {"Id": good})
        rows.append({"Id": f"bad-{rule}", field: bad} if field != "Id" else {"Id": bad})
    report_path = tmp_path / "rejected.jsonl"

    result = run_operator(
        data_extension_key="Demo_AllTypes",
        rows=rows,
        on_invalid_rows="skip",
        rejected_rows_path=str(report_path),
    )

    assert result["rows_read"] == 2 * len(RULE_CASES)
    assert result["rows_submitted"] == result["rows_rejected"] == len(RULE_CASES)
    report = [json.loads(line) for line in report_path.read_text().splitlines()]
    assert [(line["row_number"], line["field"], line["rule"]) for line in report] == [
        (2 * position + 2, field, rule) for position, (rule, field, _, _) in enumerate(RULE_CASES)
    ]
    assert report[1]["primary_key"] == "bad-text_length"
    assert report[1]["value_excerpt"] == "x" * 37 + "..."
    results = wait_for_results(result["request_ids"])
    assert all(row.ok for rows in results.values() for row in rows)
    stored = {row["Id"]: row for row in sfmc_default.rows("Demo_AllTypes")}
    assert sorted(stored) == sorted(
        f"good-{rule}" if rule != "required" else "ok-required" for rule, *_ in RULE_CASES
    )
    assert stored["good-date"]["DateValue"] == "2024-02-29T08:11:12"
    assert stored["good-decimal"]["DecimalValue"] == "1234567890123456.78"


def test_case_mismatch_fails_before_anything_is_sent(run_operator, sfmc_default):
    from airflow_provider_sfmc_de.exceptions import SfmcConfigurationError

    rows = [{"SubscriberKey": "C1", "emailaddress": "a@example.com"}]
    with pytest.raises(SfmcConfigurationError) as error:
        run_operator(rows=rows)
    assert "emailaddress: no such field; did you mean EmailAddress?" in str(error.value)
    assert sfmc_default.stats()["async_requests"] == 0


def test_invalid_rows_fail_the_load_and_nothing_is_sent(run_operator, sfmc_default, tmp_path):
    from airflow_provider_sfmc_de.exceptions import SfmcError

    rows = [customer(1), customer(2, EmailAddress="not-an-address"), customer(3)]
    with pytest.raises(SfmcError) as error:
        run_operator(rows=rows, rejected_rows_path=str(tmp_path / "rejected.csv"))

    message = str(error.value)
    assert "1 of 3 rows are invalid, so nothing was sent" in message
    assert "row 2 field EmailAddress: email (not an email address)" in message
    assert "not-an-address" not in message  # values stay out of errors and logs
    assert "not-an-address" in (tmp_path / "rejected.csv").read_text()
    assert sfmc_default.stats()["async_requests"] == 0


def test_skip_sends_the_valid_rows_and_counts_add_up(run_operator, sfmc_default):
    rows = [customer(n) for n in range(1, 11)]
    rows[3]["EmailAddress"] = None
    rows[7]["SubscriberKey"] = rows[2]["SubscriberKey"].lower()  # repeats row 3's key

    result = run_operator(rows=rows, on_invalid_rows="skip")

    assert result["rows_read"] == 10
    assert result["rows_submitted"] == 8
    assert result["rows_rejected"] == 2
    assert result["rows_read"] == result["rows_submitted"] + result["rows_rejected"]
    report = read_report(result["rejected_rows_path"])
    assert [(line["row_number"], line["rule"]) for line in report] == [
        (4, "required"),
        (8, "duplicate_primary_key"),
    ]
    assert "rows 3 and 8" in report[1]["message"]
    # A request's row numbers have gaps where rows were rejected: rows < last - first + 1.
    assert result["requests"][0] | {"request_id": None} == {
        "request_id": None,
        "rows": 8,
        "first_row": 1,
        "last_row": 10,
    }
    wait_for_results(result["request_ids"])
    assert len(sfmc_default.rows("Demo_Customers")) == 8


def test_dry_run_checks_everything_and_sends_nothing(run_operator, sfmc_default):
    rows = [customer(n) for n in range(1, 4)] + [customer(4, SignupDate="yesterday")]

    result = run_operator(rows=rows, on_invalid_rows="skip", dry_run=True)

    assert result["dry_run"] is True
    assert result["request_ids"] == []
    assert (result["rows_read"], result["rows_valid"], result["rows_rejected"]) == (4, 3, 1)
    assert result["rows_submitted"] == 0
    assert result["requests"] == [{"request_id": None, "rows": 3, "first_row": 1, "last_row": 3}]
    assert sfmc_default.stats()["async_requests"] == 0


def test_insert_rejects_existing_keys_in_sfmc_and_upsert_updates_them(run_operator, sfmc_default):
    first = run_operator(rows=[customer(1), customer(2)])
    wait_for_results(first["request_ids"])

    again = run_operator(rows=[customer(1, FirstName="Changed"), customer(3)])
    [results] = wait_for_results(again["request_ids"]).values()
    assert [row.ok for row in results] == [False, True]
    assert "PRIMARY KEY" in results[0].message
    assert again["row_keys"][again["request_ids"][0]] == ["C00001", "C00003"]

    upsert = run_operator(rows=[customer(1, FirstName="Updated"), customer(4)], mode="upsert")
    [results] = wait_for_results(upsert["request_ids"]).values()
    assert all(row.ok for row in results)
    stored = {row["SubscriberKey"]: row for row in sfmc_default.rows("Demo_Customers")}
    assert sorted(stored) == ["C00001", "C00002", "C00003", "C00004"]
    assert stored["C00001"]["FirstName"] == "Updated"
    assert (
        sfmc_default.stats()["calls"].get("PUT /data/v1/async/dataextensions/key:{key}/rows") == 1
    )


def test_requests_are_packed_to_the_row_limit(run_operator, sfmc_default):
    result = run_operator(rows=[customer(n) for n in range(1, 11)], batch_max_rows=3)

    assert [request["rows"] for request in result["requests"]] == [3, 3, 3, 1]
    assert [request["first_row"] for request in result["requests"]] == [1, 4, 7, 10]
    results = wait_for_results(result["request_ids"])
    assert [len(rows) for rows in results.values()] == [3, 3, 3, 1]
    assert len(sfmc_default.rows("Demo_Customers")) == 10


@pytest.fixture
def small_body_limit(sfmc_emulator_config):
    sfmc_emulator_config["limits"]["max_body_bytes"] = 1_100
    return 1_100


def test_requests_are_packed_to_the_byte_limit(run_operator, sfmc_default, small_body_limit):
    rows = [customer(n, LastName="x" * 40) for n in range(1, 21)]
    rows[5]["FirstName"] = "y" * 50
    rows[5]["LastName"] = "y" * 50
    row_bytes = len(json.dumps(customer(1, LastName="x" * 40), separators=(",", ":")))

    result = run_operator(rows=rows, batch_max_bytes=small_body_limit, on_invalid_rows="skip")

    per_request = (small_body_limit - len('{"items":[]}') + 1) // (row_bytes + 1)
    assert result["rows_submitted"] == 20
    assert max(request["rows"] for request in result["requests"]) == per_request
    assert sum(request["rows"] for request in result["requests"]) == 20
    wait_for_results(result["request_ids"])  # the emulator refuses bodies over its limit
    assert len(sfmc_default.rows("Demo_Customers")) == 20


def test_a_row_larger_than_the_byte_limit_is_rejected(run_operator, sfmc_default):
    # Control characters are escaped as six bytes each: within the field lengths, over 1 KB.
    wide = customer(2, FirstName="\x01" * 50, LastName="\x02" * 50)
    wide["SubscriberKey"] = "\x03" * 50
    result = run_operator(
        rows=[customer(1), wide, customer(3)], batch_max_bytes=1_024, on_invalid_rows="skip"
    )

    assert (result["rows_submitted"], result["rows_rejected"]) == (2, 1)
    report = read_report(result["rejected_rows_path"])
    assert [(line["row_number"], line["rule"]) for line in report] == [(2, "row_too_large")]
    assert "a request holds 1012" in report[0]["message"]
    wait_for_results(result["request_ids"])
    assert len(sfmc_default.rows("Demo_Customers")) == 2


def test_no_rows_sends_nothing_and_says_so(run_operator, sfmc_default):
    result = run_operator(rows=[])

    assert (result["rows_read"], result["rows_submitted"], result["request_ids"]) == (0, 0, [])
    assert result["row_keys"] == {}
    assert sfmc_default.stats()["async_requests"] == 0


def test_rows_and_sql_are_exclusive():
    from airflow_provider_sfmc_de.exceptions import SfmcConfigurationError
    from airflow_provider_sfmc_de.operators.data_extension import DataExtensionInsertOperator

    with pytest.raises(SfmcConfigurationError, match="either rows or sql"):
        DataExtensionInsertOperator(task_id="t", data_extension_key="k", rows=[], sql="t")
    with pytest.raises(SfmcConfigurationError, match="either rows or sql"):
        DataExtensionInsertOperator(task_id="t", data_extension_key="k")
    with pytest.raises(SfmcConfigurationError, match="sql needs sql_conn_id"):
        DataExtensionInsertOperator(task_id="t", data_extension_key="k", sql="t")
    with pytest.raises(SfmcConfigurationError, match="batch_max_rows"):
        DataExtensionInsertOperator(
            task_id="t", data_extension_key="k", rows=[], batch_max_rows=32_001
        )


def test_rows_rendered_to_a_string_are_refused_with_advice(run_operator):
    from airflow_provider_sfmc_de.exceptions import SfmcConfigurationError

    with pytest.raises(SfmcConfigurationError, match="render_template_as_native_obj"):
        run_operator(rows="[{'SubscriberKey': 'C1'}]")


def test_progress_and_summary_are_logged_without_row_values(
    run_operator, sfmc_default, monkeypatch, caplog, capfd
):
    from airflow_provider_sfmc_de.operators import data_extension

    monkeypatch.setattr(data_extension, "PROGRESS_LOG_SECONDS", 0.0)
    rows = [customer(n) for n in range(1, 7)]
    rows[2]["EmailAddress"] = "secret-looking@invalid"

    with caplog.at_level("INFO"):
        run_operator(rows=rows, batch_max_rows=2, on_invalid_rows="skip", fetch_size=3)

    logs = caplog.text + capfd.readouterr().out
    assert "Checked 3 rows (1 rejected)" in logs
    assert "Sent 1 of 3 requests, 2 of 5 rows" in logs
    assert "Sent 3 of 3 requests, 5 of 5 rows" in logs
    assert "Done: 6 rows read, 5 submitted in 3 requests, 1 rejected" in logs
    assert "row 3 field EmailAddress: email (not an email address)" in logs
    assert "@example.com" not in logs
    assert "secret-looking" not in logs
