"""Fixtures of the unit tests that build the bridge in-process on an in-memory client."""

from __future__ import annotations

import pytest

from tests.support.memory_bridge import MemoryBridge


@pytest.fixture
def bridges(engine):
    """``bridges(client=None, rules=..., target_rules=...)``: bridges on the store fixture with one in-memory
    target (``tests/support/memory_bridge.py``), stopped after the test."""
    made = []

    def make(*args, **kwargs) -> MemoryBridge:
        bridge = MemoryBridge(engine, *args, **kwargs)
        made.append(bridge)
        return bridge

    yield make
    for bridge in made:
        bridge.stop()
