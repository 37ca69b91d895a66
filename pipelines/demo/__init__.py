"""Synthetic, realistic clinic exports for demos, tests and benchmarks."""
