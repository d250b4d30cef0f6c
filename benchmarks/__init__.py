"""Benchmarks for runway-mcp: start-up, per-call overhead, concurrency, waiting and memory.

Run them all with `python -m benchmarks.run` (or `--quick` for the CI-sized run); see README.md.
Every figure is compared with a baseline measured in the same run, never with a fixed number.
"""
