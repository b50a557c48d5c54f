"""Trigger that waits in the triggerer for SFMC to process Data Extension async requests."""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_provider_sfmc_de.hooks.sfmc import SfmcAsyncHook
from airflow_provider_sfmc_de.outcome import RequestWatch, WaitOutcome, count_of, error_outcome

if TYPE_CHECKING:
    from collections.abc import AsyncIterator


class DataExtensionAsyncRequestTrigger(BaseTrigger):
    """Poll the status of SFMC async requests until all are final, then fire one event.

    Requests that are done are not polled again. The event carries the outcome (see
    :class:`~airflow_provider_sfmc_de.outcome.WaitOutcome`): which requests completed cleanly,
    which have row errors, which ended in ``Error``, which SFMC does not know, or a timeout or
    error message. It holds request ids only, never row data; the sensor reads row results.

    :param request_ids: the SFMC async request ids to wait for.
    :param sfmc_conn_id: the Airflow connection to SFMC.
    :param poll_interval: seconds between two rounds of status checks.
    :param error_grace_period: seconds an ``Error`` status must last before it counts as final.
    :param end_time: UNIX time at which to stop waiting and report a timeout; None waits forever.
    :param max_concurrent_polls: status requests in flight at once.
    """

    def __init__(
        self,
        *,
        request_ids: list[str],
        sfmc_conn_id: str = SfmcAsyncHook.default_conn_name,
        poll_interval: float = 30.0,
        error_grace_period: float = 60.0,
        end_time: float | None = None,
        max_concurrent_polls: int = 8,
    ) -> None:
        super().__init__()
        self.request_ids = list(request_ids)
        self.sfmc_conn_id = sfmc_conn_id
        self.poll_interval = poll_interval
        self.error_grace_period = error_grace_period
        self.end_time = end_time
        self.max_concurrent_polls = max_concurrent_polls

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "request_ids": list(self.request_ids),
                "sfmc_conn_id": self.sfmc_conn_id,
                "poll_interval": self.poll_interval,
                "error_grace_period": self.error_grace_period,
                "end_time": self.end_time,
                "max_concurrent_polls": self.max_concurrent_polls,
            },
        )

    def _get_async_hook(self) -> SfmcAsyncHook:
        return SfmcAsyncHook(sfmc_conn_id=self.sfmc_conn_id)

    async def run(self) -> AsyncIterator[TriggerEvent]:
        watch = RequestWatch(self.request_ids, error_grace_period=self.error_grace_period)
        self.log.info(
            "Waiting for %s, checking every %g s%s.",
            count_of(len(watch.request_ids), "SFMC async request"),
            self.poll_interval,
            f" for up to {max(0.0, self.end_time - time.time()):.0f} s" if self.end_time else "",
        )
        try:
            outcome = await self._wait(self._get_async_hook(), watch)
        except Exception as error:
            self.log.error("Stopped waiting for SFMC async requests: %s", error)
            outcome = error_outcome(str(error), elapsed_seconds=watch.elapsed_seconds)
        yield TriggerEvent(outcome.to_event())

    async def _wait(self, hook: SfmcAsyncHook, watch: RequestWatch) -> WaitOutcome:
        limit = asyncio.Semaphore(self.max_concurrent_polls)

        async def check(request_id: str) -> bool:
            async with limit:
                status = await hook.get_async_status(request_id)
            return watch.record(request_id, status.state.name, has_errors=status.has_errors)

        while True:
            changes = await asyncio.gather(*(check(request_id) for request_id in watch.pending))
            if any(changes):
                self.log.info("%s", watch.progress())
            if watch.finished:
                return watch.outcome()
            if self.end_time is not None and time.time() >= self.end_time:
                outcome = watch.outcome()
                self.log.warning("%s", outcome.message)
                return outcome
            wait = self.poll_interval
            if self.end_time is not None:
                wait = min(wait, max(0.0, self.end_time - time.time()))
            await asyncio.sleep(wait)
