"""Benchmarks of the agent on simulated hardware (``make bench``); figures go to docs/performance.md."""
