"""Run the emulator as a separate process and talk to its admin endpoints."""

from __future__ import annotations

import contextlib
import json
import os
import queue
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlencode

import httpx

from airflow_provider_sfmc_de.emulator.config import (
    complete_config,
    default_config,
    read_config_file,
)

if TYPE_CHECKING:
    from collections.abc import Iterator

# The line the server prints on stdout, followed by its base URL, once it accepts connections.
READY_MESSAGE = "SFMC emulator listening on"
STARTUP_TIMEOUT_SECONDS = 60
STOP_TIMEOUT_SECONDS = 10


class Emulator:
    """A running emulator: its URL, the demo credentials, and its admin endpoints.

    :param url: base URL, without a trailing slash.
    :param config: the whole config the emulator runs with.
    """

    def __init__(self, *, url: str, config: dict[str, Any]) -> None:
        self.url = url
        self.config = config
        package = config["installed_packages"][0]
        self.client_id: str = package["client_id"]
        self.client_secret: str = package["client_secret"]
        self.account_id: str = str(package["account_id"])
        self._admin = httpx.Client(base_url=f"{url}/_emulator", timeout=30)

    def __repr__(self) -> str:
        return f"Emulator(url={self.url!r}, client_id={self.client_id!r})"

    def _call(self, method: str, path: str, body: Any = None) -> Any:
        answer = self._admin.request(method, path, json=body)
        answer.raise_for_status()
        return answer.json()

    def stats(self) -> dict[str, Any]:
        """Token requests, calls per endpoint, rows stored per Data Extension, async requests."""
        return self._call("GET", "/stats")

    def reset_stats(self) -> None:
        self._call("POST", "/reset-stats")

    def set_faults(self, **faults: Any) -> None:
        """Replace the faults in force, e.g. ``set_faults(rate_limit={"next": 2})``."""
        self._call("POST", "/faults", faults)

    def clear_faults(self) -> None:
        self._call("DELETE", "/faults")

    def revoke_tokens(self) -> None:
        """Revoke every access token issued so far, as an administrator or a logout would."""
        self._call("POST", "/tokens/revoke")

    def issue_refresh_token(self, client_id: str | None = None, scope: str | None = None) -> str:
        """Return a valid refresh token without the browser consent."""
        body = {"client_id": client_id or self.client_id}
        if scope is not None:
            body["scope"] = scope
        return self._call("POST", "/refresh-tokens", body)["refresh_token"]

    def rows(self, de_key: str) -> list[dict[str, Any]]:
        """Rows stored in a Data Extension, in insertion order, with plain Python values."""
        return self._call("GET", f"/data-extensions/{quote(de_key, safe='')}/rows")["items"]

    def _extra(self, grant_type: str, extra: dict[str, Any]) -> dict[str, Any]:
        return {"account_id": self.account_id, "grant_type": grant_type, **extra}

    def connection_json(self, grant_type: str = "client_credentials", **extra: Any) -> str:
        """An ``AIRFLOW_CONN_<ID>`` value (JSON) for the hook; ``extra`` adds connection extras."""
        return json.dumps(
            {
                "conn_type": "sfmc",
                "host": self.url,
                "login": self.client_id,
                "password": self.client_secret,
                "extra": self._extra(grant_type, extra),
            }
        )

    def connection_uri(self, grant_type: str = "client_credentials", **extra: Any) -> str:
        """The same connection as an Airflow URI; the host is the URL-encoded base URL."""
        query = urlencode(self._extra(grant_type, extra))
        return (
            f"sfmc://{quote(self.client_id, safe='')}:{quote(self.client_secret, safe='')}"
            f"@{quote(self.url, safe='')}/?{query}"
        )

    def close(self) -> None:
        self._admin.close()


def _resolve_config(config: dict[str, Any] | str | Path | None) -> dict[str, Any]:
    if config is None:
        return default_config()
    if isinstance(config, dict):
        return complete_config(config)
    return read_config_file(config)


def _read_lines(stream: Any, lines: queue.Queue[str | None]) -> None:
    for line in stream:
        lines.put(line)
    lines.put(None)


def _wait_for_url(process: subprocess.Popen[str], lines: queue.Queue[str | None]) -> str:
    seen: list[str] = []
    while True:
        try:
            line = lines.get(timeout=STARTUP_TIMEOUT_SECONDS)
        except queue.Empty:
            raise RuntimeError(
                f"The SFMC emulator did not start within {STARTUP_TIMEOUT_SECONDS} s."
            ) from None
        if line is None:
            process.wait(timeout=STOP_TIMEOUT_SECONDS)
            raise RuntimeError(
                f"The SFMC emulator exited with code {process.returncode} before it was ready. "
                f"Its output: {''.join(seen)[-2000:]}"
            )
        if line.startswith(READY_MESSAGE):
            return line[len(READY_MESSAGE) :].strip()
        seen.append(line)


@contextlib.contextmanager
def run_emulator(
    config: dict[str, Any] | str | Path | None = None,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    log_path: str | Path | None = None,
) -> Iterator[Emulator]:
    """Start the emulator in its own process, yield its handle, stop it on exit.

    :param config: a whole config dict (see :func:`default_config`), a JSON config file, or
        ``None`` for the default config.
    :param host: the address to bind.
    :param port: the port to bind; 0 picks a free one.
    :param log_path: a file for the server's logs; by default they go to this process's stderr.
    """
    resolved = _resolve_config(config)
    with (
        tempfile.TemporaryDirectory(prefix="sfmc-emulator-") as workdir,
        contextlib.ExitStack() as files,
    ):
        log_file = files.enter_context(Path(log_path).open("w")) if log_path else None
        config_file = Path(workdir) / "emulator.json"
        config_file.write_text(json.dumps(resolved))
        command = [
            sys.executable,
            "-m",
            "airflow_provider_sfmc_de.emulator",
            "--config",
            str(config_file),
            "--host",
            host,
            "--port",
            str(port),
        ]
        # stdout carries the ready line; the server's logs go to stderr.
        process = subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            stderr=log_file,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        lines: queue.Queue[str | None] = queue.Queue()
        reader = threading.Thread(target=_read_lines, args=(process.stdout, lines), daemon=True)
        reader.start()
        emulator: Emulator | None = None
        try:
            emulator = Emulator(url=_wait_for_url(process, lines), config=resolved)
            yield emulator
        finally:
            if emulator is not None:
                emulator.close()
            process.terminate()
            try:
                process.wait(timeout=STOP_TIMEOUT_SECONDS)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
