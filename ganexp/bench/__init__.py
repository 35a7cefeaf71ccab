"""Benchmarks: ``python -m ganexp.bench train`` and ``python -m ganexp.bench fid``."""
