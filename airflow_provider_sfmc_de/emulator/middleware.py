"""Count every API call and apply the call faults before a route sees the request."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from starlette.routing import Match

from airflow_provider_sfmc_de.emulator.admin import ADMIN_PREFIX
from airflow_provider_sfmc_de.emulator.responses import json_response, rest_error_body

if TYPE_CHECKING:
    from fastapi import FastAPI
    from starlette.types import Receive, Scope, Send

    from airflow_provider_sfmc_de.emulator.state import EmulatorState

log = logging.getLogger(__name__)


class CallMiddleware:
    """Pure ASGI wrapper around the app, so that it also sees the server's own transport.

    :param app: the FastAPI app.
    :param state: the emulator's state, for counters and faults.
    """

    def __init__(self, app: FastAPI, state: EmulatorState) -> None:
        self.app = app
        self.state = state

    def _route_template(self, scope: Scope) -> str:
        for route in self.app.router.routes:
            match, _ = route.matches(scope)
            if match is Match.FULL:
                return f"{scope['method']} {route.path}"  # type: ignore[attr-defined]
        return f"{scope['method']} {scope['path']}"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or path.startswith(ADMIN_PREFIX):
            await self.app(scope, receive, send)
            return
        self.state.stats.count_call(self._route_template(scope))
        hits = dict(self.state.faults.call_faults(path))
        if "slow" in hits:
            await asyncio.sleep(float(hits["slow"].get("seconds", 1)))
        answer = self._fault_answer(hits)
        if "drop_connection" in hits:
            log.info("Fault: dropping the connection of %s %s.", scope["method"], path)
            await _drop_connection(receive)
            return
        if answer is not None:
            log.info(
                "Fault: answering %s %s with HTTP %d.", scope["method"], path, answer.status_code
            )
            await answer(scope, receive, send)
            return
        await self.app(scope, receive, send)

    @staticmethod
    def _fault_answer(hits: dict[str, dict[str, Any]]) -> Any:
        if "blocked" in hits:
            return json_response(
                rest_error_body("Your requests are temporarily blocked.", 50200), 429
            )
        if "rate_limit" in hits:
            retry_after = int(hits["rate_limit"].get("retry_after", 1))
            return json_response(
                rest_error_body("Rate limit exceeded", 50100, retryAfter=retry_after),
                429,
                headers={"Retry-After": str(retry_after)},
            )
        if "server_error" in hits:
            status = int(hits["server_error"].get("status", 500))
            return json_response({"message": "An error occurred on the server."}, status)
        return None


async def _drop_connection(receive: Receive) -> None:
    """Close the socket without an answer, as a failing load balancer would.

    Under uvicorn, ``receive`` is a bound method of the request cycle that owns the transport.
    """
    cycle = getattr(receive, "__self__", None)
    transport = getattr(cycle, "transport", None)
    if transport is None:
        raise ConnectionAbortedError("Dropping the connection needs uvicorn's transport.")
    transport.abort()
    # Let the server see the connection lost before this call returns, so it sends nothing.
    await asyncio.sleep(0.01)
