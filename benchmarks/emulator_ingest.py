"""How fast the emulator ingests and processes demo rows sent as async insert requests.

Run: ``.venv/bin/python -m benchmarks.emulator_ingest [--rows 1000000] [--batch 2500]``.
Request bodies are encoded before the clock starts, so the figures are the emulator's (plus
the HTTP client's), not the row generator's. The emulator runs with no pickup or executing
delay, in its own process, storing rows in memory.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import time
from datetime import date, timedelta

import httpx
import msgspec

from airflow_provider_sfmc_de.emulator import default_config, run_emulator

DATA_EXTENSION = "Demo_Customers"
FIRST_NAMES = ("Olivia", "Liam", "Chloé", "José", "Zoë", "Björn", "Ana-Lucía", "Hiroshi", "Wei")
LAST_NAMES = ("Smith", "García", "O'Brien", "Müller", "Nguyen", "van der Berg", "Okafor")


def demo_rows(start: int, count: int) -> list[dict[str, object]]:
    first_day = date(2012, 1, 1)
    return [
        {
            "SubscriberKey": f"C{number:09d}",
            "EmailAddress": f"customer{number}@example.com",
            "FirstName": FIRST_NAMES[number % len(FIRST_NAMES)],
            "LastName": LAST_NAMES[number % len(LAST_NAMES)],
            # The form the operator sends Date values in.
            "SignupDate": f"{first_day + timedelta(days=number % 5000)}T00:00:00",
            "IsSubscribed": number % 5 != 0,
        }
        for number in range(start, start + count)
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=2500)
    parser.add_argument("--threads", type=int, default=4, help="concurrent submitting clients")
    args = parser.parse_args()

    bodies = [
        msgspec.json.encode({"items": demo_rows(start, min(args.batch, args.rows - start))})
        for start in range(0, args.rows, args.batch)
    ]
    megabytes = sum(len(body) for body in bodies) / 1e6
    config = default_config()
    config["processing"] = {"pickup_delay_seconds": 0, "executing_seconds": 0}

    with run_emulator(config) as emulator:
        token = httpx.post(
            f"{emulator.url}/v2/token",
            json={
                "grant_type": "client_credentials",
                "client_id": emulator.client_id,
                "client_secret": emulator.client_secret,
            },
        ).json()["access_token"]
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        url = f"{emulator.url}/data/v1/async/dataextensions/key:{DATA_EXTENSION}/rows"

        with httpx.Client(headers=headers, timeout=120) as client:

            def send(body: bytes) -> str:
                answer = client.post(url, content=body)
                answer.raise_for_status()
                return answer.json()["requestId"]

            started = time.perf_counter()
            with concurrent.futures.ThreadPoolExecutor(args.threads) as pool:
                request_ids = list(pool.map(send, bodies))
            accepted = time.perf_counter() - started

            # Requests are processed in submission order, so the last one finishes last.
            status_url = f"/data/v1/async/{request_ids[-1]}/status"
            base = emulator.url
            while True:
                status = client.get(base + status_url).json().get("status") or {}
                if status.get("requestStatus") == "Complete":
                    break
                time.sleep(0.02)
            processed = time.perf_counter() - started

        stored = emulator.stats()["rows_stored"][DATA_EXTENSION]

    print(f"rows: {args.rows:,} in {len(bodies)} requests of {args.batch:,} ({megabytes:.0f} MB)")
    print(f"accepted (all answered 202): {accepted:.1f} s, {args.rows / accepted:,.0f} rows/s")
    print(
        f"processed (last request Complete): {processed:.1f} s, {args.rows / processed:,.0f} rows/s"
    )
    print(f"rows stored: {stored:,}")


if __name__ == "__main__":
    main()
