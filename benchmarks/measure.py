"""
Run one loader in this process and write what it cost to a JSON file.

The harness starts a fresh interpreter for every load (``python -m benchmarks.measure JOB OUT``,
both JSON files), so peak memory and CPU time belong to that loader alone. Imports happen before
the clock starts: they are paid once per worker, not once per load, and would blur the
comparison.
"""

from __future__ import annotations

import importlib
import json
import resource
import sys
import time
from pathlib import Path

from benchmarks.job import LoadJob

LOADER_MODULES = {
    "provider": "benchmarks.provider",
    "naive": "benchmarks.naive",
    "floor": "benchmarks.floor",
}


def memory_bytes(field: str) -> int:
    """Return a memory figure of this process from ``/proc/self/status`` (``VmRSS``, ``VmHWM``)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"/proc/self/status has no {field} line.")


def measure(job: LoadJob) -> dict:
    """Import the job's loader, run it once, and return its counts with time and memory."""
    loader = importlib.import_module(LOADER_MODULES[job.loader])
    prepare = getattr(loader, "prepare", None)
    if prepare is not None:
        prepare(job)

    rss_before = memory_bytes("VmRSS")
    usage_before = resource.getrusage(resource.RUSAGE_SELF)
    started = time.perf_counter()
    counts = loader.load(job)
    wall_seconds = time.perf_counter() - started
    usage_after = resource.getrusage(resource.RUSAGE_SELF)

    return {
        "loader": job.loader,
        "wall_seconds": wall_seconds,
        "cpu_user_seconds": usage_after.ru_utime - usage_before.ru_utime,
        "cpu_system_seconds": usage_after.ru_stime - usage_before.ru_stime,
        # The high-water mark of this process image, imports included. Not ru_maxrss: that one
        # also keeps the parent's size from before exec, so it would charge the harness's memory.
        "peak_rss_bytes": memory_bytes("VmHWM"),
        "rss_before_load_bytes": rss_before,
        "counts": counts.to_dict(),
    }


def main(argv: list[str] | None = None) -> int:
    job_path, result_path = sys.argv[1:] if argv is None else argv
    result = measure(LoadJob(**json.loads(Path(job_path).read_text())))
    Path(result_path).write_text(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
