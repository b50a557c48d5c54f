"""
Load the same staging table with the provider, a naive loader and a floor, and compare them.

Run with ``make bench`` (or ``python -m benchmarks.run --rows 100000`` for a quick look). Each
load runs in a fresh process of its own against a fresh emulator process, one after another,
so time, CPU and memory are each client's alone. The table, the ratios and the targets are
printed and written to ``benchmarks/results/`` as JSON.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchmarks.job import LoadJob
from benchmarks.report import LOADERS, figures, markdown_summary, ratios, text_report, verdicts
from benchmarks.staging import TABLE, create_staging_table

log = logging.getLogger("benchmarks")

REPOSITORY = Path(__file__).resolve().parents[1]
RESULTS_DIR = REPOSITORY / "benchmarks" / "results"
DEFAULT_ROWS = (100_000, 1_000_000)
DEFAULT_REPEAT = 2
DATA_EXTENSION_KEY = "Demo_Customers"
LOAD_TIMEOUT_SECONDS = 3600
# Rows wait in the emulator far longer than any load takes, so its background processing never
# competes with the client for the CPU while a load is measured.
EMULATOR_PICKUP_DELAY_SECONDS = 24 * 3600


def emulator_config() -> dict[str, Any]:
    """Return the default emulator config with processing held back until after the load."""
    from airflow_provider_sfmc_de.emulator import default_config

    config = default_config()
    config.setdefault("processing", {})["pickup_delay_seconds"] = EMULATOR_PICKUP_DELAY_SECONDS
    return config


def run_load(job: LoadJob, log_path: Path) -> dict[str, Any]:
    """Run one load in a fresh interpreter and return its measurement."""
    python_path = [str(REPOSITORY), *filter(None, [os.environ.get("PYTHONPATH")])]
    environment = {
        **os.environ,
        "AIRFLOW_HOME": str(Path(job.work_dir) / "airflow-home"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "PYTHONPATH": os.pathsep.join(python_path),
    }
    # The job travels in a file, not on the command line, where the client secret would show.
    job_path = Path(job.work_dir) / "job.json"
    job_path.write_text(json.dumps(job.to_dict()))
    job_path.chmod(0o600)
    result_path = Path(job.work_dir) / "measurement.json"
    # The loader's own output (the operator's progress and summary lines) goes to its log.
    with log_path.open("w") as log_file:
        completed = subprocess.run(
            [sys.executable, "-m", "benchmarks.measure", str(job_path), str(result_path)],
            cwd=REPOSITORY,
            env=environment,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            timeout=LOAD_TIMEOUT_SECONDS,
            check=False,
        )
    if completed.returncode != 0:
        tail = log_path.read_text().splitlines()[-30:]
        raise RuntimeError(
            f"The {job.loader} load failed (exit {completed.returncode}); "
            f"last lines of {log_path}:\n" + "\n".join(tail)
        )
    return json.loads(result_path.read_text())


def measure_loader(
    loader: str, staging_path: Path, work_dir: Path, logs_dir: Path, rows: int
) -> dict[str, Any]:
    """Measure one loader on one staging table; the emulator lives only for this load."""
    job_fields = {
        "loader": loader,
        "staging_path": str(staging_path),
        "table": TABLE,
        "data_extension_key": DATA_EXTENSION_KEY,
        "work_dir": str(work_dir),
    }
    log_path = logs_dir / f"{loader}-{rows}.log"
    if loader == "floor":
        return figures(run_load(LoadJob(**job_fields), log_path), None)

    from airflow_provider_sfmc_de.emulator import run_emulator

    emulator_log = logs_dir / f"emulator-{loader}-{rows}.log"
    with run_emulator(emulator_config(), log_path=emulator_log) as emulator:
        job = LoadJob(
            **job_fields,
            emulator={
                "url": emulator.url,
                "client_id": emulator.client_id,
                "client_secret": emulator.client_secret,
                "account_id": emulator.account_id,
                "connection": emulator.connection_json(),
            },
        )
        measurement = run_load(job, log_path)
        return figures(measurement, emulator.stats())


def best_attempt(attempts: list[dict[str, Any]]) -> dict[str, Any]:
    """Keep the round with the least wall time (the least disturbed), noting every round's."""
    best = dict(min(attempts, key=lambda found: found["wall_seconds"]))
    best["rounds"] = [
        {
            metric: found[metric]
            for metric in ("wall_seconds", "cpu_seconds", "peak_rss_bytes", "load_average_before")
        }
        for found in attempts
    ]
    return best


