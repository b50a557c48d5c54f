"""Reading an sfmc connection: required fields, extras in both spellings, clear refusals."""

from __future__ import annotations

import json

import pytest
from airflow.sdk import Connection

from airflow_provider_sfmc_de.exceptions import SfmcConfigurationError
from airflow_provider_sfmc_de.hooks._connection import SfmcConnectionSettings


def connection(**fields) -> Connection:
    values = {"conn_id": "sfmc_x", "conn_type": "sfmc", "host": "mc1", "login": "id"}
    values["password"] = "secret-value-1"
    values.update(fields)
    if isinstance(values.get("extra"), dict):
        values["extra"] = json.dumps(values["extra"])
    return Connection(**values)


def test_defaults_and_prefixed_extras():
    settings = SfmcConnectionSettings.from_connection(
        connection(extra={"extra__sfmc__account_id": "100000001", "scope": " a b "})
    )

    assert settings.auth_url == "https://mc1.auth.marketingcloudapis.com"
    assert (settings.grant_type, settings.account_id, settings.scope) == (
        "client_credentials",
        "100000001",
        "a b",
    )
    assert "secret-value-1" not in repr(settings)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"login": None}, "Client ID"),
        ({"password": ""}, "Client Secret"),
        ({"extra": {"grant_type": "password"}}, "grant_type 'password'"),
        ({"extra": {"account_id": "MID-1"}}, "the MID is a number"),
        ({"host": "https://example.com"}, "Refusing SFMC host"),
    ],
)
def test_unusable_connections_are_refused_with_the_reason(fields, message):
    with pytest.raises(SfmcConfigurationError, match=message):
        SfmcConnectionSettings.from_connection(connection(**fields))
