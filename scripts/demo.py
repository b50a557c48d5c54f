"""Load 10,000 sample customers into the local SFMC emulator through real Airflow, then check them.

``make demo`` runs this. Everything it makes goes to ``demo-output/`` (wiped at the start):

1. writes a SQLite staging table of sample customers, a few of them invalid on purpose, and a
   second small table whose email column is spelled in the wrong case;
2. starts the SFMC emulator with its rows kept in a file, and prepares a private Airflow home
   with an SQLite metadata database (``airflow db migrate``);
3. runs the example DAG ``example_sfmc_de_staging_table`` with ``airflow dags test``, its
   connections given as ``AIRFLOW_CONN_...`` variables pointing at the emulator and the SQLite file;
4. runs it again on the wrong-case table, which must fail before anything is sent;
5. prints a summary and checks every number in it against what the emulator stored.

It exits with 1 when the load did not do what the summary says, and always stops the emulator.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from sample_data import (
    CUSTOMERS_TABLE,
    DATA_EXTENSION_KEY,
    INVALID_ROWS,
    WRONG_CASE_TABLE,
    valid_subscriber_keys,
    write_demo_tables,
)

from airflow_provider_sfmc_de.emulator import default_config, run_emulator

REPO_DIR = Path(__file__).resolve().parent.parent
OUTPUT_DIR = REPO_DIR / "demo-output"
DAG_ID = "example_sfmc_de_staging_table"
INSERT_TASK_ID = "insert_staging_rows"
SENSOR_TASK_ID = "wait_for_sfmc"
SAMPLE_ROWS = 10_000
# Values the emulator must hold exactly as they were in the staging table.
COMPARED_FIELDS = ("EmailAddress", "FirstName", "LastName")


def main() -> int:
    started = time.monotonic()
    shutil.rmtree(OUTPUT_DIR, ignore_errors=True)
    OUTPUT_DIR.mkdir()
    airflow_home = OUTPUT_DIR / "airflow-home"
    staging_db = OUTPUT_DIR / "staging.sqlite3"
    env = airflow_environment(airflow_home)

    step("Preparing a private Airflow home in %s (airflow db migrate)", shown(airflow_home))
    migrate_log = OUTPUT_DIR / "airflow-db-migrate.log"
    with migrate_log.open("w") as log_file:
        migrate = subprocess.Popen(
            [sys.executable, "-m", "airflow", "db", "migrate"],
            env=env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    try:
        step("Writing %s sample customers to table %s", SAMPLE_ROWS, CUSTOMERS_TABLE)
        with sqlite3.connect(staging_db) as connection:
            customers = write_demo_tables(connection, SAMPLE_ROWS)
        if migrate.wait() != 0:
            return failed(f"airflow db migrate failed; see {shown(migrate_log)}")
    finally:
        if migrate.poll() is None:
            migrate.kill()
            migrate.wait()

    config = default_config()
    config["storage"] = {"path": str(OUTPUT_DIR / "emulator.sqlite3")}
    emulator_log = OUTPUT_DIR / "emulator.log"
    with run_emulator(config, log_path=emulator_log) as emulator:
        step("SFMC emulator listening on %s (log: %s)", emulator.url, shown(emulator_log))
        env["AIRFLOW_CONN_SFMC_DEFAULT"] = emulator.connection_json()
        staging_connection = {"conn_type": "sqlite", "host": str(staging_db)}
        env["AIRFLOW_CONN_STAGING_DB"] = json.dumps(staging_connection)
        env["AIRFLOW_VAR_SFMC_DE_REPORTS_DIR"] = str(OUTPUT_DIR / "reports")

        load_started = time.monotonic()
        load_log = OUTPUT_DIR / "airflow-dags-test.log"
        step("Running DAG %s with airflow dags test (log: %s)", DAG_ID, shown(load_log))
        load_code = run_dag(env, {"staging_table": CUSTOMERS_TABLE}, load_log)
        load_seconds = time.monotonic() - load_started
        landed = emulator.rows(DATA_EXTENSION_KEY)
        stats = emulator.stats()

        wrong_case_log = OUTPUT_DIR / "airflow-dags-test-wrong-case.log"
        if load_code == 0:
            results = task_results(airflow_home / "airflow.db")
            step("Running it again on table %s, which must be refused", WRONG_CASE_TABLE)
            wrong_case_code = run_dag(env, {"staging_table": WRONG_CASE_TABLE}, wrong_case_log)
            stats_after_wrong_case = emulator.stats()
            landed_after_wrong_case = len(emulator.rows(DATA_EXTENSION_KEY))

    # Reported only now: until the emulator stops, stderr goes to its log.
    if load_code != 0:
        return failed(f"the DAG run failed; see {shown(load_log)}")
    load = results.get(INSERT_TASK_ID) or {}
    waited = results.get(SENSOR_TASK_ID) or {}
    schema_error = error_message(wrong_case_log, "did you mean")
    print_summary(load, waited, landed, stats, load_seconds, time.monotonic() - started)
    print(f"\nSchema check on {WRONG_CASE_TABLE}: {schema_error or 'no schema error logged'}")

    problems = check_load(customers, load, waited, landed, stats)
    if wrong_case_code == 0 or schema_error is None:
        problems.append(f"the wrong-case table was not refused; see {shown(wrong_case_log)}")
    if stats_after_wrong_case["async_requests"] != stats["async_requests"]:
        problems.append("the wrong-case run sent an async request")
    if landed_after_wrong_case != len(landed):
        problems.append("the wrong-case run changed the rows stored in the emulator")
    if problems:
        return failed("; ".join(problems))
    print("\nAll checks passed: every number above matches what the emulator stored.")
    return 0


def airflow_environment(airflow_home: Path) -> dict[str, str]:
    """The environment for Airflow commands: a private home, and nothing inherited from a user's."""
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("AIRFLOW__", "AIRFLOW_CONN_", "AIRFLOW_VAR_"))
    }
    env.update(
        {
            "AIRFLOW_HOME": str(airflow_home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(REPO_DIR / "example_dags"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
        }
    )
    return env


def run_dag(env: dict[str, str], conf: dict[str, Any], log_path: Path) -> int:
    """Run one DAG run of ``DAG_ID`` in a separate ``airflow dags test``; return its exit code."""
    with log_path.open("w") as log_file:
        return subprocess.run(
            [sys.executable, "-m", "airflow", "dags", "test", DAG_ID, "--conf", json.dumps(conf)],
            env=env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            check=False,
        ).returncode


def task_results(metadata_db: Path) -> dict[str, Any]:
    """Return the return values (XCom) of the tasks of the latest run of ``DAG_ID``.

    The demo reads them from the metadata database it made, where Airflow keeps them as JSON.
    """
    with sqlite3.connect(metadata_db) as connection:
        rows = connection.execute(
            "SELECT task_id, value FROM xcom WHERE dag_id = ? AND key = 'return_value' AND "
            "run_id = (SELECT run_id FROM dag_run WHERE dag_id = ? ORDER BY id DESC LIMIT 1)",
            (DAG_ID, DAG_ID),
        ).fetchall()
    return {task_id: json.loads(value) for task_id, value in rows}


def check_load(
    customers: list[dict[str, Any]],
    load: dict[str, Any],
    waited: dict[str, Any],
    landed: list[dict[str, Any]],
    stats: dict[str, Any],
) -> list[str]:
    """Compare what the tasks reported with the sample data and with what the emulator stored."""
    problems = []

    def expect(what: str, actual: Any, expected: Any) -> None:
        if actual != expected:
            problems.append(f"{what} is {actual!r}, expected {expected!r}")

    expected_keys = valid_subscriber_keys(customers)
    expect("rows read", load.get("rows_read"), len(customers))
    expect("rows rejected", load.get("rows_rejected"), len(INVALID_ROWS))
    expect("rows submitted", load.get("rows_submitted"), len(expected_keys))
    expect(
        "rejected rows (row number, field)",
        sorted((row["row_number"], row["field"]) for row in rejected_rows(load)),
        [(invalid.row_number, invalid.field) for invalid in INVALID_ROWS],
    )
    expect("async requests sent", stats["async_requests"], len(load.get("request_ids", [])))
    expect("rows reported ok by the sensor", waited.get("rows_ok"), len(expected_keys))
    expect("rows reported failed by the sensor", waited.get("rows_failed"), 0)
    expect("rows landed", len(landed), len(expected_keys))
    expect("rows stored by the emulator", stats["rows_stored"].get(DATA_EXTENSION_KEY), len(landed))

    landed_by_key = {row["SubscriberKey"]: row for row in landed}
    expect("landed keys missing", sorted(expected_keys - landed_by_key.keys())[:5], [])
    expect("landed keys unexpected", sorted(landed_by_key.keys() - expected_keys)[:5], [])
    altered = [
        row["SubscriberKey"]
        for row in customers
        if row["SubscriberKey"] in landed_by_key
        and any(landed_by_key[row["SubscriberKey"]][f] != row[f] for f in COMPARED_FIELDS)
    ]
    expect("rows whose values changed on the way", altered[:5], [])
    return problems


def rejected_rows(load: dict[str, Any]) -> list[dict[str, Any]]:
    """The operator's report of rejected rows (JSON lines), as a list."""
    path = load.get("rejected_rows_path")
    if not path or not Path(path).exists():
        return []
    with open(path, encoding="utf-8") as report:
        return [json.loads(line) for line in report]


def print_summary(
    load: dict[str, Any],
    waited: dict[str, Any],
    landed: list[dict[str, Any]],
    stats: dict[str, Any],
    load_seconds: float,
    total_seconds: float,
) -> None:
    requests = len(load.get("request_ids", []))
    http_calls = sum(stats["calls"].values())
    print(f"\nSummary: staging table {CUSTOMERS_TABLE} -> Data Extension {DATA_EXTENSION_KEY}")
    lines = [
        ("rows read", load.get("rows_read"), ""),
        ("rows rejected", load.get("rows_rejected"), "invalid, not sent"),
        ("rows submitted", load.get("rows_submitted"), f"in {requests} async requests"),
        ("rows landed", len(landed), "read back from the emulator"),
        ("rows failed in SFMC", waited.get("rows_failed"), ""),
        ("HTTP requests", http_calls, f"{stats['token_requests']} of them for a token"),
    ]
    for label, value, note in lines:
        count = f"{value:,}" if isinstance(value, int) else str(value)
        print(f"  {label:<20}{count:>8}  {note}".rstrip())
    print(f"  {'time':<20}{load_seconds:>7.1f}s  the DAG run; {total_seconds:.1f} s in all")
    reports = [
        ("rejected rows report", load.get("rejected_rows_path")),
        ("failed rows report", waited.get("failed_rows_path")),
        ("emulator's rows", OUTPUT_DIR / "emulator.sqlite3"),
    ]
    for label, path in reports:
        empty = not path or not Path(path).exists() or Path(path).stat().st_size == 0
        print(f"  {label + ':':<22}{shown(path)}{' (empty)' if empty else ''}")
    print("  rejected rows:")
    for row in rejected_rows(load):
        where = f"row {row['row_number']}, {row['field']}"
        print(f"    {where:<26}{row['rule']}: {row['message']}")


def error_message(log_path: Path, text: str) -> str | None:
    """Return the message of the first exception in a log whose line holds ``text``."""
    for line in log_path.read_text(encoding="utf-8", errors="replace").splitlines():
        if text in line:
            # "package.module.SomeError: message" -> "SomeError: message"
            name, _, message = line.strip().partition(": ")
            return f"{name.rpartition('.')[2]}: {message}"
    return None


def shown(path: str | Path | None) -> str | None:
    """A path as the user can type it from the repository."""
    if not path:
        return None
    try:
        return str(Path(path).resolve().relative_to(REPO_DIR))
    except ValueError:
        return str(path)


def step(message: str, *args: Any) -> None:
    print("-> " + message % args, flush=True)


def failed(reason: str) -> int:
    print(f"\nDemo FAILED: {reason}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    raise SystemExit(main())
