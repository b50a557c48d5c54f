"""The ``sfmc-de authorize`` command: sign in to SFMC in a browser and keep the refresh token.

It runs the OAuth authorization-code flow of a web app installed package: it prints (and opens)
the authorize URL with a random ``state``, receives the redirect on a loopback address, checks
``state``, exchanges the code and stores the refresh token where :class:`SfmcHook` reads it.
"""

from __future__ import annotations

import html
import secrets
import sys
import time
import webbrowser
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import TYPE_CHECKING, ClassVar
from urllib.parse import parse_qs, urlencode, urlsplit

if TYPE_CHECKING:
    import argparse

    from airflow_provider_sfmc_de.hooks._connection import SfmcConnectionSettings

DEFAULT_REDIRECT_URI = "http://127.0.0.1:8765/callback"
DEFAULT_TIMEOUT_SECONDS = 300


@dataclass
class _Callback:
    """What the browser brought back to the redirect URI."""

    code: str | None = None
    state: str | None = None
    error: str | None = None
    error_description: str | None = None


class _RedirectListener(HTTPServer):
    """A one-shot HTTP server on the loopback redirect URI that records the first callback.

    :param redirect_uri: the ``http`` loopback URI to listen on.
    """

    def __init__(self, redirect_uri: str) -> None:
        parts = urlsplit(redirect_uri)
        self.callback_path = parts.path or "/"
        self.callback: _Callback | None = None
        super().__init__((parts.hostname or "127.0.0.1", parts.port or 80), _CallbackHandler)

    def wait_for_callback(self, timeout: float) -> _Callback | None:
        deadline = time.monotonic() + timeout
        while self.callback is None and time.monotonic() < deadline:
            self.timeout = max(deadline - time.monotonic(), 0.01)
            self.handle_request()
        return self.callback


class _CallbackHandler(BaseHTTPRequestHandler):
    server: _RedirectListener
    pages: ClassVar[dict[bool, str]] = {
        True: "Signed in to Salesforce Marketing Cloud. You can close this window.",
        False: "Sign-in did not complete; see the terminal for the reason.",
    }

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        if parts.path != self.server.callback_path:
            self.send_error(404)
            return
        query = {name: values[0] for name, values in parse_qs(parts.query).items()}
        self.server.callback = _Callback(
            code=query.get("code"),
            state=query.get("state"),
            error=query.get("error"),
            error_description=query.get("error_description"),
        )
        page = self.pages["code" in query and "error" not in query]
        body = f"<!doctype html><title>sfmc-de</title><p>{html.escape(page)}</p>".encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        # The request line carries the authorization code: keep it off the terminal.
        return


def add_authorize_command(subparsers: argparse._SubParsersAction) -> None:
    """Register ``sfmc-de authorize --conn-id ID``."""
    parser = subparsers.add_parser(
        "authorize",
        help="sign in to SFMC in a browser and store the refresh token for a connection",
        description="Sign in to Salesforce Marketing Cloud with the authorization-code flow of a "
        "web app installed package, and store the refresh token in the Airflow Variable the "
        "hook reads (sfmc_refresh_token_<conn_id>). Needs access to the Airflow metadata "
        "database, like `airflow variables set`.",
    )
    parser.add_argument("--conn-id", default="sfmc_default", help="the sfmc connection to sign in")
    parser.add_argument(
        "--redirect-uri",
        help="loopback redirect URI registered on the package (default: the connection's "
        f"redirect_uri extra, else {DEFAULT_REDIRECT_URI})",
    )
    parser.add_argument(
        "--no-browser", action="store_true", help="only print the URL; do not open a browser"
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT_TIMEOUT_SECONDS,
        help="seconds to wait for the browser to come back (default %(default)s)",
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Sign in and store the refresh token; print why and return 1 when that fails."""
    # Airflow is imported only here, so that `sfmc-de emulator` starts without it.
    from airflow_provider_sfmc_de.exceptions import SfmcError

    try:
        return _sign_in(args)
    except SfmcError as error:
        print(f"Sign-in failed: {error}", file=sys.stderr)
        return 1


def _sign_in(args: argparse.Namespace) -> int:
    from airflow_provider_sfmc_de.exceptions import SfmcConfigurationError
    from airflow_provider_sfmc_de.hooks._urls import is_loopback
    from airflow_provider_sfmc_de.hooks.sfmc import SfmcHook

    hook = SfmcHook(args.conn_id)
    settings = hook.settings
    if settings.grant_type != "authorization_code":
        raise SfmcConfigurationError(
            f"Connection {args.conn_id!r} uses the {settings.grant_type} grant; set its "
            "grant_type extra to authorization_code to sign in with a browser."
        )
    redirect_uri = args.redirect_uri or settings.redirect_uri or DEFAULT_REDIRECT_URI
    parts = urlsplit(redirect_uri)
    if parts.scheme != "http" or not is_loopback(parts.hostname or "") or not parts.port:
        raise SfmcConfigurationError(
            f"The redirect URI {redirect_uri!r} must be an http loopback address with a port, "
            f"such as {DEFAULT_REDIRECT_URI}, registered on the installed package."
        )
    state = secrets.token_urlsafe(32)
    authorize_url = _authorize_url(settings, redirect_uri=redirect_uri, state=state)

    try:
        listener = _RedirectListener(redirect_uri)
    except OSError as error:
        raise SfmcConfigurationError(
            f"Cannot listen on {redirect_uri}: {error.strerror}. Close what uses the port, or "
            "register another loopback redirect URI and pass it with --redirect-uri."
        ) from None
    with listener:
        print("Open this URL in a browser and sign in to Marketing Cloud:", flush=True)
        print(authorize_url, flush=True)
        if not args.no_browser and _browser_available():
            webbrowser.open(authorize_url)
        print(f"Waiting for the browser to come back to {redirect_uri} ...", flush=True)
        callback = listener.wait_for_callback(args.timeout)

    if callback is None:
        raise SfmcConfigurationError(f"No sign-in came back within {args.timeout:g} s.")
    if callback.error:
        raise SfmcConfigurationError(
            f"SFMC did not grant access: {callback.error}"
            + (f" ({callback.error_description})" if callback.error_description else "")
        )
    if not callback.state or not secrets.compare_digest(callback.state, state):
        raise SfmcConfigurationError(
            "The redirect carried a state that this command did not send; the code was not used. "
            "Run the command again, and use only the URL it prints."
        )
    if not callback.code:
        raise SfmcConfigurationError("The redirect carried no authorization code.")

    token = hook.exchange_authorization_code(callback.code, redirect_uri=redirect_uri)
    account = settings.account_id or "the package's default business unit"
    print(f"Signed in: SFMC issued tokens for account {account} ({token.rest_instance_url}).")
    print(f"Stored the refresh token in the {hook.refresh_token_store.name}.")
    print(
        f"Connection {args.conn_id!r} needs no change: keep its grant_type extra set to "
        "authorization_code. The hook reads the newest refresh token from that Variable before "
        "the connection's refresh_token extra, and stores each rotated one there at once."
    )
    return 0


def _authorize_url(settings: SfmcConnectionSettings, *, redirect_uri: str, state: str) -> str:
    query = {
        "response_type": "code",
        "client_id": settings.client_id,
        "redirect_uri": redirect_uri,
        "state": state,
    }
    if settings.scope:
        query["scope"] = settings.scope
    return f"{settings.auth_url}/v2/authorize?{urlencode(query)}"


def _browser_available() -> bool:
    try:
        webbrowser.get()
    except webbrowser.Error:
        return False
    return True
