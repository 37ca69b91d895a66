"""Benchmark suite: ``python -m bench --scale small|large``. Not part of the test suite."""
