"""Fault switches: make the emulator fail the way SFMC fails, on demand.

A fault spec maps a fault name to its settings. Call faults (``rate_limit``, ``blocked``,
``server_error``, ``drop_connection``, ``slow``) hit whole HTTP calls and take ``next: N`` (the
next N matching calls), ``fraction: f`` (that share of calls) or neither (every call), and an
optional ``path`` substring. Job faults change what async requests report: ``missing_status``
and ``transient_error`` (``polls: N``) and ``deadlock_rows`` (``every: N``).
"""

from __future__ import annotations

import copy
import random
import threading
from typing import Any

CALL_FAULTS = ("drop_connection", "blocked", "rate_limit", "server_error", "slow")
_SETTINGS = {
    "rate_limit": {"next", "fraction", "path", "retry_after"},
    "blocked": {"next", "fraction", "path"},
    "server_error": {"next", "fraction", "path", "status"},
    "drop_connection": {"next", "fraction", "path"},
    "slow": {"next", "fraction", "path", "seconds"},
    "missing_status": {"polls"},
    "transient_error": {"polls"},
    "deadlock_rows": {"every"},
}


class FaultSpecError(ValueError):
    """A fault spec names an unknown fault or setting."""


def check_fault_spec(spec: Any) -> dict[str, dict[str, Any]]:
    """Return a checked copy of ``spec``; raise :class:`FaultSpecError` naming the problem."""
    if not isinstance(spec, dict):
        raise FaultSpecError("A fault spec must be a JSON object of fault names to settings.")
    checked: dict[str, dict[str, Any]] = {}
    for name, settings in spec.items():
        if name not in _SETTINGS:
            known = ", ".join(sorted(_SETTINGS))
            raise FaultSpecError(f"Unknown fault {name!r}; known faults: {known}.")
        if settings is True:
            settings = {}
        if not isinstance(settings, dict):
            raise FaultSpecError(f"The settings of fault {name!r} must be a JSON object.")
        unknown = set(settings) - _SETTINGS[name]
        if unknown:
            allowed = ", ".join(sorted(_SETTINGS[name]))
            raise FaultSpecError(
                f"Unknown setting(s) {', '.join(sorted(unknown))} for fault {name!r}; "
                f"allowed: {allowed}."
            )
        for number in ("next", "polls", "every", "status"):
            if number in settings and not isinstance(settings[number], int):
                raise FaultSpecError(f"{name}.{number} must be a whole number.")
        checked[name] = copy.deepcopy(settings)
    return checked


class FaultSwitches:
    """The faults in force, changed at run time through the admin endpoints.

    :param spec: the faults to start with.
    """

    def __init__(self, spec: dict[str, Any] | None = None) -> None:
        self._lock = threading.Lock()
        self._random = random.Random()
        self._faults: dict[str, dict[str, Any]] = {}
        self._rows_seen = 0
        self.replace(spec or {})

    def replace(self, spec: dict[str, Any]) -> None:
        checked = check_fault_spec(spec)
        with self._lock:
            self._faults = checked
            self._rows_seen = 0

    def clear(self) -> None:
        with self._lock:
            self._faults = {}

    def current(self) -> dict[str, dict[str, Any]]:
        with self._lock:
            return copy.deepcopy(self._faults)

    def call_faults(self, path: str) -> list[tuple[str, dict[str, Any]]]:
        """Return the call faults that hit a call to ``path``, using up ``next`` counts."""
        if not self._faults:
            return []
        hits = []
        with self._lock:
            for name in CALL_FAULTS:
                settings = self._faults.get(name)
                if settings is None or settings.get("path", "") not in path:
                    continue
                if "next" in settings:
                    if settings["next"] <= 0:
                        continue
                    settings["next"] -= 1
                elif "fraction" in settings and self._random.random() >= settings["fraction"]:
                    continue
                hits.append((name, dict(settings)))
        return hits

    def polls(self, name: str) -> int:
        """How many status polls of each request the job fault ``name`` affects."""
        settings = self._faults.get(name)
        return int(settings.get("polls", 1)) if settings is not None else 0

    def deadlocked_positions(self, row_count: int) -> set[int]:
        """Positions, in a request of ``row_count`` rows, of the rows that hit a deadlock.

        Every Nth row processed since the fault was set fails, across requests.
        """
        with self._lock:
            settings = self._faults.get("deadlock_rows")
            if settings is None:
                return set()
            every = max(int(settings.get("every", 1)), 1)
            first = self._rows_seen
            self._rows_seen += row_count
        return {position for position in range(row_count) if (first + position + 1) % every == 0}
