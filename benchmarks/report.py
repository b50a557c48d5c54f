"""Turn raw load measurements into figures, ratios and target verdicts, and print them."""

from __future__ import annotations

from dataclasses import dataclass
from statistics import fmean
from typing import Any

from benchmarks.job import BATCH_MAX_BYTES, BATCH_MAX_ROWS

MB = 1_000_000
LOADERS = ("provider", "naive", "floor")
WALL_TARGET_RATIO = 0.7
RSS_GROWTH_TARGET_RATIO = 1.25
RSS_CEILING_BYTES = 250 * MB
FILL_TARGET = 0.95


def figures(measurement: dict[str, Any], stats: dict[str, Any] | None) -> dict[str, Any]:
    """
    Derive one loader's figures from its process's measurement and the emulator's stats.

    Requests and token requests come from the emulator (what the server saw); rows and bytes
    per request come from the loader's own counts, since only the client knows its bodies.
    """
    counts = measurement["counts"]
    rows = counts["rows_read"]
    cpu_seconds = measurement["cpu_user_seconds"] + measurement["cpu_system_seconds"]
    request_rows = counts["request_rows"]
    request_bytes = counts["request_bytes"]
    sent = stats is not None
    row_fills = [count / BATCH_MAX_ROWS for count in request_rows]
    byte_fills = [size / BATCH_MAX_BYTES for size in request_bytes]
    return {
        "rows": rows,
        "rows_sent": counts["rows_sent"] if sent else 0,
        "wall_seconds": measurement["wall_seconds"],
        "rows_per_second": rows / measurement["wall_seconds"],
        "cpu_seconds": cpu_seconds,
        "cpu_microseconds_per_row": cpu_seconds / rows * 1e6 if rows else None,
        "peak_rss_bytes": measurement["peak_rss_bytes"],
        "rss_before_load_bytes": measurement["rss_before_load_bytes"],
        "requests": submitted_requests(stats) if sent else 0,
        "bodies_encoded": len(request_rows),
        "bytes_sent": sum(request_bytes) if sent else 0,
        "bytes_encoded": sum(request_bytes),
        "average_row_fill": fmean(row_fills) if row_fills else None,
        "average_byte_fill": fmean(byte_fills) if byte_fills else None,
        "average_binding_fill": (
            fmean(max(pair) for pair in zip(row_fills, byte_fills, strict=True))
            if row_fills
            else None
        ),
        "token_requests": stats["token_requests"] if sent else 0,
        "emulator_calls": stats["calls"] if sent else {},
    }


def submitted_requests(stats: dict[str, Any]) -> int:
    """Count the async row submissions (inserts and upserts) the emulator accepted."""
    if "async_requests" in stats:
        return stats["async_requests"]
    return sum(
        count
        for call, count in stats["calls"].items()
        if call.split(" ", 1)[0] in {"POST", "PUT"} and call.rstrip("/").endswith("/rows")
    )


