"""Timing and summarising repeated runs: median and the slow tail (p95), and ratios of medians."""

from __future__ import annotations

import gc
import math
import os
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Measurement:
    """Repeated samples of one quantity. ``higher_is_better`` for rates (deliveries per second)."""

    name: str
    unit: str
    samples: tuple[float, ...]
    higher_is_better: bool = False
    note: str = ""

    @property
    def median(self) -> float:
        return statistics.median(self.samples)

    @property
    def p95(self) -> float:
        """The slow tail: the 95th percentile of times, or the rate that 95% of runs reached."""
        ordered = sorted(self.samples, reverse=self.higher_is_better)
        return ordered[max(math.ceil(0.95 * len(ordered)) - 1, 0)]

    def as_json(self) -> dict:
        return {"name": self.name, "unit": self.unit, "median": self.median, "p95": self.p95,
                "runs": len(self.samples), "samples": list(self.samples), "note": self.note}


def ratio(measured: Measurement, baseline: Measurement) -> float:
    return measured.median / baseline.median


def time_runs(name: str, run: Callable[[int], object], *, repeat: int, warmup: int,
              budget_seconds: float | None = None) -> Measurement:
    """Milliseconds per call of ``run(i)``; ``i`` counts every call (warm-up included) so that each
    call can pick a fresh user or group, as an identity provider would.

    With ``budget_seconds``, repeating stops once the timed runs (or a single warm-up) have used the
    budget: a regression to quadratic cost then shows as one slow sample, not as an endless run.
    """
    gc.collect()
    for i in range(warmup):
        started = time.perf_counter()
        run(i)
        took = time.perf_counter() - started
        if budget_seconds is not None and took > budget_seconds:
            note = f"1 run: the warm-up alone took over the {budget_seconds:g} s budget"
            return Measurement(name, "ms", (took * 1000,), note=note)
    samples: list[float] = []
    for i in range(warmup, warmup + repeat):
        started = time.perf_counter()
        run(i)
        samples.append((time.perf_counter() - started) * 1000)
        if budget_seconds is not None and sum(samples) / 1000 > budget_seconds and len(samples) < repeat:
            return Measurement(name, "ms", tuple(samples),
                               note=f"{len(samples)} of {repeat} runs: stopped at the {budget_seconds:g} s budget")
    return Measurement(name, "ms", tuple(samples))


def time_interleaved(runs: dict[str, Callable[[int], object]], *, repeat: int, warmup: int) -> dict[str, Measurement]:
    """Milliseconds per call of each ``runs[name](i)``, the operations taking turns call by call: a
    change of load on the machine during the series then weighs on all of them alike, and the
    ratios between them stay fair."""
    gc.collect()
    for i in range(warmup):
        for run in runs.values():
            run(i)
    samples: dict[str, list[float]] = {name: [] for name in runs}
    for i in range(warmup, warmup + repeat):
        for name, run in runs.items():
            started = time.perf_counter()
            run(i)
            samples[name].append((time.perf_counter() - started) * 1000)
    return {name: Measurement(name, "ms", tuple(values)) for name, values in samples.items()}


@dataclass
class Row:
    case: str
    measurement: Measurement
    ratios: dict[str, float | None] = field(default_factory=dict)


@dataclass
class Table:
    """One benchmark's results on one database: rows of measurements and their ratios to baselines."""

    title: str
    explanation: str
    ratio_columns: list[str]
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, case: str, measurement: Measurement, ratios: dict[str, float | None] | None = None) -> None:
        ratios = ratios or {}
        unknown = set(ratios) - set(self.ratio_columns)
        if unknown:
            raise ValueError(f"ratio columns {sorted(unknown)} not declared in {self.title!r}")
        self.rows.append(Row(case, measurement, ratios))


def process_cpu_seconds(pid: int | str) -> float:
    """User + system CPU time of a process so far (Linux, ``/proc/<pid>/stat``): how the over-HTTP
    benchmarks bill a server's work, whatever its threads did."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
