"""
Every day, upsert the customers that changed into a Data Extension with a primary key.

An upsert (``mode="upsert"``) updates the rows whose primary key the Data Extension already
holds and inserts the others; an insert would fail those rows with a primary-key violation.
Only the rows changed during the run's data interval are read, so each run sends a small delta
and a rerun of the same interval sends the same rows again, which an upsert makes harmless.

Connections: ``sfmc_default`` and ``staging_db``, as in ``example_sfmc_de_staging_table.py``.
The table ``customer_changes`` holds the Data Extension's fields plus a ``changed_at`` timestamp.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import dag

from airflow_provider_sfmc_de.operators.data_extension import DataExtensionInsertOperator
from airflow_provider_sfmc_de.sensors.data_extension import DataExtensionAsyncRequestSensor

# One folder per run for the reports of rejected and failed rows, and the row-key manifest.
REPORTS_DIR = (
    "{{ var.value.get('sfmc_de_reports_dir', '/tmp/sfmc-de-reports') }}"
    "/{{ dag.dag_id }}/{{ run_id }}"
)

CHANGED_CUSTOMERS_SQL = """
SELECT "SubscriberKey", "EmailAddress", "FirstName", "LastName", "IsSubscribed"
FROM customer_changes
WHERE changed_at >= '{{ data_interval_start | ts }}' AND changed_at < '{{ data_interval_end | ts }}'
ORDER BY changed_at
"""


@dag(
    dag_id="example_sfmc_de_upsert_changed_rows",
    schedule="@daily",
    start_date=datetime(2025, 1, 1),
    catchup=False,
    doc_md=__doc__,
    tags=["example", "sfmc"],
)
def example_sfmc_de_upsert_changed_rows():
    upsert = DataExtensionInsertOperator(
        task_id="upsert_changed_customers",
        sfmc_conn_id="sfmc_default",
        sql_conn_id="staging_db",
        sql=CHANGED_CUSTOMERS_SQL,
        data_extension_key="Demo_Customers",
        mode="upsert",
        rejected_rows_path=f"{REPORTS_DIR}/rejected_rows.jsonl",
        # The primary keys of each request, so the sensor can name a failed row.
        row_keys_path=f"{REPORTS_DIR}/row_keys.jsonl",
    )

    DataExtensionAsyncRequestSensor(
        task_id="wait_for_sfmc",
        sfmc_conn_id="sfmc_default",
        request_ids=upsert.output,
        deferrable=True,
        poke_interval=15,
        timeout=timedelta(hours=1),
        failed_rows_path=f"{REPORTS_DIR}/failed_rows.jsonl",
    )


example_sfmc_de_upsert_changed_rows()
