"""Asynchronous row requests: queued at submit, processed by a background thread.

A request is Pending until its pickup delay has passed, Executing while the thread saves its
rows and for the configured executing time, then Complete. Requests are processed one after
another in submission order, as SFMC advises for one Data Extension.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from airflow_provider_sfmc_de.emulator.faults import FaultSwitches
    from airflow_provider_sfmc_de.emulator.processing import RowFailure, RowWriter

log = logging.getLogger(__name__)

PENDING = "Pending"
EXECUTING = "Executing"
COMPLETE = "Complete"


def now_text(later_by_seconds: float = 0) -> str:
    """A timestamp the way SFMC writes them: no zone, fractions of a second."""
    moment = datetime.now(UTC) + timedelta(seconds=later_by_seconds)
    return moment.replace(tzinfo=None).isoformat(timespec="milliseconds")


@dataclass(eq=False)
class AsyncJob:
    """One asynchronous rows request and what became of it."""

    request_id: str
    writer: RowWriter
    upsert: bool
    body: bytes | None
    row_count: int
    pickup_due: float
    executing_seconds: float
    call_time: str = field(default_factory=now_text)
    pickup_time: str | None = None
    completion_time: str | None = None
    complete_due: float | None = None
    results: list[RowFailure | None] | None = None
    error_count: int = 0
    status_polls: int = 0
    complete_polls: int = 0

    def state(self) -> str:
        if self.pickup_time is None:
            return PENDING
        if self.complete_due is None or time.monotonic() < self.complete_due:
            return EXECUTING
        return COMPLETE


class AsyncProcessor:
    """Keep async requests and process them on one background thread.

    :param faults: the fault switches, read for deadlock-style row errors.
    """

    def __init__(self, *, faults: FaultSwitches) -> None:
        self.faults = faults
        self.jobs: dict[str, AsyncJob] = {}
        self._queue: queue.Queue[AsyncJob | None] = queue.Queue()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sfmc-emulator-async", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        self._queue.put(None)
        self._thread.join(timeout=10)

    def submit(self, job: AsyncJob) -> None:
        self.jobs[job.request_id] = job
        self._queue.put(job)

    def _run(self) -> None:
        while True:
            job = self._queue.get()
            if job is None or self._stopping.is_set():
                return
            wait = job.pickup_due - time.monotonic()
            if wait > 0 and self._stopping.wait(wait):
                return
            try:
                self._process(job)
            except Exception:
                # A bug here must not stop the thread, or every later request would hang.
                log.exception("Processing async request %s failed.", job.request_id)

    def _process(self, job: AsyncJob) -> None:
        job.pickup_time = now_text()
        started = time.monotonic()
        results = job.writer.write_body(
            job.body or b'{"items": []}',
            job.row_count,
            upsert=job.upsert,
            deadlocked=self.faults.deadlocked_positions(job.row_count),
        )
        job.results = results
        job.error_count = sum(1 for result in results if result is not None)
        job.body = None
        job.complete_due = started + job.executing_seconds
        job.completion_time = now_text(max(job.complete_due - time.monotonic(), 0))
        log.info(
            "Async request %s processed: %d rows, %d failed, in %.2f s.",
            job.request_id,
            len(results),
            job.error_count,
            time.monotonic() - started,
        )
