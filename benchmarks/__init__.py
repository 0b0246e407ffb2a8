"""Benchmarks run from a checkout: ``python -m benchmarks.<name>`` in the repository root."""
