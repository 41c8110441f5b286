"""Benchmarks of the Tracera pipeline (run as modules: ``python -m benchmarks.<name>``)."""
