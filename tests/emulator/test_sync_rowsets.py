"""Synchronous rowsets: upsert through ``/hub/v1/dataevents`` and paged read-back."""

from __future__ import annotations

import httpx

from airflow_provider_sfmc_de.emulator import Emulator
from tests.emulator.conftest import CUSTOMERS, PAGED, customer

HUB_URL = f"/hub/v1/dataevents/key:{CUSTOMERS}/rowset"


def hub_row(number: int, **values: object) -> dict:
    row = customer(number, **values)
    return {"keys": {"SubscriberKey": row.pop("SubscriberKey")}, "values": row}


def test_hub_upsert_saves_rows_and_echoes_them(
    shared_emulator: Emulator, client: httpx.Client
) -> None:
    rows = [hub_row(8000), hub_row(8001, SignupDate="2023-05-06T07:08:09")]

    answer = client.post(HUB_URL, json=rows)

    assert answer.status_code == 200
    assert answer.json() == rows
    stored = {row["SubscriberKey"]: row for row in shared_emulator.rows(CUSTOMERS)}
    assert stored["S0008001"]["SignupDate"] == "2023-05-06T07:08:09"


def test_hub_rejects_rows_after_the_first_bad_one(
    shared_emulator: Emulator, client: httpx.Client
) -> None:
    rows = [hub_row(8100), hub_row(8101, EmailAddress="broken"), hub_row(8102)]

    answer = client.post(HUB_URL, json=rows)

    assert answer.status_code == 400
    body = answer.json()
    assert body["errorcode"] == 10006
    assert body["message"].startswith("Unable to save rows for data extension ID")
    assert "EmailAddress" in body["additionalErrors"][0]["message"]
    keys = {row["SubscriberKey"] for row in shared_emulator.rows(CUSTOMERS)}
    assert "S0008100" in keys
    assert not {"S0008101", "S0008102"} & keys


def test_rowset_reads_back_in_pages(client: httpx.Client) -> None:
    rows = [hub_row(n, IsSubscribed=n % 2 == 0) for n in range(5)]
    client.post(f"/hub/v1/dataevents/key:{PAGED}/rowset", json=rows)
    url = f"/data/v1/customobjectdata/key/{PAGED}/rowset"

    first = client.get(url, params={"$page": 1, "$pageSize": 2}).json()
    last = client.get(url, params={"$page": 3, "$pageSize": 2}).json()

    assert (first["page"], first["pageSize"], first["count"]) == (1, 2, 5)
    assert first["customObjectKey"] == PAGED
    assert "next" in first["links"]
    assert "next" not in last["links"]
    assert first["items"][0] == {
        "keys": {"SubscriberKey": "S0000000"},
        "values": {
            "EmailAddress": "user0@example.com",
            "FirstName": "Ada",
            "LastName": "",
            "SignupDate": "",
            "IsSubscribed": "True",
        },
    }
    assert [item["keys"]["SubscriberKey"] for item in last["items"]] == ["S0000004"]


def test_rowset_of_unknown_key_is_404(client: httpx.Client) -> None:
    answer = client.get("/data/v1/customobjectdata/key/NoSuchKey/rowset")

    assert answer.status_code == 404
    assert answer.json()["errorcode"] == 10002


def test_rowset_prints_values_as_sfmc_does(client: httpx.Client) -> None:
    row = hub_row(8200, SignupDate="2023-05-06T19:08:09", IsSubscribed=False)
    client.post(HUB_URL, json=[row])

    page = client.get(
        f"/data/v1/customobjectdata/key/{CUSTOMERS}/rowset", params={"$pageSize": 2500}
    ).json()

    item = next(item for item in page["items"] if item["keys"]["SubscriberKey"] == "S0008200")
    assert item["values"]["SignupDate"] == "5/6/2023 7:08:09 PM"
    assert item["values"]["IsSubscribed"] == "False"
    assert item["values"]["LastName"] == ""
