"""Load rows from an upstream task's XCom and from a SQLite staging table, in one run.

Used by the operator's ``dag.test()`` test; the run's conf names the staging table and the
folder for the reports. Connections: ``sfmc_default`` and ``staging_sqlite``.
"""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import dag, task

from airflow_provider_sfmc_de.operators.data_extension import DataExtensionInsertOperator


@dag(
    dag_id="operator_xcom_and_staging",
    schedule=None,
    start_date=datetime(2025, 1, 1),
    catchup=False,
    params={"table": "staging", "reports_dir": "/tmp/sfmc-de-reports"},
)
def operator_xcom_and_staging():
    @task(show_return_value_in_logs=False)  # the rows are customer data
    def new_signups() -> list[dict]:
        return [
            {"SubscriberKey": "X0001", "EmailAddress": "x1@example.com", "IsSubscribed": "1"},
            {"SubscriberKey": "X0002", "EmailAddress": "x2@example.com", "SignupDate": None},
        ]

    DataExtensionInsertOperator(
        task_id="insert_xcom_rows",
        data_extension_key="Demo_Customers",
        rows=new_signups(),
    )
    DataExtensionInsertOperator(
        task_id="insert_staging_rows",
        data_extension_key="Demo_Customers",
        sql="{{ params.table }}",
        sql_conn_id="staging_sqlite",
        on_invalid_rows="skip",
        rejected_rows_path="{{ params.reports_dir }}/rejected_rows.csv",
    )


operator_xcom_and_staging()
