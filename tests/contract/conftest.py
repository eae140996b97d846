"""Fixtures of the client contract tests: ``responses`` plays the product, a fake clock keeps time."""

from tests.client_harness import client_for, clock, rsps

__all__ = ["client_for", "clock", "rsps"]
