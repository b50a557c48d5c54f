"""Rows are checked as SFMC would, and failures show in the results, not at submit."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from airflow_provider_sfmc_de.emulator import Emulator, default_config
from airflow_provider_sfmc_de.emulator.config import parse_config
from airflow_provider_sfmc_de.emulator.fastpath import FastRowDecoder
from tests.emulator.conftest import (
    ALL_TYPES,
    COMPOSITE,
    CUSTOMERS,
    customer,
    submit,
    wait_until_complete,
)


def results(client: httpx.Client, request_id: str) -> list[dict[str, Any]]:
    wait_until_complete(client, request_id)
    answer = client.get(f"/data/v1/async/{request_id}/results", params={"pageSize": 2500})
    return answer.json()["items"]


def load_one(client: httpx.Client, key: str, row: dict[str, Any], *, upsert=False) -> dict:
    return results(client, submit(client, key, [row], upsert=upsert))[0]


GOOD_ALL_TYPES = {
    "TextValue": "hello",
    "NumberValue": 42,
    "DecimalValue": "1234.5",
    "DateValue": "2024-02-29",
    "BooleanValue": "false",
    "EmailValue": "someone@example.com",
    "PhoneValue": "+1 (555) 010-9999",
    "LocaleValue": "fr-CA",
}


@pytest.mark.parametrize(
    ("field", "value", "rule"),
    [
        ("TextValue", "x" * 101, "at most 100"),
        ("NumberValue", "4.5", "not a whole number"),
        ("NumberValue", 2**31, "outside the Number range"),
        ("DecimalValue", "1234567890123456789", "digits before the decimal point"),
        ("DecimalValue", "abc", "not a decimal number"),
        ("DateValue", "2024-02-30", "not a valid date"),
        ("BooleanValue", "yes", "not a Boolean"),
        ("EmailValue", "someone@", "not a valid email address"),
        ("PhoneValue", "call me", "not a valid phone number"),
        ("LocaleValue", "e1", "not a valid locale code"),
        ("Unknown", "x", "does not exist"),
    ],
)
def test_bad_values_fail_in_results_naming_the_field(
    client: httpx.Client, field: str, value: Any, rule: str
) -> None:
    row = {"Id": f"bad-{field}-{value!s:.20}", **GOOD_ALL_TYPES, field: value}

    item = load_one(client, ALL_TYPES, row)

    assert item["status"] == "Error"
    assert f"'{field}'" in item["message"]
    assert rule in item["message"]


def test_good_values_are_stored_converted(shared_emulator: Emulator, client: httpx.Client) -> None:
    item = load_one(client, ALL_TYPES, {"Id": "good-1", **GOOD_ALL_TYPES, "LocaleValue": None})

    assert item["status"] == "OK"
    stored = next(row for row in shared_emulator.rows(ALL_TYPES) if row["Id"] == "good-1")
    assert stored["DecimalValue"] == "1234.50"
    assert stored["DateValue"] == "2024-02-29T00:00:00"
    assert stored["BooleanValue"] is False
    assert stored["NumberValue"] == 42
    assert stored["LocaleValue"] == "en-US", "a missing value takes the field's default"


def test_required_field_missing_fails(client: httpx.Client) -> None:
    item = load_one(client, CUSTOMERS, {"SubscriberKey": "no-email"})

    assert item["status"] == "Error"
    assert "'EmailAddress' is required" in item["message"]


def test_primary_key_compares_case_insensitively(client: httpx.Client) -> None:
    first = load_one(client, CUSTOMERS, customer(0, SubscriberKey="CaseKey"))
    second = load_one(client, CUSTOMERS, customer(0, SubscriberKey="casekey"))

    assert first["status"] == "OK"
    assert second["status"] == "Error"
    assert "Violation of PRIMARY KEY constraint" in second["message"]


def test_upsert_updates_existing_rows_and_inserts_new_ones(
    shared_emulator: Emulator, client: httpx.Client
) -> None:
    load_one(client, CUSTOMERS, customer(5000, FirstName="Before"))

    items = results(
        client,
        submit(
            client,
            CUSTOMERS,
            [{"SubscriberKey": "S0005000", "FirstName": "After"}, customer(5001)],
            upsert=True,
        ),
    )

    assert [item["status"] for item in items] == ["OK", "OK"]
    stored = {row["SubscriberKey"]: row for row in shared_emulator.rows(CUSTOMERS)}
    assert stored["S0005000"]["FirstName"] == "After"
    assert stored["S0005000"]["EmailAddress"] == "user5000@example.com"
    assert "S0005001" in stored


def test_upsert_of_a_new_row_still_needs_required_fields(client: httpx.Client) -> None:
    item = load_one(client, CUSTOMERS, {"SubscriberKey": "brand-new"}, upsert=True)

    assert item["status"] == "Error"
    assert "'EmailAddress' is required" in item["message"]


def test_rows_by_id_path(shared_emulator: Emulator, client: httpx.Client) -> None:
    search = client.get("/data/v1/customobjects", params={"$search": CUSTOMERS}).json()
    extension_id = search["items"][0]["id"]

    answer = client.post(
        f"/data/v1/async/dataextensions/{extension_id}/rows", json={"items": [customer(7000)]}
    )

    assert answer.status_code == 202
    assert results(client, answer.json()["requestId"])[0]["status"] == "OK"
    assert "S0007000" in {row["SubscriberKey"] for row in shared_emulator.rows(CUSTOMERS)}


def test_unknown_data_extension_is_400_custom_object_not_found(client: httpx.Client) -> None:
    answer = client.post(
        "/data/v1/async/dataextensions/key:my-key/rows", json={"items": [customer(1)]}
    )

    assert answer.status_code == 400
    body = answer.json()
    assert body["requestId"]
    assert body["resultMessages"] == [
        {
            "resultType": "Validation",
            "resultClass": "Error",
            "resultCode": "CustomObjectNotFound",
            "message": "Failed to resolve the Custom Object from the provided "
            "ObjectReferenceIdentifier [Id: , Key: my-key].",
        }
    ]


def test_clean_and_coerced_loads_store_the_same_values(
    shared_emulator: Emulator, client: httpx.Client
) -> None:
    """A clean load takes msgspec's fast path; names in another case or values SFMC coerces
    take the row-by-row path. Both must store the same values."""
    clean = {
        "TextValue": "same",
        "NumberValue": 7,
        "DecimalValue": 2.345,
        "DateValue": "2024-01-02T03:04:05",
        "BooleanValue": True,
        "EmailValue": "same@example.com",
        "PhoneValue": "555 0100",
    }
    coerced = {name.lower(): value for name, value in clean.items()}
    coerced["numbervalue"] = "7"
    coerced["localevalue"] = None
    decoder = FastRowDecoder(parse_config(default_config()).data_extensions[1])
    assert decoder.decode(json.dumps({"items": [{"Id": "x", **clean}]}).encode()) is not None
    assert decoder.decode(json.dumps({"items": [{"id": "x", **coerced}]}).encode()) is None

    fast = results(client, submit(client, ALL_TYPES, [{"Id": "path-fast", **clean}]))
    slow = results(client, submit(client, ALL_TYPES, [{"id": "path-slow", **coerced}]))

    assert fast == slow == [{"status": "OK", "errorCode": None, "message": None}]
    stored = {row.pop("Id"): row for row in shared_emulator.rows(ALL_TYPES)}
    assert stored["path-fast"] == stored["path-slow"]
    assert stored["path-fast"]["DecimalValue"] == "2.35"
    assert stored["path-fast"]["LocaleValue"] == "en-US"


def test_composite_primary_key(shared_emulator: Emulator, client: httpx.Client) -> None:
    first = results(
        client,
        submit(client, COMPOSITE, [{"Region": "eu", "Code": 1}, {"Region": "eu", "Code": 2}]),
    )
    duplicate = load_one(client, COMPOSITE, {"Region": "EU", "Code": 1, "Label": "x"})
    updated = load_one(client, COMPOSITE, {"Region": "eu", "Code": 2, "Label": "two"}, upsert=True)

    assert [item["status"] for item in first] == ["OK", "OK"]
    assert duplicate["status"] == "Error"
    assert "The duplicate key value is (EU, 1)" in duplicate["message"]
    assert updated["status"] == "OK"
    assert shared_emulator.rows(COMPOSITE) == [
        {"Region": "eu", "Code": 1, "Label": None},
        {"Region": "eu", "Code": 2, "Label": "two"},
    ]