def machine() -> dict[str, Any]:
    """Describe the machine the figures came from."""
    cpu_model = "unknown"
    memory_bytes = None
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory_bytes = int(line.split()[1]) * 1024
    except OSError:
        pass
    return {
        "cpus": os.cpu_count(),
        "cpu_model": cpu_model,
        "memory_bytes": memory_bytes,
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def parse_arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__)
    parser.add_argument(
        "--rows",
        type=int,
        action="append",
        help="staging table size; repeat for several (default: 100000 and 1000000)",
    )
    parser.add_argument(
        "--loaders",
        default=",".join(LOADERS),
        help="comma-separated loaders to run, in order (default: %(default)s)",
    )
    parser.add_argument(
        "--repeat",
        type=int,
        default=DEFAULT_REPEAT,
        help="rounds of every load; the least disturbed round is kept (default: %(default)s)",
    )
    parser.add_argument(
        "--results-dir", type=Path, default=RESULTS_DIR, help="where JSON results go"
    )
    arguments = parser.parse_args(argv)
    arguments.loaders = [name.strip() for name in arguments.loaders.split(",") if name.strip()]
    unknown = set(arguments.loaders) - set(LOADERS)
    if unknown:
        parser.error(f"unknown loader(s): {', '.join(sorted(unknown))}")
    arguments.rows = sorted(arguments.rows or DEFAULT_ROWS)
    if arguments.repeat < 1:
        parser.error("--repeat must be at least 1")
    return arguments


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S", stream=sys.stdout
    )
    logging.getLogger("httpx").setLevel(logging.WARNING)
    arguments = parse_arguments(argv)
    results_dir: Path = arguments.results_dir
    logs_dir = results_dir / "logs"
    logs_dir.mkdir(parents=True, exist_ok=True)
    started = datetime.now(UTC)

    runs: dict[int, dict[str, dict[str, Any]]] = {}
    with tempfile.TemporaryDirectory(prefix="sfmc-de-bench-") as scratch:
        for rows in arguments.rows:
            log.info("Creating a staging table of %s rows.", f"{rows:,}")
            begun = time.perf_counter()
            staging_path = create_staging_table(Path(scratch) / f"staging-{rows}.sqlite3", rows)
            log.info("Staging table ready in %.1f s.", time.perf_counter() - begun)
            attempts: dict[str, list[dict[str, Any]]] = {loader: [] for loader in arguments.loaders}
            # Rounds interleave the loaders, so a busy spell on the machine hits them alike.
            for round_number in range(1, arguments.repeat + 1):
                for loader in arguments.loaders:
                    log.info(
                        "Loading %s rows with the %s loader (round %d of %d).",
                        f"{rows:,}",
                        loader,
                        round_number,
                        arguments.repeat,
                    )
                    work_dir = Path(scratch) / f"{loader}-{rows}-{round_number}"
                    work_dir.mkdir()
                    # Other work on the machine slows wall time most; keep how busy it was.
                    load_before = os.getloadavg()[0]
                    found = measure_loader(loader, staging_path, work_dir, logs_dir, rows)
                    found["load_average_before"] = load_before
                    found["load_average_after"] = os.getloadavg()[0]
                    log.info(
                        "The %s loader took %.2f s wall, %.2f s CPU, peak RSS %.0f MB.",
                        loader,
                        found["wall_seconds"],
                        found["cpu_seconds"],
                        found["peak_rss_bytes"] / 1e6,
                    )
                    attempts[loader].append(found)
            runs[rows] = {loader: best_attempt(tries) for loader, tries in attempts.items()}
            staging_path.unlink()

    compared = {rows: ratios(by_loader) for rows, by_loader in runs.items()}
    judged = verdicts(runs)
    host = machine()
    print()
    print(
        f"Machine: {host['cpus']} CPUs ({host['cpu_model']}), "
        f"{(host['memory_bytes'] or 0) / 2**30:.1f} GiB memory, Python {host['python']}"
    )
    print(text_report(runs, compared, judged))

    document = {
        "started_at": started.isoformat(timespec="seconds"),
        "command": " ".join(
            ["python -m benchmarks.run", *(sys.argv[1:] if argv is None else argv)]
        ).strip(),
        "machine": host,
        "runs": {str(rows): by_loader for rows, by_loader in runs.items()},
        "ratios": {str(rows): pairs for rows, pairs in compared.items()},
        "targets": [verdict.to_dict() for verdict in judged],
        "markdown": markdown_summary(runs, compared, judged),
    }
    stamp = started.strftime("%Y%m%dT%H%M%SZ")
    for name in (f"bench-{stamp}.json", "latest.json"):
        (results_dir / name).write_text(json.dumps(document, indent=2) + "\n")
    print(f"\nResults written to {results_dir / f'bench-{stamp}.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
