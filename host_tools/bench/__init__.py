"""Benchmarks: each module measures ovl against a peer in the same run and
prints ratios (`python -m host_tools.bench all|NAME...` runs them)."""
