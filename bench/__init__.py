"""Benchmarks (not part of the test suite): docs/performance.md."""
