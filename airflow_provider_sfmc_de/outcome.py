"""Turn the statuses of SFMC async requests into one outcome, alike in poke and deferrable mode.

Nothing here talks to SFMC or imports Airflow: the sensor and its trigger feed it the states they
read through the hook, and act on the :class:`WaitOutcome` it returns.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

# The names of the hook's ``AsyncRequestState`` members, so this module needs nothing from the hook.
PENDING = "PENDING"
EXECUTING = "EXECUTING"
COMPLETE = "COMPLETE"
ERROR = "ERROR"
NOT_FOUND = "NOT_FOUND"
KNOWN_STATES = frozenset({PENDING, EXECUTING, COMPLETE, ERROR, NOT_FOUND})

OUTCOME_DONE = "done"
OUTCOME_TIMEOUT = "timeout"
OUTCOME_ERROR = "error"


@dataclass
class WaitOutcome:
    """How waiting for a set of async requests ended; JSON-safe through :meth:`to_event`.

    :param status: ``done`` when every request reached a final state (or one was not found),
        ``timeout`` when the time ran out first, ``error`` when SFMC could not be asked.
    :param complete: requests that completed without row errors.
    :param with_errors: requests that completed with at least one row in error.
    :param failed: requests whose ``Error`` status outlasted the grace period.
    :param not_found: requests SFMC does not know (a wrong id, or one that expired).
    :param waiting: requests still unfinished, with their last state.
    :param message: a sentence for the task log (why it timed out or failed).
    :param elapsed_seconds: how long the wait took.
    """

    status: str
    complete: list[str] = field(default_factory=list)
    with_errors: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    not_found: list[str] = field(default_factory=list)
    waiting: dict[str, str] = field(default_factory=dict)
    message: str = ""
    elapsed_seconds: float = 0.0

    @property
    def needs_results(self) -> list[str]:
        """The requests whose per-row results must be read to know which rows failed."""
        return [*self.with_errors, *self.failed]

    def to_event(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "complete": list(self.complete),
            "with_errors": list(self.with_errors),
            "failed": list(self.failed),
            "not_found": list(self.not_found),
            "waiting": dict(self.waiting),
            "message": self.message,
            "elapsed_seconds": round(self.elapsed_seconds, 3),
        }

    @classmethod
    def from_event(cls, event: dict[str, Any]) -> WaitOutcome:
        return cls(
            status=event["status"],
            complete=list(event.get("complete", [])),
            with_errors=list(event.get("with_errors", [])),
            failed=list(event.get("failed", [])),
            not_found=list(event.get("not_found", [])),
            waiting=dict(event.get("waiting", {})),
            message=event.get("message", ""),
            elapsed_seconds=float(event.get("elapsed_seconds", 0.0)),
        )


class RequestWatch:
    """Follow the state of several async requests across polls.

    ``Pending``, ``Executing`` and a missing status keep a request waiting; ``Complete`` ends it.
    ``Error`` is not reliably final in SFMC (it has been seen to turn into ``Complete``), so it
    only ends a request once it has lasted ``error_grace_period`` seconds. One request that SFMC
    does not know ends the whole wait: the load cannot be accounted for.

    :param request_ids: the requests to follow, in submission order.
    :param error_grace_period: seconds an ``Error`` status must last before it is believed.
    :param clock: a monotonic clock in seconds; replaceable for tests.
    """

    def __init__(
        self,
        request_ids: Iterable[str],
        *,
        error_grace_period: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.request_ids = list(dict.fromkeys(request_ids))
        self.error_grace_period = error_grace_period
        self._clock = clock
        self._started_at = clock()
        self._states: dict[str, str] = dict.fromkeys(self.request_ids, PENDING)
        self._has_errors: dict[str, bool] = {}
        self._error_since: dict[str, float] = {}
        self._final: set[str] = set()

    @property
    def elapsed_seconds(self) -> float:
        return self._clock() - self._started_at

    @property
    def pending(self) -> list[str]:
        """Requests not yet in a final state, in submission order: the ones still to poll."""
        return [request_id for request_id in self.request_ids if request_id not in self._final]

    @property
    def finished(self) -> bool:
        return not self.pending or any(
            self._states[request_id] == NOT_FOUND for request_id in self._final
        )

    def record(self, request_id: str, state: str, *, has_errors: bool = False) -> bool:
        """Take in one status answer; return True when the request's state changed.

        :param request_id: a request this watch follows.
        :param state: the name of the hook's ``AsyncRequestState`` member (``PENDING``, ...).
        :param has_errors: SFMC's ``hasErrors`` flag from the same answer.
        """
        if request_id not in self._states:
            raise ValueError(f"Request {request_id} is not one of the requests being watched.")
        if state not in KNOWN_STATES:
            raise ValueError(f"Unknown async request state {state!r} for request {request_id}.")
        previous = self._states[request_id]
        self._states[request_id] = state
        self._has_errors[request_id] = has_errors
        if state == ERROR:
            first_seen = self._error_since.setdefault(request_id, self._clock())
            if self._clock() - first_seen >= self.error_grace_period:
                self._final.add(request_id)
        else:
            self._error_since.pop(request_id, None)
            if state in (COMPLETE, NOT_FOUND):
                self._final.add(request_id)
        return state != previous

    def describe_waiting(self) -> str:
        """Count the unfinished requests by state, e.g. ``2 Pending, 1 Executing``."""
        counts = Counter(self._states[request_id] for request_id in self.pending)
        return (
            ", ".join(f"{count} {_display(state)}" for state, count in sorted(counts.items()))
            or "none"
        )

    def progress(self) -> str:
        """One log line for all requests: how many finished, after how long, what is left."""
        finished = len(self.request_ids) - len(self.pending)
        line = (
            f"{finished} of {len(self.request_ids)} SFMC async requests finished after "
            f"{self.elapsed_seconds:.0f} s"
        )
        in_error = [rid for rid in self.pending if self._states[rid] == ERROR]
        if self.pending:
            line += f"; waiting on {self.describe_waiting()}"
        if in_error:
            line += (
                f" ({len(in_error)} in Error, re-checked for {self.error_grace_period:.0f} s "
                "before it counts as final)"
            )
        return line + "."

    def outcome(self) -> WaitOutcome:
        """The outcome so far: ``done`` once :attr:`finished`, else a ``timeout`` snapshot."""
        final = [request_id for request_id in self.request_ids if request_id in self._final]
        outcome = WaitOutcome(
            status=OUTCOME_DONE if self.finished else OUTCOME_TIMEOUT,
            complete=[
                rid
                for rid in final
                if self._states[rid] == COMPLETE and not self._has_errors.get(rid, False)
            ],
            with_errors=[
                rid for rid in final if self._states[rid] == COMPLETE and self._has_errors.get(rid)
            ],
            failed=[rid for rid in final if self._states[rid] == ERROR],
            not_found=[rid for rid in final if self._states[rid] == NOT_FOUND],
            waiting={rid: _display(self._states[rid]) for rid in self.pending},
            elapsed_seconds=self.elapsed_seconds,
        )
        if outcome.status == OUTCOME_TIMEOUT:
            outcome.message = (
                f"Timed out after {self.elapsed_seconds:.0f} s with {len(self.pending)} of "
                f"{len(self.request_ids)} SFMC async requests unfinished "
                f"({self.describe_waiting()}): {', '.join(self.pending[:5])}"
                f"{' ...' if len(self.pending) > 5 else ''}."
            )
        return outcome


def count_of(count: int, noun: str) -> str:
    """``1 request``, ``2 requests``: a count with its noun, for log lines and messages."""
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def error_outcome(message: str, *, elapsed_seconds: float = 0.0) -> WaitOutcome:
    """The outcome when SFMC could not be asked at all (after the hook's own retries)."""
    return WaitOutcome(status=OUTCOME_ERROR, message=message, elapsed_seconds=elapsed_seconds)


def _display(state: str) -> str:
    """``NOT_FOUND`` -> ``Not found``, ``PENDING`` -> ``Pending``: SFMC's words for the log."""
    return state.replace("_", " ").capitalize()
