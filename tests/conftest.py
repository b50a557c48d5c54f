"""Test environment: a private Airflow home, and the real services some tests need."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

TESTS_DIR = Path(__file__).parent
REPO_DIR = TESTS_DIR.parent

# Airflow reads its configuration at import time, so the private home is set up before any test
# module imports it. A shared or user home would leak connections and DAGs into the tests.
_AIRFLOW_HOME = Path(tempfile.mkdtemp(prefix="sfmc-de-airflow-home-"))
os.environ["AIRFLOW_HOME"] = str(_AIRFLOW_HOME)
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(TESTS_DIR / "dags")
os.environ["AIRFLOW__CORE__UNIT_TEST_MODE"] = "True"
# Unit-test mode would make a new Fernet key per process; Airflow subprocesses of a test must
# read the Variables it wrote. This key encrypts nothing but throwaway test data.
os.environ["AIRFLOW__CORE__FERNET_KEY"] = "YTRcznfRbgRJZiW8BIdt_KlRjGWgazccFQiHrVLY3JY="
os.environ.setdefault("AIRFLOW__LOGGING__LOGGING_LEVEL", "INFO")

POSTGRES_DSN = os.environ.get("SFMC_DE_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
SERVICES_REQUIRED = os.environ.get("SFMC_DE_REQUIRE_SERVICES") == "1"


def service_unavailable(reason: str) -> None:
    """Skip a test whose service is missing, or fail it where the services are required."""
    if SERVICES_REQUIRED:
        pytest.fail(f"{reason} (SFMC_DE_REQUIRE_SERVICES=1, so this is an error, not a skip)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def airflow_db() -> Path:
    """Create the Airflow metadata database (SQLite) in the private home, once per run."""
    result = subprocess.run(
        [sys.executable, "-m", "airflow", "db", "migrate"],
        capture_output=True,
        text=True,
        env=os.environ.copy(),
        check=False,
    )
    if result.returncode != 0:
        pytest.fail(f"airflow db migrate failed:\n{result.stdout}\n{result.stderr}")
    return _AIRFLOW_HOME


@pytest.fixture(scope="session")
def postgres_dsn() -> str:
    """A PostgreSQL server to hold staging tables; skipped (or failed in CI) when absent."""
    import psycopg2

    try:
        psycopg2.connect(POSTGRES_DSN, connect_timeout=3).close()
    except psycopg2.OperationalError as error:
        service_unavailable(f"PostgreSQL is not reachable at {POSTGRES_DSN}: {error}")
    return POSTGRES_DSN
