"""BENCHMARKS.md from the results of `python -m bench`: machine, tables, ratios, growth, notes.

The hand-written reading of the figures (targets met or missed, and why) lives
in bench/analysis.md and is copied in after the generated tables, so a new run
refreshes every number without losing the explanation.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

ANALYSIS = Path(__file__).with_name("analysis.md")


def _ms(seconds: float) -> str:
    if seconds is None or (isinstance(seconds, float) and math.isnan(seconds)):
        return "–"
    value = seconds * 1e3
    return f"{value:,.0f}" if value >= 100 else f"{value:.1f}"


def _cell(stat: dict[str, Any] | None) -> str:
    if not stat:
        return "–"
    spread = f" ({_ms(stat['low'])}–{_ms(stat['high'])})" if stat["runs"] > 1 else ""
    return f"{_ms(stat['median'])}{spread}"


def _peak(stat: dict[str, Any] | None) -> str:
    # A negative difference is a collection that ran meanwhile: nothing was added.
    return "–" if not stat else f"{max(0.0, stat['peak_mb']):,.0f}"


def write_report(results: dict[str, Any], out: Path) -> None:
    """Write the whole file from `results` (the JSON `python -m bench` saves)."""
    m = results["machine"]
    lines = [
        "# Benchmarks",
        "",
        "Written by `make bench` (`python -m bench`); do not edit by hand: the reading of the",
        "figures is kept in `bench/analysis.md` and copied in below the tables.",
        "",
        f"- Run: {results['started']} to {results.get('finished', '(unfinished)')}, "
        f"ledgers from `billing seed-demo --seed 7 --today {results['as_of']}`, "
        f"figures as of {results['as_of']}.",
        f"- Machine: {m['cores']} cores ({m['cpu']}), {m['memory_gb']} GB memory, "
        f"Python {m['python']}; load average at the start "
        f"{', '.join(f'{x:.1f}' for x in m['load_average'])} (the machine is shared: "
        "CPU time is given beside wall time where it matters).",
        "- Libraries: " + ", ".join(f"{k} {v}" for k, v in m["packages"].items()) + ".",
        f"- Times in milliseconds: median over {results['runs']} runs (3 at 1M, once for the "
        "slowest), min–max in brackets; a figure without brackets ran once. Peak: resident "
        "memory the run added at its highest, in MB.",
        "",
    ]
    sizes = list(results["sizes"])
    for backend in ("sqlite", "postgresql"):
        present = [s for s in sizes if backend in results["sizes"][s]]
        if not present:
            continue
        lines += [f"## {'SQLite' if backend == 'sqlite' else 'PostgreSQL'}", ""]
        rows_line = []
        for s in present:
            entry = results["sizes"][s][backend]
            r = entry["rows"]
            rows_line.append(
                f"{int(s):,}: {r['invoices']:,} invoices, {r['allocations']:,} allocations, "
                f"{r['payments']:,} payments, seeded in {entry['seed_seconds']:.1f} s"
            )
        lines += ["Ledgers: " + "; ".join(rows_line) + ".", ""]
        header = "| Measure | " + " | ".join(f"{int(s):,} ms" for s in present)
        header += " | " + " | ".join(f"{int(s):,} peak MB" for s in present) + " |"
        lines += [header, "|---" * (1 + 2 * len(present)) + "|"]
        names: list[str] = []
        for s in present:
            for name in results["sizes"][s][backend]["timings"]:
                if name not in names:
                    names.append(name)
        for name in names:
            stats = [results["sizes"][s][backend]["timings"].get(name) for s in present]
            lines.append(
                f"| {name} | "
                + " | ".join(_cell(x) for x in stats)
                + " | "
                + " | ".join(_peak(x) for x in stats)
                + " |"
            )
        lines.append("")
        cpu_rows = [
            (name, [results["sizes"][s][backend]["timings"].get(name) for s in present])
            for name in names
            if name.startswith("load:")
        ]
        lines += ["CPU seconds of the load (all threads), median:", ""]
        lines += [
            f"- {name}: "
            + ", ".join(
                f"{int(s):,}: {x['cpu']:.2f} s" for s, x in zip(present, stats, strict=True) if x
            )
            for name, stats in cpu_rows
        ]
        lines.append("")
        checks = {c for s in present for c in results["sizes"][s][backend]["checks"]}
        lines += ["Checked before timing (every size): " + "; ".join(sorted(checks)) + ".", ""]
    lines += _ratios(results, sizes)
    lines += _growth(results, sizes)
    lines += _ten_million(results)
    lines += _profiles(results, sizes)
    if ANALYSIS.exists():
        lines += ["", ANALYSIS.read_text().strip(), ""]
    out.write_text("\n".join(lines) + "\n")


def _t(results: dict[str, Any], size: str, backend: str, name: str) -> float | None:
    stat = results["sizes"][size].get(backend, {}).get("timings", {}).get(name)
    return None if stat is None else stat["median"]


def _ratios(results: dict[str, Any], sizes: list[str]) -> list[str]:
    lines = ["## Ratios (median time of the other ÷ Polars; above 1 = Polars faster)", ""]
    pairs = [
        ("aging", "aging: pandas", "sqlite"),
        ("aging", "aging: SQL (sqlite)", "sqlite"),
        ("aging", "aging: SQL (postgresql)", "postgresql"),
        ("aging", "aging: numpy dense (lower bound)", "sqlite"),
        ("DSO series", "DSO series: pandas", "sqlite"),
        ("DSO series", "DSO series: SQL (sqlite)", "sqlite"),
        ("DSO series", "DSO series: SQL (postgresql)", "postgresql"),
    ]
    lines += ["| Polars vs | " + " | ".join(f"{int(s):,}" for s in sizes) + " |"]
    lines += ["|---" * (1 + len(sizes)) + "|"]
    for query, other, backend in pairs:
        cells = []
        for s in sizes:
            mine = _t(results, s, "sqlite", f"{query}: Polars")
            theirs = _t(results, s, backend, other)
            cells.append("–" if not mine or theirs is None else f"{theirs / mine:.1f}×")
        if any(c != "–" for c in cells):
            lines.append(f"| {other} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "The numpy row is a lower bound, not a rival: dense arrays by invoice id, prepared "
        "before the clock starts, no names joined, no empty customers dropped; below 1× "
        "means Polars is that far from the limit.",
        "",
    ]
    return lines


def _growth(results: dict[str, Any], sizes: list[str]) -> list[str]:
    if len(sizes) < 2:
        return []
    small, large = sizes[0], sizes[-1]
    factor = int(large) / int(small)
    lines = [
        f"## How cost grows from {int(small):,} to {int(large):,} invoices "
        f"({factor:.0f}× the data)",
        "",
    ]
    names = results["sizes"][large].get("sqlite", {}).get("timings", {})
    for name in names:
        a, b = _t(results, small, "sqlite", name), _t(results, large, "sqlite", name)
        if a and b:
            lines.append(f"- {name}: {b / a:.0f}× ({_ms(a)} → {_ms(b)} ms)")
    lines.append("")
    return lines


def _ten_million(results: dict[str, Any]) -> list[str]:
    ten = results.get("ten_million")
    if not ten:
        return []
    lines = ["## 10M invoices (aging on an in-memory synthetic ledger, `bench/synthetic.py`)", ""]
    if "error" in ten:
        return [*lines, "It broke:", "", "```", ten["error"], "```", ""]
    a = ten["aging"]
    return [
        *lines,
        f"- Aging: median {_ms(a['median'])} ms ({_ms(a['low'])}–{_ms(a['high'])}), "
        f"3 runs; building the frames took {ten['build_seconds']} s.",
        f"- Memory: {ten['ledger_rss_mb']:,} MB resident with the ledger loaded, "
        f"{ten['peak_rss_mb']:,} MB at the peak of the process.",
        "",
    ]


def _profiles(results: dict[str, Any], sizes: list[str]) -> list[str]:
    large = sizes[-1]
    found = results["sizes"][large].get("sqlite", {}).get("profiles")
    if not found:
        return []
    lines = [
        f"## Where the time goes at {int(large):,} (each stage collected alone, median ms)",
        "",
    ]
    for name, nodes in found.items():
        lines.append(f"- {name}: " + "; ".join(f"`{node}` {ms:.1f} ms" for node, ms in nodes))
    lines.append("")
    return lines
