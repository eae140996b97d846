"""The results file: the machine, the command, and one table per benchmark and database, as Markdown
for people and JSON (with every sample) for tools."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from bench.measure import Measurement, Table

REPO = Path(__file__).resolve().parents[1]


def _git(*args: str) -> str:
    done = subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True, check=False)
    return done.stdout.strip()


def without_password(text: str) -> str:
    """A database URL with its password masked (it goes into a file meant to be committed)."""
    try:
        url = make_url(text)
    except ArgumentError:
        return text
    return url.render_as_string(hide_password=True) if url.password else text


def command_line() -> str:
    return " ".join(without_password(arg) for arg in getattr(sys, "orig_argv", sys.argv))


@dataclass
class Run:
    mode: str
    scales: str
    command: str = field(default_factory=command_line)
    started: datetime = field(default_factory=lambda: datetime.now(UTC))
    commit: str = field(default_factory=lambda: _git("rev-parse", "--short", "HEAD") or "unknown")
    # Other work in the checkout may be uncommitted; say so rather than pretend the commit is exact.
    dirty: bool = field(default_factory=lambda: bool(_git("status", "--porcelain", "--untracked-files=no")))
    machine: dict = field(default_factory=dict)
    tables: list[Table] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    seconds: float = 0.0
    only: list[str] | None = None  # ``--only``: a partial run, named so in its files

    def describe_machine(self, databases: dict[str, str]) -> None:
        self.machine = {
            "nproc": len(os.sched_getaffinity(0)),
            "platform": f"{platform.system()} {platform.release()} {platform.machine()}",
            "python": platform.python_version(),
            **databases,
            "load average at start": " ".join(f"{x:.2f}" for x in os.getloadavg()),
        }

    def finish(self, seconds: float) -> None:
        self.seconds = seconds
        self.machine["load average at end"] = " ".join(f"{x:.2f}" for x in os.getloadavg())

    def stem(self) -> str:
        suffix = "-quick" if self.mode == "quick" else ""
        suffix += "".join(f"-{name}" for name in self.only or ())
        return f"{self.started:%Y-%m-%d}-{self.commit}{suffix}"

    def write(self, directory: Path) -> tuple[Path, Path]:
        directory.mkdir(parents=True, exist_ok=True)
        markdown, data = directory / f"{self.stem()}.md", directory / f"{self.stem()}.json"
        markdown.write_text(render_markdown(self), encoding="utf-8")
        data.write_text(json.dumps(as_json(self), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        return markdown, data


def _value(measurement: Measurement, value: float) -> str:
    if measurement.unit == "ms":
        return f"{value:.3g} ms" if value < 1000 else f"{value / 1000:.3g} s"
    if measurement.unit == "MiB":
        return f"{value:.3g} MiB" if value >= 0.1 else f"{value * 1024:.3g} KiB"
    return f"{value:,.0f} {measurement.unit}"


def _ratio(value: float | None) -> str:
    if value is None:
        return ""
    return f"{value:.2f}" if value < 100 else f"{value:,.0f}"


def render_table(table: Table) -> list[str]:
    lines = [f"## {table.title}", "", table.explanation, ""]
    header = ["case", "median", "p95", "runs", *table.ratio_columns]
    lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in table.rows:
        m = row.measurement
        cells = [row.case, _value(m, m.median), _value(m, m.p95), str(len(m.samples)),
                 *(_ratio(row.ratios.get(column)) for column in table.ratio_columns)]
        lines.append("| " + " | ".join(cells) + " |")
    notes = [*table.notes, *(f"{row.case}: {row.measurement.note}." for row in table.rows if row.measurement.note)]
    if notes:
        lines += ["", *(f"- {note}" for note in notes)]
    return [*lines, ""]


def render_markdown(run: Run) -> str:
    minutes, seconds = divmod(round(run.seconds), 60)
    lines = [
        f"# scim-bridge benchmarks — {run.started:%Y-%m-%d %H:%M} UTC, commit {run.commit}",
        "",
        f"- Command: `{run.command}`",
        f"- Mode: {run.mode} ({run.scales}); whole run {minutes} min {seconds:02d} s",
        f"- Commit: {run.commit}" + (" (other files in the checkout had uncommitted changes)" if run.dirty else ""),
        *(f"- {key}: {value}" for key, value in run.machine.items()),
        *(f"- Skipped: {reason}" for reason in run.skipped),
        "",
        "Each figure is the median of repeated runs; p95 is the slow tail (for a rate, the rate 95% of runs "
        "reached). A ratio divides a median by the median of the baseline named in its column, measured in "
        "this same run on this same machine: compare ratios across machines, not absolute times. "
        "See bench/README.md.",
        "",
    ]
    for table in run.tables:
        lines += render_table(table)
    return "\n".join(lines)


def as_json(run: Run) -> dict:
    return {
        "started": run.started.isoformat(),
        "commit": run.commit,
        "dirty": run.dirty,
        "command": run.command,
        "mode": run.mode,
        "scales": run.scales,
        "seconds": run.seconds,
        "machine": run.machine,
        "skipped": run.skipped,
        "tables": [
            {"title": t.title, "explanation": t.explanation, "notes": t.notes,
             "rows": [{"case": r.case, **r.measurement.as_json(), "ratios": r.ratios} for r in t.rows]}
            for t in run.tables
        ],
    }
