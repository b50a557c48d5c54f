"""Provider metadata read by Airflow through the ``apache_airflow_provider`` entry point."""

from __future__ import annotations

from typing import Any

from airflow_provider_sfmc_de import __version__


def get_provider_info() -> dict[str, Any]:
    return {
        "package-name": "airflow-provider-sfmc-de",
        "name": "Salesforce Marketing Cloud Data Extensions",
        "description": "Load rows into Salesforce Marketing Cloud Data Extensions "
        "through the asynchronous bulk REST API, validated against the Data Extension's schema.",
        "versions": [__version__],
        "connection-types": [
            {
                "connection-type": "sfmc",
                "hook-class-name": "airflow_provider_sfmc_de.hooks.sfmc.SfmcHook",
                "hook-name": "Salesforce Marketing Cloud",
                "conn-fields": {
                    "account_id": {
                        "label": "Account ID (MID)",
                        "description": "The business unit's MID; empty for the package's default.",
                        "schema": {"type": ["string", "null"], "pattern": "^[0-9]*$"},
                    },
                    "grant_type": {
                        "label": "Grant type",
                        "description": "client_credentials for a server-to-server package; "
                        "authorization_code for a web app package signed in with "
                        "`sfmc-de authorize`.",
                        "schema": {
                            "type": "string",
                            "enum": ["client_credentials", "authorization_code"],
                            "default": "client_credentials",
                        },
                    },
                    "refresh_token": {
                        "label": "Refresh token",
                        "description": "Authorization code only: the first refresh token. Each "
                        "rotated one is kept in the Variable sfmc_refresh_token_<conn_id>.",
                        "schema": {"type": ["string", "null"], "format": "password"},
                    },
                    "scope": {
                        "label": "Scope",
                        "description": "Space-separated scopes; empty for all of the package's.",
                        "schema": {"type": ["string", "null"]},
                    },
                    "redirect_uri": {
                        "label": "Redirect URI",
                        "description": "Authorization code only: the loopback redirect URI "
                        "registered on the package, used by `sfmc-de authorize`.",
                        "schema": {"type": ["string", "null"]},
                    },
                    "timeout": {
                        "label": "Request timeout (seconds)",
                        "schema": {"type": ["number", "null"], "default": 30},
                    },
                    "max_attempts": {
                        "label": "Attempts per request",
                        "schema": {"type": ["integer", "null"], "default": 5},
                    },
                    "max_retry_time": {
                        "label": "Longest time spent retrying one request (seconds)",
                        "schema": {"type": ["number", "null"], "default": 300},
                    },
                    "max_retry_wait": {
                        "label": "Longest wait between two attempts (seconds)",
                        "description": "Also the cap on the Retry-After that SFMC asks for.",
                        "schema": {"type": ["number", "null"], "default": 60},
                    },
                    "retry_base_wait": {
                        "label": "First backoff wait (seconds)",
                        "description": "Doubles with each attempt, with jitter.",
                        "schema": {"type": ["number", "null"], "default": 1},
                    },
                },
                "ui-field-behaviour": {
                    "hidden-fields": ["port", "schema"],
                    "relabeling": {
                        "host": "Authentication base URI or subdomain",
                        "login": "Client ID",
                        "password": "Client Secret",
                    },
                    "placeholders": {
                        "host": "https://<subdomain>.auth.marketingcloudapis.com/",
                        "login": "Client ID of the installed package",
                        "password": "Client Secret of the installed package",
                        "account_id": "100000001",
                        "scope": "data_extensions_read data_extensions_write offline",
                        "redirect_uri": "http://127.0.0.1:8765/callback",
                    },
                },
            }
        ],
    }
