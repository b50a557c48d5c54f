"""Starting the emulator: the ``sfmc-de emulator`` command, the fixtures, file storage, logs."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from airflow_provider_sfmc_de.emulator import Emulator, default_config, run_emulator
from tests.emulator.conftest import CUSTOMERS, api_client, customer, fast_config
from tests.emulator.test_oauth import REDIRECT_URI, consent

SFMC_DE = Path(sys.executable).with_name("sfmc-de")


def start_command(command: list[str], stderr) -> tuple[subprocess.Popen, str]:
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=stderr, text=True)
    for line in process.stdout:
        if line.startswith("SFMC emulator listening on "):
            break
    assert line.startswith("SFMC emulator listening on http://127.0.0.1:"), line
    return process, line.rsplit(" ", 1)[1].strip()


def stop(process: subprocess.Popen) -> int:
    process.send_signal(signal.SIGINT)
    return process.wait(timeout=20)


def test_cli_command_prints_its_url_serves_and_stops(tmp_path: Path) -> None:
    config_file = tmp_path / "emulator.json"
    config_file.write_text(json.dumps({"processing": {"pickup_delay_seconds": 0}}))

    log_file = tmp_path / "emulator.log"
    with log_file.open("w") as log:
        process, url = start_command(
            [str(SFMC_DE), "emulator", "--config", str(config_file), "--port", "0"], log
        )
        try:
            stats = httpx.get(f"{url}/_emulator/stats").json()
        finally:
            returncode = stop(process)

    assert stats["rows_stored"] == {"Demo_Customers": 0, "Demo_AllTypes": 0}
    assert returncode == 0, "Ctrl+C stops it cleanly"
    assert "Application startup complete" in log_file.read_text(), "server logs go to stderr"


@pytest.mark.parametrize(
    ("config", "named"),
    [
        ({"token_lifetime_seconds": "soon"}, "token_lifetime_seconds"),
        ({"faults": {"earthquake": {}}}, "earthquake"),
    ],
)
def test_bad_config_exits_with_a_message_naming_the_setting(
    tmp_path: Path, config: dict, named: str
) -> None:
    config_file = tmp_path / "bad.json"
    config_file.write_text(json.dumps(config))

    result = subprocess.run(
        [sys.executable, "-m", "airflow_provider_sfmc_de.emulator", "--config", str(config_file)],
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode == 2
    assert named in result.stderr
    assert "Traceback" not in result.stderr


def test_rows_persist_in_a_sqlite_file_across_restarts(tmp_path: Path) -> None:
    database = tmp_path / "demo.sqlite3"
    config = fast_config(storage={"path": str(database)})
    hub_url = f"/hub/v1/dataevents/key:{CUSTOMERS}/rowset"
    row = {"keys": {"SubscriberKey": "persisted"}, "values": {"EmailAddress": "p@example.com"}}

    with run_emulator(config) as emulator, api_client(emulator) as client:
        assert client.post(hub_url, json=[row]).status_code == 200

    with sqlite3.connect(database) as db:
        stored = db.execute(
            f'SELECT "SubscriberKey", "EmailAddress" FROM "de_{CUSTOMERS}"'
        ).fetchall()
    with run_emulator(config) as emulator:
        rows = emulator.rows(CUSTOMERS)
        stats = emulator.stats()

    assert stored == [("persisted", "p@example.com")]
    assert [row["SubscriberKey"] for row in rows] == ["persisted"]
    assert stats["rows_stored"][CUSTOMERS] == 1


def test_logs_never_show_secrets_or_tokens(tmp_path: Path) -> None:
    log_file = tmp_path / "emulator.log"
    config = default_config()
    config_file = tmp_path / "emulator.json"
    config_file.write_text(json.dumps(config))
    secret = config["installed_packages"][0]["client_secret"]
    with log_file.open("w") as log:
        process, url = start_command(
            [str(SFMC_DE), "emulator", "--config", str(config_file), "--access-log"], log
        )
        try:
            emulator = Emulator(url=url, config=config)
            tokens = httpx.post(
                f"{url}/v2/token",
                data={
                    "grant_type": "client_credentials",
                    "client_id": emulator.client_id,
                    "client_secret": secret,
                },
            ).json()
            httpx.post(f"{url}/v2/token", data={"client_id": "x", "client_secret": "wrong-one"})
            code = parse_qs(urlsplit(consent(emulator).headers["location"]).query)["code"][0]
            exchanged = httpx.post(
                f"{url}/v2/token",
                data={
                    "grant_type": "authorization_code",
                    "code": code,
                    "redirect_uri": REDIRECT_URI,
                    "client_id": emulator.client_id,
                    "client_secret": secret,
                },
            ).json()
            emulator.close()
        finally:
            stop(process)

    logged = log_file.read_text()
    assert "POST /v2/token" in logged, "the access log is on, so calls are logged"
    for value in (secret, "wrong-one", tokens["access_token"], code, exchanged["refresh_token"]):
        assert value not in logged


def test_run_emulator_writes_server_logs_to_the_given_file(tmp_path: Path) -> None:
    log_file = tmp_path / "logs" / "emulator.log"
    log_file.parent.mkdir()
    with run_emulator(fast_config(), log_path=log_file) as emulator:
        assert httpx.get(f"{emulator.url}/_emulator/stats").status_code == 200

    assert "Application startup complete" in log_file.read_text()


@pytest.fixture
def sfmc_emulator_config() -> dict:
    config = default_config()
    config["data_extensions"] = [
        {"key": "Only_One", "name": "Only one", "fields": [{"name": "Id", "type": "Number"}]}
    ]
    return config


def test_sfmc_emulator_fixture_uses_the_overridable_config(sfmc_emulator: Emulator) -> None:
    assert sfmc_emulator.stats()["rows_stored"] == {"Only_One": 0}
    assert sfmc_emulator.url.startswith("http://127.0.0.1:")
    assert not sfmc_emulator.url.endswith("/")


def test_connection_helpers_describe_the_emulator(shared_emulator: Emulator) -> None:
    connection = json.loads(shared_emulator.connection_json(grant_type="refresh_token", x="y"))

    assert connection == {
        "conn_type": "sfmc",
        "host": shared_emulator.url,
        "login": "sfmc-de-demo-client",
        "password": "sfmc-de-demo-secret",
        "extra": {"account_id": "100000001", "grant_type": "refresh_token", "x": "y"},
    }
    uri = shared_emulator.connection_uri()
    assert uri.startswith("sfmc://sfmc-de-demo-client:sfmc-de-demo-secret@http%3A%2F%2F127.0.0.1")
    assert uri.endswith("/?account_id=100000001&grant_type=client_credentials")
    assert "sfmc-de-demo-secret" not in repr(shared_emulator)


def test_module_main_serves_the_default_config() -> None:
    process, url = start_command(
        [sys.executable, "-m", "airflow_provider_sfmc_de.emulator", "--port", "0"],
        subprocess.DEVNULL,
    )
    try:
        with api_client(Emulator(url=url, config=default_config())) as client:
            answer = client.post(
                f"/data/v1/async/dataextensions/key:{CUSTOMERS}/rows",
                json={"items": [customer(1)]},
            )
    finally:
        stop(process)

    assert answer.status_code == 202
