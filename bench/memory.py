"""Benchmark 3: peak Python allocation of reading the big group with and without its members.

``excludedAttributes=members`` must not load the members at all, so its peak should be a small
fraction of the full read's, which grows with the group.
"""

from __future__ import annotations

import gc
import json
import tracemalloc

from bench.bridge import Bridge
from bench.dataset import Scale
from bench.measure import Measurement, Table, ratio

MIB = 1024 * 1024


def _peak_mib(bridge: Bridge, path: str, expected_members: int | None) -> float:
    gc.collect()
    tracemalloc.reset_peak()
    before, _ = tracemalloc.get_traced_memory()
    response = bridge.read(path)
    _, peak = tracemalloc.get_traced_memory()
    if response.status_code != 200:
        raise AssertionError(f"{path}: HTTP {response.status_code}")
    members = json.loads(response.data).get("members")
    if (len(members) if members is not None else None) != expected_members:
        raise AssertionError(f"{path}: expected {expected_members} members, got {members and len(members)}")
    return (peak - before) / MIB


def memory_table(database: str, bridge: Bridge, scale: Scale, *, repeat: int) -> Table:
    cases = {
        f"GET /Groups/{{big}} ({scale.members:,} members)": (f"/Groups/{scale.big_group}", scale.members),
        "GET /Groups/{big}?excludedAttributes=members": (f"/Groups/{scale.big_group}?excludedAttributes=members",
                                                         None),
    }
    measured = {}
    tracemalloc.start()
    try:
        for name, (path, expected) in cases.items():
            _peak_mib(bridge, path, expected)  # warm-up: first-use imports and caches are not the request's
            samples = tuple(_peak_mib(bridge, path, expected) for _ in range(repeat))
            measured[name] = Measurement(name, "MiB", samples)
    finally:
        tracemalloc.stop()
    with_members, without = measured.values()
    column = "÷ excludedAttributes=members"
    table = Table(f"3. Memory of a big group read — {database}",
                  "Peak Python allocation during the request (tracemalloc), response body included.", [column])
    table.add(with_members.name, with_members, {column: ratio(with_members, without)})
    table.add(without.name, without, {column: 1.0})
    return table
