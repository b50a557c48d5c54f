"""Scripted stand-ins for the SFMC hooks, for tests of the waiting logic without a server."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from enum import Enum


class State(Enum):
    """Mirrors the member names of the hook's ``AsyncRequestState``."""

    PENDING = "Pending"
    EXECUTING = "Executing"
    COMPLETE = "Complete"
    ERROR = "Error"
    NOT_FOUND = "NotFound"


@dataclass(frozen=True)
class Status:
    request_id: str
    state: State
    has_errors: bool = False


@dataclass(frozen=True)
class RowResult:
    status: str
    error_code: str | None = None
    message: str | None = None

    @property
    def ok(self) -> bool:
        return self.status == "OK"


OK = RowResult("OK")
DUPLICATE = RowResult(
    "Error",
    "UnexpectedError",
    "Violation of PRIMARY KEY constraint 'PK_C1'. Cannot insert duplicate key.\r\n"
    "The statement has been terminated.",
)
DEADLOCK = RowResult(
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

    def _next_status(self, request_id: str) -> Status:
        answers = self.script.get(request_id, [State.NOT_FOUND])
        answer = answers[min(self.status_calls[request_id], len(answers) - 1)]
        self.status_calls[request_id] += 1
        state, has_errors = answer if isinstance(answer, tuple) else (answer, False)
        return Status(request_id, state, has_errors)

    def get_async_status(self, request_id: str) -> Status:
        return self._next_status(request_id)

    def iter_async_results(self, request_id: str):
        self.results_calls[request_id] += 1
        yield from self.results.get(request_id, [])


class ScriptedAsyncHook(ScriptedHook):
    """The async twin of :class:`ScriptedHook`."""

    async def get_async_status(self, request_id: str) -> Status:
        return self._next_status(request_id)


class FailingAsyncHook:
    async def get_async_status(self, request_id: str) -> Status:
        raise RuntimeError("SFMC answered HTTP 503 five times in a row")
