"""The fault suite: what a kill -9, a PostgreSQL restart or outage, Redis going away,
concurrent runs and hostile inputs do to the data, measured on a throwaway cluster.

Run from the repository root: ``python -m benchmarks faults`` (``--help``).
"""
