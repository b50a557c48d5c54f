"""Schema look-up over real HTTP: ``$search`` by key, then the fields of the id found."""

from __future__ import annotations

import httpx

from airflow_provider_sfmc_de.schema import DataExtensionSchema
from tests.emulator.conftest import ALL_TYPES, CUSTOMERS


def test_search_then_fields_gives_the_demo_schema(client: httpx.Client) -> None:
    search = client.get("/data/v1/customobjects", params={"$search": CUSTOMERS})

    assert search.status_code == 200
    found = search.json()
    assert {"count", "page", "pageSize", "items"} <= set(found)
    match = next(item for item in found["items"] if item["key"] == CUSTOMERS)
    fields = client.get(f"/data/v1/customobjects/{match['id']}/fields")
    assert fields.status_code == 200
    assert fields.json()["id"] == match["id"]
    schema = DataExtensionSchema.from_api(
        key=match["key"], id=match["id"], name=match["name"], fields=fields.json()["fields"]
    )
    assert schema.field_names == (
        "SubscriberKey",
        "EmailAddress",
        "FirstName",
        "LastName",
        "SignupDate",
        "IsSubscribed",
    )
    assert schema.primary_key == ("SubscriberKey",)
    assert schema.field("EmailAddress").length == 254
    assert schema.field("EmailAddress").is_required
    assert str(schema.field("SignupDate").type) == "Date"


def test_all_types_extension_declares_every_field_type(client: httpx.Client) -> None:
    match = client.get("/data/v1/customobjects", params={"$search": ALL_TYPES}).json()["items"][0]
    fields = client.get(f"/data/v1/customobjects/{match['id']}/fields").json()["fields"]

    types = {field["type"] for field in fields}
    assert types == {
        "Text",
        "Number",
        "Decimal",
        "Date",
        "Boolean",
        "EmailAddress",
        "Phone",
        "Locale",
    }
    decimal = next(field for field in fields if field["type"] == "Decimal")
    assert (decimal["length"], decimal["scale"]) == (18, 2)
    assert [field["ordinal"] for field in fields] == list(range(len(fields)))


def test_search_without_match_is_empty(client: httpx.Client) -> None:
    answer = client.get("/data/v1/customobjects", params={"$search": "NoSuchExtension"})

    assert answer.status_code == 200
    assert answer.json()["count"] == 0
    assert answer.json()["items"] == []


def test_fields_of_unknown_id_is_404(client: httpx.Client) -> None:
    answer = client.get("/data/v1/customobjects/00000000-0000-0000-0000-000000000000/fields")

    assert answer.status_code == 404
    assert answer.json()["errorcode"] == 10002
