"""Benchmarks of scim-bridge: lookups at scale, membership changes, memory and delivery throughput.

Run with ``python -m bench.run`` (see bench/README.md). Figures are ratios against a baseline measured
in the same run, so results from different machines can be compared by their ratios.
"""
