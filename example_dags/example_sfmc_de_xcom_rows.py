"""
Load rows that a task builds into a Data Extension, then wait until SFMC has processed them.

The rows travel through XCom, so keep this pattern for small loads (up to some thousands of
rows): larger ones belong in a staging table (see ``example_sfmc_de_staging_table.py``).

Connections:

- ``sfmc_default``: the SFMC installed package, for example
  ``AIRFLOW_CONN_SFMC_DEFAULT='{"conn_type": "sfmc", "host": "<subdomain>",
  "login": "<client id>", "password": "<client secret>", "extra": {"account_id": "<MID>"}}'``.

Reports of rejected and failed rows go under the Variable ``sfmc_de_reports_dir``.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from airflow.sdk import dag, task

from airflow_provider_sfmc_de.operators.data_extension import DataExtensionInsertOperator
from airflow_provider_sfmc_de.sensors.data_extension import DataExtensionAsyncRequestSensor

# One folder per run for the reports of rejected and failed rows.
REPORTS_DIR = (
    "{{ var.value.get('sfmc_de_reports_dir', '/tmp/sfmc-de-reports') }}"
    "/{{ dag.dag_id }}/{{ run_id }}"
)


@dag(
    dag_id="example_sfmc_de_xcom_rows",
    schedule=None,
    start_date=datetime(2025, 1, 1),
    catchup=False,
    doc_md=__doc__,
    tags=["example", "sfmc"],
)
def example_sfmc_de_xcom_rows():
    @task
    def new_signups() -> list[dict[str, Any]]:
        """Stand in for whatever produces the rows: an API call, a transformation, a file."""
        return [
            {
                "SubscriberKey": "W000001",
                "EmailAddress": "alice.doe@example.com",
                "FirstName": "Alice",
                "LastName": "Doe",
                "SignupDate": "2025-04-30T13:45:00Z",
                "IsSubscribed": True,
            },
            {
                "SubscriberKey": "W000002",
                "EmailAddress": "bob.stone@example.com",
                "FirstName": "Bob",
                "LastName": "Stone",
                "SignupDate": "2025-05-02",
                "IsSubscribed": False,
            },
            {
                "SubscriberKey": "W000003",
                "EmailAddress": "chen.wu@example.com",
                "FirstName": "Chen",
                "SignupDate": "2025-05-03T08:00:00Z",
                "IsSubscribed": True,
            },
        ]

    insert = DataExtensionInsertOperator(
        task_id="insert_new_signups",
        sfmc_conn_id="sfmc_default",
        data_extension_key="Demo_Customers",
        rows=new_signups(),
        rejected_rows_path=f"{REPORTS_DIR}/rejected_rows.jsonl",
    )

    # SFMC accepts a request before it looks at the rows: the load is done when this succeeds.
    DataExtensionAsyncRequestSensor(
        task_id="wait_for_sfmc",
        sfmc_conn_id="sfmc_default",
        request_ids=insert.output,
        deferrable=True,
        poke_interval=15,
        timeout=timedelta(hours=1),
        failed_rows_path=f"{REPORTS_DIR}/failed_rows.jsonl",
    )


example_sfmc_de_xcom_rows()
