"""Benchmarks of Kling Studio; `python -m bench` (or `make bench`) runs them all."""
