"""
Load a staging table into a Data Extension, skipping invalid rows, then wait for SFMC.

The operator streams the table through any Airflow SQL connection, checks every row against
the Data Extension's schema, sends the valid rows in full async requests and writes every
rejected row (row number, key, field, rule) to a report. The sensor then waits, in the
triggerer, until SFMC has processed every request, and fails if any row did not land.

Connections:

- ``sfmc_default``: the SFMC installed package (see ``example_sfmc_de_xcom_rows.py``).
- ``staging_db``: the database that holds the staging table. SQLite:
  ``AIRFLOW_CONN_STAGING_DB='{"conn_type": "sqlite", "host": "/data/staging.sqlite3"}'``;
  PostgreSQL: ``AIRFLOW_CONN_STAGING_DB='postgresql://loader:<password>@db.internal:5432/warehouse'``.

The staging table's column names must be the Data Extension's field names, in the same case
(on PostgreSQL, create them quoted: ``"SubscriberKey"``).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import Param, dag

from airflow_provider_sfmc_de.operators.data_extension import DataExtensionInsertOperator
from airflow_provider_sfmc_de.sensors.data_extension import DataExtensionAsyncRequestSensor

# One folder per run for the reports of rejected and failed rows, and the row-key manifest.
REPORTS_DIR = (
    "{{ var.value.get('sfmc_de_reports_dir', '/tmp/sfmc-de-reports') }}"
    "/{{ dag.dag_id }}/{{ run_id }}"
)


@dag(
    dag_id="example_sfmc_de_staging_table",
    schedule=None,
    start_date=datetime(2025, 1, 1),
    catchup=False,
    doc_md=__doc__,
    params={
        "staging_table": Param(
            "demo_customers",
            type="string",
            # A plain name, or schema.table: never a piece of SQL.
            pattern=r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$",
            description="The staging table to load: table or schema.table.",
        ),
    },
    tags=["example", "sfmc"],
)
def example_sfmc_de_staging_table():
    insert = DataExtensionInsertOperator(
        task_id="insert_staging_rows",
        sfmc_conn_id="sfmc_default",
        sql_conn_id="staging_db",
        sql="{{ params.staging_table }}",
        data_extension_key="Demo_Customers",
        # Send the valid rows and report the others, rather than sending nothing.
        on_invalid_rows="skip",
        rejected_rows_path=f"{REPORTS_DIR}/rejected_rows.jsonl",
        # The primary keys of each request, so the sensor can name a failed row.
        row_keys_path=f"{REPORTS_DIR}/row_keys.jsonl",
    )

    DataExtensionAsyncRequestSensor(
        task_id="wait_for_sfmc",
        sfmc_conn_id="sfmc_default",
        request_ids=insert.output,
        deferrable=True,
        poke_interval=15,
        timeout=timedelta(hours=2),
        failed_rows_path=f"{REPORTS_DIR}/failed_rows.jsonl",
    )


example_sfmc_de_staging_table()
