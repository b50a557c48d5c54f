"""What clients did, for tests to assert on: token requests, calls per endpoint, requests."""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any


class CallStats:
    """Counters behind one lock, reported by ``GET /_emulator/stats``."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self._token_requests: Counter[str] = Counter()
            self._calls: Counter[str] = Counter()
            self._async_requests = 0

    def count_token_request(self, grant_type: str) -> None:
        with self._lock:
            self._token_requests[grant_type] += 1

    def count_call(self, route: str) -> None:
        with self._lock:
            self._calls[route] += 1

    def count_async_request(self) -> None:
        with self._lock:
            self._async_requests += 1

    def snapshot(self, rows_stored: dict[str, int]) -> dict[str, Any]:
        with self._lock:
            return {
                "token_requests": sum(self._token_requests.values()),
                "token_requests_by_grant": dict(self._token_requests),
                "calls": dict(self._calls),
                "rows_stored": rows_stored,
                "async_requests": self._async_requests,
            }