def ratios(by_loader: dict[str, dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Compare the provider with each other loader on time, CPU and memory."""
    provider = by_loader.get("provider")
    if provider is None:
        return {}
    compared = {}
    for other in ("naive", "floor"):
        if other in by_loader:
            compared[f"provider/{other}"] = {
                metric: provider[metric] / by_loader[other][metric]
                for metric in ("wall_seconds", "cpu_seconds", "peak_rss_bytes")
            }
    return compared


@dataclass(frozen=True)
class Verdict:
    target: str
    measured: str
    met: bool | None  # None: not measured in this run

    def to_dict(self) -> dict[str, Any]:
        return {"target": self.target, "measured": self.measured, "met": self.met}


def verdicts(runs: dict[int, dict[str, dict[str, Any]]]) -> list[Verdict]:
    """Judge the specification's targets against this run's figures."""
    found: list[Verdict] = []
    for rows, by_loader in runs.items():
        provider, naive = by_loader.get("provider"), by_loader.get("naive")
        if provider is None or naive is None:
            continue
        found.append(
            Verdict(
                f"{rows:,} rows: provider CPU per row <= naive",
                f"{provider['cpu_microseconds_per_row']:.1f} vs "
                f"{naive['cpu_microseconds_per_row']:.1f} us/row",
                provider["cpu_microseconds_per_row"] <= naive["cpu_microseconds_per_row"],
            )
        )
        wall_ratio = provider["wall_seconds"] / naive["wall_seconds"]
        found.append(
            Verdict(
                f"{rows:,} rows: provider wall <= {WALL_TARGET_RATIO} x naive",
                f"{wall_ratio:.2f} x ({provider['wall_seconds']:.2f} s vs "
                f"{naive['wall_seconds']:.2f} s)",
                wall_ratio <= WALL_TARGET_RATIO,
            )
        )
    provider_runs = {
        rows: loaders["provider"] for rows, loaders in runs.items() if "provider" in loaders
    }
    if len(provider_runs) >= 2:
        smallest, largest = min(provider_runs), max(provider_runs)
        growth = (
            provider_runs[largest]["peak_rss_bytes"] / provider_runs[smallest]["peak_rss_bytes"]
        )
        peak = provider_runs[largest]["peak_rss_bytes"]
        found.append(
            Verdict(
                f"provider peak RSS at {largest:,} <= {RSS_GROWTH_TARGET_RATIO} x at {smallest:,}",
                f"{growth:.2f} x",
                growth <= RSS_GROWTH_TARGET_RATIO,
            )
        )
        found.append(
            Verdict(
                f"provider peak RSS at {largest:,} rows < {RSS_CEILING_BYTES // MB} MB",
                f"{peak / MB:.0f} MB",
                peak < RSS_CEILING_BYTES,
            )
        )
    else:
        found.append(Verdict("provider peak RSS flat as rows grow", "needs two sizes", None))
    for rows, provider in provider_runs.items():
        found.append(
            Verdict(
                f"{rows:,} rows: provider requests >= {FILL_TARGET:.0%} full on average",
                f"{provider['average_binding_fill']:.1%}",
                provider["average_binding_fill"] >= FILL_TARGET,
            )
        )
        found.append(
            Verdict(
                f"{rows:,} rows: one token request per load",
                f"{provider['token_requests']}",
                provider["token_requests"] == 1,
            )
        )
    return found


COLUMNS = (
    ("rows", "rows", lambda f: f"{f['rows']:,}"),
    ("loader", "loader", None),
    ("wall s", "wall_seconds", lambda f: f"{f['wall_seconds']:.2f}"),
    ("rows/s", "rows_per_second", lambda f: f"{f['rows_per_second']:,.0f}"),
    ("CPU s", "cpu_seconds", lambda f: f"{f['cpu_seconds']:.2f}"),
    ("CPU us/row", "cpu_microseconds_per_row", lambda f: f"{f['cpu_microseconds_per_row']:.1f}"),
    ("peak RSS MB", "peak_rss_bytes", lambda f: f"{f['peak_rss_bytes'] / MB:.0f}"),
    ("requests", "requests", lambda f: f"{f['requests']:,}"),
    ("MB sent", "bytes_sent", lambda f: f"{f['bytes_sent'] / MB:.1f}"),
    ("row fill", "average_row_fill", lambda f: _percent(f["average_row_fill"])),
    ("byte fill", "average_byte_fill", lambda f: _percent(f["average_byte_fill"])),
    ("tokens", "token_requests", lambda f: f"{f['token_requests']}"),
)


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def table_rows(runs: dict[int, dict[str, dict[str, Any]]]) -> list[list[str]]:
    """Lay the figures out as rows of text cells, header first."""
    lines = [[title for title, _, _ in COLUMNS]]
    for by_loader in runs.values():
        for loader, found in by_loader.items():
            lines.append([loader if render is None else render(found) for _, _, render in COLUMNS])
    return lines


def markdown_table(runs: dict[int, dict[str, dict[str, Any]]]) -> str:
    """Render the figures as a Markdown table, for the README."""
    lines = table_rows(runs)
    rendered = ["| " + " | ".join(lines[0]) + " |", "|" + " --- |" * len(lines[0])]
    rendered += ["| " + " | ".join(cells) + " |" for cells in lines[1:]]
    return "\n".join(rendered)


def markdown_summary(
    runs: dict[int, dict[str, dict[str, Any]]],
    compared: dict[int, dict[str, dict[str, float]]],
    judged: list[Verdict],
) -> str:
    """Render the table, the ratios and the targets as Markdown, for the README."""
    lines = [
        markdown_table(runs),
        "",
        "| rows | ratio | wall | CPU | peak RSS |",
        "| --- |" * 1 + " --- |" * 4,
    ]
    for rows, pairs in compared.items():
        for pair, values in pairs.items():
            lines.append(
                f"| {rows:,} | {pair.replace('/', ' / ')} | {values['wall_seconds']:.2f} | "
                f"{values['cpu_seconds']:.2f} | {values['peak_rss_bytes']:.2f} |"
            )
    lines += ["", "| target | measured | verdict |", "| --- | --- | --- |"]
    for verdict in judged:
        mark = {True: "met", False: "**missed**", None: "not measured"}[verdict.met]
        lines.append(f"| {verdict.target} | {verdict.measured} | {mark} |")
    return "\n".join(lines)


def text_report(
    runs: dict[int, dict[str, dict[str, Any]]],
    compared: dict[int, dict[str, dict[str, float]]],
    judged: list[Verdict],
) -> str:
    """Render the table, the ratios and the targets as plain text for the terminal."""
    lines = table_rows(runs)
    widths = [max(len(cells[column]) for cells in lines) for column in range(len(lines[0]))]
    out = []
    for index, cells in enumerate(lines):
        out.append(
            "  ".join(
                cell.ljust(width) if column < 2 else cell.rjust(width)
                for column, (cell, width) in enumerate(zip(cells, widths, strict=True))
            )
        )
        if index == 0:
            out.append("  ".join("-" * width for width in widths))
    out.append("")
    out.append("Ratios (wall, CPU, peak RSS):")
    for rows, pairs in compared.items():
        for pair, values in pairs.items():
            out.append(
                f"  {rows:>9,} rows  {pair:<15} wall {values['wall_seconds']:.2f}  "
                f"CPU {values['cpu_seconds']:.2f}  peak RSS {values['peak_rss_bytes']:.2f}"
            )
    out.append("")
    out.append("Targets:")
    for verdict in judged:
        mark = {True: "met", False: "MISSED", None: "not measured"}[verdict.met]
        out.append(f"  [{mark:>6}] {verdict.target}: {verdict.measured}")
    return "\n".join(out)
