"""Scripted SFMC hooks answering with the hook's own types, for tests of the waiting logic."""

from __future__ import annotations

from collections import Counter

from airflow_provider_sfmc_de.hooks.sfmc import (
    AsyncRequestState,
    AsyncRequestStatus,
    AsyncRowResult,
)

OK = AsyncRowResult("OK")
DUPLICATE = AsyncRowResult(
    "Error",
    "UnexpectedError",
    "Violation of PRIMARY KEY constraint 'PK_C1'. Cannot insert duplicate key.\r\n"
    "The statement has been terminated.",
)
DEADLOCK = AsyncRowResult(
    "Error",
    "UnexpectedError",
    "Transaction was deadlocked on lock resources with another process and has been chosen as "
    "the deadlock victim. Rerun the transaction.",
)


class ScriptedHook:
    """Answer each request's status from a script; the last answer repeats.

    :param script: request id -> the states (or ``(state, has_errors)``) its polls return.
    :param results: request id -> its per-row results.
    """

    def __init__(self, script: dict, results: dict | None = None) -> None:
        self.script = {rid: list(answers) for rid, answers in script.items()}
        self.results = results or {}
        self.status_calls: Counter[str] = Counter()
        self.results_calls: Counter[str] = Counter()

    def _next_status(self, request_id: str) -> AsyncRequestStatus:
        answers = self.script.get(request_id, [AsyncRequestState.NOT_FOUND])
        answer = answers[min(self.status_calls[request_id], len(answers) - 1)]
        self.status_calls[request_id] += 1
        state, has_errors = answer if isinstance(answer, tuple) else (answer, False)
        return AsyncRequestStatus(request_id, state, has_errors, result_status=None)

    def get_async_status(self, request_id: str) -> AsyncRequestStatus:
        return self._next_status(request_id)

    def iter_async_results(self, request_id: str):
        self.results_calls[request_id] += 1
        yield from self.results.get(request_id, [])


class ScriptedAsyncHook(ScriptedHook):
    """The async twin of :class:`ScriptedHook`."""

    async def get_async_status(self, request_id: str) -> AsyncRequestStatus:
        return self._next_status(request_id)


class FailingAsyncHook:
    async def get_async_status(self, request_id: str) -> AsyncRequestStatus:
        raise RuntimeError("SFMC answered HTTP 503 five times in a row")
