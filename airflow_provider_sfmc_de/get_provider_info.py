"""Provider metadata read by Airflow through the ``apache_airflow_provider`` entry point."""

from __future__ import annotations

from typing import Any


def get_provider_info() -> dict[str, Any]:
    return {
        "package-name": "airflow-provider-sfmc-de",
        "name": "Salesforce Marketing Cloud Data Extensions",
        "description": "Load rows into Salesforce Marketing Cloud Data Extensions "
        "through the asynchronous bulk REST API, validated against the Data Extension's schema.",
        "versions": ["0.1.0"],
        "connection-types": [],
    }
