"""A fake SFMC answering through an httpx transport, for hook tests that need no server."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from airflow_provider_sfmc_de.hooks._tokens import ACCESS_TOKENS
from airflow_provider_sfmc_de.hooks.sfmc import SfmcAsyncHook, SfmcHook

CLIENT_SECRET = "unit-client-secret-5f1c"
REST_URL = "https://mc563885gzs27c5t9-63k636ttgm.rest.marketingcloudapis.com/"
AUTH_HOST = "mc563885gzs27c5t9-63k636ttgm"

Handler = Callable[[httpx.Request], httpx.Response]


class FakeSfmc:
    """Route requests to handlers by ``"METHOD /path"``; count calls; number the tokens issued."""

    def __init__(self) -> None:
        self.routes: dict[str, Handler | list[Handler]] = {}
        self.calls: Counter[str] = Counter()
        self.requests: list[httpx.Request] = []
        self.tokens_issued = 0
        self.refresh_tokens_issued = 0
        self.valid_refresh_tokens: set[str] = set()
        self.rest_url = REST_URL
        self.expires_in = 1079
        self.route("POST /v2/token", self._token)

    def route(self, key: str, *handlers: Handler) -> None:
        """Answer ``key`` with the handlers in turn; the last one answers every later call."""
        self.routes[key] = list(handlers)

    def handle(self, request: httpx.Request) -> httpx.Response:
        key = f"{request.method} {request.url.path}"
        self.calls[key] += 1
        self.requests.append(request)
        handlers = self.routes.get(key)
        if not handlers:
            return httpx.Response(404, json={"message": "Not found", "errorcode": 404})
        handler = handlers.pop(0) if len(handlers) > 1 else handlers[0]
        return handler(request)

    def _token(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        if body.get("client_secret") != CLIENT_SECRET:
            return httpx.Response(401, json={"error": "invalid_client", "error_description": "no"})
        answer: dict[str, Any] = {
            "token_type": "Bearer",
            "expires_in": self.expires_in,
            "rest_instance_url": self.rest_url,
        }
        if body["grant_type"] == "refresh_token":
            if body["refresh_token"] not in self.valid_refresh_tokens:
                return httpx.Response(
                    400, json={"error": "invalid_grant", "error_description": "used"}
                )
            self.valid_refresh_tokens.discard(body["refresh_token"])
            answer["refresh_token"] = self.new_refresh_token()
        self.tokens_issued += 1
        answer["access_token"] = f"access-token-{self.tokens_issued}"
        return httpx.Response(200, json=answer)

    def new_refresh_token(self) -> str:
        self.refresh_tokens_issued += 1
        token = f"refresh-token-{self.refresh_tokens_issued}"
        self.valid_refresh_tokens.add(token)
        return token

    def bearer_tokens(self) -> list[str]:
        return [
            r.headers["Authorization"].removeprefix("Bearer ")
            for r in self.requests
            if "Authorization" in r.headers
        ]


class MemoryRefreshTokenStore:
    """A refresh-token store kept in memory, recording every write."""

    def __init__(self, reads: list[str | None] | None = None) -> None:
        self.name = "memory store"
        self.value: str | None = None
        self.writes: list[str] = []
        self._scripted_reads = list(reads or [])

    def read(self) -> str | None:
        if self._scripted_reads:
            return self._scripted_reads.pop(0)
        return self.value

    def write(self, refresh_token: str) -> None:
        self.value = refresh_token
        self.writes.append(refresh_token)


def json_answer(body: Any, status: int = 200, **headers: str) -> Handler:
    return lambda request: httpx.Response(status, json=body, headers=headers)


def drop_connection(request: httpx.Request) -> httpx.Response:
    raise httpx.RemoteProtocolError("Server disconnected without sending a response.")


def captured_logs(capsys) -> str:
    """What the hook logged (Airflow's structlog writes log lines to the console)."""
    captured = capsys.readouterr()
    return captured.out + captured.err


@pytest.fixture(autouse=True)
def _fresh_token_cache():
    ACCESS_TOKENS.clear()
    yield
    ACCESS_TOKENS.clear()


@pytest.fixture
def fake_sfmc() -> FakeSfmc:
    return FakeSfmc()


@pytest.fixture
def connection(monkeypatch) -> Callable[..., str]:
    """Define an ``sfmc`` connection in the environment; return its id."""

    def define(conn_id: str = "sfmc_unit", *, host: str = AUTH_HOST, **extra: Any) -> str:
        value = {
            "conn_type": "sfmc",
            "host": host,
            "login": "unit-client-id",
            "password": CLIENT_SECRET,
            "extra": {"account_id": "100000001", **extra},
        }
        monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(value))
        return conn_id

    return define


@pytest.fixture
def make_hook(fake_sfmc, connection) -> Callable[..., SfmcHook]:
    """Build a hook (or an async hook) whose HTTP goes to ``fake_sfmc``, with tiny retry waits."""

    def make(conn_id: str | None = None, *, asynchronous: bool = False, **kwargs: Any):
        kwargs = {"max_retry_wait": 0.01, "retry_base_wait": 0.001, **kwargs}
        hook_class = SfmcAsyncHook if asynchronous else SfmcHook
        hook = hook_class(conn_id or connection(), **kwargs)
        transport = httpx.MockTransport(fake_sfmc.handle)
        hook._client = httpx.Client(transport=transport)
        if asynchronous:
            hook._async_client = lambda: httpx.AsyncClient(transport=transport)
        return hook

    return make
