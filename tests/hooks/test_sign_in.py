"""``sfmc-de authorize`` end to end: the command, the emulator's consent page, a browser."""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import threading
import time
from html.parser import HTMLParser
from urllib.parse import parse_qs, urljoin, urlsplit

import httpx
import pytest

from airflow_provider_sfmc_de.emulator import default_config
from airflow_provider_sfmc_de.hooks._tokens import ACCESS_TOKENS, refresh_token_variable
from airflow_provider_sfmc_de.hooks.sfmc import AsyncRequestState, SfmcHook
from airflow_provider_sfmc_de.sign_in import add_authorize_command

CONN_ID = "sfmc_sign_in"


class ConsentForm(HTMLParser):
    """The first form of a page: its action, method and the fields a browser would submit."""

    def __init__(self) -> None:
        super().__init__()
        self.action: str | None = None
        self.method = "get"
        self.fields: dict[str, str] = {}
        self.buttons: dict[str, tuple[str, str]] = {}

    def handle_starttag(self, tag, attrs):
        attributes = {name: value or "" for name, value in attrs}
        if tag == "form" and self.action is None:
            self.action = attributes.get("action", "")
            self.method = attributes.get("method", "get").lower()
        elif tag == "input" and "name" in attributes:
            self.fields[attributes["name"]] = attributes.get("value", "")
        elif tag == "button" and "name" in attributes:
            self.buttons[attributes["value"]] = (attributes["name"], attributes["value"])


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def signed_out(sfmc_emulator_factory, monkeypatch, airflow_db):
    """An emulator whose package accepts a free loopback redirect URI, and a connection to it."""
    from airflow.models import Variable

    redirect_uri = f"http://127.0.0.1:{free_port()}/callback"
    config = default_config()
    config["installed_packages"][0]["redirect_uris"].append(redirect_uri)
    emulator = sfmc_emulator_factory(config)
    monkeypatch.setenv(
        f"AIRFLOW_CONN_{CONN_ID.upper()}",
        emulator.connection_json("authorization_code", redirect_uri=redirect_uri),
    )
    ACCESS_TOKENS.clear()
    yield emulator, redirect_uri
    Variable.delete(refresh_token_variable(CONN_ID))


def start_authorize() -> tuple[subprocess.Popen[str], str]:
    """Run ``sfmc-de authorize`` and return it with the authorize URL it printed."""
    arguments = ["authorize", "--conn-id", CONN_ID, "--no-browser", "--timeout", "60"]
    command = subprocess.Popen(
        [sys.executable, "-m", "airflow_provider_sfmc_de.cli", *arguments],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=os.environ.copy(),
    )
    assert command.stdout is not None
    for line in command.stdout:
        if "/v2/authorize?" in line:
            return command, line.strip()
    command.wait(timeout=30)
    raise AssertionError(f"no authorize URL printed: {command.stderr.read()}")


def answer_consent(authorize_url: str, decision: str) -> httpx.Response:
    """Do what a browser does: load the consent page, press a button, follow the redirects."""
    with httpx.Client(follow_redirects=True, timeout=30) as browser:
        page = browser.get(authorize_url)
        page.raise_for_status()
        form = ConsentForm()
        form.feed(page.text)
        name, value = form.buttons[decision]
        return browser.request(
            form.method.upper(),
            urljoin(str(page.url), form.action or ""),
            data={**form.fields, name: value},
        )


def test_sign_in_stores_a_refresh_token_the_hook_then_uses(signed_out):
    from airflow.models import Variable

    emulator, redirect_uri = signed_out
    command, authorize_url = start_authorize()
    query = parse_qs(urlsplit(authorize_url).query)
    landing = answer_consent(authorize_url, "allow")
    output, errors = command.communicate(timeout=60)

    assert command.returncode == 0, errors
    assert query["redirect_uri"] == [redirect_uri]
    assert query["client_id"] == [emulator.client_id]
    assert len(query["state"][0]) >= 32
    assert str(landing.url).startswith(redirect_uri)
    assert "Signed in to Salesforce Marketing Cloud" in landing.text
    assert "Stored the refresh token in the Airflow Variable 'sfmc_refresh_token_sfmc_sign_in'" in (
        output
    )
    stored = Variable.get(refresh_token_variable(CONN_ID))
    assert stored not in output + errors
    assert emulator.stats()["token_requests_by_grant"] == {"authorization_code": 1}

    # A worker with only the connection (no refresh token in it) now gets tokens.
    status = SfmcHook(CONN_ID).get_async_status("no-such-request")
    assert status.state is AsyncRequestState.NOT_FOUND
    assert emulator.stats()["token_requests_by_grant"]["refresh_token"] == 1
    assert Variable.get(refresh_token_variable(CONN_ID)) != stored


def run_in_thread(capsys) -> tuple[threading.Thread, list[int], str]:
    """Run the command in this process (quicker than a new one); return it and its URL."""
    parser = argparse.ArgumentParser()
    add_authorize_command(parser.add_subparsers())
    args = parser.parse_args(["authorize", "--conn-id", CONN_ID, "--no-browser", "--timeout", "30"])
    exit_codes: list[int] = []
    thread = threading.Thread(target=lambda: exit_codes.append(args.run(args)))
    thread.start()
    printed = ""
    for _ in range(600):
        printed += capsys.readouterr().out
        if "/v2/authorize?" in printed and "Waiting for the browser" in printed:
            url = next(line for line in printed.splitlines() if "/v2/authorize?" in line)
            return thread, exit_codes, url.strip()
        time.sleep(0.05)
    raise AssertionError(f"no authorize URL printed: {printed}")


def test_denied_consent_fails_with_sfmc_reason(signed_out, capsys):
    thread, exit_codes, authorize_url = run_in_thread(capsys)
    answer_consent(authorize_url, "deny")
    thread.join(timeout=60)

    assert exit_codes == [1]
    assert "SFMC did not grant access: access_denied" in capsys.readouterr().err


def test_a_redirect_with_a_foreign_state_is_refused(signed_out, capsys):
    emulator, redirect_uri = signed_out
    thread, exit_codes, _ = run_in_thread(capsys)
    forged = httpx.get(f"{redirect_uri}?code=stolen-code&state=not-the-one-sent", timeout=30)
    thread.join(timeout=60)

    assert forged.status_code == 200
    assert exit_codes == [1]
    assert "state that this command did not send" in capsys.readouterr().err
    assert emulator.stats()["token_requests"] == 0


def test_client_credentials_connections_are_refused(sfmc_emulator, monkeypatch, capsys):
    monkeypatch.setenv("AIRFLOW_CONN_SFMC_SERVER_TO_SERVER", sfmc_emulator.connection_json())
    parser = argparse.ArgumentParser()
    add_authorize_command(parser.add_subparsers())
    args = parser.parse_args(["authorize", "--conn-id", "sfmc_server_to_server"])

    assert args.run(args) == 1
    assert "uses the client_credentials grant" in capsys.readouterr().err
