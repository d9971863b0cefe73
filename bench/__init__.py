"""Benchmarks (not tests); their recorded results are in docs/benchmarks.md."""
